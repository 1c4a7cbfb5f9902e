import AWSCore
import Foundation
import PipelineHost
import Testing
import TestSupport

/// The latency histogram against exact quantiles.
@Suite struct LatencyHistogramTests {
    @Test func quantilesAreWithinOneBucketOfTheExactOnes() {
        var rng = SplitMix(seed: 7)
        let h = LatencyHistogram(window: 3600)
        var values: [Double] = []
        for _ in 0..<20_000 {
            // Log-uniform from 10 µs to 100 s, the range a pipeline's latencies cover.
            let v = pow(10, -5 + 7 * Double(rng.next() % 1_000_000) / 1_000_000)
            values.append(v)
        }
        h.record(secondsEach: values)
        values.sort()
        let s = h.total
        #expect(s.count == values.count)
        for q in [0.01, 0.5, 0.9, 0.99, 0.999] {
            let exact = values[Int((q * Double(values.count)).rounded(.up)) - 1]
            let got = s.quantile(q)!
            #expect(abs(got - exact) / exact <= 1.0 / 64 + 1e-9, "q\(q): \(got) vs exact \(exact)")
        }
        #expect(s.max == values.last!)
        #expect(abs(s.sum - values.reduce(0, +)) < 1e-6)
        // Below 128 µs the buckets are exact microseconds.
        let small = LatencyHistogram()
        small.record(seconds: 0.000_057, count: 3)
        #expect(small.total.quantile(0.5)! >= 0.000_057 && small.total.quantile(0.5)! < 0.000_058)
    }

    @Test func intervalsAreDifferencesOfSnapshots() {
        let h = LatencyHistogram()
        h.record(seconds: 0.010, count: 100)
        let first = h.total
        h.record(seconds: 2.0, count: 10)
        let interval = h.total.since(first)
        #expect(interval.count == 10)
        #expect(abs(interval.quantile(0.5)! - 2.0) / 2.0 < 1.0 / 64)
        #expect(h.total.count == 110)
        // Prometheus buckets: cumulative, by upper bound.
        #expect(h.total.countAtMost(0.025) == 100)
        #expect(h.total.countAtMost(2.5) == 110)
    }

