import Foundation
import PipelineHost
import Testing
import TestSupport

/// SIGTERM while a sink is stuck (Slack not answering for a minute): the drain gets `runtime.shutdown_timeout`,
/// then the host exits 1 without a final checkpoint past what was not delivered; a second signal exits at once.
/// The real binary, as operators run it.
@Suite struct ShutdownDeadlineTests {
    /// Writes one alert as the input and `spec(input)` into a new directory and starts the host on them.
    static func startHost(_ name: String, environment: [String: String], spec: (_ input: String, _ dir: String) -> String) throws
        -> (host: HostProcess, dir: String)
    {
        let dir = Alerting.scratch(name)
        let input = dir + "/in.jsonl"
        _ = FileManager.default.createFile(atPath: input, contents: Data((Alerting.alert(1) + "\n").utf8))
        _ = FileManager.default.createFile(atPath: dir + "/spec.json", contents: Data(spec(input, dir).utf8))
        return (try HostProcess(name: name, spec: dir + "/spec.json", environment: environment, logPath: dir + "/host.log"), dir)
    }

    /// Waits (at most 60 s) until `condition` holds, failing if the host exits first.
    static func wait(for what: String, while host: HostProcess, until condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(60)
        while !condition() {
            try #require(Date() < deadline && host.isRunning, "\(what): \(host.log)")
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends SIGTERM and waits for the exit (killed after 50 s): its status and the seconds it took.
    static func terminate(_ host: HostProcess) async -> (code: Int32, seconds: Double) {
        let sent = Date()
        host.terminate()
        let code = await host.exit(timeout: 50)
        return (code, Date().timeIntervalSince(sent))
    }

    /// Starts the host on a followed input with one alert in it and waits until Slack holds its post.
    static func stuckHost(_ name: String, shutdownTimeout: String) async throws -> (host: HostProcess, slack: FakeSlack, dir: String) {
        let slack = try FakeSlack { _ in .delay(.seconds(60)) { FakeSlack.webhookOK() } }
        let (host, dir) = try startHost(name, environment: ["SLACK_WEBHOOK_URL": slack.webhookURL, "PIPELINE_HOST_ALLOW_HTTP_LOOPBACK": "1"]) { input, dir in
            """
            {"name": "\(name)", "source": {"type": "file", "path": "\(input)", "follow": true, "poll_interval": "20ms", "batch": {"max_age": "10ms"}},
             "sinks": [{"type": "slack", "id": "alerts", "webhook_url_env": "SLACK_WEBHOOK_URL", "timeout": "120s"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "100ms"},
             "runtime": {"shutdown_timeout": "\(shutdownTimeout)"}}
            """
        }
        try await wait(for: "Slack never got the post", while: host) { !slack.requests.isEmpty }
        return (host, slack, dir)
    }

    /// No checkpoint past the alert's line (checkpoints are due every 100 ms: only the stuck alert holds them).
    static func expectNoCheckpointPastTheAlert(_ dir: String) throws {
        guard let data = FileManager.default.contents(atPath: dir + "/cp/checkpoint.json") else { return }
        let checkpoint = try Checkpoint(json: DocumentParser.parseValue(Array(data)))
        if let position = checkpoint.positions["file"] {
            #expect(position["line"]?.intValue == 0, "a checkpoint covers the undelivered alert: \(checkpoint.positions)")
        }
    }

    @Test func aDrainPastTheShutdownTimeoutExitsOneWithoutACheckpointPastTheStuckAlert() async throws {
        let (host, slack, dir) = try await Self.stuckHost("shutdown-timeout", shutdownTimeout: "1s")
        defer { host.kill9(); slack.stop() }
        let (code, took) = await Self.terminate(host)
        #expect(code == 1, "\(host.log)")
        // 1 s of drain, with room for a loaded machine; without the deadline it waits for Slack's 60 s.
        #expect(took >= 0.9 && took < 20, "exited \(took) s after SIGTERM")
        #expect(host.log.contains("draining did not finish within 1.0s"), "\(host.log)")
        try Self.expectNoCheckpointPastTheAlert(dir)
    }

    @Test func aSecondSignalExitsAtOnce() async throws {
        let (host, slack, dir) = try await Self.stuckHost("second-signal", shutdownTimeout: "50s")
        defer { host.kill9(); slack.stop() }
        host.terminate()
        try await Task.sleep(for: .milliseconds(300))
        #expect(host.isRunning, "the first signal drains (Slack holds the alert for a minute)")
        let (code, took) = await Self.terminate(host)
        #expect(code == 1, "\(host.log)")
        // At once, with room for a loaded machine; without it the drain would take the 50 s shutdown timeout.
        #expect(took < 15, "exited \(took) s after the second signal")
        #expect(host.log.contains("exiting without draining"), "\(host.log)")
        try Self.expectNoCheckpointPastTheAlert(dir)
    }

    /// A signal while the plugins are still starting (here: the reference table's DynamoDB does not answer) does
    /// not wait for a start that may never end: the host exits 1 at once, and the restart reads from the start.
    @Test func aSignalDuringTheStartExitsAtOnce() async throws {
        let dynamo = try FakeHTTPServer { _ in .delay(.seconds(60), then: { .reset }) }
        defer { dynamo.stop() }
        let aws = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"]
        let (host, dir) = try Self.startHost("signal-at-start", environment: aws) { input, dir in
            """
            {"name": "signal-at-start", "source": {"type": "file", "path": "\(input)", "follow": true},
             "transforms": [{"type": "dynamo_broadcast", "table": "user_demographics", "endpoint_url": "\(dynamo.url)", "fields": ["age"]}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "100ms"}}
            """
        }
        defer { host.kill9() }
        try await Self.wait(for: "the table load never started", while: host) { !dynamo.requests.isEmpty }
        let (code, took) = await Self.terminate(host)
        #expect(code == 1, "\(host.log)")
        // At once, with room for a loaded machine; without it the host would wait out the stalled load.
        #expect(took < 15, "exited \(took) s after the signal")
        #expect(host.log.contains("exiting without draining"), "\(host.log)")
        #expect(FileManager.default.contents(atPath: dir + "/cp/checkpoint.json") == nil, "a checkpoint before anything was processed")
    }
}
