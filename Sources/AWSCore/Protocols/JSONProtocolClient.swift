import PipelineHost

/// AWS JSON 1.0 / 1.1 RPC (Kinesis, DynamoDB, DynamoDB Streams, Secrets Manager …): POST `/` with
/// `X-Amz-Target: <prefix>.<Operation>` and a JSON body; errors carry `__type` and `message`.
public struct JSONProtocolClient: Sendable {
    public enum Version: String, Sendable {
        case v1_0 = "1.0"
        case v1_1 = "1.1"
    }

    public let client: AWSClient
    public let service: AWSService
    public let endpoint: Endpoint
    public let targetPrefix: String
    public let version: Version
    public var timeout: Duration = .seconds(30)

    /// - Parameter endpointURL: per-plugin override; see `Endpoint.resolve` for the order.
    public init(
        client: AWSClient, service: AWSService, targetPrefix: String, version: Version, endpointURL: String? = nil
    ) throws {
        self.client = client
        self.service = service
        self.targetPrefix = targetPrefix
        self.version = version
        endpoint = try client.endpoint(for: service, endpointURL: endpointURL)
    }

    public static func kinesis(_ client: AWSClient, endpointURL: String? = nil) throws -> JSONProtocolClient {
        try JSONProtocolClient(
            client: client, service: .kinesis, targetPrefix: "Kinesis_20131202", version: .v1_1, endpointURL: endpointURL)
    }

    public static func dynamoDB(_ client: AWSClient, endpointURL: String? = nil) throws -> JSONProtocolClient {
        try JSONProtocolClient(
            client: client, service: .dynamoDB, targetPrefix: "DynamoDB_20120810", version: .v1_0, endpointURL: endpointURL)
    }

    public static func dynamoDBStreams(_ client: AWSClient, endpointURL: String? = nil) throws -> JSONProtocolClient {
        try JSONProtocolClient(
            client: client, service: .dynamoDBStreams, targetPrefix: "DynamoDBStreams_20120810", version: .v1_0,
            endpointURL: endpointURL)
    }

    /// Calls `operation` with `input` (an object) and returns the reply object (`{}` for an empty body).
    public func call(_ operation: String, _ input: JSONValue = .object([])) async throws -> JSONValue {
        var writer = JSONWriter()
        writer.write(input)
        let request = AWSRequest(
            service: service, endpoint: endpoint, method: "POST", path: "/",
            headers: [
                ("Content-Type", "application/x-amz-json-\(version.rawValue)"),
                ("X-Amz-Target", "\(targetPrefix).\(operation)"),
            ],
            body: writer.bytes, timeout: timeout)
        let response = try await client.send(request)
        if response.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .object([]) }
        do {
            return try DocumentParser.parseValue(response.body)
        } catch {
            throw AWSClientError(.invalidResponse, "\(service.serviceID) \(operation): reply is not JSON (\(error))")
        }
    }
}
