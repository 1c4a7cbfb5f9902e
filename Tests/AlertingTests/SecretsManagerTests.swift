import AWSCore
import Foundation
import PipelineHost
import Testing
import TestSupport

/// The slack sink's secret from Secrets Manager (moto_server): JSON and raw secret strings, caching, and the
/// re-read on invalid_auth.
@Suite(.serialized, .motoServer())
struct SecretsManagerTests {
    func secretsManager(_ moto: MotoServer) throws -> JSONProtocolClient {
        try JSONProtocolClient(client: moto.makeClient(), service: .secretsManager, targetPrefix: "secretsmanager", version: .v1_1,
                               endpointURL: moto.endpoint)
    }

    let awsEnv = ["AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"]

    @Test func tokenFromJSONSecretIsCachedAndReReadOnInvalidAuth() async throws {
        let moto = try await freshMoto()
        let sm = try secretsManager(moto)
        let created = try await sm.call("CreateSecret", ["Name": "slack-bot", "SecretString": #"{"token": "xoxb-first-SeCrEt"}"#])
        let arn = try #require(created["ARN"]?.stringValue)

        // Slack accepts only the second token.
        let slack = try FakeSlack { p in p.authorization == "Bearer xoxb-second-SeCrEt" ? nil : FakeSlack.apiError("invalid_auth") }
        defer { slack.stop() }
        let sink = #"{"type": "slack", "mode": "chat_post_message", "channel": "C1", "secret_arn": "\#(arn)", "secrets_endpoint_url": "\#(moto.endpoint)", "api_url": "\#(slack.apiURL)"}"#

        // The first token is read and refused: after one refresh (same value) the record is dead-lettered.
        let capture = LogCapture()
        let first = await Alerting.runSlack(sink, records: [Alerting.alert(1)], environment: awsEnv, logger: capture.logger())
        #expect(first.error == nil, "\(String(describing: first.error))")
        #expect(first.deadLetters.first?.contains("slack: invalid_auth") == true)
        #expect(slack.requests.count == 2)

        // Rotate: the cached value is refused, the secret is read again, the message goes out with the new token.
        _ = try await sm.call("PutSecretValue", ["SecretId": .string(arn), "SecretString": #"{"token": "xoxb-second-SeCrEt"}"#])
        let second = await Alerting.runSlack(sink, records: [Alerting.alert(2)], environment: awsEnv, logger: capture.logger())
        #expect(second.error == nil)
        #expect(second.deadLetters.isEmpty)
        let auth = slack.requests.map { $0.authorization ?? "" }
        #expect(auth.suffix(2) == ["Bearer xoxb-first-SeCrEt", "Bearer xoxb-second-SeCrEt"])

        // Cached: a third run does not need Secrets Manager (which no longer has the secret).
        _ = try await sm.call("DeleteSecret", ["SecretId": .string(arn), "ForceDeleteWithoutRecovery": true])
        let third = await Alerting.runSlack(sink, records: [Alerting.alert(3)], environment: awsEnv, logger: capture.logger())
        #expect(third.error == nil)
        #expect(third.deadLetters.isEmpty)
        #expect(slack.requests.last?.authorization == "Bearer xoxb-second-SeCrEt")

        for line in capture.all + first.deadLetters { #expect(!line.contains("SeCrEt"), "leak: \(line)") }
    }

    /// The secret shape the deployment docs give (`bot_token`, with a channel beside it) works in token mode, and a
    /// sink built later in the same process (a warm Lambda) redacts the value it takes from the process-wide
    /// cache: Slack's error here echoes the token, and neither run may let it through.
    @Test func botTokenSecretAsDocumentedAndACachedValueIsRedactedByEverySink() async throws {
        let moto = try await freshMoto()
        let created = try await secretsManager(moto).call("CreateSecret", [
            "Name": "slack-bot-documented", "SecretString": ##"{"bot_token": "xoxb-documented-SeCrEt", "channel": "#fraud-alerts"}"##,
        ])
        let arn = try #require(created["ARN"]?.stringValue)
        let slack = try FakeSlack { p in
            p.authorization == "Bearer xoxb-documented-SeCrEt" ? FakeSlack.apiError("channel_not_found for \(p.authorization ?? "")") : nil
        }
        defer { slack.stop() }
        let sink = #"{"type": "slack", "mode": "chat_post_message", "channel": "C1", "secret_arn": "\#(arn)", "secrets_endpoint_url": "\#(moto.endpoint)", "api_url": "\#(slack.apiURL)"}"#
        let capture = LogCapture()
        for run in 1...2 {  // the second run's sink reads the cached value
            let out = await Alerting.runSlack(sink, records: [Alerting.alert(run)], environment: awsEnv, logger: capture.logger())
            #expect(out.error == nil, "\(String(describing: out.error))")
            #expect(out.deadLetters.count == 1, "run \(run)")
            #expect(out.deadLetters.first?.contains("channel_not_found") == true, "run \(run)")
            for line in capture.all + out.deadLetters { #expect(!line.contains("SeCrEt"), "run \(run) leaks: \(line)") }
        }
        #expect(slack.requests.first?.authorization == "Bearer xoxb-documented-SeCrEt")
    }

    /// One secret holding both a webhook URL and a bot token, read by a token sink and then a webhook sink in the
    /// same process: each gets its own value (the cache is per secret and keys, not per secret).
    @Test func oneSecretServesATokenSinkAndAWebhookSink() async throws {
        let moto = try await freshMoto()
        let slack = try FakeSlack()
        defer { slack.stop() }
        let created = try await secretsManager(moto).call("CreateSecret", [
            "Name": "slack-both", "SecretString": .string(#"{"webhook_url": "\#(slack.webhookURL)", "bot_token": "xoxb-both-SeCrEt"}"#),
        ])
        let arn = try #require(created["ARN"]?.stringValue)
        let token = #"{"type": "slack", "mode": "chat_post_message", "channel": "C1", "secret_arn": "\#(arn)", "secrets_endpoint_url": "\#(moto.endpoint)", "api_url": "\#(slack.apiURL)"}"#
        let webhook = #"{"type": "slack", "secret_arn": "\#(arn)", "secrets_endpoint_url": "\#(moto.endpoint)"}"#
        let first = await Alerting.runSlack(token, records: [Alerting.alert(1)], environment: awsEnv)
        let second = await Alerting.runSlack(webhook, records: [Alerting.alert(2)], environment: awsEnv)
        #expect(first.error == nil && second.error == nil, "\(String(describing: first.error)) \(String(describing: second.error))")
        #expect(slack.requests.map(\.path) == ["/api/chat.postMessage", "/services/T0SECRET1/B0SECRET2/SeCrEtWeBhOoKtOkEn123"])
        #expect(slack.requests.first?.authorization == "Bearer xoxb-both-SeCrEt")
    }

    @Test func rawWebhookURLSecret() async throws {
        let moto = try await freshMoto()
        let slack = try FakeSlack()
        defer { slack.stop() }
        let created = try await secretsManager(moto).call("CreateSecret", ["Name": "slack-webhook", "SecretString": .string(slack.webhookURL)])
        let arn = try #require(created["ARN"]?.stringValue)
        let sink = #"{"type": "slack", "secret_arn": "\#(arn)", "secrets_endpoint_url": "\#(moto.endpoint)"}"#
        let out = await Alerting.runSlack(sink, records: [Alerting.alert(1)], environment: awsEnv)
        #expect(out.error == nil, "\(String(describing: out.error))")
        #expect(slack.requests.first?.path == "/services/T0SECRET1/B0SECRET2/SeCrEtWeBhOoKtOkEn123")
    }

    @Test func missingSecretFailsTheStartWithoutLeaking() async throws {
        let moto = try await freshMoto()
        let sink = #"{"type": "slack", "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf", "secrets_endpoint_url": "\#(moto.endpoint)"}"#
        let out = await Alerting.runSlack(sink, records: [Alerting.alert(1)], environment: awsEnv)
        let error = try #require(out.error)
        #expect("\(error)".contains("cannot read secret arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf"))
        #expect("\(error)".contains("ResourceNotFoundException"))
    }
}
