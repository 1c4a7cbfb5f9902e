import Foundation
import PipelineHost
import TestSupport

/// Paths, scratch directories and child processes for the backtest tests.
enum BT {
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func path(_ relative: String) -> String { repoRoot + "/" + relative }

    static func scratch(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "bt-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A program run in the repository, stdout and stderr together.
    static func run(_ executable: String, _ args: [String], environment: [String: String] = [:], timeout: Double = 300) async throws -> (status: Int32, output: String) {
        let r = try await ChildProcess.run(executable, args, directory: repoRoot, environment: environment, timeout: timeout)
        return (r.status, r.output)
    }

    static func host(_ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await run(HostProcess.binary, args, environment: environment)
    }

    static func json(_ path: String) throws -> JSONValue {
        try DocumentParser.parseValue(Array(FileManager.default.contents(atPath: path) ?? Data()))
    }

    /// Each line of a JSONL file as an object.
    static func records(_ path: String) throws -> [JSONValue] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try DocumentParser.parseValue(Array($0.utf8)) }
    }

    static func gunzipLines(_ path: String) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
