import Foundation
import Logging
@testable import PipelineHost
import Testing

/// What docs/guarantees.md promises when the pipeline's own outputs fail: the dead-letter output or the
/// checkpoint store. Either stops the run with an error, and no checkpoint covers what was not written.
@Suite struct FailureStopTests {
    let dir = TestFiles.scratch("failure-stop")

    func runner(_ text: String, stop: StopSignal = StopSignal()) throws -> PipelineRunner {
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return PipelineRunner(spec: spec, registry: TestRegistry.registry, logger: logger, environment: [:], stop: stop)
    }

    /// A dead letter that cannot be written (the output is /dev/full: every write fails with ENOSPC) stops the
    /// run with the dead-letter output's error; no checkpoint reaches past the record it could not keep.
    @Test func aDeadLetterOutputThatCannotWriteStopsTheRun() async throws {
        let lines = (0..<50).map { i in i == 30 ? #"{"n": "#: #"{"n": \#(i)}"# }
        TestFiles.write(lines.joined(separator: "\n") + "\n", to: dir + "/in.jsonl")
        let text = """
            {"name": "t", "source": {"type": "file", "path": "\(dir)/in.jsonl", "batch": {"max_events": 10}},
             "sinks": [{"type": "file", "id": "out", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "/dev/full"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "0s"}}
            """
        do {
            let summary = try await runner(text).run()
            Issue.record("the run went on without its dead-letter output: \(summary)")
        } catch {
            #expect("\(error)".contains("/dev/full"), "\(error)")
        }
        // The checkpoint, if any, lies before line 31 (the malformed one).
        if let data = FileManager.default.contents(atPath: dir + "/cp/checkpoint.json") {
            let checkpoint = try Checkpoint(json: DocumentParser.parseValue(Array(data)))
            let line = try #require(checkpoint.positions["file"]?["line"]?.intValue, "\(checkpoint.positions)")
            #expect(line <= 30, "a checkpoint covers the lost dead letter: \(checkpoint.positions)")
        }
    }

    /// A checkpoint that cannot be written stops the run with the store's error, and the previous checkpoint is
    /// left as it was (write to a temporary file, fsync, rename).
    @Test func aCheckpointThatCannotBeWrittenStopsTheRunAndKeepsThePreviousOne() async throws {
        let input = dir + "/follow.jsonl"
        TestFiles.write("", to: input)
        let text = """
            {"name": "t", "source": {"type": "file", "path": "\(input)", "follow": true, "poll_interval": "20ms", "batch": {"max_age": "10ms"}},
             "sinks": [{"type": "file", "id": "out", "path": "\(dir)/follow-out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/follow-dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp-follow", "interval": "50ms"}}
            """
        let stop = StopSignal()
        let pipeline = try runner(text, stop: stop)
        let run = Task { try await pipeline.run() }
        defer { stop.stop() }
        try TestFiles.append((0..<20).map { #"{"n": \#($0)}"# }, to: input)
        let path = dir + "/cp-follow/checkpoint.json"
        func line() -> Int64? {
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            return (try? Checkpoint(json: DocumentParser.parseValue(Array(data))))?.positions["file"]?["line"]?.intValue
        }
        let deadline = Date().addingTimeInterval(30)
        while line() != 20 {
            try #require(Date() < deadline, "no checkpoint after the first 20 records")
            try await Task.sleep(for: .milliseconds(20))
        }
        let before = try #require(FileManager.default.contents(atPath: path))
        // The store's temporary file (checkpoint.json.tmp.<pid>) is now a directory: the next write fails.
        try FileManager.default.createDirectory(atPath: path + ".tmp.\(getpid())", withIntermediateDirectories: false)
        try TestFiles.append((20..<40).map { #"{"n": \#($0)}"# }, to: input)
        let outcome = await withTaskGroup(of: Result<RunSummary, any Error>?.self) { group in
            group.addTask { await run.result }
            group.addTask { try? await Task.sleep(for: .seconds(30)); return nil }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
        let result = try #require(outcome, "the run went on for 30 s with checkpoints failing")
        guard case .failure(let error) = result else {
            Issue.record("the run ended without an error while its checkpoints failed")
            return
        }
        #expect("\(error)".contains("checkpoint.json"), "\(error)")
        #expect(FileManager.default.contents(atPath: path) == before, "the previous checkpoint changed")
    }
}
