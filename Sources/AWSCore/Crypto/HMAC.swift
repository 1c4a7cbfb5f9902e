import COpenSSL

/// HMAC-SHA256 via OpenSSL 3 `EVP_MAC` (the `HMAC_CTX_*` API is deprecated in OpenSSL 3).
public enum HMAC {
    /// The fetched algorithm is immutable and thread-safe in OpenSSL 3, so one is shared; contexts are per call.
    nonisolated(unsafe) private static let algorithm: OpaquePointer? = EVP_MAC_fetch(nil, "HMAC", nil)

    public static func sha256<K: Collection, D: Collection>(key: K, data: D) -> [UInt8]
    where K.Element == UInt8, D.Element == UInt8 {
        guard let algorithm, let ctx = EVP_MAC_CTX_new(algorithm) else {
            preconditionFailure("OpenSSL HMAC is unavailable")
        }
        defer { EVP_MAC_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var outLength = 0
        let ok: Bool = "digest".withCString { name in
            "SHA256".withCString { digestName in
                // OSSL_MAC_PARAM_DIGEST is a macro Swift does not import; its value is "digest".
                var params = [
                    OSSL_PARAM_construct_utf8_string(name, UnsafeMutablePointer(mutating: digestName), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return withContiguousBytes(key) { k in
                    guard EVP_MAC_init(ctx, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, &params) == 1
                    else { return false }
                    let updated = withContiguousBytes(data) { d in
                        EVP_MAC_update(ctx, d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count) == 1
                    }
                    guard updated else { return false }
                    return out.withUnsafeMutableBufferPointer { EVP_MAC_final(ctx, $0.baseAddress, &outLength, 32) == 1 }
                }
            }
        }
        precondition(ok && outLength == 32, "OpenSSL HMAC-SHA256 failed")
        return out
    }
}
