import Foundation
import PipelineHost

/// The JSON document ECS and EC2 credential endpoints return:
/// `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}` (EC2 adds `"Code": "Success"`).
enum CredentialsJSON {
    static func parse(_ body: [UInt8], source: String) throws -> Credentials {
        let json: JSONValue
        do {
            json = try DocumentParser.parseValue(body)
        } catch {
            // The body may hold a secret: report only that it was not JSON.
            throw AWSClientError(.invalidCredentials, "\(source) returned a body that is not JSON")
        }
        if let code = json["Code"]?.stringValue, code != "Success" {
            throw AWSClientError(.invalidCredentials, "\(source) returned Code=\(code)")
        }
        guard let key = json["AccessKeyId"]?.stringValue, !key.isEmpty,
            let secret = json["SecretAccessKey"]?.stringValue, !secret.isEmpty
        else {
            throw AWSClientError(.invalidCredentials, "\(source) reply lacks AccessKeyId/SecretAccessKey")
        }
        var expiration: Date?
        if let text = json["Expiration"]?.stringValue {
            guard let date = ISO8601.parse(text) else {
                throw AWSClientError(.invalidCredentials, "\(source) returned an unreadable Expiration '\(text)'")
            }
            expiration = date
        }
        let token = json["Token"]?.stringValue ?? json["SessionToken"]?.stringValue
        return Credentials(
            accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: expiration, source: source)
    }
}
