import Foundation
@testable import LambdaRuntime
import LambdaSNSSource
import Logging
import PipelineHost
import SlackSink
import StdoutSink
import Synchronization
import Testing
import TestSupport

/// A fake Lambda Runtime API on 127.0.0.1: serves queued events from GET /runtime/invocation/next and records what
/// the runtime posts back.
final class FakeLambdaRuntime: Sendable {
    struct Event: Sendable {
        var id: String
        var body: String
        var deadlineMs: Int64
        /// When set, the deadline is this many seconds after the event is handed out (as Lambda sets it when
        /// the invocation starts), so a slow start-up on a loaded machine does not eat the invocation's time.
        var secondsFromHandout: Double? = nil
    }
    struct Post: Sendable {
        var path: String
        var errorTypeHeader: String?
        var body: JSONValue
        var text: String
    }
    final class Queue: Sendable { let m = Mutex<[Event]>([]) }
    final class Log: Sendable { let m = Mutex<[Post]>([]) }

    let server: FakeHTTPServer
    let queue = Queue()
    let log = Log()

    init(events: [Event]) throws {
        let queue = self.queue
        let log = self.log
        queue.m.withLock { $0 = events }
        server = try FakeHTTPServer { request in
            if request.method == "GET" && request.path == "/2018-06-01/runtime/invocation/next" {
                guard let e = queue.m.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else {
                    return .delay(.seconds(30)) { .respond(status: 500) }
                }
                let deadline = e.secondsFromHandout.map { Int64((MonotonicClock.wallSeconds() + $0) * 1000) } ?? e.deadlineMs
                return .respond(status: 200, headers: [
                    ("Lambda-Runtime-Aws-Request-Id", e.id), ("Lambda-Runtime-Deadline-Ms", "\(deadline)"),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:alerts"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-5e1b4151-5ac6c58f5ae1b9bc0b4c7f4b;Sampled=0"),
                ], body: Array(e.body.utf8))
            }
            let text = String(decoding: request.body, as: UTF8.self)
            log.m.withLock {
                $0.append(Post(path: request.path, errorTypeHeader: request.header("Lambda-Runtime-Function-Error-Type"),
                               body: (try? DocumentParser.parseValue(request.body)) ?? .null, text: text))
            }
            return .respond(status: 202, body: Array(#"{"status":"OK"}"#.utf8))
        }
    }

    var api: String { "127.0.0.1:\(server.port)" }
    var posts: [Post] { log.m.withLock { $0 } }
    func stop() { server.stop() }

    static func inMinutes(_ m: Double) -> Int64 { Int64((MonotonicClock.wallSeconds() + m * 60) * 1000) }

    /// An SNS event whose records carry these messages (each a JSON string inside the envelope).
    static func snsEvent(_ messages: [String]) -> String {
        let records = messages.enumerated().map { i, m -> JSONValue in
            [
                "EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alerts:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": [
                    "Type": "Notification", "MessageId": .string("95df01b4-ee98-5cb9-9903-4c221d41eb5\(i)"),
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "Subject": nil, "Message": .string(m),
                    "Timestamp": "2024-08-01T00:12:53.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
                    "MessageAttributes": ["variant": ["Type": "String", "Value": "local"]],
                ],
            ]
        }
        return JSONValue.object([("Records", .array(records))]).description
    }
}

@Suite(.serialized)
struct LambdaTests {
    static let registry = PluginRegistry([.source(LambdaSNSSource.self), .sink(SlackSink.self), .sink(StdoutSink.self)])
    static var specPath: String { Alerting.repoRoot + "/pipelines/lambda-slack.json" }

    func environment(_ runtime: FakeLambdaRuntime, _ slack: FakeSlack) -> [String: String] {
        ["AWS_LAMBDA_RUNTIME_API": runtime.api, "SLACK_WEBHOOK_URL_ENV": "SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL": slack.webhookURL,
         "LAMBDA_TASK_ROOT": Alerting.repoRoot, "PIPELINE_HOST_ALLOW_HTTP_LOOPBACK": "1"]
    }

