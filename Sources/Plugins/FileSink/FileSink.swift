import Foundation
import Logging
import PipelineHost
import Synchronization

/// `file` sink: JSON lines to a file, optionally gzip, rotated by size or age. A delivery is acknowledged
/// only after its bytes are written and fsynced.
public final class FileSink: SinkPlugin {
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "file",
        summary: "Writes JSON lines to a file (optionally gzip), rotating by size or age; acknowledges after fsync.",
        description: """
            Without rotation the sink appends to `path`. With `rotate_bytes` or `rotate_age`, it writes numbered \
            files next to it (scored-000001.jsonl, scored-000002.jsonl, ...) and continues the numbering after a \
            restart. Gzip output is written as one gzip member per flush, so a file is readable (zcat) after every \
            checkpoint, even if the process is killed later. A delivery is acknowledged only once its records are in a \
            complete member (or complete lines) that has been fsynced.

            On start the sink repairs what an interrupted run (kill -9, power loss) can leave at the end of the file it \
            appends to (with rotation: the highest-numbered file, whose number is used again if that leaves it empty). \
            Plain text: a last line without its newline is cut off. Gzip: the members are checked (CRC-32 and length) and \
            a member cut short at the end is cut off, so the new members do not follow a damaged one (every gzip reader \
            stops there). Only unacknowledged records can be in what is cut; they are replayed from the last checkpoint. \
            A gzip file made only of the beginning of one member (a truncated header or stream at offset 0) is emptied. \
            Anything else is never cut: a file that is not gzip at all, a member that fails its checks, or a damaged \
            member followed by complete ones makes the start fail with an error naming the file and the offset.
            """,
        fields: [
            FieldSpec("path", .string, .required, doc: "Output file. Parent directories are created.", example: "out/scored.jsonl"),
            FieldSpec("compression", .oneOf(["none", "gzip"]), .defaultValue("none"),
                      doc: "gzip appends \".gz\" to file names that lack it. On start, a gzip member cut short at the end of the file by a crash is cut off before appending; an existing file that is not valid gzip makes the start fail."),
            FieldSpec("rotate_bytes", .byteSize, doc: "Start a new file once the current one holds this many bytes.", example: "128MiB"),
            FieldSpec("rotate_age", .duration, doc: "Start a new file once the current one is this old.", example: "1h"),
            FieldSpec("flush_bytes", .byteSize, .defaultValue("8MiB"), doc: "Sync and acknowledge once this much is buffered, without waiting for a checkpoint.", advanced: true),
        ],
        examples: [#"{"type": "file", "id": "scored", "path": "out/scored.jsonl"}"#,
                   #"{"type": "file", "id": "archive", "path": "out/archive.jsonl", "compression": "gzip", "rotate_bytes": "64MiB"}"#],
        lint: ConfigLints.nonEmpty("path"))

    let config: FileSinkConfig
    /// The open file and what is buffered for it. Behind a lock for `Sendable` only: the runner calls a sink one
    /// call at a time, so it is never contended, and it is never held across the fsync.
    private let output: Mutex<FileOutput>

    public init(config: ComponentConfig, context: BuildContext) throws {
        try Self.descriptor.checkLint(config)
        let config = FileSinkConfig(config: config)
        self.config = config
        output = Mutex(FileOutput(config: config))
    }

    public func start(_ context: StageContext) async throws { try output.withLock { try $0.start(logger: context.logger) } }
    public func healthCheck() async throws { try output.withLock { try $0.checkOpen() } }

    public func write(_ delivery: Delivery) async throws {
        if output.withLock({ $0.rotateAgeDue }) { try await rotate() }
        if try output.withLock({ try $0.append(delivery) }) { try await sync() }
        if output.withLock({ $0.rotateBytesDue }) { try await rotate() }
    }

    public func flush() async throws { try await sync() }

    public func close() async throws {
        try await sync()
        output.withLock { $0.closeFile() }
    }

    /// Writes what is buffered, fsyncs, then acknowledges every delivery it held.
    private func sync() async throws {
        let (fd, path, deliveries) = try output.withLock { try $0.writeOutForSync() }
        if !deliveries.isEmpty {
            try await BlockingIO.run {
                guard fsync(fd) == 0 else { throw FileIO.errno(path: path, "fsync") }
            }
        }
        for d in deliveries { d.acknowledge() }
    }

    private func rotate() async throws {
        try await sync()
        try output.withLock { try $0.openNextFile() }
    }
}

