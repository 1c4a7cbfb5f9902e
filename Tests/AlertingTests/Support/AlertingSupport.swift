import FileSink
import FileSource
import Foundation
import LambdaSNSSource
import Logging
import PipelineHost
import SlackSink
import Synchronization
import TestSupport

/// A fake Slack (incoming webhook and Web API) on 127.0.0.1 that records every request with its arrival time and
/// answers from a script: the next scripted answer, else the default for the request.
final class FakeSlack: Sendable {
    struct Posted: Sendable {
        var path: String
        var authorization: String?
        var body: JSONValue
        var at: Double
        var text: String { body["text"]?.stringValue ?? "" }
        var blocks: [JSONValue] { body["blocks"]?.arrayValue ?? [] }
    }

    let server: FakeHTTPServer
    private let script: ScriptBox
    private let posted: PostedBox
    final class ScriptBox: Sendable { let m = Mutex<[FakeHTTPServer.Action]>([]) }
    final class PostedBox: Sendable { let m = Mutex<[Posted]>([]) }

    /// `respond` decides answers not taken from the script (default: success for the mode of the path).
    init(respond: (@Sendable (Posted) -> FakeHTTPServer.Action?)? = nil) throws {
        let script = ScriptBox()
        let posted = PostedBox()
        self.script = script
        self.posted = posted
        server = try FakeHTTPServer { request in
            let body = (try? DocumentParser.parseValue(request.body)) ?? .null
            let p = Posted(path: request.path, authorization: request.header("authorization"), body: body, at: MonotonicClock.seconds())
            posted.m.withLock { $0.append(p) }
            if let next = script.m.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return next }
            if let custom = respond?(p) { return custom }
            return request.path.hasPrefix("/api/") ? FakeSlack.apiOK() : FakeSlack.webhookOK()
        }
    }

    var webhookURL: String { server.url + "/services/T0SECRET1/B0SECRET2/SeCrEtWeBhOoKtOkEn123" }
    var apiURL: String { server.url + "/api" }
    var requests: [Posted] { posted.m.withLock { $0 } }

    func enqueue(_ actions: FakeHTTPServer.Action...) { script.m.withLock { $0.append(contentsOf: actions) } }
    func stop() { server.stop() }

    static func webhookOK() -> FakeHTTPServer.Action { .respond(status: 200, headers: [("Content-Type", "text/html")], body: Array("ok".utf8)) }
    static func webhookError(_ status: Int, _ code: String) -> FakeHTTPServer.Action {
        .respond(status: status, headers: [("Content-Type", "text/html")], body: Array(code.utf8))
    }
    static func apiOK() -> FakeHTTPServer.Action {
        .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"ok":true,"channel":"C1","ts":"1.000100"}"#.utf8))
    }
    static func apiError(_ code: String) -> FakeHTTPServer.Action {
        .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(#"{"ok":false,"error":"\#(code)"}"#.utf8))
    }
    static func tooMany(retryAfter: Int) -> FakeHTTPServer.Action {
        .respond(status: 429, headers: [("Retry-After", "\(retryAfter)")], body: Array("rate_limited".utf8))
    }
}

enum Alerting {
    static let registry = PluginRegistry([
        .source(FileSource.self), .source(LambdaSNSSource.self), .sink(FileSink.self), .sink(SlackSink.self),
    ])

    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func scratch(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "alerting-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func lines(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// A scored alert record as the scorer writes it.
    static func alert(_ n: Int, score: Double = 0.91, features: Bool = false) -> String {
        var s = #"{"transaction_id": "t\#(String(format: "%09d", n))", "user_id": "u00\#(1600 + n)", "event_created_at_ts": 1722471172, "transaction_value": 56.35, "channel_code": 3, "age": 69, "txn_count_1h": 0, "txn_sum_1h": 0.0, "fraud_score": \#(score), "model_version": "v1", "variant": "local", "is_alert": true"#
        if features {
            s += #", "top_features": [{"name": "txn_count_1h", "contribution": 0.31}, {"name": "age", "contribution": -0.2}, {"name": "transaction_value", "contribution": 0.12, "value": 56.35}]"#
        }
        return s + "}"
    }

    /// Runs file → slack with a file dead letter; returns the summary (or the error) and the dead-letter lines.
    /// `dir`: where input, dead letters and checkpoints go (a new directory unless given: a restart passes the
    /// first run's).
    static func runSlack(_ sinkJSON: String, records: [String], environment: [String: String] = [:], logger: Logger? = nil, dir: String? = nil)
        async -> (summary: RunSummary?, error: (any Error)?, deadLetters: [String])
    {
        let dir = dir ?? scratch("slack")
        let input = dir + "/in.jsonl"
        _ = FileManager.default.createFile(atPath: input, contents: Data((records.joined(separator: "\n") + "\n").utf8))
        let spec = """
            {"name": "alerts-test", "source": {"type": "file", "path": "\(input)"},
             "sinks": [\(sinkJSON)],
             "dead_letter": {"type": "file", "path": "\(dir)/dead.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "1h"}}
            """
        let parsed: PipelineSpec
        // The fake Slack listens on plain http at 127.0.0.1; a test that checks the https rule sets it to "0".
        let environment = ["PIPELINE_HOST_ALLOW_HTTP_LOOPBACK": "1"].merging(environment) { _, given in given }
        do {
            parsed = try PipelineSpec.parse(Array(spec.utf8), file: "test.json", registry: registry, environment: environment)
        } catch {
            return (nil, error, [])
        }
        let runner = PipelineRunner(spec: parsed, registry: registry, logger: logger ?? Logger(label: "test"), environment: environment)
        do {
            let summary = try await runner.run()
            return (summary, nil, lines(dir + "/dead.jsonl"))
        } catch {
            return (nil, error, lines(dir + "/dead.jsonl"))
        }
    }
}
