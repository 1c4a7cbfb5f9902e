import Foundation
import PipelineHost
import Synchronization
import Testing
import TestSupport

@testable import KinesisSource

/// Keyed state across a reshard when another host reads the children: a child shard that was never
/// checkpointed starts with its parent's keys (from the parent's lease at SHARD_END), so a user whose hash
/// range moved keeps its rolling features. (Before, the child started empty unless the same host had read both.)
@Suite(.serialized, .motoServer())
struct ReshardStateTests {
    /// shardId-0 (closed) split into shardId-1 (users k0…k4) and shardId-2 (k5…k9); one event a minute.
    static func shards(withChildren: Bool) -> [FakeKinesis.Shard] {
        var sequence = 1000
        func records(_ count: Int, keys: [String]) -> [(sequence: String, key: String, data: [UInt8])] {
            (0..<count).map { i in
                sequence += 1
                let key = keys[i % keys.count]
                return (String(sequence), key, Array(#"{"id":"r\#(sequence)","key":"\#(key)","ts":\#(1_715_936_400 + sequence * 60),"v":\#(Double(sequence % 7) + 0.5)}"#.utf8))
            }
        }
        let all = (0..<10).map { "k\($0)" }
        let parent = FakeKinesis.Shard(id: "shardId-0", parent: nil, adjacentParent: nil, closed: true, records: records(300, keys: all))
        let child1 = FakeKinesis.Shard(id: "shardId-1", parent: "shardId-0", adjacentParent: nil, closed: false, records: records(100, keys: Array(all[0..<5])))
        let child2 = FakeKinesis.Shard(id: "shardId-2", parent: "shardId-0", adjacentParent: nil, closed: false, records: records(100, keys: Array(all[5..<10])))
        return withChildren ? [parent, child1, child2] : [parent]
    }

    static let transform = #"{"type": "rolling_aggregates", "key_field": "key", "time_field": "ts", "value_field": "v", "aggregates": ["count", "sum"]}"#

    static func source(_ fake: FakeKinesis, _ moto: MotoServer?, worker: String) -> String {
        let leases = moto.map { #", "leases": {"table": "reshard-state", "worker_id": "\#(worker)", "failover_time": "1500ms", "endpoint_url": "\#($0.endpoint)"}"# } ?? ""
        return #"{"type": "kinesis", "stream_name": "s", "endpoint_url": "\#(fake.url)", "max_records_per_call": 50, "poll_interval": "10ms", "shard_discovery_interval": "300ms"\#(leases)}"#
    }

    @Test func aChildShardReadByAnotherHostContinuesItsParentsKeys() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let table = LeaseSharingTests.leaseTable(aws, "reshard-state")

        // Host one sees only the parent (the split has not happened yet), reads it to SHARD_END and stops.
        let before = try FakeKinesis(shards: Self.shards(withChildren: false))
        let one = PipelineHarness("reshard-one")
        let stopOne = StopSignal()
        async let runOne = one.run("""
            "source": \(Self.source(before, moto, worker: "one")), "transforms": [\(Self.transform)],
            "sinks": [{"type": "file", "path": "\(one.dir)/out.jsonl"}]
            """, interval: "100ms", stop: stopOne)
        try await LeaseSharingTests.waitFor("the parent read to SHARD_END") {
            (try? await table.get("shardId-0"))?.isEnded == true
        }
        stopOne.stop()
        _ = try await runOne
        before.stop()
        #expect(one.lines(one.dir + "/out.jsonl").count == 300)

        // Host two sees the split and reads both children.
        let after = try FakeKinesis(shards: Self.shards(withChildren: true))
        defer { after.stop() }
        let two = PipelineHarness("reshard-two")
        let stopTwo = StopSignal()
        async let runTwo = two.run("""
            "source": \(Self.source(after, moto, worker: "two")), "transforms": [\(Self.transform)],
            "sinks": [{"type": "file", "path": "\(two.dir)/out.jsonl"}]
            """, interval: "100ms", stop: stopTwo)
        try await LeaseSharingTests.waitFor("both children read") { two.lines(two.dir + "/out.jsonl").count >= 200 }
        stopTwo.stop()
        _ = try await runTwo

        // Reference: one host without leases reads the parent, then the children.
        let whole = PipelineHarness("reshard-whole")
        let stopWhole = StopSignal()
        async let runWhole = whole.run("""
            "source": \(Self.source(after, nil, worker: "")), "transforms": [\(Self.transform)],
            "sinks": [{"type": "file", "path": "\(whole.dir)/out.jsonl"}]
            """, interval: "100ms", stop: stopWhole)
        try await LeaseSharingTests.waitFor("the whole stream read") { whole.lines(whole.dir + "/out.jsonl").count >= 500 }
        stopWhole.stop()
        _ = try await runWhole
        var expected: [String: String] = [:]
        for line in whole.lines(whole.dir + "/out.jsonl") { expected[field(line, "id")!.stringValue!] = line }

        let children = two.lines(two.dir + "/out.jsonl")
        #expect(children.count == 200)
        let differing = children.filter { expected[field($0, "id")!.stringValue!] != $0 }
        #expect(differing.isEmpty, "\(differing.count) child records got other features than one host reading everything, e.g. \(differing.first ?? "")")
        // The 24 h window of a child's first event of k0 holds k0's 30 parent events.
        let firstK0 = try #require(children.first { field($0, "key")?.stringValue == "k0" })
        #expect(field(firstK0, "txn_count_24h") == .int(30), "\(firstK0)")
    }

    /// `SHARD_END` is written only once every record of the parent is acknowledged: with the sink's uploads held,
    /// the source reads the parent to its end, yet its lease stays short of `SHARD_END` and no child is read; once
    /// the uploads go through, `SHARD_END` follows, and by then S3 holds every record of the parent.
    @Test func shardEndWaitsUntilEveryRecordOfTheParentIsAcknowledged() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        try await aws.s3.createBucket("reshard-held")
        let table = LeaseSharingTests.leaseTable(aws, "reshard-state")
        let holding = Atomic<Bool>(true)
        let heldUploads = Atomic<Int>(0)
        // Only the sink goes through the proxy: while holding, each of its uploads waits, then passes (its start's
        // check of the bucket passes at once).
        let port = moto.port
        let proxy = try FaultProxy(upstreamPort: port) { request in
            guard holding.load(ordering: .sequentiallyConsistent), request.method == "PUT" else { return nil }
            heldUploads.add(1, ordering: .sequentiallyConsistent)
            @Sendable func hold() -> FakeHTTPServer.Action {
                holding.load(ordering: .sequentiallyConsistent) ? .delay(.milliseconds(20), then: hold) : FaultProxy.relay(request, to: port)
            }
            return hold()
        }
        defer { proxy.stop() }
        let shards = Self.shards(withChildren: true)
        func ids(_ shard: FakeKinesis.Shard) -> Set<String> { Set(shard.records.map { "r\($0.sequence)" }) }
        func archived() async throws -> Set<String> {
            Set(try await aws.objects(bucket: "reshard-held", prefix: "tx").values.joined().compactMap { field($0, "id")?.stringValue })
        }
        let fake = try FakeKinesis(shards: shards)
        defer { fake.stop() }
        let harness = PipelineHarness("reshard-held")
        let stop = StopSignal()
        async let run = harness.run("""
            "source": \(Self.source(fake, moto, worker: "one")), "transforms": [\(Self.transform)],
            "sinks": [{"type": "s3", "bucket": "reshard-held", "prefix": "tx", "time_field": "ts", "endpoint_url": "\(proxy.url)"}]
            """, interval: "100ms", stop: stop)
        func parentEnded() async -> Bool { (try? await table.get("shardId-0"))?.isEnded == true }

        try await LeaseSharingTests.waitFor("the parent read to its end") { fake.events.contains("end shardId-0") }
        // Several checkpoints (100 ms) and lease renewals (500 ms) pass while the uploads are held.
        try await Task.sleep(for: .seconds(1.5))
        let endedWhileHeld = await parentEnded()
        let childReadsWhileHeld = fake.events.filter { event in shards.dropFirst().contains { event.hasPrefix("records \($0.id) ") } }
        #expect(heldUploads.load(ordering: .sequentiallyConsistent) >= 1)
        #expect(!endedWhileHeld, "SHARD_END written before the parent's records were acknowledged")
        #expect(childReadsWhileHeld.isEmpty, "a child read before its parent's SHARD_END: \(childReadsWhileHeld)")

        holding.store(false, ordering: .sequentiallyConsistent)
        try await LeaseSharingTests.waitFor("SHARD_END once the uploads went through") { await parentEnded() }
        let parent = ids(shards[0]), missing = parent.subtracting(try await archived())
        #expect(missing.isEmpty, "\(missing.count) of the parent's \(parent.count) records not in S3 when SHARD_END is written")
        let all = shards.reduce(into: Set<String>()) { $0.formUnion(ids($1)) }
        try await LeaseSharingTests.waitFor("the children read") { try await archived() == all }
        stop.stop()
        _ = try await run
    }
}
