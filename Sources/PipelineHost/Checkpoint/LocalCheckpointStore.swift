import Foundation

/// Checkpoints in a local directory: written to a temporary file, fsynced, renamed over
/// `checkpoint.json`, and the directory fsynced, so a crash at any point leaves a whole checkpoint.
public struct LocalCheckpointStore: CheckpointStore {
    public let directory: String
    public var path: String { directory + "/checkpoint.json" }
    public var description: String { path }

    public init(directory: String) { self.directory = directory }

    public var acceptsEncodedStates: Bool { true }

    public func load() async throws -> Checkpoint? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try Checkpoint(json: try DocumentParser.parseValue(Array(data)))
        } catch {
            throw PipelineError(.checkpoint, "cannot read checkpoint: \(error)", at: path, underlying: error)
        }
    }

    @discardableResult
    public func save(_ checkpoint: Checkpoint) async throws -> CheckpointSaveResult {
        var w = JSONWriter(capacity: 4096 + checkpoint.states.values.reduce(0) { n, s in
            if case .encoded(let b) = s { return n + b.count } else { return n }
        })
        checkpoint.write(into: &w)
        w.append("\n")
        // Write, fsync, rename, fsync the directory: blocking calls, kept off the cooperative pool as the file
        // sink's fsync is.
        let (bytes, path) = (w.bytes, path)
        try await BlockingIO.run { try FileIO.writeAtomically(bytes, to: path) }
        return .complete
    }
}

/// Durable file writes shared by the checkpoint store and the file sink.
public enum FileIO {
    public static func createDirectory(_ dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(.io, "cannot create directory: \(error.localizedDescription)", at: dir, underlying: error)
        }
    }

    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try createDirectory(dir.isEmpty ? "." : dir)
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw errno(path: tmp, "open") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }  // also when the write fails (a full disk must not leak a descriptor per attempt)
            try writeAll(fd: fd, bytes, path: tmp)
            guard fsync(fd) == 0 else { throw errno(path: tmp, "fsync") }
        }
        guard rename(tmp, path) == 0 else { throw errno(path: path, "rename") }
        ok = true
        fsyncDirectory(dir.isEmpty ? "." : dir)
    }

    public static func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws {
        try bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if Foundation.errno == EINTR { continue }
                    throw errno(path: path, "write")
                }
                off += n
            }
        }
    }

    public static func fsyncDirectory(_ dir: String) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }

    public static func errno(path: String, _ op: String) -> PipelineError {
        let code = Foundation.errno
        return PipelineError(.io, "\(op) failed: \(String(cString: strerror(code)))", at: path)
    }
}
