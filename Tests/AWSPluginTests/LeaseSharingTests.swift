import AWSCore
import Foundation
import PipelineHost
import Testing
import TestSupport

@testable import KinesisSource

/// Hosts sharing one stream through a lease table in moto's DynamoDB, run in-process.
@Suite(.serialized, .motoServer())
struct LeaseSharingTests {
    static func leaseSource(_ moto: MotoServer, stream: String, table: String, worker: String) -> String {
        #"{"type": "kinesis", "stream_name": "\#(stream)", "endpoint_url": "\#(moto.endpoint)", "max_records_per_call": 200, "#
            + #""shard_discovery_interval": "1s", "leases": {"table": "\#(table)", "worker_id": "\#(worker)", "failover_time": "9s", "endpoint_url": "\#(moto.endpoint)"}}"#
    }

    static func leaseTable(_ aws: AWSFixture, _ table: String) -> LeaseTable {
        LeaseTable(dynamo: try! .dynamoDB(aws.client, endpointURL: aws.endpoint), name: table)
    }

    static func waitFor(_ what: String, seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
        try await AWSReadBack.waitFor(what, seconds: seconds, condition)
    }

    static func ids(_ harness: PipelineHarness) -> [String] {
        harness.lines(harness.dir + "/out.jsonl").compactMap { field($0, "transaction_id")?.stringValue }
    }

