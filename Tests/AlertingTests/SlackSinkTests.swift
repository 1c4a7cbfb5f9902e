import Foundation
import PipelineHost
import Testing
import TestSupport

@testable import SlackSink

/// The slack sink end to end: file source → runner → slack sink → a fake Slack on 127.0.0.1 (real HTTP).
@Suite(.serialized)
struct SlackSinkTests {
    static let env = ["SLACK_WEBHOOK_URL": "", "SLACK_BOT_TOKEN": "xoxb-111-222-SeCrEtBoTtOkEn"]

    func webhookSink(_ slack: FakeSlack, _ extra: String = "") -> String {
        #"{"type": "slack", "id": "alerts", "webhook_url_env": "SLACK_WEBHOOK_URL", "retry": {"max_attempts": 3, "initial_backoff": "20ms", "max_backoff": "50ms"}\#(extra)}"#
    }

    func env(_ slack: FakeSlack) -> [String: String] {
        ["SLACK_WEBHOOK_URL": slack.webhookURL, "SLACK_BOT_TOKEN": "xoxb-111-222-SeCrEtBoTtOkEn"]
    }

    @Test func webhookPostsOneBlockKitMessagePerAlert() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let out = await Alerting.runSlack(webhookSink(slack, #", "burst": 10, "rate": 50"#),
                                          records: [Alerting.alert(1, features: true), Alerting.alert(2), Alerting.alert(3)], environment: env(slack))
        #expect(out.error == nil, "\(String(describing: out.error))")
        #expect(out.summary?.sinkOutputs["alerts"] == 3)
        #expect(out.deadLetters.isEmpty)
        let posts = slack.requests
        try #require(posts.count == 3)
        #expect(posts.allSatisfy { $0.path == "/services/T0SECRET1/B0SECRET2/SeCrEtWeBhOoKtOkEn123" })
        let first = posts[0]
        #expect(first.text.contains("t000000001") && first.text.contains("0.9100") && first.text.contains("v1 (local)"))
        #expect(first.body["channel"] == nil)
        let blocks = first.blocks
        #expect(blocks.count <= 50)
        #expect(blocks.first?["type"] == "header")
        let fields = blocks[1]["fields"]?.arrayValue ?? []
        #expect(fields.count == 7)
        let fieldText = fields.compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        for needle in ["t000000001", "u001601", "56.35", "*Channel*\n3", "0.9100", "v1 (local)", "<!date^1722471172^", "2024-08-01T00:12:52Z"] {
            #expect(fieldText.contains(needle), "missing \(needle) in \(fieldText)")
        }
        let features = blocks[2]["text"]?["text"]?.stringValue ?? ""
        #expect(features.contains("txn_count_1h") && features.contains("transaction_value") && !features.contains("age"))
        #expect(features.range(of: "txn_count_1h")!.lowerBound < features.range(of: "transaction_value")!.lowerBound)
        // Records without top_features get no features section.
        #expect(!(posts[1].blocks.contains { ($0["text"]?["text"]?.stringValue ?? "").contains("pushed the score") }))
    }

