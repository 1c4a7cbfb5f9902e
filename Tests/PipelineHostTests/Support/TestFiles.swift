import Foundation
import TestSupport

/// Paths and scratch directories for tests.
enum TestFiles {
    /// The repository root, found from this file's path.
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func path(_ relative: String) -> String { repoRoot + "/" + relative }

    /// A fresh temporary directory.
    static func scratch(_ name: String = "t") -> String {
        let dir = NSTemporaryDirectory() + "ph-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ text: String, to path: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    /// Appends `lines` (each closed by a newline) to an existing file, as a producer feeding a followed input.
    static func append(_ lines: [String], to path: String) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(lines.map { $0 + "\n" }.joined().utf8))
    }

    /// The last complete line of a file, reading only its end.
    static func lastLine(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: size > 65_536 ? size - 65_536 : 0)
        let tail = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        return tail.split(separator: "\n").last.map(String.init)
    }

    static func lines(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    static func size(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// The pipeline-host binary next to the test runner (swift build puts both in the same directory).
    static var hostBinary: String { HostProcess.binary }
}
