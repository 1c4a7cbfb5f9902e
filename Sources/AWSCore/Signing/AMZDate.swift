import Foundation

/// The two timestamp forms SigV4 needs, formatted by hand: DateFormatter is slow, locale-sensitive and not
/// obviously thread-safe, and signing happens on every request.
public struct AMZDate: Sendable, Equatable {
    /// `YYYYMMDD'T'HHMMSS'Z'`, the `X-Amz-Date` header value.
    public let timestamp: String
    /// `YYYYMMDD`, the date part of the credential scope.
    public let dateStamp: String

    public init(_ date: Date) {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        dateStamp = pad(parts.tm_year + 1900, 4) + pad(parts.tm_mon + 1, 2) + pad(parts.tm_mday, 2)
        timestamp = dateStamp + "T" + pad(parts.tm_hour, 2) + pad(parts.tm_min, 2) + pad(parts.tm_sec, 2) + "Z"
    }

    /// Parses `YYYYMMDD'T'HHMMSS'Z'` (as in the AWS test suite); nil when malformed.
    public init?(timestamp: String) {
        let b = Array(timestamp.utf8)
        guard b.count == 16, b[8] == UInt8(ascii: "T"), b[15] == UInt8(ascii: "Z"),
            b[0..<8].allSatisfy({ $0 >= 48 && $0 <= 57 }), b[9..<15].allSatisfy({ $0 >= 48 && $0 <= 57 })
        else { return nil }
        self.timestamp = timestamp
        self.dateStamp = String(timestamp.prefix(8))
    }
}
