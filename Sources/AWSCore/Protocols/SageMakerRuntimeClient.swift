/// REST-JSON SageMaker Runtime `InvokeEndpoint`: `POST /endpoints/{name}/invocations` with the raw payload;
/// the model's reply comes back as the raw body. Signing name `sagemaker`.
public struct SageMakerRuntimeClient: Sendable {
    public struct Invocation: Sendable {
        public var body: [UInt8]
        public var contentType: String = "application/json"
        public var accept: String?
        public var targetVariant: String?
        public var targetModel: String?
        public var customAttributes: String?
        public var inferenceID: String?

        public init(body: [UInt8], contentType: String = "application/json", accept: String? = nil, targetVariant: String? = nil) {
            self.body = body
            self.contentType = contentType
            self.accept = accept
            self.targetVariant = targetVariant
        }
    }

    public struct Result: Sendable {
        public var body: [UInt8]
        public var contentType: String?
        public var invokedProductionVariant: String?
        public var customAttributes: String?
    }

    public let client: AWSClient
    public let endpoint: Endpoint
    /// Model time is capped at 60 s by SageMaker; the client waits a little longer.
    public var timeout: Duration = .seconds(70)

    public init(client: AWSClient, endpointURL: String? = nil) throws {
        self.client = client
        endpoint = try client.endpoint(for: .sageMakerRuntime, endpointURL: endpointURL)
    }

    public func invokeEndpoint(_ endpointName: String, _ invocation: Invocation) async throws -> Result {
        var headers: [(String, String)] = [("Content-Type", invocation.contentType)]
        if let v = invocation.accept { headers.append(("Accept", v)) }
        if let v = invocation.targetVariant { headers.append(("X-Amzn-SageMaker-Target-Variant", v)) }
        if let v = invocation.targetModel { headers.append(("X-Amzn-SageMaker-Target-Model", v)) }
        if let v = invocation.customAttributes { headers.append(("X-Amzn-SageMaker-Custom-Attributes", v)) }
        if let v = invocation.inferenceID { headers.append(("X-Amzn-SageMaker-Inference-Id", v)) }
        let request = AWSRequest(
            service: .sageMakerRuntime, endpoint: endpoint, method: "POST",
            path: "/endpoints/\(URIEncoding.encode(endpointName))/invocations", headers: headers, body: invocation.body,
            timeout: timeout)
        let r = try await client.send(request)
        return Result(
            body: r.body, contentType: r.header("content-type"),
            invokedProductionVariant: r.header("x-amzn-invoked-production-variant"),
            customAttributes: r.header("x-amzn-sagemaker-custom-attributes"))
    }
}
