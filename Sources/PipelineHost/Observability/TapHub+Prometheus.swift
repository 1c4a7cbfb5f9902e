/// The taps in Prometheus' text format, appended to `/metrics`: how many are open (a tap someone forgot holds one
/// of the `maxTaps` slots) and how many lines readers that fell behind lost.
extension TapHub {
    public func prometheusText(pipeline: String) -> String {
        let p = "pipeline=\"\(PipelineTelemetry.escape(pipeline))\""
        return """
            # HELP pipeline_taps_open Taps (/tap, pipeline-host tap) open now; at most \(Self.maxTaps).
            # TYPE pipeline_taps_open gauge
            pipeline_taps_open{\(p)} \(openCount)
            # HELP pipeline_tap_lines_dropped_total Tapped lines lost because the tap's reader fell behind its buffer.
            # TYPE pipeline_tap_lines_dropped_total counter
            pipeline_tap_lines_dropped_total{\(p)} \(droppedLines)

            """
    }
}
