import Foundation

/// The ECS/Fargate task-role endpoint (also EKS Pod Identity).
///
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` → `http://169.254.170.2<uri>`; or
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` with an `Authorization` header from
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` / `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
public struct ContainerCredentialProvider: CredentialProvider {
    public let name = "container"
    static let ecsHost = "169.254.170.2"
    /// Plain-HTTP full URIs are allowed only to these hosts (as in the SDKs): anything else could be an
    /// attacker-controlled server receiving the authorization token.
    static let allowedHTTPHosts: Set<String> = ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]", "localhost", "::1", "[::1]"]

    private let httpClient: HTTPClient
    private let environment: [String: String]
    private let timeout: Duration

    public init(
        httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(5)
    ) {
        self.httpClient = httpClient
        self.environment = environment
        self.timeout = timeout
    }

    func endpoint() throws -> String {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            return "http://\(Self.ecsHost)" + (relative.hasPrefix("/") ? relative : "/" + relative)
        }
        guard let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty else {
            throw AWSClientError(
                .credentialsUnavailable,
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/AWS_CONTAINER_CREDENTIALS_FULL_URI not set")
        }
        guard let url = URLComponents(string: full), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw AWSClientError(.invalidConfiguration, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL")
        }
        if scheme == "https" { return full }
        guard scheme == "http", Self.allowedHTTPHosts.contains(host.lowercased()) || Self.isLoopbackIPv4(host) else {
            throw AWSClientError(
                .invalidConfiguration,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/ECS/EKS address, got host \(host)")
        }
        return full
    }

    /// An IPv4 literal in 127.0.0.0/8: four decimal octets, the first 127. A prefix test let `127.evil.example`
    /// through, a name anyone can point anywhere.
    static func isLoopbackIPv4(_ host: String) -> Bool {
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.first == "127" else { return false }
        return octets.allSatisfy { o in o.count <= 3 && !o.isEmpty && o.allSatisfy(\.isASCII) && o.allSatisfy(\.isNumber) && Int(o)! <= 255 }
    }

    func authorizationToken() throws -> String? {
        if let path = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AWSClientError(.credentialsUnavailable, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(path)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func credentials() async throws -> Credentials {
        let url = try endpoint()
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let token = try authorizationToken() { headers.append(("Authorization", token)) }
        let response = try await httpClient.execute(
            HTTPRequest(method: "GET", url: url, headers: headers, timeout: timeout, connectTimeout: .seconds(2)))
        guard response.status == 200 else {
            throw AWSClientError(.invalidCredentials, "container credentials endpoint returned HTTP \(response.status)")
        }
        return try CredentialsJSON.parse(response.body, source: name)
    }
}
