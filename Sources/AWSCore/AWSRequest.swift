/// One AWS API call before signing, as the protocol helpers build it.
public struct AWSRequest: Sendable {
    public var service: AWSService
    public var endpoint: Endpoint
    public var method: String
    /// Wire path relative to the endpoint (percent-encoded once), starting with `/`.
    public var path: String
    /// Query parameters, unencoded (encoded when the request is sent).
    public var query: [(String, String)]
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// S3 only: sign `UNSIGNED-PAYLOAD` instead of hashing a large body.
    public var unsignedPayload: Bool
    public var timeout: Duration

    public init(
        service: AWSService, endpoint: Endpoint, method: String, path: String = "/", query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8] = [], unsignedPayload: Bool = false,
        timeout: Duration = .seconds(30)
    ) {
        self.service = service
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.unsignedPayload = unsignedPayload
        self.timeout = timeout
    }

    var encodedQuery: String {
        query.map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
    }
}
