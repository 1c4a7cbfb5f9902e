import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing
import TestSupport
@testable import ModelServer

/// The pipeline's `sagemaker` scorer against this project's model server (in process, on 127.0.0.1, reached through
/// `endpoint_url` at `/endpoints/{name}/invocations`): the same rows must score exactly as `local_model` scores them.
@Suite struct SageMakerEndToEndTests {
    /// Transactions with every field the server requires, varied values, and the rolling features present,
    /// null or absent (missing values take each split's default direction on both paths).
    static func transactions(_ count: Int) -> String {
        var lines = ""
        var seed: UInt64 = 7
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33) % n
        }
        for i in 0..<count {
            var fields = [
                "\"transaction_id\": \"t\(i)\"", "\"age\": \(18 + next(60))", "\"gender_code\": \(next(3))",
                "\"location\": \(next(50))", "\"subscription_type_code\": \(next(4))", "\"tenure_months\": \(next(120))",
                "\"income_bracket_code\": \(next(5))", "\"event_created_at_ts\": \(1_717_200_000 + next(5_000_000))",
                "\"transaction_value\": \(Double(next(200_000)) / 100)", "\"channel_code\": \(next(4))",
            ]
            switch i % 3 {
            case 0:
                fields += ["\"txn_count_1h\": \(next(6))", "\"txn_sum_1h\": \(Double(next(90_000)) / 100)",
                           "\"txn_count_24h\": \(next(30))", "\"txn_sum_24h\": \(Double(next(400_000)) / 100)",
                           "\"secs_since_prev_txn\": \(next(86_400))"]
            case 1:
                fields += ["\"txn_count_1h\": null", "\"secs_since_prev_txn\": null"]
            default:
                break
            }
            lines += "{" + fields.joined(separator: ", ") + "}\n"
        }
        return lines
    }

    /// Runs file → feature_scaler → `scorer` → file and returns the output records by transaction id.
    static func run(_ scorer: String, input: String, dir: String, name: String) async throws -> (RunSummary, [String: Record]) {
        let text = """
            {"name": "\(name)", "source": {"type": "file", "path": "\(input)", "batch": {"max_events": 100}},
             "transforms": [{"type": "feature_scaler", "bundle": "\(TestPaths.bundle)"}, \(scorer)],
             "sinks": [{"type": "file", "path": "\(dir)/\(name).jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/\(name)-dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/\(name)-cp"}}
            """
        // Credentials only so that requests can be signed; the model server does not check them.
        let env = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1"]
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "\(name).json", registry: BuiltinPlugins.registry, environment: env)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let summary = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: env).run()
        let data = try #require(FileManager.default.contents(atPath: "\(dir)/\(name).jsonl"))
        let parser = RecordParser()
        var records: [String: Record] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            records[try #require(r["transaction_id"]?.stringValue)] = r
        }
        return (summary, records)
    }

    /// JSON rows of named raw fields (the server assembles and scales them), and CSV rows of the scaled vector.
    @Test(arguments: ["json", "csv"])
    func scoresEqualTheLocalModelsOnTheSameRows(format: String) async throws {
        let dir = TestPaths.scratch()
        let input = dir + "/in.jsonl"
        let rows = 400
        _ = FileManager.default.createFile(atPath: input, contents: Data(Self.transactions(rows).utf8))
        let (localSummary, local) = try await Self.run(#"{"type": "local_model", "bundle": "\#(TestPaths.bundle)"}"#, input: input, dir: dir, name: "local")
        #expect(localSummary.deadLettered == 0)
        #expect(local.count == rows)

        try await withServer { port, _ in
            let scorer = """
                {"type": "sagemaker", "endpoint_name": "fraud-scoring", "endpoint_url": "http://127.0.0.1:\(port)",
                 "format": "\(format)", "rows_per_request": 37, "max_in_flight": 3, "threshold": \(sharedBundle.alertThreshold)}
                """
            let (summary, remote) = try await Self.run(scorer, input: input, dir: dir, name: "sagemaker-\(format)")
            #expect(summary.deadLettered == 0)
            #expect(remote.count == rows)
            var mismatches: [String] = []
            for (id, l) in local {
                guard let r = remote[id] else { mismatches.append("\(id): not scored"); continue }
                // Both scores are a Float32 written as a double; they must be the same number, not merely close.
                if r["fraud_score"]?.doubleValue != l["fraud_score"]?.doubleValue || r["is_alert"] != l["is_alert"] {
                    mismatches.append("\(id): sagemaker \(r["fraud_score"] ?? .null), local_model \(l["fraud_score"] ?? .null)")
                }
                #expect(r["scorer_fallback_reason"] == nil)
            }
            #expect(mismatches.isEmpty, "\(mismatches.count) of \(rows) rows differ: \(mismatches.prefix(5))")
            // The server names the bundle's version in JSON replies; a CSV reply carries scores only.
            let versions = Set(remote.values.compactMap { $0["model_version"]?.stringValue })
            #expect(versions == [format == "json" ? "v1" : "sagemaker:fraud-scoring"])
            let scores = Set(local.values.compactMap { $0["fraud_score"]?.doubleValue })
            #expect(scores.count > rows / 2, "the rows should not all score alike")
            #expect(local.values.contains { $0["is_alert"] == .bool(true) } && local.values.contains { $0["is_alert"] == .bool(false) })
        }
    }
}

