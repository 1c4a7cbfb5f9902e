import Foundation
import PipelineHost

/// `file` sink: JSON lines to a file, optionally gzip, rotated by size or age. A delivery is acknowledged
/// only after its bytes are written and fsynced.
public final class FileSink: SinkPlugin, @unchecked Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "file",
        summary: "Writes JSON lines to a file (optionally gzip), rotating by size or age; acknowledges after fsync.",
        description: """
            Without rotation the sink appends to `path`. With `rotate_bytes` or `rotate_age`, it writes numbered \
            files next to it (scored-000001.jsonl, scored-000002.jsonl, ...) and continues the numbering after a \
            restart. Gzip output is written as one gzip member per flush, so a file is readable (zcat) after every \
            checkpoint, even if the process is killed later.
            """,
        fields: [
            FieldSpec("path", .string, .required, doc: "Output file. Parent directories are created.", example: "out/scored.jsonl"),
            FieldSpec("compression", .oneOf(["none", "gzip"]), .defaultValue("none"), doc: "gzip appends \".gz\" to file names that lack it."),
            FieldSpec("rotate_bytes", .byteSize, doc: "Start a new file once the current one holds this many bytes.", example: "128MiB"),
            FieldSpec("rotate_age", .duration, doc: "Start a new file once the current one is this old.", example: "1h"),
            FieldSpec("flush_bytes", .byteSize, .defaultValue("8MiB"), doc: "Sync and acknowledge once this much is buffered, without waiting for a checkpoint.", advanced: true),
        ],
        examples: [#"{"type": "file", "id": "scored", "path": "out/scored.jsonl"}"#,
                   #"{"type": "file", "id": "archive", "path": "out/archive.jsonl", "compression": "gzip", "rotate_bytes": "64MiB"}"#])

    let basePath: String
    let gzip: Bool
    let rotateBytes: Int64?
    let rotateAge: Double?
    let flushBytes: Int

    // State below is touched only from this sink's stage task, one call at a time.
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

    public init(config: ComponentConfig, context: BuildContext) throws {
        var path = config.string("path")
        gzip = config.string("compression") == "gzip"
        if gzip && !path.hasSuffix(".gz") { path += ".gz" }
        basePath = path
        rotateBytes = config["rotate_bytes"] == nil ? nil : config.bytes("rotate_bytes")
        rotateAge = config.optionalSeconds("rotate_age")
        flushBytes = Int(config.bytes("flush_bytes"))
    }

    var rotates: Bool { rotateBytes != nil || rotateAge != nil }

    public func start(_ context: StageContext) async throws {
        let dir = (basePath as NSString).deletingLastPathComponent
        try FileIO.createDirectory(dir.isEmpty ? "." : dir)
        if rotates { sequence = highestSequence() }
        try openNext()
    }

    public func healthCheck() async throws {
        guard fd >= 0 else { throw PipelineError(.sink, "output file is not open", at: basePath) }
    }

    /// `out/scored.jsonl` → `out/scored-000007.jsonl` (the `.jsonl.gz` double extension kept whole).
    func numberedPath(_ n: Int) -> String {
        let dir = (basePath as NSString).deletingLastPathComponent
        let name = (basePath as NSString).lastPathComponent
        let dot = name.firstIndex(of: ".") ?? name.endIndex
        let numbered = "\(name[..<dot])-\(String(format: "%06d", n))\(name[dot...])"
        return dir.isEmpty ? numbered : dir + "/" + numbered
    }

    private func highestSequence() -> Int {
        var best = 0
        var n = 1
        // Numbered files are dense from 1; stop at the first gap.
        while FileManager.default.fileExists(atPath: numberedPath(n)) { best = n; n += 1 }
        return best
    }

    private func openNext() throws {
        if rotates { sequence += 1 }
        currentPath = rotates ? numberedPath(sequence) : basePath
        fd = open(currentPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.errno(path: currentPath, "open") }
        var st = stat()
        fstat(fd, &st)
        fileBytes = Int64(st.st_size)
        if !gzip { try dropPartialLastLine() }
        openedAt = MonotonicClock.seconds()
    }

    /// A process killed mid-write can leave half a line at the end. That line was never acknowledged, so it
    /// will be replayed; cut it off so the replay does not append to a broken line.
    private func dropPartialLastLine() throws {
        guard fileBytes > 0 else { return }
        let rfd = open(currentPath, O_RDONLY | O_CLOEXEC)
        guard rfd >= 0 else { throw FileIO.errno(path: currentPath, "open") }
        defer { Foundation.close(rfd) }
        var keep = fileBytes
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while keep > 0 {
            let start = max(0, keep - Int64(chunk.count))
            let n = chunk.withUnsafeMutableBytes { pread(rfd, $0.baseAddress, Int(keep - start), off_t(start)) }
            guard n > 0 else { throw FileIO.errno(path: currentPath, "read") }
            if let i = chunk[0..<n].lastIndex(of: 0x0A) {
                keep = start + Int64(i) + 1
                break
            }
            keep = start
        }
        if keep < fileBytes {
            guard ftruncate(fd, off_t(keep)) == 0 else { throw FileIO.errno(path: currentPath, "truncate") }
            fileBytes = keep
        }
    }

    public func write(_ delivery: Delivery) async throws {
        if let rotateAge, MonotonicClock.seconds() - openedAt >= rotateAge, fileBytes > 0 { try rotate() }
        for r in delivery.records {
            r.write(to: &text)
            text.append("\n")
        }
        unsynced.append(delivery)
        if gzip {
            try compressor.compress(text.bytes, into: &compressed)
            unsyncedBytes += text.bytes.count
            text.removeAll()
            if compressed.count >= 1 << 20 { try writeOut(&compressed) }
        } else {
            unsyncedBytes += text.bytes.count
            if text.bytes.count >= 1 << 20 { try writeOut(&text.bytes) }
        }
        if unsyncedBytes >= flushBytes { try sync() }
        if let rotateBytes, fileBytes >= rotateBytes { try rotate() }
    }

    private func writeOut(_ bytes: inout [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try FileIO.writeAll(fd: fd, bytes, path: currentPath)
        fileBytes += Int64(bytes.count)
        bytes.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered, fsyncs, then acknowledges every delivery it held.
    private func sync() throws {
        if gzip {
            try compressor.finishMember(into: &compressed)
            try writeOut(&compressed)
        } else {
            try writeOut(&text.bytes)
        }
        if !unsynced.isEmpty {
            guard fsync(fd) == 0 else { throw FileIO.errno(path: currentPath, "fsync") }
        }
        for d in unsynced { d.acknowledge() }
        unsynced.removeAll(keepingCapacity: true)
        unsyncedBytes = 0
    }

    private func rotate() throws {
        try sync()
        Foundation.close(fd)
        try openNext()
    }

    public func flush() async throws { try sync() }

    public func close() async throws {
        try sync()
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }
}
