import AdminHTTP
import AWSCore
import BuiltinPlugins
import Foundation
import Logging
import Metrics
import PipelineHost
import Prometheus
import Synchronization
import Testing

@Suite struct AdminAndFollowTests {
    /// A follow-mode file source picks up appended lines; the admin endpoints report a running pipeline over a
    /// real socket; a stop request ends the run with everything delivered.
    @Test func followModeAndAdminEndpoints() async throws {
        let dir = TestFiles.scratch("follow")
        TestFiles.write("{\"i\": 0}\n", to: dir + "/in.jsonl")
        let text = """
            {"name": "follow", "source": {"type": "file", "path": "\(dir)/in.jsonl", "follow": true, "poll_interval": "20ms", "batch": {"max_age": "10ms"}},
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp", "interval": "20ms"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "follow.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let stats = RuntimeStats()
        let stop = StopSignal()
        let runner = PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:], stats: stats, stop: stop)
        let prometheus = PrometheusCollectorRegistry()
        prometheus.makeCounter(descriptor: MetricNameDescriptor(metricName: "pipeline_records_in", unitName: "total", helpText: ""),
                               labels: [("pipeline", "follow")]).increment(by: Int64(3))
        let port = Mutex<Int>(0)
        let admin = Task {
            try await AdminServer(host: "127.0.0.1", port: 0, stats: stats, registry: prometheus, logger: logger).run { p in
                port.withLock { $0 = p }
            }
        }
        let run = Task { try await runner.run() }
        let http = HTTPClient()
        defer { http.shutdown() }
        let deadline = Date().addingTimeInterval(60)  // a hang guard: suites start together on two cores
        while TestFiles.lines(dir + "/out.jsonl").count < 1 || port.withLock({ $0 }) == 0 {
            try #require(Date() < deadline)
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let base = "http://127.0.0.1:\(port.withLock { $0 })"
        let ready = try await http.execute(HTTPRequest(method: "GET", url: base + "/ready"))
        #expect(ready.status == 200)
        #expect(String(decoding: ready.body, as: UTF8.self).contains("\"ready\":true"))
        let health = try await http.execute(HTTPRequest(method: "GET", url: base + "/health"))
        #expect(health.status == 200)
        let metrics = try await http.execute(HTTPRequest(method: "GET", url: base + "/metrics"))
        #expect(String(decoding: metrics.body, as: UTF8.self).contains(#"pipeline_records_in_total{pipeline="follow"} 3"#))

        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/in.jsonl"))
        try h.seekToEnd()
        try h.write(contentsOf: Data("{\"i\": 1}\n{\"i\": 2}\n{\"i\":".utf8))  // the last line is still being written
        while TestFiles.lines(dir + "/out.jsonl").count < 3 {
            try #require(Date() < deadline, "appended lines not picked up")
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        try h.write(contentsOf: Data(" 3}\n".utf8))
        try h.close()
        while TestFiles.lines(dir + "/out.jsonl").count < 4 {
            try #require(Date() < deadline, "completed line not picked up")
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        // The runner's own series, not only the registry the test filled: the sink's end-to-end histogram counts
        // the four records once they are acknowledged, and no tap is open.
        func acknowledged(_ text: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix("pipeline_end_to_end_seconds_count{") }
                .flatMap { $0.split(separator: " ").last.flatMap { Int($0) } }
        }
        var exposed = ""
        while acknowledged(exposed) != 4 {
            try #require(Date() < deadline, "the runner's metrics never counted 4 acknowledged records: \(exposed)")
            exposed = String(decoding: try await http.execute(HTTPRequest(method: "GET", url: base + "/metrics")).body, as: UTF8.self)
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(exposed.contains(#"pipeline_taps_open{pipeline=""} 0"#), "\(exposed)")
        stop.stop()
        let summary = try await run.value
        admin.cancel()
        _ = await admin.result
        #expect(TestFiles.lines(dir + "/out.jsonl") == [#"{"i": 0}"#, #"{"i": 1}"#, #"{"i": 2}"#, #"{"i": 3}"#])
        #expect(summary.deadLettered == 0, "a line still being written is not an error")
        let cp = try Checkpoint(json: DocumentParser.parseValue(Array(FileManager.default.contents(atPath: dir + "/cp/checkpoint.json")!)))
        #expect(cp.positions["file"]?["line"] == .int(4))
    }
}
