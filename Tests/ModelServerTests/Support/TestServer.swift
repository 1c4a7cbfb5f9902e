import Foundation
import Logging
import ModelCore
@testable import ModelServer

/// Paths the tests need, and an in-process server on 127.0.0.1 with an OS-chosen port.
enum TestPaths {
    /// The repository root, found from this file's path (Tests/ModelServerTests/Support/TestServer.swift).
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let bundle = repoRoot + "/models/v1"

    /// A product built next to the test runner (swift build puts them in the same directory), or nil.
    static func binary(_ name: String, env: String, fallback: String) -> String? {
        if let path = ProcessInfo.processInfo.environment[env] {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }

    static var pipelineHost: String? {
        binary("pipeline-host", env: "PIPELINE_HOST_BIN", fallback: repoRoot + "/.build/debug/pipeline-host")
    }

    static var modelServer: String? {
        binary("model-server", env: "MODEL_SERVER_BIN", fallback: repoRoot + "/.build/debug/model-server")
    }

    static func scratch() -> String {
        let dir = NSTemporaryDirectory() + "ms-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// The `fraud_score` numbers of a reply, as written (JSON or CSV), read with Swift's correctly rounded parser.
func scores(_ reply: HTTPReply) -> [Double] {
    let text = reply.text
    if reply.header("content-type") == "text/csv" { return text.split(separator: "\n").compactMap { Double($0) } }
    return text.matches(of: /"fraud_score":([^,}]+)/).compactMap { Double($0.output.1) }
}

/// The original FastAPI request body, from the README's curl example.
let originalBody = """
    {
            "age": 35,
            "gender_code": 1,
            "location": 12,
            "subscription_type_code": 2,
            "tenure_months": 24,
            "income_bracket_code": 1,
            "event_created_at_ts": 1718500000,
            "transaction_value": 149.99,
            "channel_code": 0
          }
    """

/// models/v1, loaded once for all the tests.
let sharedBundle = try! ModelBundle(directory: TestPaths.bundle)

/// Runs `body` against a server started in this process, then stops it. By default the server is handed the
/// shared bundle (loading it in every test would be slow in a debug build); `readFromDisk` loads it as the
/// real server does, and `loader` replaces the loading altogether.
func withServer<T: Sendable>(
    modelDirectory: String = TestPaths.bundle, readFromDisk: Bool = false,
    loader: (@Sendable (String) async throws -> ModelBundle)? = nil,
    waitUntilReady: Bool = true, maxBodyBytes: Int? = nil, idleTimeout: Double? = nil, bodyDeadline: Double? = nil, maxConnections: Int? = nil, scoring: (workers: Int, pending: Int)? = nil,
    _ body: @Sendable (Int, ModelServer) async throws -> T
) async throws -> T {
    var logger = Logger(label: "model-server-test")
    logger.logLevel = .critical
    var server = ModelServer(host: "127.0.0.1", port: 0, modelDirectory: modelDirectory, logger: logger)
    server.handleSignals = false
    if let loader {
        server.bundleLoader = loader
    } else if !readFromDisk {
        server.bundleLoader = { _ in sharedBundle }
    }
    if let maxBodyBytes { server.maxBodyBytes = maxBodyBytes }
    if let idleTimeout { server.idleTimeout = idleTimeout }
    if let bodyDeadline { server.bodyDeadline = bodyDeadline }
    if let maxConnections { server.maxConnections = maxConnections }
    if let scoring {
        server.scoringWorkers = scoring.workers
        server.maxPendingInvocations = scoring.pending
    }
    let (ports, cont) = AsyncStream.makeStream(of: Int.self)
    let running = server
    let task = Task {
        defer { cont.finish() }
        try await running.run(onRunning: { port in cont.yield(port) })
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        _ = try await task.value
        throw HTTPClientError(description: "server stopped before it was running")
    }
    defer { task.cancel() }
    if waitUntilReady {
        let deadline = ContinuousClock.now + .seconds(30)
        while server.state.current == nil {
            guard ContinuousClock.now < deadline else { throw HTTPClientError(description: "bundle did not load") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
    let result = try await body(port, server)
    task.cancel()
    _ = await task.result
    return result
}
