import Foundation
import Logging
import PipelineHost

/// `file` source: JSON lines from a glob of files (optionally gzip), read in name order, resumed from the
/// checkpointed file and byte offset; optionally follows the files as they grow.
public final class FileSource: SourcePlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .source, name: "file",
        summary: "Reads JSON lines from files (plain or .gz), in name order, resuming where the last checkpoint left off.",
        description: """
            Each line holds one JSON object. A line that is not one (malformed, truncated, an array) goes to the \
            dead-letter output with its file, line number and the reason; the run goes on. The position \
            checkpointed is the file and the byte offset after the last acknowledged line, so a restart neither \
            skips nor re-reads more than the records since that checkpoint.
            """,
        fields: [
            FieldSpec("path", .string, .required, doc: "A file or a glob (`*`, `?`, `[..]`); matching files are read in sorted order.", example: "samples/transactions*.jsonl.gz"),
            FieldSpec("follow", .bool, .defaultValue(false), doc: "Keep reading as the last file grows and new matching files appear (tail -F); otherwise stop at the end."),
            FieldSpec("poll_interval", .duration, .defaultValue("500ms"), doc: "In follow mode, how often to look for new data."),
            .batch(maxEvents: 1000, maxBytes: "1MiB", maxAge: "1s"),
        ],
        examples: [#"{"type": "file", "path": "samples/transactions.jsonl.gz"}"#],
        lint: ConfigLints.nonEmpty("path"))

    let pattern: String
    let follow: Bool
    let pollInterval: Double
    let maxEvents: Int
    let maxBytes: Int
    let maxAge: Double

    public init(config: ComponentConfig, context: BuildContext) throws {
        try Self.descriptor.checkLint(config)
        pattern = config.string("path")
        follow = config.bool("follow")
        pollInterval = config.seconds("poll_interval")
        let batch = config.nested("batch")
        maxEvents = batch.int("max_events")
        maxBytes = Int(batch.bytes("max_bytes"))
        maxAge = batch.seconds("max_age")
    }

    /// The checkpointed position in the single partition "file".
    struct Position {
        var file: String
        var offset: Int64
        var line: Int64
        var json: JSONValue { .object([("file", .string(file)), ("offset", .int(offset)), ("line", .int(line))]) }
        init(file: String, offset: Int64, line: Int64) {
            self.file = file
            self.offset = offset
            self.line = line
        }
        init?(_ v: JSONValue?) {
            guard let v, let f = v["file"]?.stringValue, let o = v["offset"]?.intValue, let l = v["line"]?.intValue else { return nil }
            self.init(file: f, offset: o, line: l)
        }
    }

    public func run(_ context: SourceContext) async throws {
        var resume = Position(context.resumePositions["file"])
        if context.resumePositions["file"] != nil && resume == nil {
            throw PipelineError(.source, "checkpointed position \(context.resumePositions["file"]!) is not a file position", at: "file")
        }
        var done: Set<String> = []
        // Two parsers: a batch's lines are parsed in two halves on two tasks (`LineParseJob`).
        let parsers = (RecordParser(addedFields: context.addedFields), RecordParser(addedFields: context.addedFields))
        while !context.isStopping {
            let files = Glob.expand(pattern)
            if files.isEmpty && !follow {
                throw PipelineError(.source, "no file matches \"\(pattern)\"", at: "file.path")
            }
            let total = files.reduce(Int64(0)) { $0 + Self.size($1) }
            var doneBytes = files.filter { done.contains($0) }.reduce(Int64(0)) { $0 + Self.size($1) }
            var progressed = false
            for file in files where !done.contains(file) {
                if let r = resume, file < r.file { done.insert(file); doneBytes += Self.size(file); continue }
                let start = resume.flatMap { $0.file == file ? $0 : nil }
                resume = nil
                let finished = try await read(file: file, from: start, parsers: parsers, context: context,
                                              progressBase: doneBytes, progressTotal: total)
                progressed = true
                if finished == nil { return }  // stopping
                if !follow || file != files.last { done.insert(file); doneBytes += Self.size(file) } else {
                    resume = finished
                }
                if context.isStopping { return }
            }
            if !follow { return }
            if !progressed || resume != nil { try await context.sleep(seconds: pollInterval) }
        }
    }

    static func size(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Reads one file from `start`; returns where it stopped (end of data), or nil when a stop was requested.
    private func read(file: String, from start: Position?, parsers: (RecordParser, RecordParser), context: SourceContext,
                      progressBase: Int64, progressTotal: Int64) async throws -> Position? {
        let reader = try ByteReader(path: file)
        let sourceFile = SourceFile(file)
        var offset: Int64 = 0
        var line: Int64 = 0
        if let start {
            try reader.skip(start.offset)
            offset = start.offset
            line = start.line
        }
        let chunkSize = 1 << 20
        // A buffer of our own rather than an array: its address must stay put while a child task parses from it.
        var capacity = chunkSize * 2
        var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0
        var records: [Record] = []
        var deadLetters: [DeadLetter] = []
        var batchBytes = 0
        var batchStarted = MonotonicClock.seconds()
        records.reserveCapacity(maxEvents)
        var spans: [(start: Int, length: Int)] = []
        spans.reserveCapacity(maxEvents)
        // Whether the last batch waited to be taken: then the stages after the source are the limit, and parsing
        // on a second task would only take a core from them (on Flink's job on two cores it cost 14 %); when they
        // keep up, the source is the limit and parsing in halves lifts it (source → sink alone: 1.3× faster).
        var backpressured = false

        func flush() async throws {
            guard !records.isEmpty || !deadLetters.isEmpty else { return }
            let batch = SourceBatch(records: records, deadLetters: deadLetters,
                                    positions: [("file", Position(file: file, offset: offset, line: line).json)], bytes: batchBytes)
            records = []
            records.reserveCapacity(maxEvents)
            deadLetters = []
            batchBytes = 0
            batchStarted = MonotonicClock.seconds()
            try await context.emit(consume batch)
            backpressured = MonotonicClock.seconds() - batchStarted > 0.000_2
            context.reportProgress(done: progressBase + reader.fileBytesRead, total: progressTotal)
        }

        // Read more only when the buffer holds no complete line: a full batch stops the scan mid-buffer.
        var needRead = true
        while true {
            var atEnd = false
            if needRead {
                if capacity - filled < chunkSize {
                    let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
                    grown.copyMemory(from: buffer, byteCount: filled)
                    buffer.deallocate()
                    buffer = grown
                    capacity *= 2
                }
                let n = try reader.read(into: buffer + filled, count: capacity - filled)
                atEnd = n == 0
                filled += n
            }
            needRead = true
            // The lines first (positions move as they are found), then their records.
            var consumed = 0
            spans.removeAll(keepingCapacity: true)
            let firstLine = line + 1
            while consumed < filled {
                let rest = buffer + consumed
                let nl = memchr(rest, 0x0A, filled - consumed)
                let lineLength: Int
                let advance: Int
                if let nl {
                    lineLength = rest.distance(to: nl)
                    advance = lineLength + 1
                } else if atEnd && !follow {
                    lineLength = filled - consumed  // the last line of a file without a final newline
                    advance = lineLength
                } else { break }
                spans.append((consumed, lineLength))
                line += 1
                offset += Int64(advance)
                consumed += advance
                batchBytes += advance
                if records.count + spans.count >= maxEvents || batchBytes >= maxBytes { needRead = false; break }
            }
            if !spans.isEmpty {
                var parsed = await LineParseJob.parse(spans, base: UnsafeRawPointer(buffer), firstLine: firstLine, file: sourceFile, parsers: parsers,
                                                      inHalves: !backpressured)
                LineParseJob.move(&parsed.records, to: &records)
                deadLetters.append(contentsOf: parsed.deadLetters)
            }
            if consumed > 0 {
                if consumed < filled { memmove(buffer, buffer + consumed, filled - consumed) }
                filled -= consumed
            }
            if records.count >= maxEvents || batchBytes >= maxBytes || !needRead || MonotonicClock.seconds() - batchStarted >= maxAge {
                try await flush()
                if context.isStopping { return nil }
            }
            if atEnd && consumed == 0 {
                try await flush()
                return context.isStopping ? nil : Position(file: file, offset: offset, line: line)
            }
        }
    }
}
