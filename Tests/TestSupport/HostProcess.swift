import Foundation

/// The real `pipeline-host` binary run as a child process, for tests that kill it.
public final class HostProcess: @unchecked Sendable {
    public let process = Process()
    public let name: String
    public let logPath: String

    /// The binary built next to the test bundle (or PIPELINE_HOST_BIN).
    public static var binary: String {
        if let env = ProcessInfo.processInfo.environment["PIPELINE_HOST_BIN"] { return env }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // Either .build/<triple>/debug/xxx.xctest or a bundle below it.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("pipeline-host").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/pipeline-host"
    }

    /// Starts `pipeline-host run SPEC --quiet` with exactly `environment` (nothing inherited but PATH),
    /// stdout and stderr to `logPath`.
    public init(name: String, spec: String, environment: [String: String], logPath: String, extraArguments: [String] = []) throws {
        self.name = name
        self.logPath = logPath
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["run", spec, "--quiet"] + extraArguments
        var env = environment
        env["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        process.environment = env
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    // Only while it runs: once reaped, its pid is free, and with pid_max 32768 and a test run that starts
    // thousands of processes, a late kill could hit another suite's moto server or browser.
    public func kill9() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    public func terminate() { if process.isRunning { kill(process.processIdentifier, SIGTERM) } }

    /// Waits for the exit without blocking a thread of the test pool (waitUntilExit would starve other tests);
    /// kills the process after `timeout` seconds. Returns the exit status (a signal shows as 128 + signal).
    @discardableResult
    public func exit(timeout: Double = 120) async -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline { kill9() }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}