    /// Record fields cannot ping a channel or make masked links, and nothing unfurls (a bare URL is still
    /// auto-linked by Slack, but not previewed): every mrkdwn text of the message (the notification
    /// fallback included) carries them escaped, header plain_text carries them as they are (Slack parses nothing
    /// there), and both unfurl switches are off, for webhooks too.
    @Test func recordFieldsCannotInjectMentionsOrLinks() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let hostile = #"{"transaction_id": "t-<!channel>", "user_id": "<https://evil.example|click me>", "event_created_at_ts": 1722471172, "transaction_value": "<!here>", "channel_code": "<@U0ADMIN>", "fraud_score": 0.97, "model_version": "<!subteam^S1>", "variant": "a&b", "is_alert": true, "top_features": [{"name": "<!everyone>", "contribution": 0.5, "value": "<https://x.example>"}]}"#
        for (mode, sink) in [("webhook", webhookSink(slack)),
                             ("chat_post_message", #"{"type": "slack", "id": "alerts", "mode": "chat_post_message", "channel": "C1", "token_env": "SLACK_BOT_TOKEN", "api_url": "\#(slack.apiURL)"}"#)] {
            let before = slack.requests.count
            let out = await Alerting.runSlack(sink, records: [hostile], environment: env(slack))
            #expect(out.error == nil, "\(mode): \(String(describing: out.error))")
            let post = try #require(slack.requests.count == before + 1 ? slack.requests.last : nil, "\(mode)")
            #expect(post.body["unfurl_links"] == .bool(false) && post.body["unfurl_media"] == .bool(false), "\(mode)")
            var mrkdwn = [post.text]
            func collect(_ v: JSONValue) {
                if v["type"]?.stringValue == "mrkdwn", let t = v["text"]?.stringValue { mrkdwn.append(t) }
                for (_, child) in v.objectValue ?? [] { collect(child) }
                for child in v.arrayValue ?? [] { collect(child) }
            }
            post.blocks.forEach(collect)
            #expect(mrkdwn.count >= 5, "\(mode): \(mrkdwn)")
            for text in mrkdwn {
                // Slack's only control sequences are <...> (mentions, links, dates); the one the sink writes itself is
                // the date token.
                let controls = text.components(separatedBy: "<").dropFirst().filter { !$0.hasPrefix("!date^") }
                #expect(controls.isEmpty, "\(mode): unescaped control sequence in \(text)")
            }
            let all = mrkdwn.joined(separator: "\n")
            for escaped in ["t-&lt;!channel&gt;", "&lt;https://evil.example|click me&gt;", "&lt;!here&gt;", "&lt;@U0ADMIN&gt;", "&lt;!subteam^S1&gt;", "a&amp;b", "&lt;!everyone&gt;"] {
                #expect(all.contains(escaped), "\(mode): \(escaped) missing from \(all)")
            }
            #expect(post.blocks.first?["text"]?["text"]?.stringValue?.contains("t-<!channel>") == true, "plain_text keeps the text")
        }
    }

    /// Only https: a plain-http webhook URL or API URL is refused (without repeating the webhook URL, the secret),
    /// unless the loopback override is set, which allows http to 127.0.0.1 only.
    @Test func plainHTTPURLsAreRefused() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        var strict = env(slack)
        strict["PIPELINE_HOST_ALLOW_HTTP_LOOPBACK"] = "0"
        let webhook = await Alerting.runSlack(webhookSink(slack), records: [Alerting.alert(1)], environment: strict)
        let error = "\(try #require(webhook.error))"
        #expect(error.contains("the webhook URL from environment variable SLACK_WEBHOOK_URL is plain http: only https is allowed"), "\(error)")
        #expect(!error.contains("SeCrEt") && !error.contains("127.0.0.1"), "\(error)")
        #expect(slack.requests.isEmpty)

        let api = await Alerting.runSlack(#"{"type": "slack", "id": "alerts", "mode": "chat_post_message", "channel": "C1", "token_env": "SLACK_BOT_TOKEN", "api_url": "http://slack.example/api"}"#,
                                          records: [Alerting.alert(1)], environment: env(slack))
        #expect("\(String(describing: api.error))".contains("api_url is plain http: only https is allowed"))

