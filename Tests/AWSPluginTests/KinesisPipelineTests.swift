import AWSCore
import Foundation
import PipelineHost
import Testing
import TestSupport

@testable import KinesisSource

/// kinesis → s3 + sns end to end against moto_server, in-process with PipelineRunner.
@Suite(.serialized, .motoServer())
struct KinesisPipelineTests {
    /// 2024-05-17T09:00:00Z; records spread over three hours.
    static let base: Int64 = 1_715_936_400

    static func transactions(_ range: Range<Int>) -> [(key: String, json: String)] {
        range.map { i in
            (key: "card-\(i % 97)",
             json: #"{"transaction_id":"t\#(i)","card_id":"card-\#(i % 97)","amount":\#(Double(i % 500) + 0.5),"event_created_at_ts":\#(base + Int64(i)),"alert":\#(i % 50 == 0)}"#)
        }
    }

    static func kinesisSource(_ moto: MotoServer, stream: String) -> String {
        #"{"type": "kinesis", "stream_name": "\#(stream)", "endpoint_url": "\#(moto.endpoint)", "stop_at_end": true, "max_records_per_call": 500}"#
    }

    @Test func tenThousandRecordsFromFourShardsLandInS3OnceAndAlertsInSNS() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let shards = try await aws.createStream("tx", shards: 4)
        #expect(shards.count == 4)
        try await aws.put("tx", Self.transactions(0..<10_000))
        try await aws.s3.createBucket("archive")
        let (topic, queueURL) = try await aws.topicWithQueue("alerts")

        let harness = PipelineHarness("fanout")
        let started = ContinuousClock.now
        let summary = try await harness.run("""
            "source": \(Self.kinesisSource(moto, stream: "tx")),
            "sinks": [
              {"type": "s3", "id": "archive", "bucket": "archive", "prefix": "tx", "endpoint_url": "\(moto.endpoint)", "batch": {"max_events": 1000}},
              {"type": "sns", "id": "alerts", "topic_arn": "\(topic)", "endpoint_url": "\(moto.endpoint)",
               "message_attributes": {"card": "card_id", "amount": "amount"}, "when": {"field": "alert", "equals": true}}
            ]
            """)
        let elapsed = ContinuousClock.now - started
        #expect(summary.recordsIn == 10_000)
        #expect(summary.sinkOutputs["archive"] == 10_000)
        #expect(summary.sinkOutputs["alerts"] == 200)
        #expect(summary.deadLettered == 0)

        // S3: every transaction exactly once, each under the hour of its event time.
        let objects = try await aws.objects(bucket: "archive", prefix: "tx/")
        var seen: [String: Int] = [:]
        for (key, lines) in objects {
            #expect(key.hasPrefix("tx/dt=2024-05-17/hour=") && key.hasSuffix(".json.gz"), "\(key)")
            for line in lines {
                let id = try #require(field(line, "transaction_id")?.stringValue)
                seen[id, default: 0] += 1
                let ts = try #require(field(line, "event_created_at_ts")?.intValue)
                #expect(key.contains("hour=\(String(format: "%02d", 9 + (ts - Self.base) / 3600))/"))
            }
        }
        #expect(seen.count == 10_000)
        #expect(seen.values.allSatisfy { $0 == 1 })

        // The checkpoint holds one sequence number per shard.
        let cp = try harness.checkpoint()
        #expect(Set(cp.positions.keys) == Set(shards))
        #expect(cp.positions.values.allSatisfy { $0.stringValue != nil })

        // SNS → SQS (raw delivery): the 200 alerts, bodies are the records' JSON.
        var alerts = Set<String>()
        for body in try await AWSReadBack.queueBodies(aws.sqs, url: queueURL) {
            #expect(field(body, "alert") == .bool(true))
            if let id = field(body, "transaction_id")?.stringValue { alerts.insert(id) }
        }
        #expect(alerts.count == 200)
        print("kinesis→s3+sns: 10000 records in \(elapsed)")
    }

