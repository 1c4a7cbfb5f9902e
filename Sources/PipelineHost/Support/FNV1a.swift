/// FNV-1a (64-bit) of a string's UTF-8 bytes: the same in every process and on every host, where
/// `String.hashValue` is seeded per process. Keys to workers, keys to A/B variants and lease owners use it.
public enum FNV1a {
    @inline(__always)
    public static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if let done = text.utf8.withContiguousStorageIfAvailable({ bytes -> UInt64 in
            var h = h
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            return h
        }) {
            return done
        }
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
