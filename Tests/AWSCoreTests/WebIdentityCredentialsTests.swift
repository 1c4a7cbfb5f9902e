import Foundation
import Testing

@testable import AWSCore
import TestSupport

/// Web identity credentials (EKS IRSA) against STS in moto_server, and against a fake STS for refusals.
@Suite(.serialized, .motoServer())
struct WebIdentityCredentialsTests {
    func tokenFile(_ token: String) -> String {
        let path = NSTemporaryDirectory() + "web-identity-\(UUID().uuidString).jwt"
        _ = FileManager.default.createFile(atPath: path, contents: Data(token.utf8))
        return path
    }

    /// The default chain finds the token and role, assumes the role at STS (moto) and signs real calls with what it
    /// got; a rotated token file is read again on the next refresh.
    @Test func theDefaultChainAssumesTheRoleAndTheCredentialsSign() async throws {
        let moto = try await freshMoto()
        let token = tokenFile("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZnJhdWQ6cGlwZWxpbmUifQ.c2lnbmF0dXJl")
        defer { try? FileManager.default.removeItem(atPath: token) }
        let env = ["AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/fraud-pipeline",
                   "AWS_ROLE_SESSION_NAME": "pod-1", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto.endpoint,
                   "AWS_EC2_METADATA_DISABLED": "true"]
        let http = HTTPClient()
        defer { http.shutdown() }
        let chain = CredentialProviders.default(httpClient: http, environment: env)
        let creds = try await chain.credentials()
        #expect(creds.source == "web identity arn:aws:iam::123456789012:role/fraud-pipeline")
        #expect(creds.sessionToken?.isEmpty == false)
        #expect(creds.expiration != nil)
        #expect(!creds.accessKeyID.isEmpty && creds.accessKeyID != "AKIDTESTING")

        // The credentials sign a real call.
        let client = AWSClient(region: "us-east-1", credentialProvider: chain, httpClient: http, environment: env)
        let sns = try QueryProtocolClient.sns(client)
        let created = try await sns.call("CreateTopic", [("Name", "irsa-check")])
        #expect(created.string("TopicArn")?.hasSuffix(":irsa-check") == true)

        // The token file is read at every refresh (the kubelet rotates it): an emptied one fails the next call, and
        // the chain does not fall through to another identity (the node's instance role on EKS).
        _ = FileManager.default.createFile(atPath: token, contents: Data())
        let fresh = CredentialProviders.default(httpClient: http, environment: env.merging(["AWS_PROFILE": "nonexistent"]) { a, _ in a })
        let error = await #expect(throws: AWSClientError.self) { _ = try await fresh.credentials() }
        let text = "\(String(describing: error))"
        #expect(text.contains("web identity: the web identity token file \(token) is empty"), "\(text)")
        #expect(!text.contains("container") && !text.contains("instance"), "no fall-through: \(text)")
    }

    /// STS refusing the token is an error that names the role and STS's code, and never the token; a missing
    /// token file is a reason in the chain's error, not a crash.
    @Test func refusalsAndMissingFilesAreExplainedWithoutTheToken() async throws {
        let sts = try FakeHTTPServer { _ in
            .respond(status: 400, headers: [("Content-Type", "text/xml")], body: Array("""
                <ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key from your identity provider</Message></Error><RequestId>r1</RequestId></ErrorResponse>
                """.utf8))
        }
        defer { sts.stop() }
        let token = tokenFile("SeCrEtToKeN.part2.part3")
        defer { try? FileManager.default.removeItem(atPath: token) }
        let http = HTTPClient()
        defer { http.shutdown() }
        let env = ["AWS_WEB_IDENTITY_TOKEN_FILE": token, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r", "AWS_ENDPOINT_URL_STS": sts.url]
        let error = await #expect(throws: AWSClientError.self) { _ = try await WebIdentityCredentialProvider(httpClient: http, environment: env).credentials() }
        let text = "\(String(describing: error))"
        #expect(text.contains("arn:aws:iam::123456789012:role/r") && text.contains("InvalidIdentityToken"), "\(text)")
        #expect(!text.contains("SeCrEtToKeN"))
        let form = String(decoding: try #require(sts.requests.first).body, as: UTF8.self)
        #expect(form.contains("Action=AssumeRoleWithWebIdentity") && form.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr"))
        #expect(sts.requests.first?.header("authorization") == nil, "the call is unsigned")

        let missing = ["AWS_WEB_IDENTITY_TOKEN_FILE": "/nonexistent/token", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r"]
        let chainError = await #expect(throws: AWSClientError.self) {
            _ = try await CredentialProviderChain([WebIdentityCredentialProvider(httpClient: http, environment: missing)]).credentials()
        }
        #expect("\(String(describing: chainError))".contains("web identity: cannot read the web identity token file /nonexistent/token"))
        #expect(WebIdentityCredentialProvider(httpClient: http, environment: [:]).name == "web identity")
        #expect(try WebIdentityCredentialProvider(httpClient: http, environment: [:]).endpoint().host == "sts.amazonaws.com")
        #expect(try WebIdentityCredentialProvider(httpClient: http, environment: ["AWS_REGION": "eu-west-1"]).endpoint().host == "sts.eu-west-1.amazonaws.com")
    }
}