/// The `file` sink's settings, read once from the spec.
struct FileSinkConfig: Sendable {
    let basePath: String
    let gzip: Bool
    let rotateBytes: Int64?
    let rotateAge: Double?
    let flushBytes: Int

    init(config: ComponentConfig) {
        var path = config.string("path")
        gzip = config.string("compression") == "gzip"
        if gzip && !path.hasSuffix(".gz") { path += ".gz" }
        basePath = path
        rotateBytes = config["rotate_bytes"] == nil ? nil : config.bytes("rotate_bytes")
        rotateAge = config.optionalSeconds("rotate_age")
        flushBytes = Int(config.bytes("flush_bytes"))
    }

    var rotates: Bool { rotateBytes != nil || rotateAge != nil }

    /// `out/scored.jsonl` → `out/scored-000007.jsonl` (the `.jsonl.gz` double extension kept whole).
    func numberedPath(_ n: Int) -> String {
        let dir = (basePath as NSString).deletingLastPathComponent
        let name = (basePath as NSString).lastPathComponent
        let dot = name.firstIndex(of: ".") ?? name.endIndex
        let numbered = "\(name[..<dot])-\(String(format: "%06d", n))\(name[dot...])"
        return dir.isEmpty ? numbered : dir + "/" + numbered
    }
}

/// The file being written: its descriptor, what is buffered and the deliveries waiting for an fsync.
struct FileOutput {
    let config: FileSinkConfig
    private var fd: Int32 = -1
    private var currentPath = ""
    private var fileBytes: Int64 = 0
    private var openedAt = 0.0
    private var sequence = 0
    private var text = JSONWriter(capacity: 1 << 20)
    private var compressed: [UInt8] = []
    private var compressor = GzipWriter()
    private var unsynced: [Delivery] = []
    private var unsyncedBytes = 0
    private var logger = Logger(label: "file-sink")

    init(config: FileSinkConfig) { self.config = config }

    mutating func start(logger: Logger) throws {
        self.logger = logger
        let dir = (config.basePath as NSString).deletingLastPathComponent
        try FileIO.createDirectory(dir.isEmpty ? "." : dir)
        if config.rotates {
            sequence = highestSequence()
            // Only the last file can hold what an interrupted run left; empty (or emptied), it is used again.
            if sequence > 0 {
                let last = config.numberedPath(sequence)
                try repairTail(last)
                if Self.size(last) == 0 { sequence -= 1 }
            }
        } else {
            try repairTail(config.basePath)
        }
        try openNext()
    }

    func checkOpen() throws {
        guard fd >= 0 else { throw PipelineError(.sink, "output file is not open", at: config.basePath) }
    }

    private func highestSequence() -> Int {
        var best = 0
        var n = 1
        // Numbered files are dense from 1; stop at the first gap.
        while FileManager.default.fileExists(atPath: config.numberedPath(n)) { best = n; n += 1 }
        return best
    }

    private mutating func openNext() throws {
        if config.rotates { sequence += 1 }
        currentPath = config.rotates ? config.numberedPath(sequence) : config.basePath
        fd = open(currentPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.errno(path: currentPath, "open") }
        var st = stat()
        fstat(fd, &st)
        fileBytes = Int64(st.st_size)
        openedAt = MonotonicClock.seconds()
    }

