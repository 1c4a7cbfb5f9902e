import Foundation

/// Static keys from the shared credentials/config files (`AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE`,
/// `AWS_CONFIG_FILE`). Profiles that need role assumption, SSO or a credential process are reported as
/// unsupported rather than silently skipped.
public struct ProfileCredentialProvider: CredentialProvider {
    private let location: ProfileLocation
    public var name: String { "profile \(location.profile)" }

    public init(
        profile: String? = nil, credentialsPath: String? = nil, configPath: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        location = ProfileLocation(
            profile: profile, credentialsPath: credentialsPath, configPath: configPath, environment: environment)
    }

    public func credentials() async throws -> Credentials {
        let settings = location.settings()
        if let key = settings["aws_access_key_id"], !key.isEmpty,
            let secret = settings["aws_secret_access_key"], !secret.isEmpty
        {
            let token = settings["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
            return Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, source: name)
        }
        for feature in ["role_arn", "credential_process", "sso_start_url", "sso_session", "web_identity_token_file"]
        where settings[feature] != nil {
            throw AWSClientError(.credentialsUnavailable, "profile '\(location.profile)' uses \(feature), which is not supported")
        }
        throw AWSClientError(
            .credentialsUnavailable,
            "no keys for profile '\(location.profile)' in \(location.credentialsPath) or \(location.configPath)")
    }
}