    /// Two SNS events and a malformed one through `pipeline-host lambda pipelines/lambda-slack.json`'s loop.
    @Test func runtimeLoopReportsEachInvocation() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let runtime = try FakeLambdaRuntime(events: [
            .init(id: "req-1", body: FakeLambdaRuntime.snsEvent([Alerting.alert(1)]), deadlineMs: FakeLambdaRuntime.inMinutes(1)),
            .init(id: "req-2", body: FakeLambdaRuntime.snsEvent([Alerting.alert(2), Alerting.alert(3)]), deadlineMs: FakeLambdaRuntime.inMinutes(1)),
            .init(id: "req-3", body: #"{"Records": [{"Sns": "#, deadlineMs: FakeLambdaRuntime.inMinutes(1)),
        ])
        defer { runtime.stop() }
        let code = await LambdaHost.run(specPath: Self.specPath, registry: Self.registry, environment: environment(runtime, slack),
                                        logger: Logger(label: "lambda-test"), maxInvocations: 3)
        #expect(code == 0)
        let posts = runtime.posts
        try #require(posts.count == 3, "\(posts.map(\.path))")
        #expect(posts[0].path == "/2018-06-01/runtime/invocation/req-1/response")
        #expect(posts[0].body["records"] == 1)
        #expect(posts[0].body["delivered"]?["slack"] == 1)
        #expect(posts[1].path == "/2018-06-01/runtime/invocation/req-2/response")
        #expect(posts[1].body["records"] == 2)
        #expect(posts[1].body["delivered"]?["slack"] == 2)
        #expect(posts[2].path == "/2018-06-01/runtime/invocation/req-3/error")
        #expect(posts[2].body["errorType"] == "InvalidEvent")
        #expect(posts[2].errorTypeHeader == "InvalidEvent")
        #expect(posts[2].body["errorMessage"]?.stringValue?.contains("not JSON") == true)
        let texts = slack.requests.map(\.text)
        #expect(texts.count == 3)
        for id in ["t000000001", "t000000002", "t000000003"] { #expect(texts.contains { $0.contains(id) }) }
    }

    /// Slack rate-limits for 30 s (Retry-After) on an invocation with 4 s left: the sink gives up in time with its
    /// reason and the invocation fails cleanly (SNS retries the event), instead of waiting past the deadline and
    /// being abandoned as Runtime.DeadlineExceeded; the loop goes on to the next invocation.
    @Test func waitsAreClampedToTheInvocationDeadline() async throws {
        let slack = try FakeSlack { _ in FakeSlack.tooMany(retryAfter: 30) }
        defer { slack.stop() }
        let runtime = try FakeLambdaRuntime(events: [
            // 4 s from when the event is handed out (not from now: the host's start-up would eat into it).
            .init(id: "req-1", body: FakeLambdaRuntime.snsEvent([Alerting.alert(1)]), deadlineMs: 0, secondsFromHandout: 4.0),
            .init(id: "req-2", body: #"{"Records": [{"Sns": "#, deadlineMs: FakeLambdaRuntime.inMinutes(1)),
        ])
        defer { runtime.stop() }
        let started = ContinuousClock.now
        let code = await LambdaHost.run(specPath: Self.specPath, registry: Self.registry, environment: environment(runtime, slack),
                                        logger: Logger(label: "lambda-test"), maxInvocations: 2)
        #expect(code == 0, "the loop served both invocations")
        let posts = runtime.posts
        try #require(posts.count == 2, "\(posts.map(\.path))")
        #expect(posts[0].path == "/2018-06-01/runtime/invocation/req-1/error")
        #expect(posts[0].errorTypeHeader != "Runtime.DeadlineExceeded", "\(String(describing: posts[0].body))")
        let message = posts[0].body["errorMessage"]?.stringValue ?? ""
        #expect(message.contains("gave up waiting") && message.contains("invocation deadline"), "\(message)")
        #expect(posts[1].path == "/2018-06-01/runtime/invocation/req-2/error")
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    /// The deployment as Lambda runs it: `bootstrap` from the task root execs the binary, which loops over the
    /// Runtime API until the process is killed. The task root is the unpacked zip when LAMBDA_ZIP names one
    /// (scripts/build-lambda-zip.sh), else bootstrap, the test build's binary and the spec laid out the same way.
    @Test func bootstrapInATaskRootServesInvocationsUntilKilled() async throws {
        let root = Alerting.scratch("task-root")
        if let zip = ProcessInfo.processInfo.environment["LAMBDA_ZIP"] {
            let unzip = Process()
            unzip.executableURL = URL(fileURLWithPath: "/usr/bin/unzip")
            unzip.arguments = ["-q", zip, "-d", root]
            try unzip.run()
            while unzip.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            try #require(unzip.terminationStatus == 0, "cannot unpack \(zip)")
        } else {
            let fm = FileManager.default
            try fm.copyItem(atPath: Alerting.repoRoot + "/lambda/bootstrap", toPath: root + "/bootstrap")
            try fm.copyItem(atPath: HostProcess.binary, toPath: root + "/pipeline-host")
            try fm.createDirectory(atPath: root + "/pipelines", withIntermediateDirectories: true)
            try fm.copyItem(atPath: Self.specPath, toPath: root + "/pipelines/lambda-slack.json")
        }
        let slack = try FakeSlack()
        defer { slack.stop() }
        let runtime = try FakeLambdaRuntime(events: [
            .init(id: "req-1", body: FakeLambdaRuntime.snsEvent([Alerting.alert(1)]), deadlineMs: FakeLambdaRuntime.inMinutes(1)),
            .init(id: "req-2", body: #"{"Records": [{"Sns": "#, deadlineMs: FakeLambdaRuntime.inMinutes(1)),
            .init(id: "req-3", body: FakeLambdaRuntime.snsEvent([Alerting.alert(2), Alerting.alert(3)]), deadlineMs: FakeLambdaRuntime.inMinutes(1)),
        ])
        defer { runtime.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [root + "/bootstrap"]
        var env = environment(runtime, slack)
        env["LAMBDA_TASK_ROOT"] = root
        env["LD_LIBRARY_PATH"] = root + "/lib"  // what Lambda sets for a custom runtime
        env["PATH"] = "/usr/bin:/bin"
        process.environment = env
        let log = root + "/runtime.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while runtime.posts.count < 3 && process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let stillLooping = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(stillLooping, "the runtime loop must wait for the next invocation, not exit:\n\(output)")
        let posts = runtime.posts
        try #require(posts.count == 3, "\(posts.map(\.path))\n\(output)")
        #expect(posts.map(\.path) == [
            "/2018-06-01/runtime/invocation/req-1/response", "/2018-06-01/runtime/invocation/req-2/error",
            "/2018-06-01/runtime/invocation/req-3/response",
        ])
        #expect(posts[2].body["delivered"]?["slack"] == 2)
        #expect(slack.requests.count == 3)
        #expect(!output.contains("SeCrEtWeBhOoKtOkEn123"), "the webhook URL leaked into the runtime's output")
    }

    /// A record Slack refuses for good makes the invocation fail, so Lambda retries it or sends it to the DLQ.
    @Test func deadLetteredRecordFailsTheInvocation() async throws {
        let slack = try FakeSlack { p in p.text.contains("t000000002") ? FakeSlack.webhookError(400, "invalid_payload") : nil }
        defer { slack.stop() }
        let runtime = try FakeLambdaRuntime(events: [])
        defer { runtime.stop() }
        let env = environment(runtime, slack)
        let spec = try PipelineSpec.load(path: Self.specPath, registry: Self.registry, environment: env)
        let handler = LambdaPipelineHandler(spec: spec, registry: Self.registry, logger: Logger(label: "lambda-test"), environment: env)

        let refused = await handler.handle(LambdaInvocation(requestID: "r1", event: Array(FakeLambdaRuntime.snsEvent([Alerting.alert(1), Alerting.alert(2)]).utf8)))
        guard case .failure(let type, let message) = refused else { Issue.record("expected a failure, got \(refused)"); return }
        #expect(type == "DeadLettered")
        #expect(message.contains("1 of 2 records"))

        let notObject = await handler.handle(LambdaInvocation(requestID: "r2", event: Array(FakeLambdaRuntime.snsEvent(["just text"]).utf8)))
        guard case .failure(let type2, _) = notObject else { Issue.record("expected a failure, got \(notObject)"); return }
        #expect(type2 == "DeadLettered")

        // Records that are not alerts are not sent, and the invocation succeeds.
        let quiet = Alerting.alert(4).replacingOccurrences(of: #""is_alert": true"#, with: #""is_alert": false"#)
        let ok = await handler.handle(LambdaInvocation(requestID: "r3", event: Array(FakeLambdaRuntime.snsEvent([quiet]).utf8)))
        guard case .success(let body) = ok else { Issue.record("expected success, got \(ok)"); return }
        #expect(String(decoding: body, as: UTF8.self).contains(#""records":1"#))
        #expect(slack.requests.count == 2)
    }

    @Test func invalidSpecIsAnInitError() async throws {
        let slack = try FakeSlack()
        defer { slack.stop() }
        let runtime = try FakeLambdaRuntime(events: [])
        defer { runtime.stop() }
        let dir = Alerting.scratch("spec")
        _ = FileManager.default.createFile(atPath: dir + "/bad.json", contents: Data(#"{"name": "x", "source": {"type": "lambda_sns"}, "sinks": [{"type": "slak"}]}"#.utf8))
        let code = await LambdaHost.run(specPath: dir + "/bad.json", registry: Self.registry, environment: environment(runtime, slack),
                                        logger: Logger(label: "lambda-test"), maxInvocations: 1)
        #expect(code == 78)
        let post = try #require(runtime.posts.first)
        #expect(post.path == "/2018-06-01/runtime/init/error")
        #expect(post.body["errorType"] == "Runtime.InvalidSpec")
    }

    /// A slow Slack on an invocation with 3 s left: the request's timeout is clamped to the time left, so the
    /// invocation fails with the sink's reason before the deadline, not after Slack's 10 s answer.
    @Test func aSlowSlackFailsTheInvocationBeforeItsDeadline() async throws {
        let slack = try FakeSlack { _ in .delay(.seconds(60)) { FakeSlack.webhookOK() } }
        defer { slack.stop() }
        let runtime = try FakeLambdaRuntime(events: [.init(id: "slow", body: FakeLambdaRuntime.snsEvent([Alerting.alert(1)]), deadlineMs: 0,
                                                            secondsFromHandout: 3.0)])
        defer { runtime.stop() }
        let started = MonotonicClock.seconds()
        let code = await LambdaHost.run(specPath: Self.specPath, registry: Self.registry, environment: environment(runtime, slack),
                                        logger: Logger(label: "lambda-test"), maxInvocations: 1)
        #expect(code == 0)
        // Generous bound (CI runs tests in parallel), far below Slack's 60 s answer.
        #expect(MonotonicClock.seconds() - started < 30)
        let post = try #require(runtime.posts.first)
        #expect(post.path == "/2018-06-01/runtime/invocation/slow/error")
        #expect(post.body["errorType"] == "PipelineError.sink", "\(post.body)")
    }

    /// The loop's own safety net, for a handler that ignores the deadline: abandoned at the deadline minus the
    /// margin and reported as Runtime.DeadlineExceeded.
    @Test func aHandlerThatOverrunsIsAbandonedAtTheDeadline() async throws {
        let invocation = LambdaInvocation(requestID: "r", deadlineMs: Int64((MonotonicClock.wallSeconds() + 1.0) * 1000), event: [])
        let started = MonotonicClock.seconds()
        let outcome = await LambdaLoop.withDeadline(invocation, margin: 0.5) { _ in
            try? await Task.sleep(for: .seconds(10))
            return .success([])
        }
        #expect(outcome == nil)
        #expect(MonotonicClock.seconds() - started < 5)
    }

    @Test func snsEventParsing() throws {
        let event = FakeLambdaRuntime.snsEvent([#"{"a": 1}"#, #"[{"b": 2}, {"c": 3}, 4]"#, "not json"])
        let batch = try LambdaSNSSource.parse(Array(event.utf8), requestID: "r", metadataField: "_sns")
        #expect(batch.records.count == 3)
        #expect(batch.records[0]["a"] == 1)
        #expect(batch.records[0]["_sns"]?["message_id"] == "95df01b4-ee98-5cb9-9903-4c221d41eb50")
        #expect(batch.records[0]["_sns"]?["topic_arn"] == "arn:aws:sns:us-east-1:123456789012:alerts")
        #expect(batch.records[0]["_sns"]?["message_attributes"]?["variant"] == "local")
        #expect(batch.records[2]["c"] == 3)
        #expect(batch.deadLetters.count == 2)
        #expect(batch.deadLetters.allSatisfy { $0.record.origin.description.contains("arn:aws:sns:us-east-1:123456789012:alerts@") })
        #expect(throws: LambdaEventError.self) { try LambdaSNSSource.parse(Array("garbage".utf8), requestID: "r") }
        #expect(throws: LambdaEventError.self) { try LambdaSNSSource.parse(Array(#"{"detail": {}}"#.utf8), requestID: "r") }
        #expect(throws: LambdaEventError.self) { try LambdaSNSSource.parse(Array(#"{"Records": [{"s3": {}}]}"#.utf8), requestID: "r") }
    }

    /// The lambda_sns source outside `pipeline-host lambda` (no invocation event) stops the run with an error
    /// that says so, instead of waiting for events that never come.
    @Test func lambdaSNSOutsideLambdaFails() async throws {
        let spec = try PipelineSpec.parse(Array(#"{"name": "x", "source": {"type": "lambda_sns"}, "sinks": [{"type": "stdout"}], "dead_letter": {"type": "stdout"}}"#.utf8),
                                          file: "x.json", registry: Self.registry, environment: [:])
        let runner = PipelineRunner(spec: spec, registry: Self.registry, logger: Logger(label: "t"), environment: [:], store: EphemeralCheckpointStore())
        await #expect {
            _ = try await runner.run()
        } throws: { error in
            error is PipelineError && "\(error)".contains("runs only under `pipeline-host lambda`")
        }
    }
}
