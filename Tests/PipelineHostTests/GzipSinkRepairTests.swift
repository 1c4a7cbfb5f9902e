import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing
import TestSupport

/// The gzip `file` sink after an interrupted run: a member cut short at the end is cut off before appending, so the
/// file stays one readable gzip stream; anything that is not such a leftover is never cut.
@Suite struct GzipSinkRepairTests {
    let dir = TestFiles.scratch("gzrepair")

    static func member(_ text: String) throws -> [UInt8] {
        let writer = GzipWriter()
        var out: [UInt8] = []
        try writer.compress(Array(text.utf8), into: &out)
        try writer.finishMember(into: &out)
        return out
    }

    static func lines(_ range: Range<Int>, _ name: String) -> String {
        range.map { #"{"\#(name)": \#($0), "pad": "\#(String(repeating: "abcdefghij", count: $0 % 7))"}"# + "\n" }.joined()
    }

    func write(_ bytes: [UInt8], to path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
    }

    func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

    /// `gzip -dc`: the whole file must decode with no error.
    func gunzip(_ path: String) throws -> (status: Int32, lines: [String], stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init),
                String(decoding: errors, as: UTF8.self))
    }

    /// Runs file → file sink (gzip) over `input` lines; the sink's log goes to `log`.
    func run(_ input: String, sink: String, log: LogCapture = LogCapture()) async throws {
        TestFiles.write(input, to: dir + "/in.jsonl")
        try? FileManager.default.removeItem(atPath: dir + "/cp")
        let text = """
            {"name": "gz", "source": {"type": "file", "path": "\(dir)/in.jsonl"}, "sinks": [\(sink)],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "gz.json", registry: BuiltinPlugins.registry, environment: [:])
        _ = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: log.logger(), environment: [:]).run()
    }

    @Test func aMemberCutShortByACrashIsCutOffBeforeAppending() async throws {
        let m1 = try Self.member(Self.lines(0..<3, "old"))
        let m2 = try Self.member(Self.lines(3..<5, "old"))
        let m3 = try Self.member(Self.lines(5..<200, "lost"))
        let path = dir + "/out.jsonl.gz"
        write(m1 + m2 + Array(m3.prefix(m3.count / 2)), to: path)
        #expect(try gunzip(path).status != 0, "as the crash left it, the file does not decode")

        let log = LogCapture()
        try await run(Self.lines(0..<4, "new"), sink: #"{"type": "file", "path": "\#(path)", "compression": "gzip"}"#, log: log)
        let result = try gunzip(path)
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        let expected = (Self.lines(0..<5, "old") + Self.lines(0..<4, "new")).split(separator: "\n").map(String.init)
        #expect(result.lines == expected)
        #expect(try readThroughByteReader(path) == expected, "the project's own reader too")
        #expect(Array(bytes(path).prefix(m1.count + m2.count)) == m1 + m2, "the complete members are kept as they were")
        let cut = log.all.filter { $0.contains("cut off a gzip member") }
        #expect(cut.count == 1)
        #expect(cut.first?.contains("bytes_cut=\(m3.count / 2)") == true && cut.first?.contains("file=\(path)") == true, "\(cut)")
    }

    @Test func aFileEndingAtAMemberBoundaryIsLeftUntouched() async throws {
        let m1 = try Self.member(Self.lines(0..<3, "old"))
        let m2 = try Self.member(Self.lines(3..<5, "old"))
        let path = dir + "/out.jsonl.gz"
        write(m1 + m2, to: path)
        #expect(try GzipMembers.scan(path: path) == GzipMembers.Scan(validEnd: Int64(m1.count + m2.count), members: 2, tail: .none))
        let log = LogCapture()
        try await run("", sink: #"{"type": "file", "path": "\#(path)", "compression": "gzip"}"#, log: log)
        #expect(bytes(path) == m1 + m2)
        try await run(Self.lines(0..<2, "new"), sink: #"{"type": "file", "path": "\#(path)", "compression": "gzip"}"#, log: log)
        #expect(Array(bytes(path).prefix(m1.count + m2.count)) == m1 + m2)
        let result = try gunzip(path)
        #expect(result.status == 0)
        #expect(result.lines == (Self.lines(0..<5, "old") + Self.lines(0..<2, "new")).split(separator: "\n").map(String.init))
        #expect(!log.all.contains { $0.contains("cut off") })
    }

    @Test func anythingButACrashLeftoverFailsTheStartAndIsKept() async throws {
        let m1 = try Self.member(Self.lines(0..<3, "old"))
        let m2 = try Self.member(Self.lines(3..<5, "old"))
        let m3 = try Self.member(Self.lines(5..<200, "lost"))
        var corruptCRC = m1
        corruptCRC[corruptCRC.count - 6] ^= 0xFF
        let cases: [(String, [UInt8], String)] = [
            ("not gzip at all", Array("{\"a\": 1}\nplain text that is not gzip\n".utf8), "not gzip data"),
            ("garbage after a member", m1 + Array("garbage, not a member".utf8), "corrupt gzip data at offset \(m1.count)"),
            ("a member failing its CRC", m2 + corruptCRC, "corrupt gzip data at offset \(m2.count)"),
            // A file an earlier restart appended to after a damaged member, and cut short again.
            ("damage followed by complete members", m1 + Array(m3.prefix(m3.count / 2)) + m2 + Array(m3.prefix(m3.count / 3)), "offset \(m1.count)"),
        ]
        for (name, content, message) in cases {
            let path = dir + "/out.jsonl.gz"
            write(content, to: path)
            do {
                try await run(Self.lines(0..<2, "new"), sink: #"{"type": "file", "path": "\#(path)", "compression": "gzip"}"#)
                Issue.record("\(name): the start did not fail")
            } catch {
                let text = "\(error)"
                #expect(text.contains(path), "\(name): the error names the file: \(text)")
                #expect(text.contains(message), "\(name): \(text)")
            }
            #expect(bytes(path) == content, "\(name): the file is left as it was")
        }
    }

    @Test func theScanFindsTheLastCompleteMemberWhereverTheCrashCutTheFile() throws {
        let m1 = try Self.member(Self.lines(0..<3, "a"))
        let m2 = try Self.member(Self.lines(3..<5, "b"))
        let m3 = try Self.member(Self.lines(5..<40, "c"))
        let path = dir + "/scan.gz"
        for k in 0...m3.count {
            write(m1 + m2 + Array(m3.prefix(k)), to: path)
            let scan = try GzipMembers.scan(path: path)
            let size = Int64(m1.count + m2.count + k)
            if k == 0 || k == m3.count {
                #expect(scan == GzipMembers.Scan(validEnd: size, members: k == 0 ? 2 : 3, tail: .none), "cut at \(k)")
                #expect(try GzipMembers.endsWithCompleteMember(path: path, size: size), "cut at \(k)")
            } else {
                #expect(scan == GzipMembers.Scan(validEnd: Int64(m1.count + m2.count), members: 2, tail: .truncated), "cut at \(k)")
                #expect(try !GzipMembers.endsWithCompleteMember(path: path, size: size), "cut at \(k)")
                #expect(try !GzipMembers.completeMemberFollows(path: path, from: Int64(m1.count + m2.count)), "cut at \(k)")
            }
            // A file that is only the beginning of a member (a truncated header or stream at offset 0).
            if k > 0 && k < m3.count {
                write(Array(m3.prefix(k)), to: path)
                #expect(try GzipMembers.scan(path: path) == GzipMembers.Scan(validEnd: 0, members: 0, tail: .truncated), "alone, cut at \(k)")
            }
        }
    }

    @Test func onlyAPartialMemberAtOffsetZeroIsEmptiedAndRotationReusesTheLastFile() async throws {
        let m1 = try Self.member(Self.lines(0..<3, "old"))
        let m3 = try Self.member(Self.lines(5..<200, "lost"))
        // Without rotation: the file held only the beginning of its first member.
        let path = dir + "/single.jsonl.gz"
        write(Array(m3.prefix(7)), to: path)
        try await run(Self.lines(0..<2, "new"), sink: #"{"type": "file", "path": "\#(path)", "compression": "gzip"}"#)
        #expect(try gunzip(path).lines == Self.lines(0..<2, "new").split(separator: "\n").map(String.init))

        // With rotation: the last numbered file is repaired; emptied, its number is used again.
        try FileManager.default.createDirectory(atPath: dir + "/o", withIntermediateDirectories: true)
        write(m1, to: dir + "/o/out-000001.jsonl.gz")
        write(Array(m3.prefix(m3.count / 2)), to: dir + "/o/out-000002.jsonl.gz")
        try await run(Self.lines(0..<2, "new"), sink: #"{"type": "file", "path": "\#(dir)/o/out.jsonl", "compression": "gzip", "rotate_bytes": "1MiB"}"#)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/o").sorted() == ["out-000001.jsonl.gz", "out-000002.jsonl.gz"])
        #expect(bytes(dir + "/o/out-000001.jsonl.gz") == m1)
        let second = try gunzip(dir + "/o/out-000002.jsonl.gz")
        #expect(second.status == 0 && second.lines == Self.lines(0..<2, "new").split(separator: "\n").map(String.init))
    }

    /// Decodes through `ByteReader`, which stops with an error at a damaged member.
    func readThroughByteReader(_ path: String) throws -> [String] {
        try AWSReadBack.readLines(path: path)
    }
}
