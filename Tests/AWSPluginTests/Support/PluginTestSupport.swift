import AWSCore
import FileSink
import FileSource
import Foundation
import KinesisSource
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

    /// An SNS topic with an SQS queue subscribed (raw delivery), to read published messages back.
    func topicWithQueue(_ name: String) async throws -> (topicARN: String, queueURL: String) {
        let topic = try #require(try await sns.call("CreateTopic", [("Name", name)]).string("TopicArn"))
        let queueURL = try #require(try await sqs.call("CreateQueue", ["QueueName": .string("\(name)-q")])["QueueUrl"]?.stringValue)
        let queueARN = try #require(try await sqs.call(
            "GetQueueAttributes", ["QueueUrl": .string(queueURL), "AttributeNames": ["QueueArn"]])["Attributes"]?["QueueArn"]?.stringValue)
        _ = try await sns.call("Subscribe", [
            ("TopicArn", topic), ("Protocol", "sqs"), ("Endpoint", queueARN),
            ("Attributes.entry.1.key", "RawMessageDelivery"), ("Attributes.entry.1.value", "true"),
        ])
        return (topic, queueURL)
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
        var out: [String: [String]] = [:]
        var token: String?
        repeat {
            let page = try await s3.listObjectsV2(bucket: bucket, prefix: prefix, continuationToken: token)
            for o in page.objects {
                let body = try await s3.getObject(bucket: bucket, key: o.key).body
                out[o.key] = try Gunzip.lines(body)
            }
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
        return out
    }
}

/// gunzip through the project's ByteReader (it reads .gz files).
enum Gunzip {
    static func lines(_ gz: [UInt8]) throws -> [String] {
        let path = NSTemporaryDirectory() + "obj-\(UUID().uuidString).json.gz"
        _ = FileManager.default.createFile(atPath: path, contents: Data(gz))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reader = try ByteReader(path: path)
        var all: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress!, count: $0.count) }
            if n == 0 { break }
            all.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: all, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// A field of a JSON line, for counting.
func field(_ line: String, _ name: String) -> JSONValue? {
    guard let fields = try? RecordParser().parse(Array(line.utf8)) else { return nil }
    return Record(fields: fields)[name]
}