    @Test func replayFromAnOlderCheckpointOverwritesTheSameObjects() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 2)
        try await aws.s3.createBucket("archive")
        let harness = PipelineHarness("replay")
        let body = """
            "source": \(Self.kinesisSource(moto, stream: "tx")),
            "sinks": [{"type": "s3", "id": "archive", "bucket": "archive", "endpoint_url": "\(moto.endpoint)", "batch": {"max_events": 200}}]
            """

        try await aws.put("tx", Self.transactions(0..<1500))
        try await harness.run(body)
        let first = try harness.checkpoint()
        let saved = try #require(FileManager.default.contents(atPath: harness.checkpointPath))

        try await aws.put("tx", Self.transactions(1500..<3000))
        let second = try await harness.run(body)
        #expect(second.recordsIn == 1500, "resumed after the first run's positions")
        #expect(second.resumedFrom == first.id)
        let afterSecond = try await aws.objects(bucket: "archive", prefix: "")

        // The second run "crashed" after uploading but before its checkpoint: put the first checkpoint back.
        _ = FileManager.default.createFile(atPath: harness.checkpointPath, contents: saved)
        let replay = try await harness.run(body)
        #expect(replay.recordsIn == 1500)
        let afterReplay = try await aws.objects(bucket: "archive", prefix: "")
        #expect(Set(afterReplay.keys) == Set(afterSecond.keys), "the replay wrote the same keys, nothing new")
        var seen: [String: Int] = [:]
        for lines in afterReplay.values {
            for line in lines { seen[field(line, "transaction_id")?.stringValue ?? "?", default: 0] += 1 }
        }
        #expect(seen.count == 3000)
        #expect(seen.values.allSatisfy { $0 == 1 }, "no duplicates after the replay")
    }

    /// A batch spread over more hours than max_open_objects: the oldest-opened object is closed and uploaded
    /// first, so at most that many fill at once (here every object is closed after one record: 200 objects, not
    /// the 50 an unbounded sink keeps open), and every record still lands exactly once.
    @Test func aBatchOverManyHoursKeepsAtMostMaxOpenObjects() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        try await aws.s3.createBucket("hours")
        let harness = PipelineHarness("open-objects")
        let input = harness.dir + "/in.jsonl"
        let lines = (0..<200).map { i in #"{"transaction_id":"t\#(i)","event_created_at_ts":\#(Self.base + Int64(i % 50) * 3600)}"# }
        _ = FileManager.default.createFile(atPath: input, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        func body(_ maxOpen: Int, _ prefix: String) -> String {
            """
            "source": {"type": "file", "path": "\(input)", "batch": {"max_events": 1000}},
            "sinks": [{"type": "s3", "id": "archive", "bucket": "hours", "prefix": "\(prefix)", "endpoint_url": "\(moto.endpoint)", "max_open_objects": \(maxOpen)}]
            """
        }
        try await harness.run(body(4, "capped"))
        try? FileManager.default.removeItem(atPath: harness.dir + "/cp")
        try await harness.run(body(256, "open"))
        for (prefix, objects) in [("capped/", 200), ("open/", 50)] {
            let stored = try await aws.objects(bucket: "hours", prefix: prefix)
            #expect(stored.count == objects, "\(prefix)")
            var seen: [String: Int] = [:]
            for lines in stored.values { for line in lines { seen[field(line, "transaction_id")?.stringValue ?? "?", default: 0] += 1 } }
            #expect(seen.count == 200 && seen.values.allSatisfy { $0 == 1 }, "\(prefix)")
        }
    }

    @Test func malformedRecordsGoToTheDeadLetterOutputWithShardAndSequence() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let shards = try await aws.createStream("tx", shards: 1)
        try await aws.put("tx", [("k", #"{"transaction_id":"ok-1","event_created_at_ts":1715936400}"#), ("k", #"{"transaction_id": "#), ("k", "[1,2]"),
                                 ("k", #"{"transaction_id":"ok-2"}"# + "\n")])
        try await aws.s3.createBucket("archive")
        let harness = PipelineHarness("dlq")
        let summary = try await harness.run("""
            "source": \(Self.kinesisSource(moto, stream: "tx")),
            "sinks": [{"type": "s3", "id": "archive", "bucket": "archive", "endpoint_url": "\(moto.endpoint)"}]
            """)
        #expect(summary.recordsIn == 4)
        #expect(summary.deadLettered == 2)
        let letters = harness.deadLetters()
        #expect(letters.count == 2)
        for letter in letters {
            let origin = try #require(letter["origin"]?.stringValue)
            #expect(origin.hasPrefix(shards[0] + "@"))
            #expect(letter["stage"] == "source")
            #expect(letter["reason"]?.stringValue?.contains(shards[0]) == true)
        }
        let objects = try await aws.objects(bucket: "archive", prefix: "")
        let lines = objects.values.flatMap { $0 }
        #expect(Set(lines) == [#"{"transaction_id":"ok-1","event_created_at_ts":1715936400}"#, #"{"transaction_id":"ok-2"}"#])
        #expect(objects.keys.contains { $0.hasPrefix("dt=unknown/hour=unknown/") })
        #expect(objects.keys.contains { $0.hasPrefix("dt=2024-05-17/hour=09/") })
    }

    /// Runs `sinks` behind a Kinesis source on a new, empty `stream` (checkpoints an hour apart), puts `records`
    /// once it runs, and polls `arrived` until it holds (at most 20 s); stops the pipeline and returns the seconds
    /// from the put to the arrival.
    static func secondsUntilDelivered(_ moto: MotoServer, _ aws: AWSFixture, stream: String, sinks: String,
                                      records: [(key: String, json: String)], arrived: () async throws -> Bool) async throws -> Double {
        _ = try await aws.createStream(stream, shards: 1)
        let harness = PipelineHarness(stream)
        let stop = StopSignal()
        let run = Task {
            try await harness.run("""
                "source": {"type": "kinesis", "stream_name": "\(stream)", "endpoint_url": "\(moto.endpoint)", "poll_interval": "200ms"},
                "sinks": \(sinks)
                """, interval: "1h", stop: stop)
        }
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let put = Date()
        try await aws.put(stream, records)
        while try await !arrived() && Date().timeIntervalSince(put) < 20 {}
        let waited = Date().timeIntervalSince(put)
        stop.stop()
        _ = try await run.value
        return waited
    }

    /// A lone alert in a quiet stream goes out when its partial batch has waited batch.max_age (the sink's batch
    /// timer), not with the next record or the next checkpoint (an hour here).
    @Test func aLoneAlertIsPublishedAtMaxAgeNotAtTheNextCheckpoint() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let (topic, queue) = try await aws.topicWithQueue("lone")
        var bodies: [String] = []
        let waited = try await Self.secondsUntilDelivered(moto, aws, stream: "quiet", sinks: """
            [{"type": "sns", "id": "alerts", "topic_arn": "\(topic)", "endpoint_url": "\(moto.endpoint)", "batch": {"max_age": "300ms"}}]
            """, records: [("k", #"{"alert": 1}"#)]) {
            let r = try await aws.sqs.call("ReceiveMessage", ["QueueUrl": .string(queue), "WaitTimeSeconds": 1])
            bodies += (r["Messages"]?.arrayValue ?? []).compactMap { $0["Body"]?.stringValue }
            return !bodies.isEmpty
        }
        #expect(bodies == [#"{"alert": 1}"#])
        // Poll interval + max_age + a call, with room for a loaded machine (where the start can outlast the 1 s
        // before the put); without the timer it waits the whole 20 s for the stop.
        #expect(waited < 15, "the alert took \(waited)s")
    }

    /// An S3 object filling in a quiet stream is uploaded once it has waited batch.max_age (the shared driver's
    /// batch timer), not at the next checkpoint (an hour here).
    @Test func aQuietStreamsObjectIsUploadedAtMaxAgeNotAtTheNextCheckpoint() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        try await aws.s3.createBucket("aged")
        var objects: [String: [String]] = [:]
        let waited = try await Self.secondsUntilDelivered(moto, aws, stream: "quiet-s3", sinks: """
            [{"type": "s3", "id": "archive", "bucket": "aged", "endpoint_url": "\(moto.endpoint)", "batch": {"max_age": "500ms"}}]
            """, records: Self.transactions(0..<3)) {
            try await Task.sleep(nanoseconds: 100_000_000)
            objects = try await aws.objects(bucket: "aged", prefix: "")
            return !objects.isEmpty
        }
        #expect(objects.values.flatMap { $0 }.count == 3)
        // Poll interval + max_age + half of it (the timer's period) + an upload, with room for a loaded machine;
        // without the timer it waits the whole 20 s for the stop.
        #expect(waited < 15, "the object took \(waited)s")
    }

    @Test func snsRejectsOversizedMessagesAndPublishesTheRest() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 1)
        let big = String(repeating: "x", count: 300_000)
        try await aws.put("tx", [("k", #"{"n":1}"#), ("k", #"{"n":2,"pad":"\#(big)"}"#), ("k", #"{"n":3}"#)])
        let topic = try #require(try await aws.sns.call("CreateTopic", [("Name", "t")]).string("TopicArn"))
        let harness = PipelineHarness("snsbig")
        let summary = try await harness.run("""
            "source": \(Self.kinesisSource(moto, stream: "tx")),
            "sinks": [{"type": "sns", "id": "alerts", "topic_arn": "\(topic)", "endpoint_url": "\(moto.endpoint)"}]
            """)
        #expect(summary.deadLettered == 1)
        let letter = try #require(harness.deadLetters().first)
        #expect(letter["stage"] == "alerts")
        #expect(letter["reason"]?.stringValue?.contains("256 KiB") == true)
    }

    @Test func faultsBetweenClientAndMotoLoseNothing() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 2)
        try await aws.put("tx", Self.transactions(0..<2000))
        try await aws.s3.createBucket("archive")
        let proxy = try FaultProxy(upstreamPort: moto.port, every: 4)
        defer { proxy.stop() }
        let retry = #"{"max_attempts": 10, "initial_backoff": "10ms", "max_backoff": "200ms"}"#
        let harness = PipelineHarness("faults")
        let summary = try await harness.run("""
            "source": {"type": "kinesis", "stream_name": "tx", "endpoint_url": "\(proxy.url)", "stop_at_end": true,
                       "max_records_per_call": 100, "retry": \(retry)},
            "sinks": [{"type": "s3", "id": "archive", "bucket": "archive", "endpoint_url": "\(proxy.url)",
                       "batch": {"max_events": 250}, "retry": \(retry)}]
            """)
        #expect(summary.recordsIn == 2000)
        let faults = proxy.faults
        for fault in FaultProxy.Fault.allCases { #expect(faults[fault, default: 0] >= 1, "\(fault) was injected") }
        var seen: [String: Int] = [:]
        for lines in try await aws.objects(bucket: "archive", prefix: "").values {
            for line in lines { seen[field(line, "transaction_id")?.stringValue ?? "?", default: 0] += 1 }
        }
        #expect(seen.count == 2000)
        #expect(seen.values.allSatisfy { $0 == 1 })
        print("fault proxy: \(proxy.requests) requests, injected \(faults)")
    }

    @Test func kplAggregatesAreSplitAndACorruptOneIsDeadLettered() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 1)
        let good = KPLBuilder.aggregate(keys: ["a", "b"], records: [(0, nil, #"{"u":1}"#), (1, nil, #"{"u":2}"#), (0, nil, #"{"u":3}"#)])
        let bad = KPLBuilder.aggregate(keys: ["a"], records: [(0, nil, #"{"u":4}"#)], corruptDigest: true)
        for data in [good, bad] {
            _ = try await aws.kinesis.call("PutRecord", ["StreamName": "tx", "PartitionKey": "a", "Data": .string(Data(data).base64EncodedString())])
        }
        try await aws.s3.createBucket("archive")
        let harness = PipelineHarness("kpl")
        let summary = try await harness.run("""
            "source": \(Self.kinesisSource(moto, stream: "tx")),
            "sinks": [{"type": "s3", "id": "archive", "bucket": "archive", "endpoint_url": "\(moto.endpoint)"}]
            """)
        #expect(summary.deadLettered == 1)
        let lines = try await aws.objects(bucket: "archive", prefix: "").values.flatMap { $0 }
        #expect(Set(lines) == [#"{"u":1}"#, #"{"u":2}"#, #"{"u":3}"#])
        #expect(harness.deadLetters().first?["reason"]?.stringValue?.contains("MD5") == true)
    }

    @Test func largeObjectsAreUploadedInPartsAndFileOriginsNameThem() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        try await aws.s3.createBucket("archive")
        let harness = PipelineHarness("multipart")
        // ~13 MiB of hex noise, ~6.5 MiB gzipped: one 5 MiB part and a last one.
        var text = ""
        text.reserveCapacity(14_000_000)
        for i in 0..<30_000 {
            let noise = (0..<24).map { _ in String(UInt64.random(in: 1 << 60...UInt64.max), radix: 16) }.joined()
            text += #"{"transaction_id":"t\#(i)","event_created_at_ts":\#(Self.base),"noise":"\#(noise)"}"# + "\n"
        }
        let input = harness.dir + "/in.jsonl"
        _ = FileManager.default.createFile(atPath: input, contents: Data(text.utf8))
        let summary = try await harness.run("""
            "source": {"type": "file", "path": "\(input)"},
            "sinks": [{"type": "s3", "id": "archive", "bucket": "archive", "prefix": "big/", "endpoint_url": "\(moto.endpoint)",
                       "multipart_threshold": "5MiB"}]
            """)
        #expect(summary.sinkOutputs["archive"] == 30_000)
        let objects = try await aws.objects(bucket: "archive", prefix: "big/")
        #expect(objects.count == 1)
        let (key, lines) = try #require(objects.first)
        #expect(key.hasPrefix("big/dt=2024-05-17/hour=09/~2F"))
        #expect(key.hasSuffix("-1.json.gz"), "named after line 1 of the input: \(key)")
        #expect(lines.count == 30_000)
        #expect(lines.first.flatMap { field($0, "transaction_id") } == "t0")
        let head = try await aws.s3.getObject(bucket: "archive", key: key)
        #expect(head.eTag?.contains("-") == true, "a multipart ETag (<md5>-<parts>): \(head.eTag ?? "")")
    }
}
