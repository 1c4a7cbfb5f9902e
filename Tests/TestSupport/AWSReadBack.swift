import AWSCore
import Foundation
import PipelineHost
import Testing

/// Reading back what a pipeline wrote to AWS (S3 objects, SNS messages through SQS), shared by the suites that run
/// pipelines against moto.
public enum AWSReadBack {
    /// An SNS topic with an SQS queue subscribed (raw delivery), to read published messages back.
    public static func topicWithQueue(_ name: String, sns: QueryProtocolClient, sqs: JSONProtocolClient) async throws
        -> (topicARN: String, queueURL: String)
    {
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

    /// The body of every message in the queue (raw SNS deliveries: each is a record's JSON). Reads until three
    /// receives in a row (each waiting a second) come back empty: one empty receive does not prove the queue is
    /// drained on a loaded machine. Messages stay invisible for 10 minutes, so none is read twice.
    public static func queueBodies(_ sqs: JSONProtocolClient, url: String) async throws -> [String] {
        var bodies: [String] = []
        var empty = 0
        for _ in 0..<100_000 {
            let request: JSONValue = ["QueueUrl": .string(url), "MaxNumberOfMessages": 10, "VisibilityTimeout": 600,
                                      "WaitTimeSeconds": empty > 0 ? 1 : 0]
            let messages = try await sqs.call("ReceiveMessage", request)["Messages"]?.arrayValue ?? []
            if messages.isEmpty {
                empty += 1
                if empty >= 3 { return bodies }
                continue
            }
            empty = 0
            bodies += messages.compactMap { $0["Body"]?.stringValue }
        }
        Issue.record("the queue did not run empty after 100,000 receives")
        return bodies
    }

    /// Every object under `prefix`, gunzipped: key → lines.
    public static func objects(_ s3: S3Client, bucket: String, prefix: String) async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        var token: String?
        repeat {
            let page = try await s3.listObjectsV2(bucket: bucket, prefix: prefix, continuationToken: token)
            for o in page.objects {
                out[o.key] = try gunzipLines(try await s3.getObject(bucket: bucket, key: o.key).body)
            }
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
        return out
    }

    /// gunzip through the project's ByteReader (it reads .gz files).
    public static func gunzipLines(_ gz: [UInt8]) throws -> [String] {
        let path = NSTemporaryDirectory() + "obj-\(UUID().uuidString).json.gz"
        _ = FileManager.default.createFile(atPath: path, contents: Data(gz))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try readLines(path: path)
    }

    /// The lines of a file read through the project's ByteReader (.gz decompressed; stops with an error at a
    /// damaged gzip member).
    public static func readLines(path: String) throws -> [String] {
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

    /// Polls until `condition` holds, failing the test after `seconds`.
    public static func waitFor(_ what: String, seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try await !condition() {
            try #require(ContinuousClock.now < deadline, "timed out after \(seconds) s waiting for \(what)")
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
