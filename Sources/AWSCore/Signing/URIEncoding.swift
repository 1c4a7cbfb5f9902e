/// Percent-encoding as SigV4 defines it (RFC 3986 unreserved set, upper-case hex, `%20` for space).
public enum URIEncoding {
    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    @inline(__always)
    static func isUnreserved(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Encodes every byte outside the unreserved set; `keepSlash` leaves `/` alone (for paths).
    public static func encode(_ s: String, keepSlash: Bool = false) -> String {
        encode(bytes: Array(s.utf8), keepSlash: keepSlash, keepPercent: false)
    }

    static func encode(bytes: [UInt8], keepSlash: Bool, keepPercent: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count + 8)
        for c in bytes {
            if isUnreserved(c) || (keepSlash && c == UInt8(ascii: "/")) || (keepPercent && c == UInt8(ascii: "%")) {
                out.append(c)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; a malformed escape is kept literally (as servers do) instead of failing.
    public static func decode(_ s: Substring) -> [UInt8] {
        let bytes = Array(s.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
                let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2])
            {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// `application/x-www-form-urlencoded` body for the Query protocol, encoded as the AWS SDKs do (unreserved
    /// bytes kept, space as `+`, everything else `%XX`). Servers that re-encode the parsed form to check the
    /// body hash (moto does) then compute the same bytes.
    public static func formEncode(_ params: [(String, String)]) -> String {
        params.map { "\(formComponent($0.0))=\(formComponent($0.1))" }.joined(separator: "&")
    }

    static func formComponent(_ s: String) -> String {
        var out = [UInt8]()
        for c in s.utf8 {
            if isUnreserved(c) {
                out.append(c)
            } else if c == UInt8(ascii: " ") {
                out.append(UInt8(ascii: "+"))
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
