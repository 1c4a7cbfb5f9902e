import BuiltinPlugins
@testable import FileSource
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

    /// Batches of more than 256 lines are parsed in two halves on two tasks: records, dead letters and their line
    /// numbers must come out in file order, and a resume from a checkpoint inside such a batch's range must start
    /// at the right line, whether the file is plain or gzip.
    @Test func batchesParsedInHalvesKeepLineOrder() async throws {
        for compressed in [false, true] {
            let sub = dir + "/halves-\(compressed)"
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            var lines: [String] = []
            var good: [String] = [], bad: [Int] = []
            for i in 1...5000 {
                if i % 97 == 0 {
                    lines.append("{\"i\": \(i), bad")
                    bad.append(i)
                } else if i % 89 == 0 {
                    lines.append("")
                } else {
                    lines.append("{\"i\": \(i), \"name_that_is_rather_long_\(i % 3)\": \(Double(i) / 8)}")
                    good.append(lines.last!)
                }
            }
            let input = sub + "/in.jsonl"
            TestFiles.write(lines.joined(separator: "\n") + "\n", to: input)
            var path = input
            if compressed { try gzip(input); path += ".gz" }
            let body = #""source": {"type": "file", "path": "\#(path)", "batch": {"max_events": 1000}}, "sinks": [{"type": "file", "path": "\#(sub)/out.jsonl"}], "checkpoint": {"dir": "\#(sub)/cp"}"#
            let summary = try await runWithCheckpoint(body, sub: sub)
            #expect(TestFiles.lines(sub + "/out.jsonl") == good)
            #expect(summary.deadLettered == bad.count)
            let reasons = TestFiles.lines(sub + "/dlq.jsonl").compactMap { line -> Int? in
                guard let r = line.range(of: #""reason":"line "#) else { return nil }
                return Int(line[r.upperBound...].prefix { $0.isNumber })
            }
            #expect(reasons == bad)
            // Resume at line 3001 (inside what was one batch): exactly the lines from there on.
            let offset = lines[0..<3000].map { $0.utf8.count + 1 }.reduce(0, +)
            let cp = Checkpoint(id: 4, pipeline: "f", createdAt: 0, positions: ["file": .object([("file", .string(path)), ("offset", .int(Int64(offset))), ("line", .int(3000))])], states: [:])
            try await LocalCheckpointStore(directory: sub + "/cp").save(cp)
            try FileManager.default.removeItem(atPath: sub + "/out.jsonl")
            _ = try await runWithCheckpoint(body, sub: sub)
            #expect(TestFiles.lines(sub + "/out.jsonl") == good.filter { Int($0.dropFirst(6).prefix { $0.isNumber })! > 3000 })
        }
    }

    /// The two ways of parsing a batch's lines (in halves on two tasks, or on one) give the same records and dead
    /// letters in the same order with the same line numbers.
    @Test func parsingInHalvesEqualsParsingInOne() async throws {
        var text = ""
        var spans: [(start: Int, length: Int)] = []
        for i in 0..<1001 {
            let line = i % 50 == 7 ? "{broken \(i)" : i % 61 == 3 ? "" : "{\"i\": \(i), \"v\": \(Double(i) * 0.25), \"s\": \"x\(i)\"}"
            spans.append((text.utf8.count, line.utf8.count))
            text += line + "\n"
        }
        let bytes = Array(text.utf8)
        // A buffer of its own, as the source's: parsing in halves awaits, which a pointer from `withUnsafeBytes`
        // may not outlive.
        let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { copy.deallocate() }
        bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let parsers = (RecordParser(), RecordParser())
        let one = LineParseJob(base: copy, spans: spans[...], firstLine: 11, file: SourceFile("f"), parser: parsers.0).run()
        let halves = await LineParseJob.parse(spans, base: copy, firstLine: 11, file: SourceFile("f"), parsers: parsers, inHalves: true)
        #expect(halves.records.count == one.records.count)
        #expect(halves.records.map(\.payloadText) == one.records.map(\.payloadText))
        #expect(halves.records.map(\.origin) == one.records.map(\.origin))
        #expect(halves.deadLetters.map(\.reason) == one.deadLetters.map(\.reason))
        #expect(one.deadLetters.first?.reason.hasPrefix("line 18:") == true)
        #expect(one.records.count + one.deadLetters.count < 1001, "blank lines make no record")
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