/// Explained alerts with the SageMaker backend: the endpoint's reasons (the model server, asked through
/// CustomAttributes), and reasons from a local bundle when the endpoint gives none, both equal to local_model's.
@Suite struct SageMakerExplanationTests {
    static func alertsReasons(_ records: [String: Record]) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (id, r) in records where r["is_alert"] == .bool(true) { out[id] = r["top_features"] ?? .null }
        return out
    }

    static func compare(_ remote: [String: Record], _ local: [String: Record]) -> [String] {
        var mismatches: [String] = []
        for (id, l) in local {
            guard let r = remote[id] else { mismatches.append("\(id): not scored"); continue }
            if r["top_features"] != l["top_features"] {
                mismatches.append("\(id): sagemaker \(r["top_features"] ?? .null), local_model \(l["top_features"] ?? .null)")
            }
        }
        return mismatches
    }

    @Test(arguments: ["json", "csv"])
    func theEndpointsReasonsEqualLocalModels(format: String) async throws {
        let dir = TestPaths.scratch()
        let input = dir + "/in.jsonl"
        _ = FileManager.default.createFile(atPath: input, contents: Data(SageMakerEndToEndTests.transactions(300).utf8))
        let (_, local) = try await SageMakerEndToEndTests.run(
            #"{"type": "local_model", "bundle": "\#(TestPaths.bundle)", "explain_top": 4}"#, input: input, dir: dir, name: "local")
        let explained = Self.alertsReasons(local)
        #expect(explained.count > 5, "the rows should raise alerts")
        #expect(explained.values.allSatisfy { $0.arrayValue?.count == 4 })
        try await withServer { port, _ in
            // One request at a time, with time for the first explanation to build the TreeSHAP tables (seconds
            // in a debug build): the test is about the reasons, not the server's admission control.
            let scorer = """
                {"type": "sagemaker", "endpoint_name": "fraud-scoring", "endpoint_url": "http://127.0.0.1:\(port)",
                 "format": "\(format)", "rows_per_request": 37, "threshold": \(sharedBundle.alertThreshold), "explain_top": 4,
                 "max_in_flight": 1, "timeout": "30s"}
                """
            let (summary, remote) = try await SageMakerEndToEndTests.run(scorer, input: input, dir: dir, name: "sagemaker-\(format)")
            #expect(summary.deadLettered == 0)
            let mismatches = Self.compare(remote, local)
            #expect(mismatches.isEmpty, "\(mismatches.count) rows differ: \(mismatches.prefix(3))")
            #expect(remote.values.filter { $0["top_features"] != nil }.count == explained.count)
        }
    }

    /// An endpoint that only scores (as the built-in XGBoost container does): reasons from explain_bundle.
    @Test func reasonsComeFromTheLocalBundleWhenTheEndpointGivesNone() async throws {
        let dir = TestPaths.scratch()
        let input = dir + "/in.jsonl"
        _ = FileManager.default.createFile(atPath: input, contents: Data(SageMakerEndToEndTests.transactions(200).utf8))
        let (_, local) = try await SageMakerEndToEndTests.run(
            #"{"type": "local_model", "bundle": "\#(TestPaths.bundle)", "explain_top": 3}"#, input: input, dir: dir, name: "local")
        // An endpoint in the built-in XGBoost container's manner: CSV rows in, {"predictions": [{"score"}]} out,
        // CustomAttributes ignored.
        let model = sharedBundle.model
        let container = try FakeHTTPServer { request in
            let rows = String(decoding: request.body, as: UTF8.self).split(separator: "\n")
            let scores = rows.map { row -> String in
                let x = row.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) ?? .nan }
                return #"{"score": \#(Double(model.predict(x)))}"#
            }
            return .respond(status: 200, headers: [("Content-Type", "application/json")],
                            body: Array(#"{"predictions": [\#(scores.joined(separator: ","))]}"#.utf8))
        }
        defer { container.stop() }
        let scorer = """
            {"type": "sagemaker", "endpoint_name": "fraud-scoring", "endpoint_url": "\(container.url)",
             "format": "csv", "rows_per_request": 50, "threshold": \(sharedBundle.alertThreshold), "explain_top": 3,
             "explain_bundle": "\(TestPaths.bundle)"}
            """
        let (summary, remote) = try await SageMakerEndToEndTests.run(scorer, input: input, dir: dir, name: "fallback-reasons")
        #expect(summary.deadLettered == 0)
        // It asked (the container ignored it), in JSON.
        #expect(container.requests.allSatisfy { $0.header("x-amzn-sagemaker-custom-attributes") == "explain_top=3,explain_threshold=\(sharedBundle.alertThreshold)" })
        #expect(container.requests.allSatisfy { $0.header("accept") == "application/json" })
        let mismatches = Self.compare(remote, local)
        #expect(mismatches.isEmpty, "\(mismatches.count) rows differ: \(mismatches.prefix(3))")
        #expect(!Self.alertsReasons(remote).isEmpty)
    }

    @Test func theServerExplainsOnlyOnRequestAndOnlyInJSON() async throws {
        try await withServer { port, _ in
            let row = "{" + SageMakerEndToEndTests.transactions(1).dropFirst().dropLast(2) + "}"
            func post(_ attributes: String?, accept: String = "application/json") async throws -> HTTPReply {
                var headers = [("Content-Type", "application/json"), ("Accept", accept)]
                if let attributes { headers.append(("X-Amzn-SageMaker-Custom-Attributes", attributes)) }
                return try await RawHTTP.request(port: port, path: "/invocations", headers: headers, body: Array(row.utf8))
            }
            let plain = try await post(nil)
            #expect(plain.status == 200)
            #expect(!plain.text.contains("top_features"))
            // Threshold 0: the row is explained whatever its score.
            let explained = try await post("trace=abc; explain_top=3; explain_threshold=0")
            #expect(explained.status == 200)
            let value = try DocumentParser.parseValue(Array(explained.text.utf8))
            #expect(value["top_features"]?.arrayValue?.count == 3, "\(explained.text)")
            #expect(value["fraud_score"] == (try DocumentParser.parseValue(Array(plain.text.utf8)))["fraud_score"])
            // Above the row's score: not explained, and nothing paid.
            let high = try await post("explain_top=3,explain_threshold=1.1")
            #expect(!high.text.contains("top_features"))
            let csv = try await post("explain_top=3", accept: "text/csv")
            #expect(csv.status == 406)
            #expect(csv.text.contains("explanations (explain_top) come in JSON replies"))
            let bad = try await post("explain_top=lots")
            #expect(bad.status == 400)
            #expect(bad.text.contains("explain_top must be a whole number from 0 to 50"))
        }
    }
}
