import Foundation

/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (local development, Lambda).
public struct EnvironmentCredentialProvider: CredentialProvider {
    public let name = "environment"
    private let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func credentials() async throws -> Credentials {
        func value(_ keys: String...) -> String? {
            for key in keys { if let v = environment[key], !v.isEmpty { return v } }
            return nil
        }
        guard let accessKey = value("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
            let secret = value("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY")
        else {
            throw AWSClientError(.credentialsUnavailable, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set")
        }
        return Credentials(
            accessKeyID: accessKey, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN"), source: name)
    }
}