    @Test func absurdValuesLandInTheEndBuckets() {
        let h = LatencyHistogram()
        h.record(secondsEach: [-5, 0, 1e30, .infinity])
        let s = h.total
        #expect(s.count == 4)
        #expect(s.quantile(0.25)! == 0.000_000_5)  // the middle of the 0-µs bucket: negative (clock step) counts as 0
        #expect(s.quantile(1.0)! > 3600)  // clamped to the last bucket (~38 h)
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The CloudWatch metrics the host publishes against the alarms Terraform defines on them: every alarm in the
/// host's namespace reads a metric, with a dimension set, that the real binary emits.
@Suite(.motoServer()) struct CloudWatchMetricsTests {
    let dir = TestFiles.scratch("emf")

    /// An alarm on the host's namespace: its metric and the names of its dimensions.
    struct Alarm {
        let resource: String
        let metric: String
        let dimensions: [String]
        let missingData: String
    }

    /// The `aws_cloudwatch_metric_alarm` resources of the cloudwatch module whose namespace is the host's.
    static func hostAlarms() throws -> (alarms: [Alarm], namespace: String) {
        let tf = try String(contentsOfFile: TestFiles.path("terraform/modules/cloudwatch/main.tf"), encoding: .utf8)
        let vars = try String(contentsOfFile: TestFiles.path("terraform/modules/cloudwatch/variables.tf"), encoding: .utf8)
        func capture(_ pattern: String, in text: String) -> String? {
            guard let re = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators]),
                  let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), m.numberOfRanges > 1,
                  let r = Range(m.range(at: 1), in: text) else { return nil }
            return String(text[r])
        }
        let namespace = try #require(capture(#"variable "metrics_namespace" \{.*?default\s*=\s*"([^"]+)""#, in: vars))
        // local.pipeline_dims = { Pipeline = var.pipeline_name }: its keys are the dimension names.
        let pipelineDims = try #require(capture(#"pipeline_dims\s*=\s*\{([^}]*)\}"#, in: tf))
            .split(separator: ",").compactMap { $0.split(separator: "=").first.map { $0.trimmingCharacters(in: .whitespaces) } }
        var alarms: [Alarm] = []
        let blocks = tf.components(separatedBy: "resource \"aws_cloudwatch_metric_alarm\" \"").dropFirst()
        for block in blocks {
            let name = String(block.prefix { $0 != "\"" })
            let body = block.components(separatedBy: "\nresource ").first ?? block
            guard capture(#"namespace\s*=\s*([^\n]+)"#, in: body)?.trimmingCharacters(in: .whitespaces) == "var.metrics_namespace" else { continue }
            let metric = try #require(capture(#"metric_name\s*=\s*"([^"]+)""#, in: body), "alarm \(name) has no metric_name")
            let dims = capture(#"dimensions\s*=\s*([^\n]+)"#, in: body)?.trimmingCharacters(in: .whitespaces)
            #expect(dims == "local.pipeline_dims", "alarm \(name): dimensions \(dims ?? "none") are not the pipeline's")
            let missing = capture(#"treat_missing_data\s*=\s*"([^"]+)""#, in: body) ?? "missing"
            alarms.append(Alarm(resource: name, metric: metric, dimensions: pipelineDims, missingData: missing))
        }
        return (alarms, namespace)
    }

    @Test func everyAlarmReadsAMetricTheHostEmits() async throws {
        let (alarms, namespace) = try Self.hostAlarms()
        #expect(alarms.count >= 5, "found \(alarms.map(\.metric))")
        // The heartbeat is what makes a silent host an alarm.
        let heartbeat = try #require(alarms.first { $0.metric == "Heartbeat" }, "no heartbeat alarm")
        #expect(heartbeat.missingData == "breaching")
        // Production publishes into the namespace the alarms read.
        let production = try String(contentsOfFile: TestFiles.path("pipelines/production.json"), encoding: .utf8)
        #expect(production.contains(#""cloudwatch": {"namespace": "${METRICS_NAMESPACE:-\#(namespace)}""#))

        // A pipeline with each plugin the alarms' metrics come from: a reference table on DynamoDB (moto), rolling
        // features, the scaler and the local model; the real binary with EMF every second.
        let moto = try await freshMoto()
        let dynamo = try JSONProtocolClient.dynamoDB(moto.makeClient(), endpointURL: moto.endpoint)
        _ = try await dynamo.call("CreateTable", .object([
            ("TableName", "user_demographics"), ("BillingMode", "PAY_PER_REQUEST"),
            ("AttributeDefinitions", [["AttributeName": "user_id", "AttributeType": "S"]]),
            ("KeySchema", [["AttributeName": "user_id", "KeyType": "HASH"]]),
            ("StreamSpecification", ["StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"]),
        ]))
        _ = try await dynamo.call("PutItem", .object([("TableName", "user_demographics"), ("Item", .object([
            ("user_id", ["S": "u1"]), ("age", ["N": "40"]), ("tenure_months", ["N": "12"]),
        ]))]))
        let input = dir + "/in.jsonl"
        TestFiles.write("", to: input)
        let spec = """
            {"name": "emf-test",
             "source": {"type": "file", "path": "\(input)", "follow": true, "poll_interval": "50ms", "batch": {"max_age": "10ms"}},
             "transforms": [
               {"type": "dynamo_broadcast", "id": "demographics", "table": "user_demographics", "endpoint_url": "\(moto.endpoint)",
                "fields": ["age", "tenure_months"], "on_missing": "missing", "poll_interval": "200ms"},
               {"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "time_field": "event_created_at_ts",
                "value_field": "transaction_value", "allowed_lateness": "5m"}
             ],
             "sinks": [{"type": "file", "id": "out", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "200ms"},
             "metrics": {"cloudwatch": {"namespace": "\(namespace)", "interval": "1s"}}}
            """
        TestFiles.write(spec, to: dir + "/spec.json")
        let host = try HostProcess(name: "emf", spec: dir + "/spec.json", environment: [
            "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1",
        ], logPath: dir + "/host.log")
        defer { host.kill9() }

        // Events keep arriving (one bad line among them) until every alarm's metric has been seen.
        func documents() -> [[String: Any]] {
            host.log.split(separator: "\n").compactMap { line in
                guard line.contains("\"_aws\"") else { return nil }
                return try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            }
        }
        func emitted(_ metric: String, dimensions: [String]) -> [String: Any]? {
            documents().first { doc in
                guard let aws = doc["_aws"] as? [String: Any], let directives = aws["CloudWatchMetrics"] as? [[String: Any]] else { return false }
                return directives.contains { d in
                    (d["Namespace"] as? String) == namespace && (d["Dimensions"] as? [[String]]) == [dimensions]
                        && ((d["Metrics"] as? [[String: Any]]) ?? []).contains { ($0["Name"] as? String) == metric }
                } && doc[metric] is NSNumber && dimensions.allSatisfy { doc[$0] is String }
            }
        }
        let deadline = Date().addingTimeInterval(60)
        var n = 0
        func deadLettersCounted() -> Bool { documents().contains { ($0["DeadLetterRecords"] as? Double ?? 0) > 0 } }
        while (alarms.contains(where: { emitted($0.metric, dimensions: $0.dimensions) == nil }) || !deadLettersCounted())
            && Date() < deadline && host.isRunning {
            n += 1
            let now = Date().timeIntervalSince1970
            var lines = (0..<20).map { i in #"{"user_id": "u\#(i % 3)", "event_created_at_ts": \#(now), "transaction_value": 12.5}"# }
            if n % 5 == 1 { lines.append(#"{"user_id": "u1", "event_created_at_ts": "#) }
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
            try h.seekToEnd()
            try h.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
            try h.close()
            try await Task.sleep(nanoseconds: 300_000_000)
        }
        for alarm in alarms {
            let doc = emitted(alarm.metric, dimensions: alarm.dimensions)
            #expect(doc != nil, "alarm \(alarm.resource) reads \(alarm.metric) by \(alarm.dimensions), which the host did not emit")
            #expect(doc?["Pipeline"] as? String == "emf-test")
        }
        let all = documents()
        #expect(deadLettersCounted(), "the bad lines were counted")
        // Dimensions are bounded: the pipeline, its components and shards, never a record field.
        for doc in all {
            let sets = ((doc["_aws"] as? [String: Any])?["CloudWatchMetrics"] as? [[String: Any]])?.compactMap { $0["Dimensions"] as? [[String]] } ?? []
            for names in sets.joined().joined() { #expect(["Pipeline", "Stage", "Sink", "Shard"].contains(names), "dimension \(names)") }
        }
        host.terminate()
        #expect(await host.exit(timeout: 30) == 0)
    }
}
