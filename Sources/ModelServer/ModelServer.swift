import Foundation
import HTTPServerLimits
import Hummingbird
import Logging
import ModelCore
import PipelineHost

/// The SageMaker inference container: binds first, loads the bundle in the background (so the socket
/// accepts connections at once and `/ping` answers 503 until the model is ready), then serves
///
/// - `GET /ping`: 200 `{"status":"ok","model_version":"v1"}` once loaded, 503 `{"status":"loading"}` before;
/// - `POST /invocations` and `POST /endpoints/{name}/invocations` (see `InvocationHandler`);
/// - `GET /metrics`: Prometheus text.
///
/// With `handleSignals`, SIGTERM and SIGINT stop accepting connections, let in-flight requests finish and return.
struct ModelServer: Sendable {
    var host: String
    var port: Int
    var modelDirectory: String
    var handleSignals: Bool = true
    var maxBodyBytes: Int = InvocationHandler.defaultMaxBodyBytes
    /// Seconds before an idle connection is closed. A connection that never completes its request head is idle
    /// for this purpose too (a slowloris client), so it is also the deadline for a request's head.
    var idleTimeout: Double = 30
    /// Seconds a request body may take to arrive after its head (408 after that).
    var bodyDeadline: Double = 30
    /// Most connections open at once; more are closed as soon as they are accepted (see `ConnectionLimiter`).
    var maxConnections: Int = 512
    /// Threads that score (default: the cores), and the most invocations admitted at once, scoring or waiting;
    /// more are answered 503 at once (see `ScoringQueue`).
    var scoringWorkers: Int = ProcessInfo.processInfo.activeProcessorCount
    var maxPendingInvocations: Int = 4 * ProcessInfo.processInfo.activeProcessorCount
    var logger: Logger
    /// Reads the bundle from `modelDirectory` (a directory or an s3:// prefix); tests substitute one that waits
    /// or hands over a loaded bundle.
    var bundleLoader: @Sendable (String) async throws -> ModelBundle = {
        try await ModelBundle.load($0, environment: ProcessInfo.processInfo.environment)
    }

    let state = ModelState()
    let metrics = ServerMetrics()

    init(host: String, port: Int, modelDirectory: String, logger: Logger) {
        self.host = host
        self.port = port
        self.modelDirectory = modelDirectory
        self.logger = logger
    }

    func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let handler = InvocationHandler(state: state, metrics: metrics, maxBodyBytes: maxBodyBytes,
                                        scoring: ScoringQueue(workers: scoringWorkers, capacity: maxPendingInvocations) { [metrics] n in
                                            metrics.invocationsPending.set(Double(n))
                                        }, bodyDeadline: bodyDeadline)
        let state = self.state, metrics = self.metrics
        router.post("/invocations") { request, _ in try await handler.handle(request) }
        router.post("/endpoints/:name/invocations") { request, _ in try await handler.handle(request) }
        router.get("/ping") { _, _ -> Response in
            if let model = state.current {
                metrics.request(route: "ping", status: 200)
                return Self.json(.ok, .object([("status", "ok"), ("model_version", .string(model.version))]))
            }
            metrics.request(route: "ping", status: 503)
            return Self.json(.serviceUnavailable, .object([("status", "loading")]))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.emit())))
        }
        return router
    }

    /// Serves until a shutdown signal (or the task is cancelled); throws when the bundle cannot be loaded.
    /// `onRunning` gets the bound port (useful with port 0).
    func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: buildRouter(),
            server: ConnectionLimiter(limit: maxConnections).http1(idleTimeout: idleTimeout),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                boundContinuation.yield(port)
                boundContinuation.finish()
                await onRunning(port)
            },
            logger: logger)
        enum Finished { case server, loader }
        let handleSignals = self.handleSignals
        try await withThrowingTaskGroup(of: Finished.self) { group in
            group.addTask {
                try await app.runService(gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [])
                return .server
            }
            group.addTask {
                // Bind first: SageMaker wants the socket within 250 ms; the bundle may take longer.
                var ports = bound.makeAsyncIterator()
                guard await ports.next() != nil else { return .loader }
                try await self.loadBundle()
                return .loader
            }
            while let finished = try await group.next() {
                if finished == .server {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    /// Loads the bundle and makes the server ready.
    func loadBundle() async throws {
        let start = ContinuousClock.now
        let bundle: ModelBundle
        do { bundle = try await bundleLoader(modelDirectory) } catch {
            logger.critical("cannot load the model bundle", metadata: ["dir": "\(modelDirectory)", "error": "\(error)"])
            throw error
        }
        let elapsed = ContinuousClock.now - start
        state.set(ScoringModel(bundle: bundle))
        metrics.modelLoaded.set(1.0)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        metrics.modelLoadSeconds.set(seconds)
        logger.info("model bundle loaded", metadata: [
            "version": "\(bundle.version)", "dir": "\(modelDirectory)", "features": "\(bundle.features.count)",
            "trees": "\(bundle.model.treeCount)", "ms": "\(Int(seconds * 1000))",
        ])
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var w = JSONWriter()
        w.write(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
