import Foundation
import PipelineHost
import Testing
import TestSupport

/// What an analyst sees: a real alert of the staging pipeline, explained by local_model, posted by the Slack sink
/// to the fake Slack, and the Block Kit payload it sent drawn as a Slack message (header, fields, the reasons,
/// context) in headless Chromium. Slack's own client cannot run here: this is a rendering of the exact payload.
/// The screenshot goes to out/test-artifacts/slack-alert.png (docs/images/slack-alert.png is one of these).
@Suite struct SlackAlertRenderingTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func run(_ executable: String, _ args: [String]) async throws -> (Int32, String) {
        let r = try await ChildProcess.run(executable, args, directory: repo)
        return (r.status, r.output)
    }

    /// mrkdwn as Slack shows it: *bold*, _italic_, `code`, dates by their fallback text, line breaks.
    static func mrkdwn(_ text: String) -> String {
        var s = text  // already escaped by the sink (&lt; &gt; &amp;)
        if let re = try? NSRegularExpression(pattern: "<!date\\^[0-9]+\\^[^|>]*\\|([^>]*)>") {
            s = re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "$1")
        }
        for (pattern, template) in [("\\*([^*\\n]+)\\*", "<b>$1</b>"), ("(?<![a-zA-Z0-9])_([^_\\n]+)_(?![a-zA-Z0-9])", "<i>$1</i>"), ("`([^`\\n]+)`", "<code>$1</code>")] {
            if let re = try? NSRegularExpression(pattern: pattern) {
                s = re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: template)
            }
        }
        return s.replacingOccurrences(of: "\n", with: "<br>")
    }

    static func html(_ blocks: [JSONValue]) -> String {
        var body = ""
        for b in blocks {
            switch b["type"]?.stringValue {
            case "header":
                // Emoji drawn as Slack's red light: this machine has no colour emoji font.
                let raw = b["text"]?["text"]?.stringValue ?? ""
                let plain = String(String.UnicodeScalarView(raw.unicodeScalars.filter { !$0.properties.isEmojiPresentation && $0.value < 0x1F000 }))
                let t = "<span style=\"color:#e01e5a\">●</span> " + plain.trimmingCharacters(in: .whitespaces)
                    .replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                body += "<div class=\"header\">\(t)</div>"
            case "section":
                if let fields = b["fields"]?.arrayValue {
                    body += "<div class=\"fields\">" + fields.map { "<div>\(mrkdwn($0["text"]?.stringValue ?? ""))</div>" }.joined() + "</div>"
                }
                if let text = b["text"]?["text"]?.stringValue { body += "<div class=\"section\">\(mrkdwn(text))</div>" }
            case "context":
                body += "<div class=\"context\">" + (b["elements"]?.arrayValue ?? []).map { mrkdwn($0["text"]?.stringValue ?? "") }.joined(separator: " ") + "</div>"
            case "divider":
                body += "<hr>"
            default:
                continue
            }
        }
        return """
            <!DOCTYPE html><html><head><meta charset="utf-8"><style>
            body{font:15px/1.46 -apple-system,"Segoe UI",Lato,sans-serif;background:#fff;color:#1d1c1d;margin:0;padding:20px}
            .msg{display:flex;gap:10px;max-width:760px}.avatar{width:36px;height:36px;border-radius:6px;background:#d9480f;flex:none}
            .who{font-weight:900}.who span{font-weight:400;color:#616061;font-size:12px;margin-left:6px}
            .header{font-size:18px;font-weight:900;margin:4px 0 8px}.fields{display:grid;grid-template-columns:1fr 1fr;gap:8px 24px;margin:6px 0}
            .section{margin:8px 0}.context{font-size:12px;color:#616061;margin-top:8px}
            code{font:12px Monaco,Menlo,monospace;background:#f8f8f8;border:1px solid #e8e8e8;border-radius:3px;padding:1px 3px;color:#e01e5a}
            </style></head><body><div class="msg"><div class="avatar"></div><div><div class="who">fraud-alerts<span>APP</span></div>
            \(body)</div></div><p style="color:#888;font-size:11px;margin-top:24px">Rendered from the Block Kit payload the slack sink posted (not Slack's client).</p></body></html>
            """
    }

    @Test func anExplainedAlertAsTheAnalystSeesIt() async throws {
        let chromium = try #require(Self.chromium, "headless Chromium is not installed (scripts/setup.sh --test installs Debian's chromium)")
        let dir = Alerting.scratch("render")
        // A real alert: the staging chain on the first 3,000 sample events, explained.
        let spec = """
            {"name": "render", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [
               {"type": "dynamo_broadcast", "mode": "file", "path": "\(Self.repo)/samples/user_demographics.jsonl",
                "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"], "on_missing": "missing"},
               {"type": "rolling_aggregates", "key_field": "user_id", "time_field": "event_created_at_ts", "value_field": "transaction_value"},
               {"type": "feature_scaler", "bundle": "\(Self.repo)/models/v1"},
               {"type": "local_model", "bundle": "\(Self.repo)/models/v1", "explain_top": 5}],
             "sinks": [{"type": "file", "path": "\(dir)/alerts.jsonl", "when": {"field": "is_alert", "equals": true}}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        _ = FileManager.default.createFile(atPath: dir + "/spec.json", contents: Data(spec.utf8))
        let (unzip, sample) = try await Self.run("/bin/sh", ["-c", "gzip -dc samples/transactions.jsonl.gz | head -3000 > \(dir)/in.jsonl"])
        try #require(unzip == 0, "\(sample)")
        let (status, log) = try await Self.run(HostProcess.binary, ["run", dir + "/spec.json", "--quiet"])
        try #require(status == 0, "\(log)")
        let alert = try #require(String(decoding: FileManager.default.contents(atPath: dir + "/alerts.jsonl") ?? Data(), as: UTF8.self)
            .split(separator: "\n").first { $0.contains("top_features") }.map(String.init), "no explained alert")

        let slack = try FakeSlack()
        defer { slack.stop() }
        let out = await Alerting.runSlack(#"{"type": "slack", "id": "alerts", "webhook_url_env": "SLACK_WEBHOOK_URL", "max_features": 5}"#,
                                          records: [alert], environment: ["SLACK_WEBHOOK_URL": slack.webhookURL])
        #expect(out.error == nil, "\(String(describing: out.error))")
        let post = try #require(slack.requests.first)
        let blocks = post.blocks
        let reasons = blocks.compactMap { $0["text"]?["text"]?.stringValue }.first { $0.contains("pushed the score") } ?? ""
        let record = try DocumentParser.parseValue(Array(alert.utf8))
        let top = (record["top_features"]?.arrayValue ?? []).filter { ($0["contribution"]?.doubleValue ?? 0) > 0 }
        #expect(!top.isEmpty)
        // Every feature that pushed the score up is in the message, in the record's order.
        var last = reasons.startIndex
        for f in top {
            let name = try #require(f["name"]?.stringValue)
            let at = try #require(reasons.range(of: name, range: last..<reasons.endIndex), "\(name) missing or out of order in \(reasons)")
            last = at.upperBound
        }

        let page = dir + "/slack.html"
        try Data(Self.html(blocks).utf8).write(to: URL(fileURLWithPath: page))
        let artifacts = Self.repo + "/out/test-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/slack-alert.png"
        try? FileManager.default.removeItem(atPath: shot)
        let (browser, browserLog) = try await Self.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                                                                  "--user-data-dir=\(dir)/profile", "--window-size=820,560", "--screenshot=\(shot)", "file://\(page)"])
        #expect(browser == 0, "\(browserLog.suffix(500))")
        let png = try #require(FileManager.default.contents(atPath: shot), "no screenshot")
        #expect(png.count > 10_000)
    }
}
