import AWSCore
import BuiltinPlugins
import Foundation
import Logging
import ModelCore
import PipelineHost
import Testing
import TestSupport

/// Model bundles read from a versioned S3 prefix (moto), against the same bundle read from models/v1.
@Suite(.serialized, .motoServer()) struct ModelBundleS3Tests {
    static let files = ["manifest.json", "model.json", "scaler.json"]
    static let local = try! ModelBundle(directory: TestFiles.path("models/v1"))

    /// Fixed test credentials and the moto endpoint through the variable `variable`, as a deployment would set it.
    func environment(_ moto: MotoServer, variable: String = "AWS_ENDPOINT_URL_S3") -> [String: String] {
        ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1", variable: moto.endpoint]
    }

    /// Creates `bucket` and uploads `files` of models/v1 under `prefix` with the project's own S3 client.
    func upload(_ moto: MotoServer, bucket: String, prefix: String, files: [String] = Self.files) async throws {
        let s3 = try S3Client(client: moto.makeClient(), endpointURL: moto.endpoint)
        try await s3.createBucket(bucket)
        for file in files {
            let data = try #require(FileManager.default.contents(atPath: TestFiles.path("models/v1/" + file)))
            try await s3.putObject(bucket: bucket, key: prefix + file, body: Array(data), contentType: "application/json")
        }
    }

    /// The parity fixture's rows, scaled by `bundle`.
    func scaledRows(_ bundle: ModelBundle) throws -> [[Float]] {
        let assembler = FeatureAssembler(names: bundle.features)
        let parser = RecordParser()
        return try TestFiles.lines(TestFiles.path("Tests/Fixtures/xgb-parity.jsonl")).map { line in
            let row = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            return bundle.scaler.transform(try assembler.raw { row["raw"]?[$0] })
        }
    }

    @Test func bundleFromS3PredictsExactlyAsTheLocalOne() async throws {
        let moto = try await freshMoto()
        try await upload(moto, bucket: "fraud-models", prefix: "fraud/v1/")
        for url in ["s3://fraud-models/fraud/v1/", "s3://fraud-models/fraud/v1"] {
            let remote = try await ModelBundle.load(url, environment: environment(moto))
            #expect(remote.location == "s3://fraud-models/fraud/v1/")
            #expect(remote.version == Self.local.version)
            #expect(remote.features == Self.local.features)
            #expect(remote.alertThreshold == Self.local.alertThreshold)
            #expect(remote.model.treeCount == Self.local.model.treeCount)
            let localRows = try scaledRows(Self.local), remoteRows = try scaledRows(remote)
            try #require(localRows.count >= 200)
            var mismatches = 0
            for (l, r) in zip(localRows, remoteRows) {
                let same = zip(l, r).allSatisfy { $0.bitPattern == $1.bitPattern }
                if !same || Self.local.model.margin(l).bitPattern != remote.model.margin(r).bitPattern { mismatches += 1 }
            }
            #expect(mismatches == 0, "\(url): scaled rows and margins must be bitwise equal to the local bundle's")
        }
    }

    @Test func missingFileOrBucketNamesTheURLAndTheAWSCode() async throws {
        let moto = try await freshMoto()
        try await upload(moto, bucket: "fraud-models", prefix: "fraud/v2/", files: ["model.json", "scaler.json"])
        let env = environment(moto)
        do {
            _ = try await ModelBundle.load("s3://fraud-models/fraud/v2/", environment: env)
            Issue.record("a bundle without manifest.json loaded")
        } catch {
            let text = "\(error)"
            #expect(text.contains("s3://fraud-models/fraud/v2/manifest.json"), "\(text)")
            #expect(text.contains("manifest.json is missing") && text.contains("NoSuchKey"), "\(text)")
            #expect(!text.contains("test-secret"))
        }
        do {
            _ = try await ModelBundle.load("s3://no-such-bucket/fraud/v1/", environment: env)
            Issue.record("a bundle in a missing bucket loaded")
        } catch {
            let text = "\(error)"
            #expect(text.contains("s3://no-such-bucket/fraud/v1/manifest.json") && text.contains("NoSuchBucket"), "\(text)")
        }
        #expect(throws: PipelineError.self) { try S3BundleLocation(url: "s3:///fraud/v1/") }
    }

    /// feature_scaler and local_model with an s3:// bundle score a file exactly as with models/v1.
    @Test func pluginsReadTheBundleFromS3AtStart() async throws {
        let moto = try await freshMoto()
        try await upload(moto, bucket: "fraud-models", prefix: "fraud/v1/")
        let dir = TestFiles.scratch("s3bundle")
        var lines = ""
        for i in 0..<300 {
            lines += #"{"transaction_id": "t\#(i)", "age": \#(18 + i % 60), "gender_code": \#(i % 3), "location": \#(i % 50), "tenure_months": \#(i % 40), "event_created_at_ts": \#(1718500000 + i * 977), "transaction_value": \#(Double(i % 500) * 1.37), "channel_code": \#(i % 4), "txn_count_1h": \#(i % 5)}"# + "\n"
        }
        TestFiles.write(lines, to: dir + "/in.jsonl")
        func run(bundle: String, output: String, env: [String: String]) async throws -> [Double] {
            let text = """
                {"name": "s3bundle", "source": {"type": "file", "path": "\(dir)/in.jsonl", "batch": {"max_events": 64}},
                 "transforms": [{"type": "feature_scaler", "bundle": "\(bundle)"}, {"type": "local_model", "bundle": "\(bundle)"}],
                 "sinks": [{"type": "file", "path": "\(dir)/\(output).jsonl"}],
                 "dead_letter": {"type": "file", "path": "\(dir)/\(output)-dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/\(output)-cp"}}
                """
            let spec = try PipelineSpec.parse(Array(text.utf8), file: "s3bundle.json", registry: BuiltinPlugins.registry, environment: env)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            let summary = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: env).run()
            #expect(summary.deadLettered == 0)
            let parser = RecordParser()
            return try TestFiles.lines(dir + "/\(output).jsonl").map { line in
                let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
                #expect(r["model_version"] == .string("v1"))
                return try #require(r["fraud_score"]?.doubleValue)
            }
        }
        // AWS_ENDPOINT_URL (all services) here; the loader test above uses AWS_ENDPOINT_URL_S3.
        let env = environment(moto, variable: "AWS_ENDPOINT_URL")
        let fromS3 = try await run(bundle: "s3://fraud-models/fraud/v1/", output: "s3", env: env)
        let fromDisk = try await run(bundle: TestFiles.path("models/v1"), output: "local", env: env)
        #expect(fromS3.count == 300)
        #expect(fromS3 == fromDisk)
        #expect(Set(fromS3).count > 50, "the rows should not all score alike")

        // A missing bundle fails the run at start-up with the URL of the missing file.
        do {
            _ = try await run(bundle: "s3://fraud-models/fraud/v9/", output: "missing", env: env)
            Issue.record("a pipeline with a missing S3 bundle ran")
        } catch {
            #expect("\(error)".contains("s3://fraud-models/fraud/v9/manifest.json"), "\(error)")
        }
    }

    /// An S3 bundle cannot be compared with the feature scaler before it at validation (it is read at start), so
    /// it is compared once loaded: a scorer whose S3 bundle scales otherwise stops the run before any record.
    @Test func anS3BundleThatScalesOtherwiseIsRefusedAtStart() async throws {
        let moto = try await freshMoto()
        let dir = TestFiles.scratch("s3bundle-agreement")
        let shifted = try BundleAgreementTests.copyOfV1(dir + "/shifted", shifted: true)
        let s3 = try S3Client(client: moto.makeClient(), endpointURL: moto.endpoint)
        try await s3.createBucket("fraud-models")
        for file in Self.files {
            let data = try #require(FileManager.default.contents(atPath: shifted + "/" + file))
            try await s3.putObject(bucket: "fraud-models", key: "fraud/v1-shifted/" + file, body: Array(data), contentType: "application/json")
        }
        let text = """
            {"name": "s3agreement", "source": {"type": "file", "path": "\(TestFiles.path("samples/transactions.jsonl.gz"))"},
             "transforms": [{"type": "feature_scaler", "id": "scale", "bundle": "\(TestFiles.path("models/v1"))"},
                            {"type": "local_model", "id": "score", "bundle": "s3://fraud-models/fraud/v1-shifted/"}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let env = environment(moto)
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "s3agreement.json", registry: BuiltinPlugins.registry, environment: env)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        do {
            let summary = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: env).run()
            Issue.record("a scorer whose S3 bundle scales otherwise ran: \(summary.recordsIn) records")
        } catch {
            #expect("\(error)".contains("features or scaling differ") && "\(error)".contains("s3://fraud-models/fraud/v1-shifted/"), "\(error)")
        }
        #expect(TestFiles.lines(dir + "/out.jsonl").isEmpty && TestFiles.lines(dir + "/dlq.jsonl").isEmpty, "records were read before the refusal")
    }
}
