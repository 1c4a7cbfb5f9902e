import Foundation

/// Credentials for a role assumed with a web identity token: EKS IAM Roles for Service Accounts (IRSA) and any
/// OIDC federation, as the SDKs do it. `AWS_WEB_IDENTITY_TOKEN_FILE` names the token file (re-read on every
/// call: the kubelet rotates it), `AWS_ROLE_ARN` the role, `AWS_ROLE_SESSION_NAME` the session (default a
/// generated one). The call, STS `AssumeRoleWithWebIdentity`, is unsigned: the token is the proof.
///
/// The STS endpoint is the regional one when a region is configured (as the SDKs default to now), else the
/// global one; `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` override it.
public struct WebIdentityCredentialProvider: CredentialProvider {
    public let name = "web identity"
    private let httpClient: HTTPClient
    private let environment: [String: String]
    private let timeout: Duration

    public init(httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(10)) {
        self.httpClient = httpClient
        self.environment = environment
        self.timeout = timeout
    }

    private func setting(_ key: String) -> String? {
        environment[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    func endpoint() throws -> Endpoint {
        let region = setting("AWS_REGION") ?? setting("AWS_DEFAULT_REGION")
        if region == nil, environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]?.lowercased() != "true",
           setting(AWSService.sts.endpointEnvironmentVariable) == nil, setting("AWS_ENDPOINT_URL") == nil {
            return Endpoint(host: "sts.amazonaws.com")
        }
        return try Endpoint.resolve(service: .sts, region: region ?? "us-east-1", environment: environment)
    }

    public func credentials() async throws -> Credentials {
        guard let tokenFile = setting("AWS_WEB_IDENTITY_TOKEN_FILE"), let roleARN = setting("AWS_ROLE_ARN") else {
            throw AWSClientError(.credentialsUnavailable, "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN not set")
        }
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw AWSClientError(.credentialsUnavailable, "cannot read the web identity token file \(tokenFile)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw AWSClientError(.credentialsUnavailable, "the web identity token file \(tokenFile) is empty") }
        let session = setting("AWS_ROLE_SESSION_NAME") ?? "pipeline-host-\(Int(Date().timeIntervalSince1970))"
        let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
                    ("RoleSessionName", session), ("WebIdentityToken", token)]
        let endpoint = try endpoint()
        let request = HTTPRequest(
            method: "POST", url: endpoint.url(path: "/", query: ""),
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Accept", "application/xml")],
            body: Array(URIEncoding.formEncode(form).utf8), timeout: timeout, maxResponseBytes: 1 << 20)
        let response: HTTPResponse
        do {
            response = try await httpClient.execute(request)
        } catch {
            throw AWSClientError(.credentialsUnavailable, "STS AssumeRoleWithWebIdentity for \(roleARN) failed: \(error)")
        }
        guard (200..<300).contains(response.status) else {
            // The error's code and message, never the token (STS does not echo it; the request body is not logged).
            let error = AWSErrorParser.parse(response)
            throw AWSClientError(.credentialsUnavailable, "STS AssumeRoleWithWebIdentity for \(roleARN) refused: \(error)")
        }
        guard let root = try? XMLReader.parse(response.body),
              let creds = root.find("Credentials"),
              let keyID = creds.string("AccessKeyId"), let secret = creds.string("SecretAccessKey"),
              let sessionToken = creds.string("SessionToken"), let expiration = creds.string("Expiration").flatMap(ISO8601.parse)
        else {
            throw AWSClientError(.invalidResponse, "STS AssumeRoleWithWebIdentity for \(roleARN): no credentials in the reply")
        }
        return Credentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: sessionToken, expiration: expiration,
                           source: "web identity \(roleARN)")
    }
}
