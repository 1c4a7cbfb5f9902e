import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing
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
        FileManager.default.createFile(atPath: input, contents: Data(Self.transactions(rows).utf8))
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
