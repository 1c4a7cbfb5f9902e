import AWSCore
import Foundation
import Testing
import TestSupport

/// `pipeline-host tap` against a real running host over its admin port: the records leaving a stage, a field
/// filter, the rate limit, the dead-letter output, secrets replaced, the bound on open taps, and an unknown stage.
@Suite struct TapTests {
    static func run(_ args: [String], timeout: Double = 60) async throws -> ChildProcess.Result {
        try await ChildProcess.run(HostProcess.binary, args, timeout: timeout)
    }

    @Test func tapsShowWhatLeavesAStageAndNothingSecret() async throws {
        let dir = TestFiles.scratch("tap")
        let port = try MotoServer.freePort()
        let input = dir + "/in.jsonl"
        TestFiles.write("", to: input)
        let spec = """
            {"name": "tapped", "source": {"type": "file", "path": "\(input)", "follow": true, "poll_interval": "50ms", "batch": {"max_age": "10ms"}},
             "transforms": [
               {"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "time_field": "event_created_at_ts",
                "value_field": "transaction_value", "allowed_lateness": "5m"},
               {"type": "fields", "id": "mapped", "set": {"notify": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"}}
             ],
             "sinks": [{"type": "file", "id": "scored", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "1s"},
             "admin": {"address": "127.0.0.1:\(port)"}}
            """
        TestFiles.write(spec, to: dir + "/spec.json")
        let host = try HostProcess(name: "tap", spec: dir + "/spec.json", environment: [:], logPath: dir + "/host.log")
        defer { host.kill9() }
        let feeder = Task {
            var n = 0
            while !Task.isCancelled {
                n += 1
                let now = Int(Date().timeIntervalSince1970)
                var lines = (0..<40).map { i in
                    #"{"user_id": "u\#(i % 5)", "event_created_at_ts": \#(now), "transaction_value": \#(i), "token": "xoxb-123-456", "key": "AKIAABCDEFGHIJKLMNOP"}"#
                }
                if n % 2 == 0 { lines.append(#"{"user_id": "u1", "event_created_at_ts": "yesterday", "transaction_value": 1}"#) }
                if let h = try? FileHandle(forWritingTo: URL(fileURLWithPath: input)) {
                    _ = try? h.seekToEnd()
                    try? h.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
                    try? h.close()
                }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        defer { feeder.cancel() }
        let started = Date()
        while TestFiles.lines(dir + "/out.jsonl").isEmpty {
            try #require(Date().timeIntervalSince(started) < 60 && host.isRunning, "the host did not start: \(host.log)")
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let address = "127.0.0.1:\(port)"

        // A field filter on the rolling aggregates' output: those fields, in that order, with the computed counts.
        let rolling = try await Self.run(["tap", "rolling", "--address", address, "--limit", "15", "--rate", "1000",
                                          "--fields", "user_id,txn_count_1h,token,key"])
        #expect(rolling.status == 0, "\(rolling.stderr)")
        let lines = rolling.stdout.split(separator: "\n")
        #expect(lines.count == 15)
        for line in lines {
            #expect(line.hasPrefix(#"{"user_id":"u"#), "\(line)")
            #expect(line.contains(#""txn_count_1h":"#))
            #expect(line.contains(#""token":"[redacted]""#) && line.contains(#""key":"[redacted]""#), "\(line)")
            #expect(!line.contains("transaction_value"))
        }
        // The whole record after `fields`: the webhook it set never leaves the host in the clear.
        let mapped = try await Self.run(["tap", "mapped", "--address", address, "--limit", "5", "--rate", "1000"])
        #expect(mapped.status == 0, "\(mapped.stderr)")
        #expect(mapped.stdout.split(separator: "\n").count == 5)
        #expect(!mapped.stdout.contains("hooks.slack.com") && !mapped.stdout.contains("xoxb-") && !mapped.stdout.contains("AKIAABCD"))
        #expect(mapped.stdout.contains(#""notify":"[redacted]""#))

        // The rate: 4 records a second for 3 seconds is about 12 (one second of burst at most), not the 1,200 that flowed.
        let slow = try await Self.run(["tap", "scored", "--address", address, "--rate", "4", "--duration", "3"])
        let taken = slow.stdout.split(separator: "\n").count
        #expect(taken >= 4 && taken <= 18, "\(taken) records in 3 s at 4/s")

        // The dead-letter output: entries with their reason.
        let dlq = try await Self.run(["tap", "dead_letter", "--address", address, "--limit", "1", "--rate", "100"], timeout: 30)
        #expect(dlq.status == 0, "\(dlq.stderr)")
        #expect(dlq.stdout.contains(#""reason":"#) && dlq.stdout.contains("rolling"), "\(dlq.stdout)")

        // An unknown stage: the error lists the stages.
        let unknown = try await Self.run(["tap", "rollin", "--address", address, "--limit", "1"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("HTTP 404") && unknown.stderr.contains(#""rolling""#) && unknown.stderr.contains(#""dead_letter""#), "\(unknown.stderr)")
        #expect(unknown.stderr.contains(#"no stage \"rollin\"; did you mean \"rolling\"?"#), "\(unknown.stderr)")

        // Bounded: four taps at once, and the fifth is refused. The host lets a closed tap go at its next
        // heartbeat write; /metrics' pipeline_taps_open says when, so the test waits on it, not on a clock.
        let http = HTTPClient()
        func waitForOpenTaps(_ n: Int) async throws {
            let deadline = Date().addingTimeInterval(30)
            while true {
                let metrics = String(decoding: try await http.execute(HTTPRequest(method: "GET", url: "http://\(address)/metrics")).body,
                                     as: UTF8.self)
                if metrics.contains("pipeline_taps_open{pipeline=\"tapped\"} \(n)\n") { return }
                try #require(Date() < deadline, "pipeline_taps_open never reached \(n): \(metrics.split(separator: "\n").filter { $0.contains("taps_open") })")
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        try await waitForOpenTaps(0)
        // Long enough to outlast the wait for all four and the fifth's refusal on a loaded machine.
        let open = (0..<4).map { _ in Task { try await Self.run(["tap", "scored", "--address", address, "--rate", "1", "--duration", "12"]) } }
        try await waitForOpenTaps(4)
        let fifth = try await Self.run(["tap", "scored", "--address", address, "--limit", "1"])
        #expect(fifth.status == 1)
        #expect(fifth.stderr.contains("HTTP 429") && fifth.stderr.contains("4 taps are open already"), "\(fifth.stderr)")
        for t in open { #expect(try await t.value.status == 0) }
        // Closed taps are let go (a heartbeat's write notices a reader that left): a new one is served again.
        try await waitForOpenTaps(0)
        let again = try await Self.run(["tap", "scored", "--address", address, "--limit", "1", "--rate", "100"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(host.isRunning)

        // SIGTERM with a tap open: the tap's stream ends, the admin server stops gracefully, the host exits 0
        // at once, and a clean stop logs nothing at error level (an alarm on error logs would fire every deploy).
        try await waitForOpenTaps(0)  // the last tap let go, so the 1 below is the lingering one
        let lingering = Task { try await Self.run(["tap", "scored", "--address", address, "--rate", "1", "--duration", "120"], timeout: 150) }
        try await waitForOpenTaps(1)
        feeder.cancel()
        let stopping = Date()
        host.terminate()
        #expect(await host.exit(timeout: 60) == 0, "\(host.log)")
        #expect(Date().timeIntervalSince(stopping) < 20, "the exit took \(Date().timeIntervalSince(stopping)) s")
        let tap = try await lingering.value
        #expect(Date().timeIntervalSince(stopping) < 30, "the open tap was not ended")
        #expect(tap.status == 0, "\(tap.stderr)")
        let errors = host.log.split(separator: "\n").filter { $0.contains(#""level":"error""#) || $0.contains(#""level":"critical""#) }
        #expect(errors.isEmpty, "\(errors)")
    }
}