        // The override is for loopback only.
        var remote = env(slack)
        remote["SLACK_WEBHOOK_URL"] = "http://hooks.slack.example/services/T/B/SeCrEt"
        let other = await Alerting.runSlack(webhookSink(slack), records: [Alerting.alert(1)], environment: remote)
        #expect("\(String(describing: other.error))".contains("is plain http: only https is allowed"))
        #expect(!"\(String(describing: other.error))".contains("SeCrEt"))
        #expect(SlackURLPolicy.problem("https://hooks.slack.com/services/x", allowLoopbackHTTP: false) == nil)
        #expect(SlackURLPolicy.problem("http://localhost.evil.example/x", allowLoopbackHTTP: true) == "is plain http: only https is allowed")
        // An absurd event time is shown as it is, not turned into a date token (Int64(1e22) would trap).
        #expect(SlackMessage.dateText(.double(1e22)) == "1e+22")
        #expect(SlackMessage.dateText(.double(-5)) == "-5")
        #expect(SlackURLPolicy.problem("ftp://hooks.slack.com/x", allowLoopbackHTTP: true) == "is not an https URL (scheme ftp)")
    }

    @Test func chatPostMessageSendsChannelAndBearerToken() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let sink = #"{"type": "slack", "id": "alerts", "mode": "chat_post_message", "channel": "C0ALERTS", "token_env": "SLACK_BOT_TOKEN", "api_url": "\#(slack.apiURL)"}"#
        let out = await Alerting.runSlack(sink, records: [Alerting.alert(1)], environment: env(slack))
        #expect(out.error == nil, "\(String(describing: out.error))")
        let post = try #require(slack.requests.first)
        #expect(post.path == "/api/chat.postMessage")
        #expect(post.authorization == "Bearer xoxb-111-222-SeCrEtBoTtOkEn")
        #expect(post.body["channel"] == "C0ALERTS")
        #expect(!post.text.isEmpty && !post.blocks.isEmpty)
    }

    @Test func honoursRetryAfterOn429() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        slack.enqueue(FakeSlack.tooMany(retryAfter: 1))
        let started = MonotonicClock.seconds()
        let out = await Alerting.runSlack(webhookSink(slack), records: [Alerting.alert(1)], environment: env(slack))
        #expect(out.error == nil)
        #expect(out.deadLetters.isEmpty)
        let posts = slack.requests
        #expect(posts.count == 2)
        if posts.count == 2 { #expect(posts[1].at - posts[0].at >= 0.95, "retried after \(posts[1].at - posts[0].at)s") }
        #expect(MonotonicClock.seconds() - started >= 0.95)
    }

    @Test func retries5xxThenDelivers() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        slack.enqueue(FakeSlack.webhookError(500, "rollup_error"), FakeSlack.webhookError(503, "service unavailable"))
        let out = await Alerting.runSlack(webhookSink(slack), records: [Alerting.alert(1)], environment: env(slack))
        #expect(out.error == nil)
        #expect(out.deadLetters.isEmpty)
        #expect(slack.requests.count == 3)
    }

    /// By default an outage that outlasts the retries stops the pipeline (the alert is replayed after the
    /// restart); nothing is dead-lettered for a transient failure.
    @Test func exhausted5xxStopsThePipelineByDefault() async throws {
        let slack = try FakeSlack { _ in FakeSlack.webhookError(500, "rollup_error") }
        defer { slack.stop() }
        let out = await Alerting.runSlack(webhookSink(slack), records: [Alerting.alert(1)], environment: env(slack))
        let error = try #require(out.error, "the run must fail, not go on without the alert")
        #expect("\(error)".contains("rollup_error"))
        #expect(out.deadLetters.isEmpty)
        #expect(slack.requests.count == 3)
    }

    /// The stop leaves no checkpoint past the alerts Slack did not take, so the restart (Slack back) posts them.
    @Test func theRestartAfterAnExhaustedOutagePostsTheAlerts() async throws {
        let dir = Alerting.scratch("slack-restart")
        let records = [Alerting.alert(1), Alerting.alert(2)]
        let down = try FakeSlack { _ in FakeSlack.webhookError(500, "rollup_error") }
        let failed = await Alerting.runSlack(webhookSink(down), records: records, environment: env(down), dir: dir)
        down.stop()
        #expect(failed.error != nil)
        if let data = FileManager.default.contents(atPath: dir + "/cp/checkpoint.json") {
            let checkpoint = try Checkpoint(json: DocumentParser.parseValue(Array(data)))
            #expect(checkpoint.positions["file"]?["line"]?.intValue == 0, "a checkpoint covers unposted alerts: \(checkpoint.positions)")
        }
        let up = try FakeSlack()
        defer { up.stop() }
        let restarted = await Alerting.runSlack(webhookSink(up), records: records, environment: env(up), dir: dir)
        #expect(restarted.error == nil)
        let texts = up.requests.map(\.text)
        #expect(texts.count == 2 && texts.contains { $0.contains("t000000001") } && texts.contains { $0.contains("t000000002") }, "\(texts)")
    }

    @Test func exhausted5xxIsDeadLetteredWithTheReasonWhenAskedTo() async throws {
        let slack = try FakeSlack { _ in FakeSlack.webhookError(500, "rollup_error") }
        defer { slack.stop() }
        let out = await Alerting.runSlack(webhookSink(slack, #", "on_exhausted": "dead_letter""#), records: [Alerting.alert(1)], environment: env(slack))
        #expect(out.error == nil)
        #expect(slack.requests.count == 3)
        let entry = try #require(out.deadLetters.first)
        #expect(entry.contains("rollup_error") && entry.contains("gave up after 3 attempts"))
    }

    @Test func permanentErrorsAreDeadLetteredWithTheReason() async throws {
        // Webhook: plain-text error with 400; the other records still go out.
        let slack = try FakeSlack { p in p.text.contains("t000000002") ? FakeSlack.webhookError(400, "invalid_payload") : nil }
        defer { slack.stop() }
        let out = await Alerting.runSlack(webhookSink(slack, #", "burst": 10, "rate": 50"#),
                                          records: [Alerting.alert(1), Alerting.alert(2), Alerting.alert(3)], environment: env(slack))
        #expect(out.error == nil)
        #expect(slack.requests.count == 3)
        try #require(out.deadLetters.count == 1)
        let entry = try DocumentParser.parseValue(Array(out.deadLetters[0].utf8))
        #expect(entry["reason"]?.stringValue == "slack: invalid_payload (HTTP 400)")
        #expect(entry["stage"]?.stringValue == "alerts")
        #expect(entry["payload"]?.stringValue?.contains("t000000002") == true)

        // chat.postMessage: HTTP 200 with ok=false.
        let api = try FakeSlack { _ in FakeSlack.apiError("channel_not_found") }
        defer { api.stop() }
        let sink = #"{"type": "slack", "id": "alerts", "mode": "chat_post_message", "channel": "C404", "token_env": "SLACK_BOT_TOKEN", "api_url": "\#(api.apiURL)"}"#
        let out2 = await Alerting.runSlack(sink, records: [Alerting.alert(1)], environment: env(api))
        #expect(out2.error == nil)
        #expect(api.requests.count == 1)
        #expect(out2.deadLetters.first?.contains(#""reason":"slack: channel_not_found (HTTP 200)""#) == true)
    }

    @Test func ratePerChannelWithBurst() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        // 1 per second, burst 2: 6 messages need at least (6 - 2) / 1 = 4 s; the burst's second goes out without
        // the 1 s wait for a token (the bounds leave room for a loaded machine's round trips).
        let sink = #"{"type": "slack", "id": "alerts", "mode": "chat_post_message", "channel": "C-RATE", "token_env": "SLACK_BOT_TOKEN", "api_url": "\#(slack.apiURL)", "rate": 1, "burst": 2}"#
        let out = await Alerting.runSlack(sink, records: (1...6).map { Alerting.alert($0) }, environment: env(slack))
        #expect(out.error == nil)
        let times = slack.requests.map(\.at)
        try #require(times.count == 6)
        #expect(times[1] - times[0] < 0.9, "the burst goes out at once")
        #expect(times[5] - times[0] >= 3.9, "6 messages took \(times[5] - times[0])s")
        #expect(times[5] - times[0] < 15)
    }

    @Test func alertStormSendsOneSummary() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let sink = webhookSink(slack, #", "storm_threshold": 3, "storm_window": "1m", "storm_top": 4, "rate": 50, "burst": 10, "id": "storm""#)
            .replacingOccurrences(of: #""id": "alerts", "#, with: "")
        let records = (1...12).map { Alerting.alert($0, score: 0.5 + Double($0) / 100) }
        let out = await Alerting.runSlack(sink, records: records, environment: env(slack))
        #expect(out.error == nil, "\(String(describing: out.error))")
        #expect(out.deadLetters.isEmpty)
        #expect(out.summary?.sinkOutputs["storm"] == 12)
        let posts = slack.requests
        try #require(posts.count == 4, "3 alerts, then one summary; got \(posts.count)")
        let summary = posts[3]
        #expect(summary.text.hasPrefix("Alert storm: 9 alerts"))
        let all = summary.blocks.map(\.description).joined()
        #expect(all.contains("t000000012") && all.contains("0.6200"))
        #expect(!all.contains("t000000004"), "only the top 4 of 9 are listed")
        #expect(summary.blocks.count <= 50)
    }

    @Test func configErrors() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let both = await Alerting.runSlack(#"{"type": "slack", "webhook_url_env": "A", "secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x"}"#, records: [])
        #expect("\(both.error!)".contains("exactly one of"))
        let noChannel = await Alerting.runSlack(#"{"type": "slack", "mode": "chat_post_message", "token_env": "T"}"#, records: [])
        #expect("\(noChannel.error!)".contains("channel"))
        let unset = await Alerting.runSlack(#"{"type": "slack", "webhook_url_env": "NOT_SET_ANYWHERE"}"#, records: [Alerting.alert(1)])
        #expect("\(unset.error!)".contains("NOT_SET_ANYWHERE is not set"))
    }

    /// The webhook URL and the token never show up in logs, errors or dead-letter records, whatever fails.
    @Test func secretsNeverLeak() async throws {
        let capture = LogCapture()
        let secrets = ["SeCrEtWeBhOoKtOkEn123", "T0SECRET1/B0SECRET2", "SeCrEtBoTtOkEn", "SeCrEtPoRtWeBhOoK"]
        func check(_ texts: [String], _ what: String) {
            for t in texts {
                for s in secrets { #expect(!t.contains(s), "\(what) leaks a secret: \(t)") }
            }
        }
        // 1. Permanent errors and retries, webhook.
        let slack = try FakeSlack { p in p.text.contains("t000000001") ? FakeSlack.webhookError(400, "invalid_payload") : FakeSlack.webhookError(500, "boom") }
        defer { slack.stop() }
        let a = await Alerting.runSlack(webhookSink(slack, #", "on_exhausted": "dead_letter""#), records: [Alerting.alert(1), Alerting.alert(2)],
                                        environment: env(slack), logger: capture.logger())
        #expect(a.deadLetters.count == 2)
        check(a.deadLetters, "dead letter")

        // 2. Connection refused (curl's error text) to a URL whose path is the secret; then on_exhausted=fail.
        let closed = try FakeHTTPServer { _ in .reset }
        let url = closed.url + "/services/T0SECRET1/B0SECRET2/SeCrEtPoRtWeBhOoK"
        closed.stop()
        let b = await Alerting.runSlack(webhookSink(slack, #", "on_exhausted": "dead_letter""#), records: [Alerting.alert(3)],
                                        environment: ["SLACK_WEBHOOK_URL": url], logger: capture.logger())
        #expect(b.deadLetters.count == 1)
        check(b.deadLetters, "dead letter")
        let c = await Alerting.runSlack(webhookSink(slack, #", "on_exhausted": "fail""#), records: [Alerting.alert(4)],
                                        environment: ["SLACK_WEBHOOK_URL": url], logger: capture.logger())
        let error = try #require(c.error)
        check(["\(error)", String(reflecting: error)], "error")

        // 3. Token auth failure, chat.postMessage.
        let api = try FakeSlack { _ in FakeSlack.apiError("invalid_auth") }
        defer { api.stop() }
        let sink = #"{"type": "slack", "mode": "chat_post_message", "channel": "C1", "token_env": "SLACK_BOT_TOKEN", "api_url": "\#(api.apiURL)"}"#
        let d = await Alerting.runSlack(sink, records: [Alerting.alert(5)], environment: env(api), logger: capture.logger())
        #expect(d.deadLetters.first?.contains("slack: invalid_auth") == true)
        check(d.deadLetters, "dead letter")

        #expect(!capture.all.isEmpty)
        check(capture.all, "log")
    }
}
