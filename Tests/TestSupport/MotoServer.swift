import Foundation
import Testing

import AWSCore

#if canImport(Glibc)
    import Glibc
#endif

/// A `python3 -m moto.server` subprocess on a free loopback port, one per test suite (see `.motoServer()`).
public final class MotoServer: @unchecked Sendable {  // immutable after start; Process is not Sendable
    @TaskLocal public static var current: MotoServer?

    public static let installHint = "moto is required for the AWS integration tests: pip install 'moto[server]==5.2.1'"

    public let port: Int
    public let http: HTTPClient
    private let process: Process
    private let logPath: String

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, process: Process, logPath: String, http: HTTPClient) {
        self.port = port
        self.process = process
        self.logPath = logPath
        self.http = http
    }

    /// A port that was free a moment ago (bound and released), for a server started next.
    public static func freePort() throws -> Int {
        // Below the kernel's ephemeral range (32768–60999 by default): a port from bind(0) lies inside it, and
        // between this check and the server's bind an outgoing connection (curl to moto, of any test running
        // meanwhile) could be given it as its local port. Here only another test's pick of the same port can
        // collide, which the random start makes unlikely (moto's start retries on "address in use"; the other
        // callers would fail).
        let ephemeralLow = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32768
        let low = 10_000, count = ephemeralLow - low
        // Where no range lies below it, bind(0)'s pick inside it.
        guard count >= 1_000 else {
            guard let port = bound(0) else { throw FakeHTTPServer.SetupError(description: "cannot find a free port") }
            return port
        }
        let first = Int.random(in: 0..<count)
        for i in 0..<count {
            let port = low + (first + i) % count
            if bound(port) != nil { return port }
        }
        throw FakeHTTPServer.SetupError(description: "cannot find a free port in \(low)..<\(low + count)")
    }

    /// Binds a socket to 127.0.0.1:`port` (0: any) and releases it: the port bound, nil when it is taken (without
    /// SO_REUSEADDR, so a port in TIME_WAIT counts as taken).
    static func bound(_ port: Int) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        return ok ? Int(UInt16(bigEndian: addr.sin_port)) : nil
    }

    /// Another process took the port between `freePort()` and moto's bind.
    struct PortTaken: Error {}

    /// Starts moto on a free port; a port taken in the meantime (suites start their servers in parallel) is
    /// retried on another one.
    public static func start(environment extra: [String: String] = [:]) async throws -> MotoServer {
        for _ in 0..<4 {
            do { return try await start(port: try freePort(), environment: extra) } catch is PortTaken { continue }
        }
        return try await start(port: try freePort(), environment: extra)
    }

    private static func start(port: Int, environment extra: [String: String]) async throws -> MotoServer {
        let logPath = NSTemporaryDirectory() + "moto-\(port)-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in extra { environment[k] = v }
        process.environment = environment
        // A file, not a pipe: moto logs every request, and an undrained pipe would block it.
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let server = MotoServer(port: port, process: process, logPath: logPath, http: HTTPClient())
        func logged(_ text: String) -> Bool {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains(text)
        }
        func portTaken() -> Bool { logged("Address already in use") }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if !process.isRunning {
                let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                server.http.shutdown()
                if portTaken() { throw PortTaken() }
                if output.contains("No module named") {
                    throw FakeHTTPServer.SetupError(description: installHint + "\n" + output)
                }
                throw FakeHTTPServer.SetupError(description: "moto_server exited early:\n\(output)\n\(installHint)")
            }
            if let r = try? await server.http.execute(
                HTTPRequest(method: "GET", url: server.endpoint + "/moto-api/", timeout: .seconds(1))), r.status == 200
            {
                // The answer may come from whoever took the port (another suite's moto): ours is the one that
                // says it runs on it.
                if logged("Running on http://127.0.0.1:\(port)") { return server }
                if portTaken() {
                    server.stop()
                    throw PortTaken()
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.stop()
        throw FakeHTTPServer.SetupError(description: "moto_server did not answer on port \(port) within 30 s")
    }

    /// Clears every service's state (~0.2 s).
    public func reset() async throws {
        let r = try await http.execute(HTTPRequest(method: "POST", url: endpoint + "/moto-api/reset"))
        #expect(r.status == 200)
    }

    public func post(_ path: String, json: String) async throws -> HTTPResponse {
        try await http.execute(
            HTTPRequest(method: "POST", url: endpoint + path, headers: [("Content-Type", "application/json")], body: Array(json.utf8)))
    }

    public var isRunning: Bool { process.isRunning }
    public var exitStatus: String { process.isRunning ? "running" : "\(process.terminationReason == .uncaughtSignal ? "signal " : "status ")\(process.terminationStatus)" }

    /// What moto wrote last (its log), for a failure message.
    public var logTail: String {
        String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(3000))
    }

    public func stop() {
        if process.isRunning {
            // moto's SIGTERM handler calls sys.exit in the main thread, which its threaded server can ignore:
            // SIGKILL is reliable and loses nothing a test needs.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        http.shutdown()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// An AWS client pointed at this server with fixed test credentials and fast retries.
    public func makeClient(
        credentials: Credentials = Credentials(accessKeyID: "AKIDTESTING", secretAccessKey: "testing-secret"),
        region: String = "us-east-1"
    ) -> AWSClient {
        AWSClient(
            region: region, credentialProvider: StaticCredentialProvider(credentials), httpClient: http,
            retryPolicy: RetryPolicy(maxAttempts: 2, baseBackoff: .milliseconds(5)), environment: [:])
    }
}

/// Starts one moto server around a whole suite and stops it afterwards, also when tests fail.
public struct MotoServerTrait: SuiteTrait, TestScoping {
    public var environment: [String: String]
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await MotoServer.start(environment: environment)
        defer { server.stop() }
        try await MotoServer.$current.withValue(server) { try await function() }
    }
}

extension Trait where Self == MotoServerTrait {
    public static func motoServer(environment: [String: String] = [:]) -> Self { MotoServerTrait(environment: environment) }
}

/// The moto server of the enclosing suite, reset to an empty state.
public func freshMoto() async throws -> MotoServer {
    let server = try #require(MotoServer.current, "no moto server: the suite needs the .motoServer() trait")
    // A moto that died under a suite once showed only as "Failed to connect": say so, with its exit and log.
    try #require(server.isRunning, "the suite's moto server is gone (exit \(server.exitStatus)); its log ends:\n\(server.logTail)")
    try await server.reset()
    return server
}
