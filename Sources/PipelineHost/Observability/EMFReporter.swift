import Foundation

/// Publishes CloudWatch metrics as Embedded Metric Format lines (one JSON object per line) on stdout: on ECS the
/// awslogs driver ships stdout to CloudWatch Logs, which extracts the metrics; no API calls, no credentials.
///
/// Every interval it writes one document for the pipeline (dimension Pipeline), one per stage (Pipeline, Stage),
/// one per sink (Pipeline, Sink) and one per Kinesis shard (Pipeline, Shard). Counters are the increase over
/// the interval; latencies are the interval's percentiles in milliseconds. `Heartbeat` is 1 in every pipeline
/// document: its absence is what the heartbeat alarm treats as breaching. Dimension values come from the spec
/// (pipeline and component ids) and from shard ids, never from record fields, so the series stay bounded.
public final class EMFReporter: Sendable {
    /// The metrics of the pipeline document, with their units: what `terraform/modules/cloudwatch` may alarm on.
    public static let pipelineMetrics: [(name: String, unit: String)] = [
        ("Heartbeat", "Count"), ("RecordsIn", "Count"), ("RecordsOut", "Count"), ("DeadLetterRecords", "Count"),
        ("ScorerErrors", "Count"), ("CheckpointAgeSeconds", "Seconds"), ("MillisBehindLatest", "Milliseconds"),
        ("ReferenceTableAgeSeconds", "Seconds"), ("EndToEndLatencyP50", "Milliseconds"),
        ("EndToEndLatencyP99", "Milliseconds"), ("EventToAlertLatencyP99", "Milliseconds"),
    ]

    /// `pipelineMetrics` by name, built once rather than for every document.
    static let units = Dictionary(pipelineMetrics.map { ($0.name, $0.unit) }, uniquingKeysWith: { a, _ in a })

    let pipeline: String
    let namespace: String
    let interval: Double
    let stats: RuntimeStats
    let metrics: MetricsStore
    let write: @Sendable ([UInt8]) -> Void

    public init(pipeline: String, settings: PipelineSpec.CloudWatchSettings, stats: RuntimeStats, metrics: MetricsStore,
                write: @escaping @Sendable ([UInt8]) -> Void = { try? FileIO.writeAll(fd: STDOUT_FILENO, $0, path: "stdout") }) {
        self.pipeline = pipeline
        namespace = settings.namespace
        interval = settings.interval
        self.stats = stats
        self.metrics = metrics
        self.write = write
    }

    /// What the previous interval ended with, so each document reports the increase since.
    struct Baseline {
        var recordsIn = 0, recordsOut = 0, deadLettered = 0
        var scorerErrors = 0.0
        var endToEnd = LatencySnapshot(), eventToAck = LatencySnapshot()
        var stages: [String: (records: Int, failed: Int, batch: LatencySnapshot, ack: LatencySnapshot, event: LatencySnapshot)] = [:]
    }

