import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing

@Suite struct FilePluginTests {
    let dir = TestFiles.scratch("files")

    func run(_ body: String) async throws -> RunSummary {
        let text = #"{"name": "f", "checkpoint": {"dir": "\#(dir)/cp", "interval": "0s"}, "dead_letter": {"type": "file", "path": "\#(dir)/dlq.jsonl"}, \#(body)}"#
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "f.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
    }

    func gzip(_ path: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-f", path]
        try p.run()
        p.waitUntilExit()
    }

    @Test func readsGlobInOrderAndDeadLettersBadLinesWithLineNumbers() async throws {
        TestFiles.write("{\"i\": 1}\n{\"i\": 2}\n", to: dir + "/in-a.jsonl")
        TestFiles.write("{\"i\": 3}\n{bad\n\n{\"i\": 4}", to: dir + "/in-b.jsonl")  // no final newline
        try gzip(dir + "/in-b.jsonl")
        // The pattern must not match the sink's own output (out.jsonl), or a fast run reads back what it wrote.
        let summary = try await run(#""source": {"type": "file", "path": "\#(dir)/in-*.jsonl*"}, "sinks": [{"type": "file", "path": "\#(dir)/out.jsonl"}]"#)
        #expect(TestFiles.lines(dir + "/out.jsonl") == [#"{"i": 1}"#, #"{"i": 2}"#, #"{"i": 3}"#, #"{"i": 4}"#])
        #expect(summary.deadLettered == 1)
        let dlq = TestFiles.lines(dir + "/dlq.jsonl")
        #expect(dlq.count == 1)
        #expect(dlq[0].contains(#""origin":"\#(dir)/in-b.jsonl.gz:2""#))
        #expect(dlq[0].contains(#""reason":"line 2: malformed JSON"#))
        #expect(dlq[0].contains(#""payload":"{bad""#))
    }

    @Test func resumesFromTheCheckpointedOffsetInPlainAndGzipFiles() async throws {
        for compressed in [false, true] {
            let sub = dir + "/resume-\(compressed)"
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            let input = sub + "/in.jsonl"
            TestFiles.write((0..<100).map { "{\"i\": \($0)}\n" }.joined(), to: input)
            var path = input
            if compressed { try gzip(input); path += ".gz" }
            let body = #""source": {"type": "file", "path": "\#(path)", "batch": {"max_events": 7}}, "sinks": [{"type": "file", "path": "\#(sub)/out.jsonl"}], "checkpoint": {"dir": "\#(sub)/cp"}"#
            _ = try await runWithCheckpoint(body, sub: sub)
            // Replace the checkpoint by one in the middle of line 43 → must resume at line 43.
            let offset = (0..<42).map { "{\"i\": \($0)}\n".utf8.count }.reduce(0, +)
            let cp = Checkpoint(id: 9, pipeline: "f", createdAt: 0, positions: ["file": .object([("file", .string(path)), ("offset", .int(Int64(offset))), ("line", .int(42))])], states: [:])
            try await LocalCheckpointStore(directory: sub + "/cp").save(cp)
            try FileManager.default.removeItem(atPath: sub + "/out.jsonl")
            let s = try await runWithCheckpoint(body, sub: sub)
            #expect(s.resumedFrom == 9)
            let out = TestFiles.lines(sub + "/out.jsonl")
            #expect(out.count == 58)
            #expect(out.first == #"{"i": 42}"#)
        }
    }

    func runWithCheckpoint(_ body: String, sub: String) async throws -> RunSummary {
        let text = #"{"name": "f", "dead_letter": {"type": "file", "path": "\#(sub)/dlq.jsonl"}, \#(body)}"#
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "f.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
    }

    @Test func sinkRotatesBySizeAndWritesReadableGzip() async throws {
        TestFiles.write((0..<1000).map { "{\"i\": \($0), \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n" }.joined(), to: dir + "/in.jsonl")
        _ = try await run(#""source": {"type": "file", "path": "\#(dir)/in.jsonl", "batch": {"max_events": 50}}, "sinks": [{"type": "file", "path": "\#(dir)/o/out.jsonl", "compression": "gzip", "rotate_bytes": "1KiB"}]"#)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/o").sorted()
        #expect(files.count > 2)
        #expect(files.first == "out-000001.jsonl.gz")
        var all: [String] = []
        for f in files {
            let reader = try ByteReader(path: dir + "/o/" + f)
            var bytes: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = try buf.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress!, count: $0.count) }
                if n == 0 { break }
                bytes += buf[0..<n]
            }
            all += String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        #expect(all.count == 1000)
        #expect(all.last?.hasPrefix(#"{"i": 999,"#) == true)
        // A restart continues the numbering instead of overwriting.
        _ = try await run(#""source": {"type": "file", "path": "\#(dir)/in.jsonl"}, "sinks": [{"type": "file", "path": "\#(dir)/o/out.jsonl", "compression": "gzip", "rotate_bytes": "1MiB"}]"#)
        let after = try FileManager.default.contentsOfDirectory(atPath: dir + "/o").sorted()
        #expect(after.count == files.count + 1)
    }

    @Test func sinkCutsAPartialLastLineLeftByACrash() async throws {
        TestFiles.write("{\"i\": 1}\n", to: dir + "/in.jsonl")
        TestFiles.write("{\"old\": 1}\n{\"half\": ", to: dir + "/out.jsonl")
        _ = try await run(#""source": {"type": "file", "path": "\#(dir)/in.jsonl"}, "sinks": [{"type": "file", "path": "\#(dir)/out.jsonl"}]"#)
        #expect(TestFiles.lines(dir + "/out.jsonl") == [#"{"old": 1}"#, #"{"i": 1}"#])
    }
}
