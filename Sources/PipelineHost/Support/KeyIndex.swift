/// A map from string keys to non-negative row numbers, for the per-event key lookups of keyed stages (the join's
/// table, rolling aggregates' states).
///
/// Why not `[String: Int32]`: there a lookup hashes the key with SipHash and then reads three places (the
/// occupancy bitmap, the keys, the values), each a cache miss in a table of 80,000 users; on Flink's job the two
/// lookups per event were a sixth of the process's CPU. Here a key of up to 15 UTF-8 bytes (user ids, account
/// numbers) is stored in its entry, next to its row, so a lookup is one short hash of two words and, mostly, one
/// cache line. Longer keys are kept aside and compared there.
///
/// Open addressing with linear probing, at most 3/4 full, and removal by shifting the following entries back
/// (no tombstones, so a table that sees keys come and go does not slow down). The hash is seeded per table from
/// the system's random generator, so input cannot be chosen to collide.
public struct KeyIndex: Sendable {
    @usableFromInline
    struct Entry: Sendable {
        /// The key's bytes (inline keys), or its index in `longKeys` (long ones).
        @usableFromInline var w0: UInt64
        /// Bytes 8..<15 of an inline key with its length in the top byte; `longMark` for a long key.
        @usableFromInline var w1: UInt64
        @usableFromInline var hash: UInt32
        /// The row; −1 marks an empty entry.
        @usableFromInline var value: Int32

        @usableFromInline static let empty = Entry(w0: 0, w1: 0, hash: 0, value: -1)

        @usableFromInline init(w0: UInt64, w1: UInt64, hash: UInt32, value: Int32) {
            self.w0 = w0
            self.w1 = w1
            self.hash = hash
            self.value = value
        }
    }

    @usableFromInline static let longMark = UInt64.max
    @usableFromInline static let inlineLimit = 15

    @usableFromInline var entries: [Entry]
    @usableFromInline var mask: Int
    public private(set) var count = 0
    /// Keys longer than `inlineLimit` bytes, by the index an entry holds; `freeLong` lists reusable indices.
    @usableFromInline var longKeys: [String] = []
    private var freeLong: [Int] = []
    @usableFromInline let seed0: UInt64
    @usableFromInline let seed1: UInt64

    public init(minimumCapacity: Int = 0) {
        var rng = SystemRandomNumberGenerator()
        seed0 = rng.next()
        seed1 = rng.next()
        let size = Self.size(for: minimumCapacity)
        entries = Array(repeating: .empty, count: size)
        mask = size - 1
    }

    /// The smallest power of two of at least 8 that holds `n` keys at most 3/4 full.
    private static func size(for n: Int) -> Int {
        var size = 8
        while size * 3 / 4 < n { size *= 2 }
        return size
    }

    public mutating func reserveCapacity(_ n: Int) {
        if Self.size(for: n) > entries.count { resize(to: Self.size(for: n)) }
    }

    public subscript(key: String) -> Int32? {
        @inlinable get {
            let k = Self.words(key)
            let h = hash(k, key)
            return entries.withUnsafeBufferPointer { e in
                find(k, key, h, e).map { e[$0].value }
            }
        }
        set {
            if let newValue { insert(key, newValue) } else { removeValue(forKey: key) }
        }
    }

    /// Starts loading the entry where a lookup of `key` begins. A stage that looks up a batch of keys prefetches
    /// a few keys ahead of its lookups, so their cache misses overlap instead of following one another.
    @inlinable
    public func prefetch(_ key: String) {
        let k = Self.words(key)
        let home = Int(hash(k, key)) & mask
        entries.withUnsafeBufferPointer { e in PipelineHost.prefetch(e.baseAddress! + home) }
    }