    /// Writes a document set every interval until cancelled, and a last one when cancelled (a final flush of
    /// what the last partial interval counted).
    public func run() async {
        var baseline = Baseline()
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            emit(&baseline)
        }
    }

    /// Writes one interval's documents and moves the baseline on.
    func emit(_ baseline: inout Baseline) {
        let lines = documents(&baseline, timestamp: Int64(MonotonicClock.wallSeconds() * 1000))
        var bytes: [UInt8] = []
        for l in lines {
            var w = JSONWriter(capacity: 1024)
            w.write(l)
            bytes += w.bytes
            bytes.append(0x0A)
        }
        write(bytes)
    }

    func documents(_ b: inout Baseline, timestamp: Int64) -> [JSONValue] {
        var docs: [JSONValue] = []
        let t = stats.telemetry

        // The pipeline.
        var values: [(String, Double)] = [("Heartbeat", 1)]
        let recordsIn = stats.recordsIn, recordsOut = stats.recordsOut, dead = stats.deadLettered
        values.append(("RecordsIn", Double(recordsIn - b.recordsIn)))
        values.append(("RecordsOut", Double(recordsOut - b.recordsOut)))
        values.append(("DeadLetterRecords", Double(dead - b.deadLettered)))
        let scorerErrors = metrics.sum("scorer_errors_total")
        values.append(("ScorerErrors", scorerErrors - b.scorerErrors))
        (b.recordsIn, b.recordsOut, b.deadLettered, b.scorerErrors) = (recordsIn, recordsOut, dead, scorerErrors)
        if let last = stats.lastCheckpointTime { values.append(("CheckpointAgeSeconds", MonotonicClock.wallSeconds() - last)) }
        if let lag = metrics.max("kinesis_millis_behind_latest") { values.append(("MillisBehindLatest", lag)) }
        if let age = metrics.max("dynamo_broadcast_sync_age_seconds") { values.append(("ReferenceTableAgeSeconds", age)) }
        let e2e = t.endToEnd.total, event = t.eventToAck.total
        let e2eInterval = e2e.since(b.endToEnd), eventInterval = event.since(b.eventToAck)
        (b.endToEnd, b.eventToAck) = (e2e, event)
        if let p50 = e2eInterval.quantile(0.5), let p99 = e2eInterval.quantile(0.99) {
            values.append(("EndToEndLatencyP50", p50 * 1000))
            values.append(("EndToEndLatencyP99", p99 * 1000))
        }
        if let p99 = eventInterval.quantile(0.99) { values.append(("EventToAlertLatencyP99", p99 * 1000)) }
        docs.append(document(timestamp: timestamp, dimensions: [("Pipeline", pipeline)], values: values))

        // Stages and sinks.
        for m in t.stages {
            let before = b.stages[m.id] ?? (0, 0, LatencySnapshot(), LatencySnapshot(), LatencySnapshot())
            let records = m.records, failed = m.failed
            let batch = m.batchTime.total, ack = m.arrivalToAck.total, ev = m.eventToAck.total
            b.stages[m.id] = (records, failed, batch, ack, ev)
            let isSink = m.kind == .sink || m.kind == .deadLetter
            var v: [(String, Double)] = [
                (isSink ? "SinkRecords" : "StageRecords", Double(records - before.records)),
                (isSink ? "SinkDeadLetters" : "StageDeadLetters", Double(failed - before.failed)),
                (isSink ? "SinkQueueDepth" : "StageQueueDepth", Double(m.queued)),
            ]
            if let p99 = batch.since(before.batch).quantile(0.99) { v.append((isSink ? "SinkWriteP99" : "StageBatchP99", p99 * 1000)) }
            if isSink {
                if let p99 = ack.since(before.ack).quantile(0.99) { v.append(("SinkLatencyP99", p99 * 1000)) }
                if let p99 = ev.since(before.event).quantile(0.99) { v.append(("SinkEventLatencyP99", p99 * 1000)) }
            }
            docs.append(document(timestamp: timestamp, dimensions: [("Pipeline", pipeline), (isSink ? "Sink" : "Stage", m.id)], values: v))
        }

        // Kinesis shards.
        for s in metrics.series("kinesis_millis_behind_latest").sorted(by: { ($0.dimensions["shard"] ?? "") < ($1.dimensions["shard"] ?? "") }) {
            guard let shard = s.dimensions["shard"] else { continue }
            docs.append(document(timestamp: timestamp, dimensions: [("Pipeline", pipeline), ("Shard", shard)],
                                 values: [("MillisBehindLatest", s.value)]))
        }
        return docs
    }

    /// One EMF document: the metadata naming the metrics and their one dimension set, then the dimension values
    /// and the metric values as members of the root.
    func document(timestamp: Int64, dimensions: [(String, String)], values: [(String, Double)]) -> JSONValue {
        let definitions: [JSONValue] = values.map { name, _ in
            let unit = Self.units[name] ?? (name.hasSuffix("P99") || name.hasSuffix("P50") ? "Milliseconds" : "Count")
            return .object([("Name", .string(name)), ("Unit", .string(unit))])
        }
        var root: [(String, JSONValue)] = [
            ("_aws", .object([
                ("Timestamp", .int(timestamp)),
                ("CloudWatchMetrics", .array([.object([
                    ("Namespace", .string(namespace)),
                    ("Dimensions", .array([.array(dimensions.map { .string($0.0) })])),
                    ("Metrics", .array(definitions)),
                ])])),
            ])),
        ]
        for (k, v) in dimensions { root.append((k, .string(v))) }
        for (k, v) in values { root.append((k, v.isFinite ? .double((v * 1000).rounded() / 1000) : .int(0))) }
        return .object(root)
    }
}
