import AWSCore
import DynamoBroadcast
import FileSink
import Foundation
import KinesisSource
import Logging
import PipelineHost
import RollingAggregates
import S3Sink
import SNSSink
import SlackSink
import Testing
import TestSupport

/// The whole alerting path with one request in ten broken between the host and every service it calls:
/// Kinesis and its DynamoDB lease table, the DynamoDB reference table and its stream, S3, SNS and Slack, each
/// behind a fault proxy answering 429, 500, a reset connection or a 2 s stall at random (seeded).
/// Nothing may be lost, nothing dead-lettered (no fault is permanent), and the run must end cleanly.
@Suite(.serialized, .motoServer())
struct FaultInjectionTests {
    static let registry = PluginRegistry([
        .source(KinesisSource.self), .transform(DynamoBroadcast.self), .transform(RollingAggregates.self),
        .sink(S3Sink.self), .sink(SNSSink.self), .sink(SlackSink.self), .sink(FileSink.self),
    ])
    static let environment = [
        "AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1",
        "SLACK_BOT_TOKEN": "xoxb-fault-test-token", "PIPELINE_HOST_ALLOW_HTTP_LOOPBACK": "1",
    ]

    @Test func tenPercentFaultsOnEveryAWSAndSlackCallLoseNothing() async throws {
        let moto = try await freshMoto()
        let client = moto.makeClient()
        let kinesis = try JSONProtocolClient.kinesis(client, endpointURL: moto.endpoint)
        let dynamo = try JSONProtocolClient.dynamoDB(client, endpointURL: moto.endpoint)
        let s3 = try S3Client(client: client, endpointURL: moto.endpoint)
        let sns = try QueryProtocolClient.sns(client, endpointURL: moto.endpoint)
        let sqs = try JSONProtocolClient(client: client, service: .sqs, targetPrefix: "AmazonSQS", version: .v1_0, endpointURL: moto.endpoint)

        _ = try await dynamo.call("CreateTable", .object([
            ("TableName", "users"), ("BillingMode", "PAY_PER_REQUEST"),
            ("AttributeDefinitions", [["AttributeName": "user_id", "AttributeType": "S"]]),
            ("KeySchema", [["AttributeName": "user_id", "KeyType": "HASH"]]),
            ("StreamSpecification", ["StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"]),
        ]))
        for u in 0..<50 {
            _ = try await dynamo.call("PutItem", .object([("TableName", "users"), ("Item", .object([
                ("user_id", ["S": .string("user-\(u)")]), ("segment", ["N": .string(String(u % 7))]),
            ]))]))
        }
        _ = try await kinesis.call("CreateStream", ["StreamName": "tx", "ShardCount": 2])
        let count = 1500
        let alertEvery = 25
        func id(_ i: Int) -> String { "tx-\(String(format: "%06d", i))" }
        for start in stride(from: 0, to: count, by: 500) {
            let entries: [JSONValue] = (start..<min(count, start + 500)).map { i in
                let json = #"{"transaction_id":"\#(id(i))","user_id":"user-\#(i % 50)","transaction_value":\#(Double(i % 300) + 0.5),"event_created_at_ts":\#(1_715_936_400 + i),"is_alert":\#(i % alertEvery == 0),"fraud_score":0.9,"model_version":"v1","variant":"local"}"#
                return .object([("PartitionKey", .string("user-\(i % 50)")), ("Data", .string(Data(json.utf8).base64EncodedString()))])
            }
            _ = try await kinesis.call("PutRecords", .object([("StreamName", "tx"), ("Records", .array(entries))]))
        }
        try await s3.createBucket("scored")
        let (topic, queueURL) = try await AWSReadBack.topicWithQueue("alerts", sns: sns, sqs: sqs)

        let slack = try FakeSlack()
        defer { slack.stop() }
        let awsProxy = try FaultProxy(upstreamPort: moto.port, schedule: .random(rate: 0.1, seed: 20261125))
        let slackProxy = try FaultProxy(upstreamPort: slack.server.port, schedule: .random(rate: 0.1, seed: 7))
        defer { awsProxy.stop(); slackProxy.stop() }

        let dir = NSTemporaryDirectory() + "faults-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let retry = #"{"max_attempts": 12, "initial_backoff": "20ms", "max_backoff": "500ms"}"#
        let endpoint = awsProxy.url
        let spec = """
            {"name": "faults", "checkpoint": {"dir": "\(dir)/cp", "interval": "300ms"},
             "source": {"type": "kinesis", "stream_name": "tx", "endpoint_url": "\(endpoint)", "max_records_per_call": 100, "retry": \(retry),
                        "leases": {"table": "fault-leases", "worker_id": "w1", "failover_time": "10s", "endpoint_url": "\(endpoint)"}},
             "transforms": [
               {"type": "dynamo_broadcast", "table": "users", "endpoint_url": "\(endpoint)", "fields": ["segment"], "poll_interval": "200ms"},
               {"type": "rolling_aggregates"}
             ],
             "sinks": [
               {"type": "s3", "id": "scored", "bucket": "scored", "endpoint_url": "\(endpoint)", "batch": {"max_events": 200}, "retry": \(retry)},
               {"type": "sns", "id": "alerts", "topic_arn": "\(topic)", "endpoint_url": "\(endpoint)", "retry": \(retry), "when": {"field": "is_alert", "equals": true}},
               {"type": "slack", "id": "slack", "mode": "chat_post_message", "channel": "C1", "token_env": "SLACK_BOT_TOKEN",
                "api_url": "\(slackProxy.url)/api", "rate": 100, "burst": 100, "storm_threshold": 100000, "when": {"field": "is_alert", "equals": true}}
             ],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}}
            """
        let parsed = try PipelineSpec.parse(Array(spec.utf8), file: "faults.json", registry: Self.registry, environment: Self.environment)
        var logger = Logger(label: "faults")
        logger.logLevel = .error
        let stop = StopSignal()
        let runner = PipelineRunner(spec: parsed, registry: Self.registry, logger: logger, environment: Self.environment, stop: stop)
        let run = Task { try await runner.run() }

        let alerts = (0..<count).filter { $0 % alertEvery == 0 }.map(id)
        func scored() async throws -> [String: Int] {
            var seen: [String: Int] = [:]
            for lines in try await AWSReadBack.objects(s3, bucket: "scored", prefix: "").values {
                for line in lines {
                    if let t = (try? DocumentParser.parseValue(Array(line.utf8)))?["transaction_id"]?.stringValue { seen[t, default: 0] += 1 }
                }
            }
            return seen
        }
        func postedToSlack() -> Set<String> {
            var ids = Set<String>()
            for p in slack.requests {
                let text = p.body.description
                for a in alerts where text.contains("\"\(a)") || text.contains(" \(a)") || text.contains("`\(a)`") { ids.insert(a) }
            }
            return ids
        }
        let deadline = ContinuousClock.now + .seconds(180)
        while true {
            let done = try await scored().count == count && postedToSlack().count == alerts.count
            if done { break }
            if ContinuousClock.now > deadline {
                Issue.record("not everything arrived within 180 s: \(try await scored().count) of \(count) in S3, \(postedToSlack().count) of \(alerts.count) in Slack")
                break
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        try await Task.sleep(for: .milliseconds(800))
        stop.stop()
        let summary = try await run.value

        let seen = try await scored()
        #expect(seen.count == count, "\(count - seen.count) records missing from S3")
        #expect(postedToSlack().count == alerts.count)
        let viaSNS = Set(try await AWSReadBack.queueBodies(sqs, url: queueURL).compactMap {
            (try? DocumentParser.parseValue(Array($0.utf8)))?["transaction_id"]?.stringValue
        })
        #expect(viaSNS == Set(alerts), "\(alerts.count - viaSNS.count) alerts missing from SNS")
        let dlq = (try? String(contentsOfFile: dir + "/dlq.jsonl", encoding: .utf8)) ?? ""
        #expect(dlq.isEmpty, "transient faults must not dead-letter: \(dlq.prefix(500))")
        #expect(summary.deadLettered == 0)
        for fault in FaultProxy.Fault.allCases {
            #expect(awsProxy.faults[fault, default: 0] >= 1, "\(fault) injected on AWS calls")
            #expect(slackProxy.faults[fault, default: 0] >= 1, "\(fault) injected on Slack calls")
        }
        // The secret must not leak into anything the run wrote.
        // Every file below the run's directory (subdirectories included), read as bytes. (Checkpoints are in the
        // lease table here, which the SNS and S3 read-backs above cover with the records.)
        let written = FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? []
        #expect(!written.isEmpty)
        let token = Array("xoxb-fault-test-token".utf8)
        for f in written {
            guard let data = FileManager.default.contents(atPath: dir + "/" + f) else { continue }
            #expect(!Array(data).contains(token), "the Slack token is in \(f)")
        }
        print("fault injection: AWS \(awsProxy.requests) requests, injected \(awsProxy.faults.map { "\($0.key)=\($0.value)" }.sorted()); "
              + "Slack \(slackProxy.requests) requests, injected \(slackProxy.faults.map { "\($0.key)=\($0.value)" }.sorted()); "
              + "\(seen.count) records in S3 (\(seen.values.filter { $0 > 1 }.count) duplicated), \(viaSNS.count) alerts via SNS, \(postedToSlack().count) in Slack")
    }
}