    /// Removes `key`; returns the row it had.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> Int32? {
        let k = Self.words(key)
        let h = hash(k, key)
        guard let i = entries.withUnsafeBufferPointer({ find(k, key, h, $0) }) else { return nil }
        let removed = entries[i]
        if removed.w1 == Self.longMark {
            longKeys[Int(removed.w0)] = ""
            freeLong.append(Int(removed.w0))
        }
        count -= 1
        entries.withUnsafeMutableBufferPointer { e in
            // Shift back the entries after the hole that would no longer be reached from their home slot.
            var hole = i
            var j = i
            while true {
                j = (j + 1) & mask
                if e[j].value < 0 { break }
                let home = Int(e[j].hash) & mask
                // Whether `home` lies cyclically in (hole, j]: then the entry stays.
                let stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
                if !stays {
                    e[hole] = e[j]
                    hole = j
                }
            }
            e[hole] = .empty
        }
        return removed.value
    }

    private mutating func insert(_ key: String, _ value: Int32) {
        precondition(value >= 0, "KeyIndex holds non-negative rows")
        var k = Self.words(key)
        let h = hash(k, key)
        if let i = entries.withUnsafeBufferPointer({ find(k, key, h, $0) }) {
            entries[i].value = value
            return
        }
        if (count + 1) * 4 > entries.count * 3 { resize(to: entries.count * 2) }
        if k.1 == Self.longMark {
            if let free = freeLong.popLast() {
                longKeys[free] = key
                k.0 = UInt64(free)
            } else {
                longKeys.append(key)
                k.0 = UInt64(longKeys.count - 1)
            }
        }
        place(Entry(w0: k.0, w1: k.1, hash: h, value: value))
        count += 1
    }

    /// Puts an entry of a key the table does not have at the first free slot from its home.
    private mutating func place(_ entry: Entry) {
        let mask = self.mask
        entries.withUnsafeMutableBufferPointer { e in
            var i = Int(entry.hash) & mask
            while e[i].value >= 0 { i = (i + 1) & mask }
            e[i] = entry
        }
    }

    private mutating func resize(to size: Int) {
        let old = entries
        entries = Array(repeating: .empty, count: size)
        mask = size - 1
        for e in old where e.value >= 0 { place(e) }
    }

    @inlinable @inline(__always)
    func find(_ k: (UInt64, UInt64), _ key: String, _ h: UInt32, _ e: UnsafeBufferPointer<Entry>) -> Int? {
        var i = Int(h) & mask
        if k.1 != Self.longMark {
            while e[i].value >= 0 {
                if e[i].w0 == k.0 && e[i].w1 == k.1 { return i }
                i = (i + 1) & mask
            }
        } else {
            while e[i].value >= 0 {
                if e[i].hash == h && e[i].w1 == Self.longMark && longKeys[Int(e[i].w0)] == key { return i }
                i = (i + 1) & mask
            }
        }
        return nil
    }

    /// An inline key's two words (its bytes, zero-padded, and its length in the top byte), or (0, `longMark`).
    @inlinable @inline(__always)
    static func words(_ key: String) -> (UInt64, UInt64) {
        var key = key
        return key.withUTF8 { utf8 in
            guard utf8.count <= inlineLimit else { return (0, longMark) }
            var w: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &w) { $0.copyMemory(from: UnsafeRawBufferPointer(utf8)) }
            return (UInt64(littleEndian: w.0), UInt64(littleEndian: w.1) | UInt64(utf8.count) << 56)
        }
    }

    @inlinable @inline(__always)
    func hash(_ k: (UInt64, UInt64), _ key: String) -> UInt32 {
        if k.1 != Self.longMark { return UInt32(truncatingIfNeeded: Self.mix(k.0 ^ seed0, k.1 ^ seed1)) }
        // A long key: its bytes eight at a time through the same mixer.
        var key = key
        return key.withUTF8 { utf8 in
            var h = seed0 ^ UInt64(utf8.count)
            var i = 0
            while i < utf8.count {
                var w: UInt64 = 0
                let n = min(8, utf8.count - i)
                withUnsafeMutableBytes(of: &w) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[i..<(i + n)])) }
                h = Self.mix(h ^ UInt64(littleEndian: w), seed1)
                i += 8
            }
            return UInt32(truncatingIfNeeded: h)
        }
    }

    /// wyhash's multiply-and-fold: the 128-bit product of the two words, its halves xored.
    @inlinable @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return p.high ^ p.low
    }
}