    @Test func twoHostsSplitTheShardsEvenlyAndReadEachRecordOnce() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 4)
        let (a, b) = (PipelineHarness("lease-a"), PipelineHarness("lease-b"))
        let (stopA, stopB) = (StopSignal(), StopSignal())
        func body(_ h: PipelineHarness, _ worker: String) -> String {
            """
            "source": \(Self.leaseSource(moto, stream: "tx", table: "tx-leases", worker: worker)),
            "sinks": [{"type": "file", "path": "\(h.dir)/out.jsonl"}]
            """
        }
        async let runA = a.run(body(a, "host-a"), interval: "200ms", stop: stopA)
        async let runB = b.run(body(b, "host-b"), interval: "200ms", stop: stopB)

        // Wait for an even split before any data arrives: each host then reads only its own shards.
        let table = Self.leaseTable(aws, "tx-leases")
        try await Self.waitFor("two leases per host") {
            let leases = (try? await table.scan()) ?? []
            let owners = leases.compactMap(\.owner)
            return leases.count == 4 && owners.filter { $0 == "host-a" }.count == 2 && owners.filter { $0 == "host-b" }.count == 2
        }
        try await table.waitUntilSettled(count: 4)
        let held = Dictionary(grouping: try await table.scan(), by: { $0.owner! }).mapValues { Set($0.map(\.key)) }
        try await aws.put("tx", KinesisPipelineTests.transactions(0..<4000))
        try await Self.waitFor("every record read") { Set(Self.ids(a) + Self.ids(b)).count == 4000 }
        // Let the last checkpoint land, then stop both (each releases its leases).
        try await Task.sleep(for: .milliseconds(600))
        stopA.stop()
        stopB.stop()
        let (summaryA, summaryB) = try await (runA, runB)

        let (idsA, idsB) = (Self.ids(a), Self.ids(b))
        #expect(idsA.count + idsB.count == 4000, "no record read twice")
        #expect(Set(idsA).intersection(idsB).count == 0, "records read by both hosts")
        #expect(summaryA.recordsIn > 0 && summaryB.recordsIn > 0)
        // Each host read only its own shards: the shard is in each output line's origin-free record, so check
        // through the lease checkpoints instead: every lease has a sequence number and no owner after the stop.
        let after = try await table.scan()
        #expect(after.count == 4)
        #expect(after.allSatisfy { SequenceNumber.isSequence($0.checkpoint) }, "\(after.map(\.checkpoint))")
        #expect(after.allSatisfy { $0.owner == nil }, "leases released at shutdown")
        #expect(held["host-a"]?.count == 2 && held["host-b"]?.count == 2)
    }

    @Test func afterASplitChildLeasesWaitForTheParentsShardEnd() async throws {
        // Kinesis from the in-test fake (moto cannot reshard), the lease table in moto's DynamoDB.
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let fake = try FakeKinesis(shards: ReshardTests.splitStream())
        defer { fake.stop() }
        let harness = PipelineHarness("lease-reshard")
        let out = harness.dir + "/out.jsonl"
        let stop = StopSignal()
        async let run = harness.run("""
            "source": {"type": "kinesis", "stream_name": "s", "endpoint_url": "\(fake.url)", "max_records_per_call": 100, "poll_interval": "10ms",
                       "shard_discovery_interval": "500ms",
                       "leases": {"table": "reshard-leases", "worker_id": "solo", "failover_time": "1500ms", "endpoint_url": "\(moto.endpoint)"}},
            "sinks": [{"type": "file", "id": "out", "path": "\(out)"}]
            """, interval: "100ms", stop: stop)
        let table = Self.leaseTable(aws, "reshard-leases")
        try await Self.waitFor("all 550 records, the parent at SHARD_END and every child checkpointed") {
            let leases = (try? await table.scan()) ?? []
            return harness.lines(out).count >= 550 && leases.count == 4
                && leases.first { $0.key == "shardId-0" }?.isEnded == true
                && leases.filter { $0.key != "shardId-0" }.allSatisfy { SequenceNumber.isSequence($0.checkpoint) }
        }
        stop.stop()
        _ = try await run

        // Per key in order across the parent and its children: a child was read only after the parent's last record.
        try ReshardTests.expectKeysInOrder(harness.lines(out), total: 550)
        let leases = try await table.scan()
        #expect(leases.first { $0.key == "shardId-1" }?.parents == ["shardId-0"])
        // An ended lease is never taken again and needs no owner change; the others are released at the stop.
        #expect(leases.filter { !$0.isEnded }.allSatisfy { $0.owner == nil }, "released at the stop")
    }

    @Test func stateTooLargeForALeaseRowGoesToS3ByReference() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        try await aws.s3.createBucket("state")
        // 3,000 keys: well over the 100 KB a lease row keeps inline.
        let keys: [(String, JSONValue)] = (0..<3000).map { ("user-\($0)", .array([.array([.double(1_715_936_400 + Double($0))]), .array([.double(12.5)]), .null, "shardId-000000000001"])) }
        let part: JSONValue = .object([("max_times", .object([("shardId-000000000001", .double(1_715_939_400))])), ("keys", .object(keys))])
        let store = LeaseStateStore(s3: aws.s3, bucket: "state", prefix: "lease-state/", enabled: true)
        let text = try #require(try await store.encode(["features": part], stream: "tx", shard: "shardId-000000000001", checkpoint: "4959", transforms: ["features"]))
        #expect(text.utf8.count < 200, "the lease holds a reference, not the state: \(text.prefix(200))")
        #expect(text.contains("s3://state/lease-state/tx/shardId-000000000001/4959.json"))
        let back = try await store.decode(text, shard: "shardId-000000000001")
        #expect(back.states["features"] == part)
        #expect(back.covered == ["features"])

        let small = try #require(try await store.encode(["features": .object([("keys", .object([]))])], stream: "tx", shard: "s", checkpoint: "1", transforms: ["features"]))
        #expect(small.contains("\"states\""), "small state stays inline")
        let noBucket = LeaseStateStore(s3: nil, bucket: nil, prefix: "", enabled: true)
        await #expect(throws: PipelineError.self) { _ = try await noBucket.encode(["features": part], stream: "tx", shard: "s", checkpoint: "1", transforms: ["features"]) }
        #expect(try await LeaseStateStore(s3: nil, bucket: nil, prefix: "", enabled: false).encode(["features": part], stream: "tx", shard: "s", checkpoint: "1", transforms: ["features"]) == nil)
    }

    @Test func keyedStateMovesWithTheShardToTheNextHost() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 2)
        // 40 users, a transaction every 30 s: the 1 h and 24 h windows of the second half reach into the first.
        func tx(_ range: Range<Int>) -> [(key: String, json: String)] {
            range.map { i in
                (key: "u\(i % 40)",
                 json: #"{"transaction_id":"t\#(i)","user_id":"u\#(i % 40)","event_created_at_ts":\#(1_715_936_400 + i * 30),"transaction_value":\#(Double(i % 97) + 0.25)}"#)
            }
        }
        let transform = #"{"type": "rolling_aggregates", "aggregates": ["count", "sum", "max"]}"#
        func body(_ h: PipelineHarness, _ source: String) -> String {
            """
            "source": \(source), "transforms": [\(transform)],
            "sinks": [{"type": "file", "path": "\(h.dir)/out.jsonl"}]
            """
        }
        let table = Self.leaseTable(aws, "state-leases")

        // Host one reads the first half, checkpoints into the leases, stops and releases them.
        try await aws.put("tx", tx(0..<1200))
        let one = PipelineHarness("state-one")
        let stopOne = StopSignal()
        async let runOne = one.run(body(one, Self.leaseSource(moto, stream: "tx", table: "state-leases", worker: "one")), interval: "100ms", stop: stopOne)
        try await Self.waitFor("host one read the first half") { Set(Self.ids(one)).count == 1200 }
        try await Task.sleep(for: .milliseconds(400))
        stopOne.stop()
        _ = try await runOne
        let stored = try await table.scan()
        #expect(stored.count == 2 && stored.allSatisfy { $0.state?.contains("\"keys\"") == true }, "the state is stored with each lease")

        // Host two starts with empty state, takes both leases and reads the second half.
        try await aws.put("tx", tx(1200..<2400))
        let two = PipelineHarness("state-two")
        let stopTwo = StopSignal()
        async let runTwo = two.run(body(two, Self.leaseSource(moto, stream: "tx", table: "state-leases", worker: "two")), interval: "100ms", stop: stopTwo)
        try await Self.waitFor("host two read the second half") { Set(Self.ids(two)).count >= 1200 }
        stopTwo.stop()
        _ = try await runTwo
        #expect(Set(Self.ids(two)) == Set((1200..<2400).map { "t\($0)" }), "host two resumed at the checkpoints")

        // Reference: one uninterrupted run over everything, without leases.
        let whole = PipelineHarness("state-whole")
        try await whole.run(body(whole, KinesisPipelineTests.kinesisSource(moto, stream: "tx")))
        var expected: [String: String] = [:]
        for line in whole.lines(whole.dir + "/out.jsonl") { expected[field(line, "transaction_id")!.stringValue!] = line }
        #expect(expected.count == 2400)
        let differing = two.lines(two.dir + "/out.jsonl").filter { expected[field($0, "transaction_id")!.stringValue!] != $0 }
        #expect(differing.isEmpty, "\(differing.count) records of host two got other features than an uninterrupted run, e.g. \(differing.first ?? "")")
    }

    /// A lease checkpointed by a host without `rolling_aggregates` holds no state for it: a host whose spec has
    /// it refuses to resume that shard, naming the transform, instead of starting its features from zero there.
    @Test func aLeaseWithoutAKeyedTransformsStateIsRefused() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 1)
        try await aws.put("tx", KinesisPipelineTests.transactions(0..<50))
        let source = Self.leaseSource(moto, stream: "tx", table: "refuse-leases", worker: "one")
        let one = PipelineHarness("refuse-one")
        let stopOne = StopSignal()
        async let runOne = one.run(#""source": \#(source), "sinks": [{"type": "file", "path": "\#(one.dir)/out.jsonl"}]"#,
                                   interval: "100ms", stop: stopOne)
        try await Self.waitFor("host one read the stream") { Set(Self.ids(one)).count == 50 }
        stopOne.stop()
        _ = try await runOne
        let stored = try await Self.leaseTable(aws, "refuse-leases").scan()
        #expect(stored.count == 1 && stored.allSatisfy { SequenceNumber.isSequence($0.checkpoint) }, "\(stored.map(\.checkpoint))")

        // The same stream and leases with rolling aggregates added: refused (stopped after 30 s if not).
        let two = PipelineHarness("refuse-two")
        let stopTwo = StopSignal()
        let guardStop = Task {
            try await Task.sleep(for: .seconds(30))
            stopTwo.stop()
        }
        defer { guardStop.cancel() }
        let body = #""source": \#(Self.leaseSource(moto, stream: "tx", table: "refuse-leases", worker: "two")), "#
            + #""transforms": [{"type": "rolling_aggregates", "key_field": "card_id", "value_field": "amount"}], "#
            + #""sinks": [{"type": "file", "path": "\#(two.dir)/out.jsonl"}]"#
        do {
            let summary = try await two.run(body, interval: "100ms", stop: stopTwo)
            Issue.record("the lease was resumed without the keyed state: \(summary.recordsIn) records in")
        } catch {
            #expect("\(error)".contains("rolling_aggregates"), "\(error)")
        }
        #expect(Self.ids(two).isEmpty, "records went out with features started from zero")
    }
}
