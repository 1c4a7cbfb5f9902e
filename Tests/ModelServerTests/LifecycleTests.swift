import Foundation
import ModelCore
import TestSupport
import Testing
@testable import ModelServer

/// Readiness, configuration from SageMaker's environment, and SIGTERM draining of the real binary.
@Suite struct LifecycleTests {
    /// The socket answers before the bundle has loaded: /ping is 503 and invocations are refused until then.
    /// The loader here waits for the test's go-ahead, then reads models/v1 from disk.
    @Test func pingIs503UntilTheBundleHasLoaded() async throws {
        let (go, goAhead) = AsyncStream.makeStream(of: Void.self)
        let loader: @Sendable (String) async throws -> ModelBundle = { dir in
            for await _ in go { break }
            return try ModelBundle(directory: dir)
        }
        try await withServer(loader: loader, waitUntilReady: false) { port, server in
            let ping = try await RawHTTP.get(port: port, "/ping")
            #expect(ping.status == 503)
            #expect(ping.json?["status"] as? String == "loading")
            let early = try await RawHTTP.post(port: port, originalBody)
            #expect(early.status == 503)
            #expect(early.json?["kind"] as? String == "not_ready")
            let metrics = try await RawHTTP.get(port: port, "/metrics")
            #expect(metrics.text.contains("model_server_model_loaded 0"))

            goAhead.yield()
            let deadline = ContinuousClock.now + .seconds(30)
            var status = 0
            while ContinuousClock.now < deadline {
                status = try await RawHTTP.get(port: port, "/ping").status
                if status == 200 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(status == 200)
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200)
        }
    }

    @Test func aBundleThatCannotLoadStopsTheServer() async throws {
        var server = ModelServer(host: "127.0.0.1", port: 0, modelDirectory: "/nonexistent/model", logger: .init(label: "t"))
        server.handleSignals = false
        await #expect(throws: (any Error).self) { try await server.run() }
    }

    @Test func sageMakerEnvironmentPicksPortAndModelDir() throws {
        #expect(try ServeCommand.resolvedPort(nil, environment: [:]) == 8080)
        #expect(try ServeCommand.resolvedPort(nil, environment: ["SAGEMAKER_BIND_TO_PORT": "9123"]) == 9123)
        #expect(try ServeCommand.resolvedPort(7000, environment: ["SAGEMAKER_BIND_TO_PORT": "9123"]) == 7000)
        #expect(throws: (any Error).self) { try ServeCommand.resolvedPort(nil, environment: ["SAGEMAKER_BIND_TO_PORT": "http"]) }
        #expect(ServeCommand.resolvedModelDirectory(nil, environment: [:]) == "/opt/ml/model")
        #expect(ServeCommand.resolvedModelDirectory(nil, environment: ["SM_MODEL_DIR": "/m"]) == "/m")
        #expect(ServeCommand.resolvedModelDirectory("/x", environment: ["SM_MODEL_DIR": "/m"]) == "/x")
        let parsed = try ModelServerCommand.parseAsRoot(["serve", "--model-dir", "/b", "--port", "1234"])
        let serve = try #require(parsed as? ServeCommand)
        #expect(serve.modelDir == "/b" && serve.port == 1234)
        // Loopback unless told otherwise (the container image sets MODEL_SERVER_HOST=0.0.0.0 for SageMaker).
        #expect(serve.host == (ProcessInfo.processInfo.environment["MODEL_SERVER_HOST"] ?? "127.0.0.1"))
        #expect(serve.idleTimeout == 30)
        // `docker run IMAGE serve` and a bare `model-server` both serve.
        #expect(try ModelServerCommand.parseAsRoot([]) is ServeCommand)
    }

    static func freePort() throws -> Int { try MotoServer.freePort() }

    /// `model-server serve` as SageMaker starts it: port and bundle from the environment, connections accepted
    /// at once, and SIGTERM lets a request that is half sent finish before the process exits 0.
    @Test func binaryServesFromTheEnvironmentAndDrainsOnSIGTERM() async throws {
        // A missing binary fails the test: `swift build --build-tests` builds it, so its absence is a broken build.
        let binary = try #require(TestPaths.modelServer, "no model-server binary (build it, or set MODEL_SERVER_BIN)")
        let port = try Self.freePort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve"]
        var env = ProcessInfo.processInfo.environment
        env["SAGEMAKER_BIND_TO_PORT"] = String(port)
        env["SM_MODEL_DIR"] = TestPaths.bundle
        p.environment = env
        p.standardError = FileHandle.nullDevice
        let started = ContinuousClock.now
        try p.run()
        defer { if p.isRunning { p.terminate() } }

        // Accepting connections: poll the socket (SageMaker wants this within 250 ms of start).
        var connectedAfter: Duration?
        while ContinuousClock.now - started < .seconds(20) {
            if (try? RawConnection(port: port)) != nil { connectedAfter = ContinuousClock.now - started; break }
            try await Task.sleep(for: .milliseconds(5))
        }
        let accepted = try #require(connectedAfter, "the server never accepted a connection")
        print("model-server accepted its first connection \(accepted) after start")
        var ready = false
        while ContinuousClock.now - started < .seconds(30) {
            if (try? await RawHTTP.get(port: port, "/ping"))?.status == 200 { ready = true; break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(ready)

        // An in-flight request: head and half the body sent, then SIGTERM, then the rest.
        let body = Array(originalBody.utf8)
        let pid = p.processIdentifier
        let reply = try await RawHTTP.onThread { () -> HTTPReply in
            let c = try RawConnection(port: port)
            try c.send("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n")
            try c.send(Array(body[..<40]))
            usleep(200_000)
            kill(pid, SIGTERM)
            usleep(300_000)
            try c.send(Array(body[40...]))
            return try c.readReply()
        }
        #expect(reply.status == 200)
        #expect(reply.text.contains("0.263380229473114"))
        let deadline = ContinuousClock.now + .seconds(15)
        while p.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!p.isRunning, "model-server did not exit after SIGTERM")
        #expect(p.terminationStatus == 0)
        // And it no longer accepts connections.
        #expect((try? RawConnection(port: port)) == nil)
    }
}
