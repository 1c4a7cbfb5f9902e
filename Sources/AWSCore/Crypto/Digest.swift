import COpenSSL

/// One-shot message digests backed by OpenSSL libcrypto.
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        digest(bytes, md: EVP_sha256(), length: 32)
    }

    /// MD5 of `bytes` (16 bytes). Not for security: used for KPL aggregation checks and S3 Content-MD5.
    public static func md5<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        digest(bytes, md: EVP_md5(), length: 16)
    }

    /// Lower-case hex SHA-256, the form SigV4 uses for payload and canonical request hashes.
    public static func sha256Hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        Hex.encode(sha256(bytes))
    }

    /// SHA-256 of the empty string, precomputed because most GET/HEAD requests need it.
    public static let emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    private static func digest<C: Collection>(_ bytes: C, md: OpaquePointer?, length: Int) -> [UInt8]
    where C.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var outLength: UInt32 = 0
        let ok: Int32 = withContiguousBytes(bytes) { buf in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(buf.baseAddress, buf.count, o.baseAddress, &outLength, md, nil)
            }
        }
        // EVP_Digest only fails on allocation failure or a missing algorithm: both are unrecoverable setup faults.
        precondition(ok == 1 && Int(outLength) == length, "OpenSSL digest failed")
        out.removeLast(out.count - length)
        return out
    }
}

/// Runs `body` over contiguous bytes, copying only when the collection has no contiguous storage.
@inline(__always)
func withContiguousBytes<C: Collection, R>(_ bytes: C, _ body: (UnsafeRawBufferPointer) -> R) -> R
where C.Element == UInt8 {
    if let r = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return r }
    return Array(bytes).withUnsafeBytes(body)
}
