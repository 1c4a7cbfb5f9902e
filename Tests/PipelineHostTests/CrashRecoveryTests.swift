import Foundation
import PipelineHost
import Testing

/// The real `pipeline-host` binary, killed with SIGKILL in the middle of a file replay and restarted.
@Suite struct CrashRecoveryTests {
    @Test func killNineAndRestartLosesNothingAndDuplicatesOnlyAfterTheCheckpoint() async throws {
        let dir = TestFiles.scratch("crash")
        let count = 1_000_000
        var text = ""
        text.reserveCapacity(count * 60)
        for i in 0..<count { text += "{\"id\": \(i), \"pad\": \"abcdefghijklmnopqrstuvwxyz0123456789\"}\n" }
        TestFiles.write(text, to: dir + "/in.jsonl")
        let spec = dir + "/spec.json"
        TestFiles.write("""
            {"name": "crash", "source": {"type": "file", "path": "\(dir)/in.jsonl", "batch": {"max_events": 500}},
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "50ms"}}
            """, to: spec)

        let first = try launch(spec: spec, log: dir + "/first.log")
        let cpPath = dir + "/cp/checkpoint.json"
        let deadline = Date().addingTimeInterval(60)
        // Poll with stat, not by reading the output: the run must still be going when it is killed.
        while !FileManager.default.fileExists(atPath: cpPath) || TestFiles.size(dir + "/out.jsonl") < 1_000_000 {
            try #require(Date() < deadline, "no checkpoint within 60 s")
            try #require(first.isRunning, "the run ended before it could be killed")
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        kill(first.processIdentifier, SIGKILL)
        await exit(of: first)
        #expect(first.terminationReason == .uncaughtSignal)

        let checkpoint = try Checkpoint(json: DocumentParser.parseValue(Array(FileManager.default.contents(atPath: cpPath)!)))
        let checkpointedLines = try #require(checkpoint.positions["file"]?["line"]?.intValue)
        #expect(checkpointedLines > 0 && checkpointedLines < count)

        let second = try launch(spec: spec, log: dir + "/second.log")
        await exit(of: second)
        #expect(second.terminationStatus == 0, "restart failed: \(String(decoding: FileManager.default.contents(atPath: dir + "/second.log") ?? Data(), as: UTF8.self))")

        var seen = [Int](repeating: 0, count: count)
        // Lines are written back byte for byte: `{"id": N, ...`; read N without a full parse (a million lines).
        let prefix = Array(#"{"id": "#.utf8)
        for line in TestFiles.lines(dir + "/out.jsonl") {
            let bytes = Array(line.utf8)
            try #require(bytes.starts(with: prefix), "unexpected output line: \(line)")
            var id = 0
            for b in bytes[prefix.count...] {
                guard b >= 48 && b <= 57 else { break }
                id = id * 10 + Int(b - 48)
            }
            try #require(id < count)
            seen[id] += 1
        }
        let missing = seen.indices.filter { seen[$0] == 0 }
        #expect(missing.isEmpty, "\(missing.count) records lost, first \(missing.prefix(5))")
        // Line L+1 holds id L: ids below the checkpointed line count were acknowledged before the kill.
        let duplicatedBeforeCheckpoint = (0..<Int(checkpointedLines)).filter { seen[$0] > 1 }
        #expect(duplicatedBeforeCheckpoint.isEmpty, "duplicates before the checkpoint: \(duplicatedBeforeCheckpoint.prefix(5))")
        let finalCheckpoint = try Checkpoint(json: DocumentParser.parseValue(Array(FileManager.default.contents(atPath: cpPath)!)))
        #expect(finalCheckpoint.positions["file"]?["line"]?.intValue == Int64(count))
    }

    /// Keyed state survives kill -9: a resumed replay computes exactly the features of an uninterrupted one,
    /// also for the records it replays after the last checkpoint.
    @Test func rollingFeaturesAfterKillNineEqualAnUninterruptedRun() async throws {
        let dir = TestFiles.scratch("crash-state")
        let count = 300_000
        var text = ""
        text.reserveCapacity(count * 110)
        for i in 0..<count {
            text += "{\"transaction_id\": \"t\(i)\", \"user_id\": \"u\(i % 1500)\", \"event_created_at_ts\": \(1_700_000_000 + i * 2), \"transaction_value\": \(Double(i * 37 % 1000) / 10)}\n"
        }
        TestFiles.write(text, to: dir + "/in.jsonl")
        // The killed run splits its keys among 3 workers and the resumed one among 2 (runtime.parallelism): the
        // checkpoint's state is re-partitioned on restore, and the features still equal one worker's.
        func spec(_ name: String, workers: Int) -> String {
            let path = dir + "/\(name).json"
            TestFiles.write("""
                {"name": "\(name)", "source": {"type": "file", "path": "\(dir)/in.jsonl", "batch": {"max_events": 500}},
                 "transforms": [{"type": "rolling_aggregates", "aggregates": ["count", "sum", "max"]}],
                 "sinks": [{"type": "file", "path": "\(dir)/\(name).out.jsonl"}],
                 "dead_letter": {"type": "file", "path": "\(dir)/\(name).dlq.jsonl"},
                 "checkpoint": {"dir": "\(dir)/\(name).cp", "interval": "50ms"}, "runtime": {"parallelism": \(workers)}}
                """, to: path)
            return path
        }
        let reference = try launch(spec: spec("whole", workers: 1), log: dir + "/whole.log")
        let killed = try launch(spec: spec("killed", workers: 3), log: dir + "/killed.log")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: dir + "/killed.cp/checkpoint.json") || TestFiles.size(dir + "/killed.out.jsonl") < 2_000_000 {
            try #require(Date() < deadline, "no checkpoint within 60 s")
            try #require(killed.isRunning, "the run ended before it could be killed")
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        kill(killed.processIdentifier, SIGKILL)
        await exit(of: killed)
        let resumed = try launch(spec: spec("killed", workers: 2), log: dir + "/resumed.log")
        await exit(of: resumed)
        await exit(of: reference)
        #expect(resumed.terminationStatus == 0 && reference.terminationStatus == 0)

        let parser = RecordParser()
        var expected: [String: String] = [:]
        for line in TestFiles.lines(dir + "/whole.out.jsonl") {
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            expected[r["transaction_id"]!.stringValue!] = line
        }
        #expect(expected.count == count)
        var seen = Set<String>()
        var differing: [String] = []
        for line in TestFiles.lines(dir + "/killed.out.jsonl") {
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            let id = r["transaction_id"]!.stringValue!
            seen.insert(id)
            if expected[id] != line { differing.append(id) }
        }
        #expect(seen.count == count, "records lost across the kill")
        #expect(differing.isEmpty, "\(differing.count) records got other feature values after the restart, first \(differing.prefix(3))")
    }

    /// Waits for a child without blocking a thread of the test pool (waitUntilExit would starve other tests).
    func exit(of process: Process) async {
        while process.isRunning { try? await Task.sleep(nanoseconds: 10_000_000) }
    }

    func launch(spec: String, log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestFiles.hostBinary)
        p.arguments = ["run", spec, "--quiet"]
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardError = handle
        p.standardOutput = handle
        try p.run()
        return p
    }
}
