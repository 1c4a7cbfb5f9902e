import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a program to its end without blocking a thread of the test pool (waitUntilExit would starve other
/// tests), stdout and stderr to files (a pipe left unread would block the child); killed after `timeout`.
public enum ChildProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// Both, stdout first.
        public var output: String { stdout + stderr }
    }

    public static func run(_ executable: String, _ arguments: [String], directory: String? = nil,
                           environment extra: [String: String] = [:], timeout: Double = 120) async throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let dir = NSTemporaryDirectory() + "child-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning {
            if Date() > deadline { kill(p.processIdentifier, SIGKILL) }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try? out.close()
        try? err.close()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? "")
    }
}
