import Foundation

/// The telemetry's latency histograms in Prometheus' text format, appended to `/metrics` after the swift-metrics
/// series: cumulative `le` buckets (seconds) read off the log-linear buckets, plus `_sum` and `_count`.
extension PipelineTelemetry {
    static let prometheusBounds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600]

    public func prometheusText(pipeline: String) -> String {
        var out = ""
        func histogram(_ name: String, help: String, _ series: [(labels: String, snapshot: LatencySnapshot)]) {
            guard !series.isEmpty else { return }
            out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for (labels, s) in series {
                for b in Self.prometheusBounds {
                    out += "\(name)_bucket{\(labels),le=\"\(b)\"} \(s.countAtMost(b))\n"
                }
                out += "\(name)_bucket{\(labels),le=\"+Inf\"} \(s.count)\n"
                out += "\(name)_sum{\(labels)} \(s.sum)\n"
                out += "\(name)_count{\(labels)} \(s.count)\n"
            }
        }
        let p = "pipeline=\"\(Self.escape(pipeline))\""
        let all = stages
        histogram("pipeline_stage_batch_seconds", help: "Time a batch (for sinks: a delivery) spent in the stage.",
                  all.map { ("\(p),stage=\"\(Self.escape($0.id))\"", $0.batchTime.total) })
        let measured = all.filter { $0.cpuMicrosecondsPerRecord != nil }
        if !measured.isEmpty {
            out += "# HELP pipeline_stage_cpu_seconds_total CPU of the stage's batches that ran without suspending (a batch that waited is not counted).\n"
            out += "# TYPE pipeline_stage_cpu_seconds_total counter\n"
            for m in measured { out += "pipeline_stage_cpu_seconds_total{\(p),stage=\"\(Self.escape(m.id))\"} \(m.cpuSeconds)\n" }
        }
        let sinks = all.filter { $0.kind == .sink }
        histogram("pipeline_end_to_end_seconds", help: "From the source emitting a record to the sink acknowledging it.",
                  sinks.map { ("\(p),sink=\"\(Self.escape($0.id))\"", $0.arrivalToAck.total) })
        histogram("pipeline_event_to_ack_seconds", help: "From a record's event time to the sink acknowledging it.",
                  sinks.map { ("\(p),sink=\"\(Self.escape($0.id))\"", $0.eventToAck.total) })
        return out
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
