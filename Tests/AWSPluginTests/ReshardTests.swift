import Foundation
import PipelineHost
import Testing

@testable import KinesisSource

/// Parent-before-child reading after a split, against the in-test fake Kinesis.
@Suite(.serialized) struct ReshardTests {
    /// shardId-0 was split into shardId-1 (keys k0…k4) and shardId-2 (k5…k9); shardId-3 is unrelated and open.
    static func splitStream() -> [FakeKinesis.Shard] {
        var counters: [String: Int] = [:]
        var sequence = 1000
        func records(_ count: Int, keys: [String]) -> [(sequence: String, key: String, data: [UInt8])] {
            (0..<count).map { i in
                let key = keys[i % keys.count]
                let n = counters[key, default: 0]
                counters[key] = n + 1
                sequence += 1
                return (String(sequence), key, Array(#"{"key":"\#(key)","n":\#(n)}"#.utf8))
            }
        }
        let all = (0..<10).map { "k\($0)" }
        let parent = records(300, keys: all)
        let child1 = records(100, keys: Array(all[0..<5]))
        let child2 = records(100, keys: Array(all[5..<10]))
        let other = records(50, keys: ["z0", "z1"])
        return [
            .init(id: "shardId-0", parent: nil, adjacentParent: nil, closed: true, records: parent),
            .init(id: "shardId-1", parent: "shardId-0", adjacentParent: nil, closed: false, records: child1),
            .init(id: "shardId-2", parent: "shardId-0", adjacentParent: nil, closed: false, records: child2),
            .init(id: "shardId-3", parent: nil, adjacentParent: nil, closed: false, records: other),
        ]
    }

    /// Per key, n arrives as 0, 1, 2, … across a parent and its children, and every record once.
    static func expectKeysInOrder(_ lines: [String], total: Int64) throws {
        var next: [String: Int64] = [:]
        for line in lines {
            let key = try #require(field(line, "key")?.stringValue)
            let n = try #require(field(line, "n")?.intValue)
            #expect(n == next[key, default: 0], "key \(key): got n=\(n)")
            next[key] = n + 1
        }
        #expect(next.values.reduce(0, +) == total, "each record once")
    }

    @Test func childrenAreReadOnlyAfterTheirParentEndedAndKeysStayInOrder() async throws {
        // Two GetRecords calls fail with ExpiredIteratorException: the reader continues after its last record.
        let fake = try FakeKinesis(shards: Self.splitStream(), expireCalls: [3, 6])
        defer { fake.stop() }
        let harness = PipelineHarness("reshard")
        let out = harness.dir + "/out.jsonl"
        let body = """
            "source": {"type": "kinesis", "stream_name": "s", "endpoint_url": "\(fake.url)", "stop_at_end": true, "max_records_per_call": 100},
            "sinks": [{"type": "file", "id": "out", "path": "\(out)"}]
            """
        let summary = try await harness.run(body)
        #expect(summary.recordsIn == 550)

        try Self.expectKeysInOrder(harness.lines(out), total: 550)

        let events = fake.events
        #expect(events.filter { $0 == "expired" }.count == 2)
        // Which reader hits an expiry depends on timing: one with records read resumes AFTER_SEQUENCE_NUMBER, one
        // that has read nothing yet starts over from its start position. Either way: one fresh iterator per expiry.
        #expect(events.filter { $0.hasPrefix("iterator ") }.count == 4 + 2, "a fresh iterator after each expiry")
        let parentEnd = try #require(events.firstIndex(of: "end shardId-0"))
        for child in ["shardId-1", "shardId-2"] {
            let start = try #require(events.firstIndex(of: "iterator \(child) TRIM_HORIZON"), "\(child) started at its first record")
            #expect(start > parentEnd, "\(child) started before its parent ended")
        }
        // The unrelated shard did not wait for anyone.
        let other = try #require(events.firstIndex { $0.hasPrefix("iterator shardId-3") })
        #expect(other < parentEnd)

        let positions = try harness.checkpoint().positions
        #expect(positions["shardId-0"]?["closed"] == .bool(true))
        #expect(positions["shardId-0"]?["sequence"] == .string("1300"))
        #expect(positions["shardId-1"] == .string(Self.splitStream()[1].records.last!.sequence))

        // A restart neither reads the closed parent again nor anything twice.
        let before = fake.events.count
        let again = try await harness.run(body)
        #expect(again.recordsIn == 0)
        let second = Array(fake.events[before...])
        #expect(!second.contains { $0.hasPrefix("iterator shardId-0") })
        #expect(second.contains { $0.hasPrefix("iterator shardId-1 AFTER_SEQUENCE_NUMBER") })
        #expect(harness.lines(out).count == 550)
    }

    @Test func lineageWaitsForBothParentsOfAMerge() {
        let shards = [
            ShardDescription(id: "a", parentID: nil, adjacentParentID: nil, isClosed: true),
            ShardDescription(id: "b", parentID: nil, adjacentParentID: nil, isClosed: true),
            ShardDescription(id: "m", parentID: "a", adjacentParentID: "b", isClosed: false),
            ShardDescription(id: "orphan", parentID: "expired", adjacentParentID: nil, isClosed: false),
        ]
        var lineage = ShardLineage(checkpointed: [:], configuredStart: .latest)
        lineage.update(shards)
        // LATEST skips the closed parents (nothing new can arrive there); the merge child then starts at LATEST.
        var starts: [String: IteratorStart?] = [:]
        while let s = lineage.ready().first { starts[s.id] = lineage.start(s) }
        #expect(starts["a"] == .some(nil))
        #expect(starts["b"] == .some(nil))
        #expect(starts["m"] == .some(.latest))
        #expect(starts["orphan"] == .some(.latest), "a parent gone from the listing is not waited for")

        var fromStart = ShardLineage(checkpointed: ["a": .closed(lastSequence: "9")], configuredStart: .trimHorizon)
        fromStart.update(shards)
        #expect(fromStart.ready().map(\.id) == ["b", "orphan"])
        _ = fromStart.start(shards[1])
        #expect(fromStart.ready().map(\.id) == ["orphan"], "m waits for b")
        fromStart.markEnded("b")
        #expect(fromStart.ready().map(\.id) == ["m", "orphan"])
        #expect(fromStart.start(shards[2]) == .trimHorizon)
    }

    @Test func followsTheStreamUntilStoppedThenStopsPromptlyWithinTheShardRateLimit() async throws {
        let fake = try FakeKinesis(shards: Self.splitStream())
        defer { fake.stop() }
        let harness = PipelineHarness("follow")
        let out = harness.dir + "/out.jsonl"
        let stop = StopSignal()
        let started = ContinuousClock.now
        let run = Task {
            try await harness.run("""
                "source": {"type": "kinesis", "stream_name": "s", "endpoint_url": "\(fake.url)", "poll_interval": "10ms"},
                "sinks": [{"type": "file", "id": "out", "path": "\(out)"}]
                """, interval: "300ms", stop: stop)
        }
        // At least 2 s, and until everything is out and the idle shard has been polled a few times (a loaded
        // machine can take longer to get there).
        func idleCalls() -> Int { fake.events.filter { $0.hasPrefix("records shardId-3 ") }.count }
        while ContinuousClock.now - started < .seconds(2) || harness.lines(out).count < 550 || idleCalls() < 3 {
            try #require(ContinuousClock.now - started < .seconds(60), "\(harness.lines(out).count) records out, \(idleCalls()) calls")
            try await Task.sleep(for: .milliseconds(50))
        }
        let stopAt = ContinuousClock.now
        stop.stop()
        let summary = try await run.value
        let stopping = ContinuousClock.now - stopAt
        let elapsed = ContinuousClock.now - started
        // Idle readers poll every 10 ms and wake on the stop at once; the bound leaves room for a loaded CI machine.
        #expect(stopping < .seconds(4), "took \(stopping) to stop")
        #expect(summary.recordsIn == 550)
        #expect(summary.checkpoints >= 2, "checkpoints are written while the shards are idle")
        #expect(harness.lines(out).count == 550)
        // poll_interval is raised to 200 ms: at most 5 GetRecords a second on a shard.
        let calls = idleCalls()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(calls <= Int(seconds / 0.2) + 1, "\(calls) calls in \(seconds) s")
        // It keeps polling while idle (a loaded CI machine made 3 calls in 2.9 s once).
        #expect(calls >= 3, "\(calls) calls in \(seconds) s")
    }
}
