import Foundation

/// EC2 instance-role credentials over IMDSv2: PUT a session token, GET the role name, GET the credentials.
///
/// Connect timeouts are short (1 s) so that off EC2, where 169.254.169.254 does not answer, the chain fails
/// fast. `AWS_EC2_METADATA_DISABLED=true` turns it off; `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it.
public struct InstanceMetadataCredentialProvider: CredentialProvider {
    public let name = "instance metadata"
    private let httpClient: HTTPClient
    private let endpoint: String
    private let disabled: Bool

    public init(httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.httpClient = httpClient
        var endpoint = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "http://169.254.169.254"
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        self.endpoint = endpoint
        disabled = environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
    }

    private func send(_ method: String, _ path: String, _ headers: [(String, String)]) async throws -> HTTPResponse {
        do {
            return try await httpClient.execute(
                HTTPRequest(
                    method: method, url: endpoint + path, headers: headers, timeout: .seconds(2),
                    connectTimeout: .seconds(1)))
        } catch let error as HTTPClientError {
            throw AWSClientError(.credentialsUnavailable, "instance metadata service unreachable (\(error.kind.rawValue))")
        }
    }

    public func credentials() async throws -> Credentials {
        guard !disabled else { throw AWSClientError(.credentialsUnavailable, "AWS_EC2_METADATA_DISABLED is set") }
        let tokenReply = try await send("PUT", "/latest/api/token", [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
        guard tokenReply.status == 200 else {
            throw AWSClientError(.credentialsUnavailable, "IMDSv2 token request returned HTTP \(tokenReply.status)")
        }
        let tokenHeader = [("X-aws-ec2-metadata-token", tokenReply.bodyString)]
        let roleReply = try await send("GET", "/latest/meta-data/iam/security-credentials/", tokenHeader)
        guard roleReply.status == 200,
            let role = roleReply.bodyString.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty
        else {
            throw AWSClientError(.credentialsUnavailable, "no IAM role attached to this instance (HTTP \(roleReply.status))")
        }
        let credsReply = try await send(
            "GET", "/latest/meta-data/iam/security-credentials/" + URIEncoding.encode(role), tokenHeader)
        guard credsReply.status == 200 else {
            throw AWSClientError(.invalidCredentials, "instance role credentials returned HTTP \(credsReply.status)")
        }
        return try CredentialsJSON.parse(credsReply.body, source: name)
    }
}
