import AWSCore
import FileSink
import FileSource
import Foundation
@testable import KinesisSource
import Logging
import PipelineHost
import RollingAggregates
import S3Sink
import SNSSink
import Testing
import TestSupport

/// The plugins these tests run, registered as the host would.
enum TestRegistry {
    static let registry = PluginRegistry([
        .source(KinesisSource.self), .source(FileSource.self), .transform(RollingAggregates.self),
        .sink(S3Sink.self), .sink(SNSSink.self), .sink(FileSink.self),
    ])

    /// What the plugins see as the process environment: fixed test credentials, nothing from the real one.
    static let environment = ["AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"]
}

/// A pipeline run in-process, with its checkpoint and dead-letter files in a scratch directory.
struct PipelineHarness {
    let dir: String

    init(_ name: String) {
        dir = NSTemporaryDirectory() + "awsplugins-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    var checkpointPath: String { dir + "/cp/checkpoint.json" }
    var deadLetterPath: String { dir + "/dlq.jsonl" }

    @discardableResult
    func run(_ body: String, interval: String = "1h", stop: StopSignal = StopSignal()) async throws -> RunSummary {
        let text = #"{"name": "t", "checkpoint": {"dir": "\#(dir)/cp", "interval": "\#(interval)"}, "dead_letter": {"type": "file", "path": "\#(deadLetterPath)"}, \#(body)}"#
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: TestRegistry.environment)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await PipelineRunner(spec: spec, registry: TestRegistry.registry, logger: logger,
                                        environment: TestRegistry.environment, stop: stop).run()
    }

    func checkpoint() throws -> Checkpoint {
        let bytes = try #require(FileManager.default.contents(atPath: checkpointPath))
        return try Checkpoint(json: DocumentParser.parseValue(Array(bytes)))
    }

    func deadLetters() -> [Record] {
        lines(deadLetterPath).compactMap { line in (try? RecordParser().parse(Array(line.utf8))).flatMap { $0.map { Record(fields: $0) } } }
    }

    func lines(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// Direct AWS calls the tests make to set things up and read results back.
struct AWSFixture {
    let client: AWSClient
    let endpoint: String

    init(_ moto: MotoServer) {
        client = moto.makeClient()
        endpoint = moto.endpoint
    }

    var kinesis: JSONProtocolClient { try! .kinesis(client, endpointURL: endpoint) }
    var s3: S3Client { try! S3Client(client: client, endpointURL: endpoint) }
    var sns: QueryProtocolClient { try! .sns(client, endpointURL: endpoint) }
    var sqs: JSONProtocolClient {
        try! JSONProtocolClient(client: client, service: .sqs, targetPrefix: "AmazonSQS", version: .v1_0, endpointURL: endpoint)
    }

    func createStream(_ name: String, shards: Int) async throws -> [String] {
        _ = try await kinesis.call("CreateStream", ["StreamName": .string(name), "ShardCount": .int(Int64(shards))])
        let listed = try await kinesis.call("ListShards", ["StreamName": .string(name)])
        return listed["Shards"]?.arrayValue?.compactMap { $0["ShardId"]?.stringValue } ?? []
    }

    func topicWithQueue(_ name: String) async throws -> (topicARN: String, queueURL: String) {
        try await AWSReadBack.topicWithQueue(name, sns: sns, sqs: sqs)
    }

    /// PutRecords in calls of 500; each payload is one JSON line.
    func put(_ stream: String, _ records: [(key: String, json: String)]) async throws {
        for start in stride(from: 0, to: records.count, by: 500) {
            let chunk = records[start..<min(records.count, start + 500)]
            let entries: [JSONValue] = chunk.map {
                .object([("PartitionKey", .string($0.key)), ("Data", .string(Data($0.json.utf8).base64EncodedString()))])
            }
            let reply = try await kinesis.call("PutRecords", .object([("StreamName", .string(stream)), ("Records", .array(entries))]))
            #expect(reply["FailedRecordCount"]?.intValue ?? 0 == 0)
        }
    }

    /// Every object under `prefix`, gunzipped: key → lines.
    func objects(bucket: String, prefix: String) async throws -> [String: [String]] {
        try await AWSReadBack.objects(s3, bucket: bucket, prefix: prefix)
    }
}

/// A field of a JSON line, for counting.
func field(_ line: String, _ name: String) -> JSONValue? {
    guard let fields = try? RecordParser().parse(Array(line.utf8)) else { return nil }
    return Record(fields: fields)[name]
}

extension LeaseTable {
    /// Waits until every one of `count` leases was renewed three more times by an unchanged owner. A host a lease
    /// was stolen from reads on until its next renewal fails; renewals run every failover_time / 3 on every host,
    /// so after three rounds of the new owner's the old owner has had its failed renewal too, however loaded the
    /// machine is.
    func waitUntilSettled(count: Int) async throws {
        let balanced = try await scan()
        try await AWSReadBack.waitFor("three more renewals of every lease") {
            let now = (try? await scan()) ?? []
            return now.count == count && now.allSatisfy { l in
                guard let before = balanced.first(where: { $0.key == l.key }) else { return false }
                return l.owner == before.owner && l.counter >= before.counter + 3
            }
        }
    }
}
