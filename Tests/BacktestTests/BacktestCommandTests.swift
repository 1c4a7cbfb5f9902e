import AWSCore
import Foundation
import PipelineHost
import Testing
import TestSupport

/// `pipeline-host backtest` end to end, the real binary on the bundled labeled sample: its numbers against
/// scikit-learn, its scores against what the staging pipeline itself computes, a shuffled input, a score log
/// read from S3 (moto), and the errors a user meets.
@Suite(.motoServer()) struct BacktestCommandTests {
    static let labeled = BT.path("samples/transactions-labeled.jsonl.gz")
    static let shallow = BT.path("Tests/Fixtures/models/shallow-d2")

    func variant(_ summary: JSONValue, _ name: String) throws -> JSONValue {
        try #require(summary["variants"]?.arrayValue?.first { $0["name"]?.stringValue == name }, "no variant \(name)")
    }

    @Test func aReplayMatchesScikitLearnAndTheStagingPipelineScoreForScore() async throws {
        let out = BT.scratch("replay")
        let r = try await BT.host(["backtest", "pipelines/local.json", "--input", Self.labeled,
                                   "--bundle", "models/v1", "--bundle", "shallow=\(Self.shallow)", "--out", out, "--bootstrap", "300"])
        try #require(r.status == 0, "\(r.output)")
        #expect(r.output.contains("20000 labeled events, 399 fraud"), "\(r.output)")

        // The report's metrics, recomputed by scikit-learn from scores.jsonl (AUC and PR-AUC to 1e-6).
        let check = try await BT.run("/usr/bin/env", ["python3", "scripts/check_backtest_metrics.py", out])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("0 mismatches"), "\(check.output)")

        // The same events through the staging pipeline itself: every v1 score equal, bit for bit, so the replay
        // computed the production features (broadcast join, rolling aggregates in event time).
        let staging = BT.scratch("staging")
        let run = try await BT.host(["run", "pipelines/local.json", "--quiet"],
                                    environment: ["INPUT": Self.labeled, "OUT": staging, "CHECKPOINT_DIR": staging + "/cp"])
        try #require(run.status == 0, "\(run.output)")
        var served: [String: Double] = [:]
        for r in try BT.records(staging + "/scored.jsonl") {
            served[r["transaction_id"]!.stringValue!] = r["fraud_score"]!.doubleValue!
        }
        let scores = try BT.records(out + "/scores.jsonl")
        #expect(scores.count == 20_000)
        #expect(served.count == 20_000)
        let differing = scores.filter { served[$0["id"]!.stringValue!] != $0["v1"]?.doubleValue }
        #expect(differing.isEmpty, "\(differing.count) scores differ, first: \(differing.first.map { "\($0)" } ?? "")")
        let alerts = TestLines.count(staging + "/alerts.jsonl")

        let summary = try BT.json(out + "/summary.json")
        let v1 = try variant(summary, "v1")
        #expect(v1["at_threshold"]?["alerts"]?.intValue == Int64(alerts))
        #expect(v1["threshold"]?.doubleValue == 0.18)
        #expect(v1["model_version"]?.stringValue == "v1")
        #expect(try variant(summary, "shallow")["model_version"]?.stringValue == "shallow-d2")
        // The comparison: v1 first, so the shallow challenger is "b"; it ranks worse on these events.
        let cmp = try #require(summary["comparisons"]?.arrayValue?.first)
        #expect(cmp["a"]?.stringValue == "v1" && cmp["b"]?.stringValue == "shallow")
        let ev = try #require(cmp["equal_volume"])
        #expect(ev["alerts"]?.intValue == Int64(alerts))
        let diff = try #require(ev["difference"]?.doubleValue)
        let ci = (ev["ci95"]?.arrayValue ?? []).compactMap { $0.doubleValue }
        try #require(ci.count == 2)
        #expect(diff < 0 && ci[0] <= diff && diff <= ci[1], "\(ev)")
        let g = try #require(cmp["agreement"])
        let cells = ["both", "only_a", "only_b", "neither"].compactMap { g[$0]?.intValue }
        #expect(cells.reduce(0, +) == 20_000)
        // Alerts per hour cover the seven days of the sample, and add up to the alert count.
        let perHour = (summary["alerts_per_hour"]?["alerts"]?["v1"]?.arrayValue ?? []).compactMap { $0.intValue }
        #expect(perHour.count >= 7 * 24 && perHour.count <= 8 * 24)
        #expect(perHour.reduce(0, +) == Int64(alerts))
        // The page is one self-contained file.
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(!html.contains("http://") || !html.contains("src=\"http"))
        #expect(!html.contains("<script"))
        #expect(!html.contains("<link"))
    }

    @Test func aShuffledInputIsReplayedInEventTimeOrder() async throws {
        // The first 3,000 events, shuffled: the rolling features must still be those of the ordered stream.
        let lines = Array(try BT.gunzipLines(Self.labeled).prefix(3000))
        var rng = SplitMix64(seed: 4)
        let shuffled = lines.shuffled(using: &rng)
        let dir = BT.scratch("shuffled")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/ordered.jsonl"))
        try Data((shuffled.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/shuffled.jsonl"))
        for name in ["ordered", "shuffled"] {
            let r = try await BT.host(["backtest", "pipelines/local.json", "--input", "\(dir)/\(name).jsonl", "--out", "\(dir)/\(name)", "--bootstrap", "0"])
            try #require(r.status == 0, "\(r.output)")
        }
        func scores(_ name: String) throws -> [String: Double] {
            var out: [String: Double] = [:]
            for r in try BT.records("\(dir)/\(name)/scores.jsonl") { out[r["id"]!.stringValue!] = r["local"]!.doubleValue! }
            return out
        }
        let ordered = try scores("ordered"), fromShuffled = try scores("shuffled")
        #expect(ordered.count == 3000)
        #expect(ordered == fromShuffled)
        #expect(try BT.json("\(dir)/shuffled/summary.json")["input"]?["reordered_by_event_time"] == .bool(true))
        #expect(try BT.json("\(dir)/ordered/summary.json")["input"]?["reordered_by_event_time"] == .bool(false))
    }

    @Test func aShadowScoreLogInS3IsReadBackWithLabelsJoinedLater() async throws {
        let moto = try await freshMoto()
        let dir = BT.scratch("score-log")
        // A production-like run: the champion v1 serves, the shallow model scores in shadow; no labels in the
        // stream (they arrive later, as chargebacks do).
        let unlabeled = dir + "/events.jsonl"
        let labels = dir + "/labels.jsonl"
        var events: [String] = [], labelLines: [String] = []
        for line in try BT.gunzipLines(Self.labeled).prefix(6000) {
            let v = try DocumentParser.parseValue(Array(line.utf8))
            let fields = try #require(v.objectValue)
            var w = JSONWriter()
            w.write(.object(fields.filter { $0.0 != "is_fraud" }))
            events.append(w.string)
            labelLines.append(#"{"transaction_id": "\#(v["transaction_id"]!.stringValue!)", "is_fraud": \#(v["is_fraud"]!.intValue!)}"#)
        }
        try Data((events.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: unlabeled))
        try Data((labelLines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: labels))
        let spec = """
            {"name": "shadow-run", "source": {"type": "file", "path": "\(unlabeled)"},
             "transforms": [
               {"type": "dynamo_broadcast", "mode": "file", "path": "\(BT.path("samples/user_demographics.jsonl"))",
                "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"], "on_missing": "missing"},
               {"type": "rolling_aggregates", "key_field": "user_id", "time_field": "event_created_at_ts", "value_field": "transaction_value", "allowed_lateness": "5m"},
               {"type": "feature_scaler", "bundle": "\(BT.path("models/v1"))"},
               {"type": "ab_split", "variants": [{"name": "champion", "weight": 1, "scorer": {"type": "local_model", "bundle": "\(BT.path("models/v1"))"}}],
                "shadow": {"type": "local_model", "bundle": "\(Self.shallow)"}}
             ],
             "sinks": [{"type": "file", "path": "\(dir)/log/scored.jsonl.gz", "compression": "gzip"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp"}}
            """
        try Data(spec.utf8).write(to: URL(fileURLWithPath: dir + "/spec.json"))
        let run = try await BT.host(["run", dir + "/spec.json", "--quiet"])
        try #require(run.status == 0, "\(run.output)")

        // The log goes to S3 as the s3 sink would leave it: gzip objects under a prefix.
        let client = moto.makeClient()
        let s3 = try S3Client(client: client, endpointURL: moto.endpoint)
        try await s3.createBucket("score-logs")
        let gz = try #require(FileManager.default.contents(atPath: dir + "/log/scored.jsonl.gz"))
        try await s3.putObject(bucket: "score-logs", key: "fraud/dt=2024-08-01/part-0.jsonl.gz", body: Array(gz))
        try await s3.putObject(bucket: "score-logs", key: "other/ignored.jsonl", body: Array("{}\n".utf8))

        let out = dir + "/report"
        let r = try await BT.host(["backtest", "--score-log", "s3://score-logs/fraud/", "--labels", labels, "--out", out, "--bootstrap", "200"],
                                  environment: ["AWS_ENDPOINT_URL": moto.endpoint, "AWS_ACCESS_KEY_ID": "AKIDTESTING",
                                                "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"])
        try #require(r.status == 0, "\(r.output)")
        let summary = try BT.json(out + "/summary.json")
        #expect(summary["input"]?["events"]?.intValue == 6000, "\(summary["input"] ?? .null)")
        let served = try variant(summary, "served"), shadow = try variant(summary, "shadow")
        #expect(served["model_version"]?.stringValue == "v1")
        #expect(shadow["model_version"]?.stringValue == "shallow-d2")
        // The served threshold comes from the log's own alerts: its alert count is the run's.
        let alerted = try BT.gunzipLines(dir + "/log/scored.jsonl.gz").filter { $0.contains(#""is_alert":true"#) }.count
        #expect(alerted > 0)
        #expect(served["at_threshold"]?["alerts"]?.intValue == Int64(alerted))
        let check = try await BT.run("/usr/bin/env", ["python3", "scripts/check_backtest_metrics.py", out])
        #expect(check.status == 0, "\(check.output)")
        #expect(summary["comparisons"]?.arrayValue?.count == 1)
        // Alerts per hour from the log's event times (--time-field, default event_created_at_ts).
        #expect((summary["alerts_per_hour"]?["hour_start"]?.arrayValue?.count ?? 0) >= 24, "\(summary["alerts_per_hour"] ?? .null)")
        // No credentials or endpoint secrets in what it printed.
        #expect(!r.output.contains("testing-secret"))
    }

    @Test func mistakesGetClearErrors() async throws {
        let dir = BT.scratch("errors")
        // No label field in the input.
        let noLabels = try await BT.host(["backtest", "pipelines/local.json", "--input", BT.path("samples/transactions.jsonl.gz"),
                                          "--out", dir + "/a", "--bootstrap", "0"])
        #expect(noLabels.status == 1)
        #expect(noLabels.output.contains("no labeled events to evaluate (label field \"is_fraud\""), "\(noLabels.output)")
        // A scorer with nothing to replay.
        let prod = try await BT.host(["backtest", "pipelines/production.json", "--input", Self.labeled, "--out", dir + "/b"],
                                     environment: ["SCORED_BUCKET": "b", "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:1:t",
                                                   "LEASE_TABLE": "l", "LEASE_STATE_BUCKET": "s"])
        #expect(prod.status != 0)
        #expect(prod.output.contains("the sagemaker scorer at $.transforms[3] has no model bundle to replay; name one with --bundle"), "\(prod.output)")
        // A threshold that is not one.
        let bad = try await BT.host(["backtest", "pipelines/local.json", "--input", Self.labeled, "--bundle", "x=models/v1@high"])
        #expect(bad.status != 0)
        #expect(bad.output.contains("the threshold after @ must be a number from 0 to 1"), "\(bad.output)")
        // Neither a replay nor a score log.
        let nothing = try await BT.host(["backtest"])
        #expect(nothing.status != 0)
        #expect(nothing.output.contains("--score-log"), "\(nothing.output)")
    }
}

enum TestLines {
    static func count(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}
