import Foundation

/// A source of AWS credentials. Providers compose: `CredentialProviderChain` tries several in order and
/// `CachingCredentialProvider` keeps the result until shortly before it expires.
public protocol CredentialProvider: Sendable {
    /// Short name used in diagnostics (e.g. "environment", "profile default").
    var name: String { get }
    /// Returns credentials or throws; a provider that is simply not configured throws
    /// `AWSClientError` with code `.credentialsUnavailable`.
    func credentials() async throws -> Credentials
}

/// Fixed credentials (tests, or values the host got from elsewhere).
public struct StaticCredentialProvider: CredentialProvider {
    public let name = "static"
    private let value: Credentials

    public init(_ credentials: Credentials) { value = credentials }

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        value = Credentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken)
    }

    public func credentials() async throws -> Credentials { value }
}

public enum CredentialProviders {
    /// The SDK default order for what this host runs on: environment, then a web identity token (EKS IRSA) when
    /// one is configured, else shared profile files, the ECS container endpoint and EC2 instance metadata; the
    /// result is cached and refreshed before expiry.
    public static func `default`(
        httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> any CredentialProvider {
        // A configured web identity is the pod's identity: when it fails (STS refusing, a network blip), the
        // chain must not fall through to the node's instance role and keep it (the chain pins the provider that
        // worked), as botocore does not either.
        let webIdentityConfigured = ["AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"].allSatisfy { !(environment[$0] ?? "").isEmpty }
        if webIdentityConfigured {
            return CachingCredentialProvider(
                CredentialProviderChain([
                    EnvironmentCredentialProvider(environment: environment),
                    WebIdentityCredentialProvider(httpClient: httpClient, environment: environment),
                ]))
        }
        return CachingCredentialProvider(
            CredentialProviderChain([
                EnvironmentCredentialProvider(environment: environment),
                ProfileCredentialProvider(environment: environment),
                ContainerCredentialProvider(httpClient: httpClient, environment: environment),
                InstanceMetadataCredentialProvider(httpClient: httpClient, environment: environment),
            ]))
    }
}
