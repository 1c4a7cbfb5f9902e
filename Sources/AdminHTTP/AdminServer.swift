import HTTPServerLimits
import Hummingbird
import Logging
import PipelineHost
import Prometheus

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
    /// The running spec, for the status page's graph.
    let spec: PipelineSpec?
    /// The plugins' metrics read back (shard lag, scorer errors, reference-table age) for the status page.
    let metricsStore: MetricsStore?

    public init(host: String, port: Int, stats: RuntimeStats, registry: PrometheusCollectorRegistry, logger: Logger, idleTimeout: Double = 30,
                spec: PipelineSpec? = nil, metricsStore: MetricsStore? = nil) {
        self.idleTimeout = idleTimeout
        self.spec = spec
        self.metricsStore = metricsStore
        self.host = host
        self.port = port
        self.stats = stats
        self.registry = registry
        self.logger = logger
    }

    /// Serves until the task is cancelled.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router()
        let stats = self.stats
        let registry = self.registry
        let spec = self.spec
        let metricsStore = self.metricsStore
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(8192)
            registry.emit(into: &buffer)
            buffer += Array(stats.telemetry.prometheusText(pipeline: spec?.name ?? "").utf8)
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
        if let spec {
            let page = StatusPage.html(spec: spec)
            router.get("/") { _, _ -> Response in
                Response(status: .ok, headers: [
                    .contentType: "text/html; charset=utf-8",
                    // Everything is inline and same-origin: nothing else may load or run.
                    .contentSecurityPolicy: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
                    .cacheControl: "no-store",
                ], body: .init(byteBuffer: ByteBuffer(string: page)))
            }
            router.get("/status.json") { _, _ -> Response in
                var r = Self.json(.ok, StatusDocument.make(spec: spec, stats: stats, metrics: metricsStore))
                r.headers[.cacheControl] = "no-store"
                return r
            }
        }
        let app = Application(
            router: router,
            // Scrapers and health checks need a handful of connections.
            server: ConnectionLimiter(limit: 64).http1(idleTimeout: idleTimeout),
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
    }

    static func json(_ status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        var w = JSONWriter()
        w.write(value)
        w.append("\n")
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
