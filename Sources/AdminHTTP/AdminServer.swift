import HTTPServerLimits
import Hummingbird
import Logging
import PipelineHost
import Prometheus
import ServiceLifecycle
import Synchronization

/// The admin HTTP endpoints of a running pipeline: `/metrics` (Prometheus text), `/health` (the process
/// is alive and no stage has failed), `/ready` (plugins started, the pipeline moving records, and no component
/// holding readiness back with `RuntimeStats.setUnready`; a 503 names the reasons), and with a spec the status
/// page `/` and its data `/status.json`.
public struct AdminServer: Sendable {
    let host: String
    let port: Int
    let stats: RuntimeStats
    let registry: PrometheusCollectorRegistry
    let logger: Logger
    /// Seconds before an idle connection (or one that never completes its request head) is closed.
    let idleTimeout: Double
    /// The running spec, for the status page's graph and the tap's stages (a hot reload changes it).
    let currentSpec: @Sendable () -> PipelineSpec?
    /// The plugins' metrics read back (shard lag, scorer errors, reference-table age) for the status page.
    let metricsStore: MetricsStore?

    public init(host: String, port: Int, stats: RuntimeStats, registry: PrometheusCollectorRegistry, logger: Logger, idleTimeout: Double = 30,
                spec: PipelineSpec? = nil, metricsStore: MetricsStore? = nil, currentSpec: (@Sendable () -> PipelineSpec)? = nil) {
        self.idleTimeout = idleTimeout
        self.currentSpec = currentSpec ?? { spec }
        self.metricsStore = metricsStore
        self.host = host
        self.port = port
        self.stats = stats
        self.registry = registry
        self.logger = logger
    }

    /// Serves until the task is cancelled, or, given `shutdown`, until it is triggered: requests under way
    /// finish, and the stop logs nothing.
    public func run(shutdown: AdminServerShutdown? = nil, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        let stats = self.stats
        let registry = self.registry
        let spec = currentSpec()
        let currentSpec = self.currentSpec
        let metricsStore = self.metricsStore
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(8192)
            registry.emit(into: &buffer)
            buffer += Array(stats.telemetry.prometheusText(pipeline: spec?.name ?? "").utf8)
            buffer += Array(stats.taps.prometheusText(pipeline: spec?.name ?? "").utf8)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("/health") { _, _ -> Response in
            // Terse: the failure's text (paths, endpoints, AWS error details) is in the log, not for whoever can
            // reach this port.
            if stats.failure != nil {
                return Self.json(.serviceUnavailable, .object([("status", "failed")]))
            }
            return Self.json(.ok, .object([("status", "ok")]))
        }
        router.get("/ready") { _, _ -> Response in
            let readiness = stats.readiness
            return readiness.ready
                ? Self.json(.ok, .object([("ready", true), ("records_in", .int(Int64(stats.recordsIn)))]))
                : Self.json(.serviceUnavailable, .object([("ready", false), ("reasons", .array(readiness.reasons.map { .string($0) }))]))
        }
        if spec != nil {
            router.get("/") { _, _ -> Response in
                let page = currentSpec().map { StatusPage.html(spec: $0) } ?? ""
                return Response(status: .ok, headers: [
                    .contentType: "text/html; charset=utf-8",
                    // Everything is inline and same-origin: nothing else may load or run.
                    .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
                    .cacheControl: "no-store",
                ], body: .init(byteBuffer: ByteBuffer(string: page)))
            }
            router.get("/status.json") { _, _ -> Response in
                guard let spec = currentSpec() else { return Self.json(.notFound, .object([])) }
                var r = Self.json(.ok, StatusDocument.make(spec: spec, stats: stats, metrics: metricsStore))
                r.headers[.cacheControl] = "no-store"
                return r
            }
        }
        if spec != nil {
            router.get("/tap") { request, _ -> Response in
                let stages = currentSpec().map { spec in
                    [spec.source.id] + spec.transforms.map(\.id) + spec.sinks.map(\.config.id) + [spec.deadLetter.id]
                } ?? []
                let q = request.uri.queryParameters
                guard let stage = q["stage"].map(String.init), stages.contains(stage) else {
                    let error = q["stage"].map { "no stage \"\($0)\"" + Suggestions.didYouMean(String($0), stages) } ?? "name a stage: /tap?stage=ID"
                    return Self.json(.notFound, .object([("error", .string(error)),
                                                        ("stages", .array(stages.map { .string($0) }))]))
                }
                let rate = q["rate"].flatMap { Double(String($0)) } ?? 10
                guard rate > 0 && rate <= 10_000 else {
                    return Self.json(.badRequest, .object([("error", .string("rate is records per second, from 0 (exclusive) to 10000"))]))
                }
                let fields = q["fields"].map { $0.split(separator: ",").map(String.init) }
                guard let tap = stats.taps.subscribe(.init(stage: stage, rate: rate, fields: fields)) else {
                    if stats.taps.isClosed { return Self.json(.serviceUnavailable, .object([("error", .string("the host is stopping"))])) }
                    return Self.json(.tooManyRequests, .object([("error", .string("\(TapHub.maxTaps) taps are open already"))]))
                }
                // A heartbeat line every second: a write is how a reader that went away is noticed.
                let heartbeat = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: 1_000_000_000)
                        tap.heartbeat()
                    }
                }
                return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store"],
                                body: ResponseBody { writer in
                                    defer {
                                        heartbeat.cancel()
                                        stats.taps.unsubscribe(tap)
                                    }
                                    for await line in tap.lines {
                                        try await writer.write(ByteBuffer(bytes: line.isEmpty ? [0x0A] : line))
                                    }
                                    try await writer.finish(nil)
                                })
            }
        }
        let app = Application(
            router: router,
            // Scrapers and health checks need a handful of connections.
            server: ConnectionLimiter(limit: 64).http1(idleTimeout: idleTimeout),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        guard let shutdown else { return try await app.run() }
        // In a service group of its own, so a graceful shutdown stops it: cancelled, the server's accept loop logs
        // "Waiting on child channel: CancellationError()" at error level on every clean stop.
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        shutdown.attach(group)
        try await group.run()
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var w = JSONWriter()
        w.write(value)
        w.append("\n")
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}

/// Ends an admin server's `run(shutdown:)` gracefully; a trigger before the server started is kept.
public final class AdminServerShutdown: Sendable {
    private let state = Mutex<(group: ServiceGroup?, requested: Bool)>((nil, false))

    public init() {}

    public func trigger() {
        let group = state.withLock { s -> ServiceGroup? in
            s.requested = true
            return s.group
        }
        if let group { Task { await group.triggerGracefulShutdown() } }
    }

    func attach(_ group: ServiceGroup) {
        let requested = state.withLock { s -> Bool in
            s.group = group
            return s.requested
        }
        if requested { Task { await group.triggerGracefulShutdown() } }
    }
}
