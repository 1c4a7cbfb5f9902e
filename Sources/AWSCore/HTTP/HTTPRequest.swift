/// An HTTP request as the AWS layer sends it: the whole body in memory (AWS API payloads are bounded).
public struct HTTPRequest: Sendable {
    public var method: String
    /// Absolute URL, already percent-encoded.
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Total time allowed for the request, connection included.
    public var timeout: Duration
    /// Time allowed to establish the TCP/TLS connection.
    public var connectTimeout: Duration
    /// The largest response body accepted; a larger one fails the request (`responseTooLarge`) instead of
    /// growing memory without bound. The default is above any AWS API reply this project reads (a Kinesis
    /// GetRecords reply is at most 10 MB, base64 included; a model bundle a few MB).
    public var maxResponseBytes: Int

    public static let defaultMaxResponseBytes = 64 << 20

    public init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(5), maxResponseBytes: Int = HTTPRequest.defaultMaxResponseBytes
    ) {
        self.maxResponseBytes = maxResponseBytes
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
    }
}

/// A complete HTTP response. Header names are lower-cased.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// First value of a header; `name` is matched case-insensitively.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0 == lower }?.1
    }

    public var bodyString: String { String(decoding: body, as: UTF8.self) }
}

extension Duration {
    /// Whole milliseconds, rounded up so a tiny positive timeout never becomes 0 (which means "none" to curl).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(ms, 1)
    }
}
