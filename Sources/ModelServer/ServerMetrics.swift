import Prometheus
import Synchronization

/// The server's Prometheus metrics, served at `/metrics`:
/// - `model_server_requests_total{route, status}`
/// - `model_server_request_duration_seconds{route="invocations"}` (histogram of the time in the handler:
///   reading the body, parsing, scoring and writing the reply)
/// - `model_server_errors_total{kind}` (one kind per `InvocationError.Kind`)
/// - `model_server_records_scored_total`, `model_server_model_loaded`, `model_server_model_load_seconds`
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let invocationDuration: DurationHistogram
    let recordsScored: Counter
    let modelLoaded: Gauge
    let modelLoadSeconds: Gauge
    /// Invocations admitted to the scoring queue (scoring or waiting for a worker).
    let invocationsPending: Gauge
    /// `requests_total{route="invocations",status="200"}`, the one counter of the hot path.
    let invocationsOK: Counter
    /// Counters already looked up, so the hot path does not go through the registry's lock and dictionary.
    private let requestCounters: Mutex<[String: Counter]>
    private let errorCounters: [InvocationError.Kind: Counter]

    static let durationBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000),
    ]

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        invocationDuration = registry.makeDurationHistogram(
            descriptor: .init(namespace: "model_server", metricName: "request_duration", unitName: "seconds",
                              helpText: "Time spent handling an invocation: body, parsing, scoring, reply."),
            labels: [("route", "invocations")], buckets: Self.durationBuckets)
        recordsScored = registry.makeCounter(
            descriptor: .init(namespace: "model_server", metricName: "records_scored", unitName: "total",
                              helpText: "Records scored (one request may hold many)."))
        modelLoaded = registry.makeGauge(
            descriptor: .init(namespace: "model_server", metricName: "model_loaded", unitName: "",
                              helpText: "1 once the model bundle is loaded and /ping answers 200."))
        modelLoadSeconds = registry.makeGauge(
            descriptor: .init(namespace: "model_server", metricName: "model_load", unitName: "seconds",
                              helpText: "Time taken to load the model bundle."))
        invocationsPending = registry.makeGauge(
            descriptor: .init(namespace: "model_server", metricName: "invocations_pending", unitName: "",
                              helpText: "Invocations admitted for scoring, running or waiting for a worker."))
        var errors: [InvocationError.Kind: Counter] = [:]
        for kind in InvocationError.Kind.allCases {
            errors[kind] = registry.makeCounter(
                descriptor: Self.errorsDescriptor, labels: [("kind", kind.rawValue)])
        }
        errorCounters = errors
        requestCounters = Mutex([:])
        invocationsOK = registry.makeCounter(descriptor: Self.requestsDescriptor, labels: [("route", "invocations"), ("status", "200")])
        requestCounters.withLock { $0["invocations 200"] = invocationsOK }
    }

    static var requestsDescriptor: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "model_server", metricName: "requests", unitName: "total", helpText: "HTTP requests by route and status.") }
    static var errorsDescriptor: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "model_server", metricName: "errors", unitName: "total", helpText: "Refused invocations by kind.") }

    func requestCounter(route: String, status: Int) -> Counter {
        let key = "\(route) \(status)"
        return requestCounters.withLock { counters in
            if let c = counters[key] { return c }
            let c = registry.makeCounter(descriptor: Self.requestsDescriptor, labels: [("route", route), ("status", String(status))])
            counters[key] = c
            return c
        }
    }

    func request(route: String, status: Int) {
        requestCounter(route: route, status: status).increment()
    }

    func error(_ kind: InvocationError.Kind) {
        errorCounters[kind]?.increment()
    }

    func emit() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8192)
        registry.emit(into: &buffer)
        return buffer
    }
}
