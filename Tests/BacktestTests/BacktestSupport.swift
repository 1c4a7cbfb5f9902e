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

    struct Result {
        var status: Int32
        var output: String
    }

    /// Runs a program to its end without blocking a thread of the test pool; stdout and stderr together.
    static func run(_ executable: String, _ args: [String], environment: [String: String] = [:], timeout: Double = 300) async throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: repoRoot)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let log = NSTemporaryDirectory() + "bt-run-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: log, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: log) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if Date() > deadline { kill(p.processIdentifier, SIGKILL) }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try? handle.close()
        return Result(status: p.terminationStatus, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    static func host(_ args: [String], environment: [String: String] = [:]) async throws -> Result {
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
