/// AWS Query protocol (SNS, SQS legacy, IAM, STS, CloudWatch): form-encoded POST of `Action`, `Version`
/// and flattened parameters; XML replies.
public struct QueryProtocolClient: Sendable {
    public let client: AWSClient
    public let service: AWSService
    public let endpoint: Endpoint
    public let apiVersion: String
    public var timeout: Duration = .seconds(30)

    public init(client: AWSClient, service: AWSService, apiVersion: String, endpointURL: String? = nil) throws {
        self.client = client
        self.service = service
        self.apiVersion = apiVersion
        endpoint = try client.endpoint(for: service, endpointURL: endpointURL)
    }

    public static func sns(_ client: AWSClient, endpointURL: String? = nil) throws -> QueryProtocolClient {
        try QueryProtocolClient(client: client, service: .sns, apiVersion: "2010-03-31", endpointURL: endpointURL)
    }

    public static func iam(_ client: AWSClient, endpointURL: String? = nil) throws -> QueryProtocolClient {
        try QueryProtocolClient(client: client, service: .iam, apiVersion: "2010-05-08", endpointURL: endpointURL)
    }

    /// Calls `action` and returns the `<ActionResult>` element (or the root when there is none).
    ///
    /// - Parameter parameters: already flattened, e.g. `("MessageAttributes.entry.1.Name", "k")`.
    public func call(_ action: String, _ parameters: [(String, String)] = []) async throws -> XMLNode {
        let form = [("Action", action), ("Version", apiVersion)] + parameters
        let request = AWSRequest(
            service: service, endpoint: endpoint, method: "POST", path: "/",
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            body: Array(URIEncoding.formEncode(form).utf8), timeout: timeout)
        let response = try await client.send(request)
        let root: XMLNode
        do {
            root = try XMLReader.parse(response.body)
        } catch {
            throw AWSClientError(.invalidResponse, "\(service.serviceID) \(action): \(error)")
        }
        return root.child(action + "Result") ?? root
    }
}
