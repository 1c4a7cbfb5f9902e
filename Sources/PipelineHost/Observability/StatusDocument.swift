import Foundation

/// The live state of a running pipeline as one JSON document: what the status page (`/`) shows and polls
/// (`/status.json`). The same read-only data as `/metrics`: counters, latencies, queue depths, checkpoint age,
/// dead letters by reason, shard lag and the plugins' details (model bundle version, A/B split, leases).
public enum StatusDocument {
    public static func make(spec: PipelineSpec, stats: RuntimeStats, metrics: MetricsStore?) -> JSONValue {
        let t = stats.telemetry
        let now = MonotonicClock.wallSeconds()
        let details = t.details()
        var stages: [JSONValue] = []
        for m in t.stages {
            var node: [(String, JSONValue)] = [
                ("id", .string(m.id)), ("kind", .string(m.kind.rawValue)), ("type", .string(m.type)),
                ("records", .int(Int64(m.records))), ("failed", .int(Int64(m.failed))), ("queued", .int(Int64(m.queued))),
                ("batch_ms", latency(m.batchTime.recent)),
            ]
            if m.kind == .sink || m.kind == .deadLetter {
                node.append(("latency_ms", latency(m.arrivalToAck.recent)))
                node.append(("event_latency_ms", latency(m.eventToAck.recent)))
            }
            if let d = details[m.id] { node.append(("details", d)) }
            stages.append(.object(node))
        }
        var doc: [(String, JSONValue)] = [
            ("pipeline", .string(spec.name)),
            ("time", .double(now)),
            ("uptime_seconds", .double(MonotonicClock.seconds() - stats.startTime)),
            ("ready", .bool(stats.readiness.ready)),
            ("not_ready", .array(stats.readiness.reasons.map { .string($0) })),
            ("failed", .bool(stats.failure != nil)),
            ("records_in", .int(Int64(stats.recordsIn))),
            ("records_out", .int(Int64(stats.recordsOut))),
            ("dead_lettered", .int(Int64(stats.deadLettered))),
            ("checkpoints", .int(Int64(stats.checkpoints))),
            ("reloads", .object(stats.reloads.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
            ("checkpoint_age_seconds", stats.lastCheckpointTime.map { .double(now - $0) } ?? .null),
            ("latency_ms", latency(t.endToEnd.recent)),
            ("event_latency_ms", latency(t.eventToAck.recent)),
            ("stages", .array(stages)),
            ("dead_letters_by_reason", .array(t.deadLettersByReason.map {
                .object([("reason", .string($0.reason)), ("count", .int(Int64($0.count)))])
            })),
        ]
        if let metrics {
            let lag = metrics.series("kinesis_millis_behind_latest").compactMap { s -> (String, Double)? in
                s.dimensions["shard"].map { ($0, s.value) }
            }.sorted { $0.0 < $1.0 }
            doc.append(("shards", .array(lag.map { .object([("shard", .string($0.0)), ("millis_behind", .double($0.1))]) })))
            if let age = metrics.max("dynamo_broadcast_sync_age_seconds") { doc.append(("reference_table_age_seconds", .double(age))) }
            doc.append(("scorer_errors", .int(Int64(metrics.sum("scorer_errors_total")))))
        }
        return .object(doc)
    }

    /// p50, p99 and max of a recent window in milliseconds (nulls when nothing was recorded).
    static func latency(_ s: LatencySnapshot) -> JSONValue {
        func ms(_ v: Double?) -> JSONValue { v.map { .double(($0 * 1e6).rounded() / 1e3) } ?? .null }
        return .object([("count", .int(Int64(s.count))), ("p50", ms(s.quantile(0.5))), ("p99", ms(s.quantile(0.99))),
                        ("max", ms(s.count > 0 ? s.max : nil))])
    }
}