    static func size(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Cuts off what a process killed mid-write left at the end of `path` (see the descriptor). What is cut was
    /// never acknowledged, so it will be replayed; without the cut the replay would follow a broken line or member.
    mutating func repairTail(_ path: String) throws {
        let size = Self.size(path)
        guard size > 0 else { return }
        let keep = config.gzip ? try validGzipPrefix(path, size: size) : try completeLinesPrefix(path, size: size)
        guard keep < size else { return }
        let wfd = open(path, O_WRONLY | O_CLOEXEC)
        guard wfd >= 0 else { throw FileIO.errno(path: path, "open") }
        defer { Foundation.close(wfd) }
        guard ftruncate(wfd, off_t(keep)) == 0 else { throw FileIO.errno(path: path, "truncate") }
        guard fsync(wfd) == 0 else { throw FileIO.errno(path: path, "fsync") }
        logger.warning(config.gzip ? "cut off a gzip member left incomplete by an interrupted run" : "cut off a partial last line left by an interrupted run",
                       metadata: ["file": "\(path)", "bytes_cut": "\(size - keep)", "bytes_kept": "\(keep)"])
    }

    /// The length of the file up to its last newline.
    private func completeLinesPrefix(_ path: String, size: Int64) throws -> Int64 {
        let rfd = open(path, O_RDONLY | O_CLOEXEC)
        guard rfd >= 0 else { throw FileIO.errno(path: path, "open") }
        defer { Foundation.close(rfd) }
        var keep = size
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while keep > 0 {
            let start = max(0, keep - Int64(chunk.count))
            let n = chunk.withUnsafeMutableBytes { pread(rfd, $0.baseAddress, Int(keep - start), off_t(start)) }
            guard n > 0 else { throw FileIO.errno(path: path, "read") }
            if let i = chunk[0..<n].lastIndex(of: 0x0A) { return start + Int64(i) + 1 }
            keep = start
        }
        return 0
    }

    /// The length of the file up to the end of its last complete, valid config.gzip member, when what follows is the
    /// beginning of a member; throws when the file holds anything else that a cut could destroy.
    private func validGzipPrefix(_ path: String, size: Int64) throws -> Int64 {
        // The usual case, cheap even for a long file: it ends with a complete member.
        if try GzipMembers.endsWithCompleteMember(path: path, size: size) { return size }
        let scan = try GzipMembers.scan(path: path)
        switch scan.tail {
        case .none:
            return size
        case .truncated:
            if try GzipMembers.completeMemberFollows(path: path, from: scan.validEnd) {
                throw PipelineError(.sink, """
                    the gzip member at offset \(scan.validEnd) is damaged and complete members follow it: not cutting \
                    anything; repair the file (or move it away) before starting
                    """, at: path)
            }
            return scan.validEnd
        case .invalid(let problem):
            if scan.members == 0 {
                throw PipelineError(.sink, """
                    the existing file is not gzip data (\(problem)); the gzip sink only appends to a gzip file and will \
                    not cut or overwrite this one: move it away or choose another path
                    """, at: path)
            }
            throw PipelineError(.sink, """
                corrupt gzip data at offset \(scan.validEnd), after \(scan.members) complete member(s) (\(problem)): this \
                is not what an interrupted write leaves, so it is not cut; check the file (truncating it to \
                \(scan.validEnd) bytes keeps the complete members) or move it away
                """, at: path)
        }
    }

    var rotateAgeDue: Bool {
        if let rotateAge = config.rotateAge { return MonotonicClock.seconds() - openedAt >= rotateAge && fileBytes > 0 }
        return false
    }

    var rotateBytesDue: Bool {
        if let rotateBytes = config.rotateBytes { return fileBytes >= rotateBytes }
        return false
    }

    /// Buffers the delivery's lines (writing them out past 1 MiB); true when enough is unsynced for a sync.
    mutating func append(_ delivery: Delivery) throws -> Bool {
        Record.writeLines(delivery.records, to: &text)
        unsynced.append(delivery)
        if config.gzip {
            try compressor.compress(text.bytes, into: &compressed)
            unsyncedBytes += text.bytes.count
            text.removeAll()
            if compressed.count >= 1 << 20 { try writeOut() }
        } else {
            unsyncedBytes += text.bytes.count
            if text.bytes.count >= 1 << 20 { try writeOut() }
        }
        return unsyncedBytes >= config.flushBytes
    }

    /// Writes out the compressed bytes (gzip) or the text.
    private mutating func writeOut() throws {
        if config.gzip {
            try Self.writeOut(&compressed, fd: fd, path: currentPath, fileBytes: &fileBytes)
        } else {
            try Self.writeOut(&text.bytes, fd: fd, path: currentPath, fileBytes: &fileBytes)
        }
    }

    private static func writeOut(_ bytes: inout [UInt8], fd: Int32, path: String, fileBytes: inout Int64) throws {
        guard !bytes.isEmpty else { return }
        try FileIO.writeAll(fd: fd, bytes, path: path)
        fileBytes += Int64(bytes.count)
        bytes.removeAll(keepingCapacity: true)
    }

    /// Writes out what is buffered and hands over the deliveries it holds, with the file to fsync before they
    /// are acknowledged.
    mutating func writeOutForSync() throws -> (fd: Int32, path: String, deliveries: [Delivery]) {
        if config.gzip { try compressor.finishMember(into: &compressed) }
        try writeOut()
        defer {
            unsynced.removeAll(keepingCapacity: true)
            unsyncedBytes = 0
        }
        return (fd, currentPath, unsynced)
    }

    mutating func openNextFile() throws {
        Foundation.close(fd)
        try openNext()
    }

    mutating func closeFile() {
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }
}
