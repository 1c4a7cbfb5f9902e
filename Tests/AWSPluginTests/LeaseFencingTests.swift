import AWSCore
import Foundation
import Logging
import PipelineHost
import Synchronization
import Testing
import TestSupport

@testable import KinesisSource

/// Where lease ownership is enforced: at the checkpoint write (owner and counter), at renewal (a deadline of
/// its own), and before a reader emits (the local lease deadline).
@Suite(.serialized, .motoServer())
struct LeaseFencingTests {
    static func keeper(_ table: LeaseTable, renew: LeaseTable? = nil, me: String, failover: Double = 3) -> LeaseKeeper {
        var logger = Logger(label: "lease-test")
        logger.logLevel = .critical
        return LeaseKeeper(table: table, renewTable: renew, me: me, failoverTime: failover,
                           stateStore: LeaseStateStore(s3: nil, bucket: nil, prefix: "", enabled: false), logger: logger)
    }

    /// A host that lost a lease and took it back holds a new version of it: a checkpoint conditioned on the
    /// version it held before (owner alone matches again) must not be stored.
    @Test func aCheckpointNeedsTheLeaseVersionItWasTakenIn() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let table = LeaseSharingTests.leaseTable(aws, "fence-leases")
        try await table.ensureExists()
        #expect(try await table.create(Lease(key: "shard-1", owner: nil, counter: 0, checkpoint: "TRIM_HORIZON", parents: [])))
        let first = try #require(try await table.take("shard-1", counter: 0, owner: "host-a"))
        // Two hosts that both saw counter 0 can never both take it: the second take's condition fails.
        #expect(try await table.take("shard-1", counter: 0, owner: "host-b") == nil, "a take on a counter already moved on")
        #expect(try await table.get("shard-1")?.owner == "host-a")
        let stolen = try #require(try await table.take("shard-1", counter: first.counter, owner: "host-b"))
        let back = try #require(try await table.take("shard-1", counter: stolen.counter, owner: "host-a"))
        #expect(back.owner == "host-a")

        // The write of the first tenure: same owner, old counter.
        let stale = try await table.checkpoint("shard-1", owner: "host-a", counter: first.counter, checkpoint: "100", state: nil)
        #expect(stale == nil, "a checkpoint of an earlier tenure was stored")
        let current = try await table.checkpoint("shard-1", owner: "host-a", counter: back.counter, checkpoint: "200", state: nil)
        #expect(current == back.counter + 1)
        #expect(try await table.get("shard-1")?.checkpoint == "200")
    }

    /// The keeper retries a checkpoint that raced with its own renewal (same owner, same tenure), and gives up
    /// a lease that another host took.
    @Test func theKeeperStoresThroughItsOwnRenewalsButNotThroughASteal() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let table = LeaseSharingTests.leaseTable(aws, "fence-keeper")
        try await table.ensureExists()
        _ = try await table.create(Lease(key: "s1", owner: nil, counter: 0, checkpoint: "TRIM_HORIZON", parents: []))
        // A long failover time: the steps below must not outlast the local lease deadline on a loaded machine.
        let keeper = Self.keeper(table, me: "host-a", failover: 60)
        let lease = try #require(try await table.take("s1", counter: 0, owner: "host-a"))
        let tenure = keeper.adopt(lease, renewedAt: MonotonicClock.seconds())
        _ = try await table.renew("s1", owner: "host-a")  // bumps the counter behind the keeper's back
        let seq = "49590338271490256608559692538361571095921575989136588898"
        try await keeper.commit(positions: ["s1": ShardPosition.after(seq).json], parts: [:], covered: [], stream: "tx")
        #expect(try await table.get("s1")?.checkpoint == seq)
        #expect(keeper.status("s1", tenure: tenure) == .current)

        let now = try #require(try await table.get("s1"))
        _ = try #require(try await table.take("s1", counter: now.counter, owner: "host-b"))
        let later = "49590338271490256608559692538361571095921575989136588999"
        try await keeper.commit(positions: ["s1": ShardPosition.after(later).json], parts: [:], covered: [], stream: "tx")
        #expect(try await table.get("s1")?.checkpoint == seq, "the stolen lease keeps the new owner's checkpoint")
        #expect(!keeper.isHeld("s1"))
        #expect(keeper.status("s1", tenure: tenure) == .gone)
        #expect(keeper.drainLost() == ["s1"])
    }

    /// The renewals' own client as the source builds it: a timeout of a third of failover_time (at least 200 ms)
    /// and one retry, whatever the source's retry policy says (that one keeps its 30 s timeouts for checkpoints).
    /// The end-to-end stall test below passes on the reader's pause alone, so this pins the deadline itself.
    @Test func renewalsGetADeadlineOfAThirdOfTheFailoverTime() async throws {
        for (failover, expected) in [("3s", Duration.milliseconds(1000)), ("30s", .milliseconds(10_000)), ("300ms", .milliseconds(200))] {
            let text = #"{"name": "t", "dead_letter": {"type": "file", "path": "/tmp/dlq.jsonl"}, "sinks": [{"type": "file", "path": "/tmp/out.jsonl"}], "#
                + #""source": {"type": "kinesis", "stream_name": "s", "endpoint_url": "http://127.0.0.1:9", "retry": {"max_attempts": 8}, "#
                + #""leases": {"table": "t-leases", "worker_id": "w", "failover_time": "\#(failover)", "endpoint_url": "http://127.0.0.1:9"}}}"#
            let spec = try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: TestRegistry.environment)
            let context = BuildContext(pipelineName: "t", logger: Logger(label: "t"), environment: TestRegistry.environment, registry: TestRegistry.registry)
            let source = try #require(try TestRegistry.registry.makeSource(spec.source, context) as? KinesisSource)
            let store = try #require(try source.makeCheckpointStore(partitioned: [:]) as? LeaseCheckpointStore)
            let renew = store.keeper.renewTable.dynamo, main = store.keeper.table.dynamo
            #expect(renew.timeout == expected, "failover_time \(failover)")
            #expect(renew.client.retryPolicy.maxAttempts == 2, "failover_time \(failover)")
            #expect(main.timeout == .seconds(30) && main.client.retryPolicy.maxAttempts == 8, "failover_time \(failover)")
            await store.keeper.close()
        }
    }

    /// DynamoDB stalls: a renewal has a deadline of its own (a third of the failover time), and once the local
    /// lease deadline (five sixths) passes without a renewal the lease is given up and nothing more may be
    /// emitted under it, long before the source's retry policy (8 attempts, 30 s timeouts) would end.
    @Test func aStalledRenewalGivesTheLeaseUpAtItsLocalDeadline() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let table = LeaseSharingTests.leaseTable(aws, "fence-stall")
        try await table.ensureExists()
        _ = try await table.create(Lease(key: "s1", owner: nil, counter: 0, checkpoint: "TRIM_HORIZON", parents: []))
        // Renewals go to a DynamoDB that never answers within a minute.
        let stalled = try FakeHTTPServer { _ in .delay(.seconds(60), then: { .reset }) }
        defer { stalled.stop() }
        var dynamo = try JSONProtocolClient.dynamoDB(aws.client, endpointURL: stalled.url)
        dynamo.timeout = .milliseconds(500)
        let keeper = Self.keeper(table, renew: LeaseTable(dynamo: dynamo, name: "fence-stall"), me: "host-a", failover: 1.5)
        let taken = try #require(try await table.take("s1", counter: 0, owner: "host-a"))
        keeper.noteTaken("s1")  // as the coordinator does after a take
        let tenure = keeper.adopt(taken, renewedAt: MonotonicClock.seconds())
        #expect(keeper.status("s1", tenure: tenure) == .current)

        let started = Date()
        while keeper.isHeld("s1") {
            try #require(Date().timeIntervalSince(started) < 10, "the lease was still held 10 s into a DynamoDB stall")
            await keeper.renewAll()
        }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(keeper.status("s1", tenure: tenure) == .gone, "a reader must stop once the local deadline passed")
        #expect(keeper.drainLost() == ["s1"])
        // The table still names this host: the stop (SIGTERM) releases the lease it gave up, so another host need
        // not wait out the failover time.
        #expect(try await table.get("s1")?.owner == "host-a")
        await keeper.close()
        #expect(try await table.get("s1")?.owner == nil, "a lease given up during the stall was not released at the stop")
    }

    /// A lease past its local deadline is not checkpointed (another host may own it by now), and the keeper says
    /// so: the runner then checkpoints again without waiting for new records. Once a renewal proves the lease is
    /// still ours, the same SHARD_END is stored and the shard is done.
    @Test func aLapsedLeaseDefersItsCheckpointUntilARenewalLands() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        let table = LeaseSharingTests.leaseTable(aws, "fence-lapsed")
        try await table.ensureExists()
        _ = try await table.create(Lease(key: "s1", owner: nil, counter: 0, checkpoint: "TRIM_HORIZON", parents: []))
        let keeper = Self.keeper(table, me: "host-a", failover: 3)
        let lease = try #require(try await table.take("s1", counter: 0, owner: "host-a"))
        // Taken (or last renewed) 2.6 s ago: past the local deadline of 2.5 s.
        let tenure = keeper.adopt(lease, renewedAt: MonotonicClock.seconds() - 2.6)
        #expect(keeper.status("s1", tenure: tenure) == .lapsed)
        let end = ShardPosition.closed(lastSequence: nil).json
        let deferred = try await keeper.commit(positions: ["s1": end], parts: [:], covered: [], stream: "tx")
        #expect(deferred == ["s1"])
        #expect(try await table.get("s1")?.checkpoint == "TRIM_HORIZON", "nothing is written under a lapsed lease")

        await keeper.renewAll()
        #expect(keeper.status("s1", tenure: tenure) == .current)
        #expect(try await keeper.commit(positions: ["s1": end], parts: [:], covered: [], stream: "tx").isEmpty)
        #expect(try await table.get("s1")?.isEnded == true)
        #expect(keeper.drainEnded() == ["s1"])
    }

    /// Two hosts that read the same records of a shard (a host that lost its lease and had not noticed, and the
    /// new owner starting at the last checkpoint) never write the same S3 key, so neither can replace an object of
    /// the other with fewer records. Before, keys were `<shard>-<first position>` for both.
    @Test func twoHostsReadingTheSameRecordsNeverWriteTheSameObjectKey() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("fence-s3", shards: 1)
        try await aws.s3.createBucket("fence-s3")
        try await aws.put("fence-s3", KinesisPipelineTests.transactions(0..<300))
        let table = LeaseSharingTests.leaseTable(aws, "fence-s3-leases")
        func host(_ worker: String, total: Int) async throws -> [String: [String]] {
            let h = PipelineHarness("fence-s3-\(worker)")
            let stop = StopSignal()
            async let run = h.run("""
                "source": \(LeaseSharingTests.leaseSource(moto, stream: "fence-s3", table: "fence-s3-leases", worker: worker)),
                "sinks": [{"type": "s3", "bucket": "fence-s3", "prefix": "tx", "endpoint_url": "\(moto.endpoint)", "batch": {"max_events": 100}}]
                """, interval: "100ms", stop: stop)
            try await LeaseSharingTests.waitFor("\(worker) read the shard") {
                let objects = (try? await AWSReadBack.objects(aws.s3, bucket: "fence-s3", prefix: "tx")) ?? [:]
                return objects.values.reduce(0) { $0 + $1.count } >= total
            }
            stop.stop()
            _ = try await run
            return try await AWSReadBack.objects(aws.s3, bucket: "fence-s3", prefix: "tx")
        }
        let afterA = try await host("host-a", total: 300)
        #expect(afterA.values.reduce(0) { $0 + $1.count } == 300)
        // Host B starts where A started: the lease's checkpoint is put back, as if A never checkpointed.
        let lease = try #require(try await table.get("shardId-000000000000"))
        _ = try #require(try await table.take(lease.key, counter: lease.counter, owner: "rewind"))
        let rewound = try #require(try await table.get(lease.key))
        #expect(try await table.checkpoint(lease.key, owner: "rewind", counter: rewound.counter, checkpoint: "TRIM_HORIZON", state: nil) != nil)
        try await table.release(lease.key, owner: "rewind")
        let afterB = try await host("host-b", total: 600)
        #expect(Set(afterA.keys).isSubset(of: Set(afterB.keys)))
        for (key, lines) in afterA { #expect(afterB[key] == lines, "object \(key) was replaced") }
        #expect(afterB.values.reduce(0) { $0 + $1.count } == 600, "both reads kept, as duplicates under distinct keys")
        #expect(afterA.keys.allSatisfy { $0.range(of: #"-[0-9a-z]{8}-[0-9]+\.json\.gz$"#, options: .regularExpression) != nil }, "\(afterA.keys.sorted())")
    }

    /// A lease whose stored state cannot be read is not kept: before, it was taken and renewed with no reader
    /// (its shard silent for as long as the host lived). Now it is released and, once the failures persist,
    /// the source fails with the cause.
    @Test func aLeaseWhoseStateCannotBeReadIsNotHeldWithoutAReader() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("fence-state", shards: 1)
        let table = LeaseSharingTests.leaseTable(aws, "fence-state-leases")
        try await table.ensureExists()
        let shard = "shardId-000000000000"
        // A checkpoint whose state is kept in S3 while this host has no state_bucket to read it with.
        #expect(try await table.create(Lease(key: shard, owner: nil, counter: 0, checkpoint: "49590338271490256608559692538361571095921575989136588898",
                                             parents: [], state: #"{"s3": "s3://fence-state/lease-state/fence-state/\#(shard)/gone.json"}"#)))
        let h = PipelineHarness("fence-state")
        let source = #"{"type": "kinesis", "stream_name": "fence-state", "endpoint_url": "\#(moto.endpoint)", "retry": {"max_attempts": 3, "initial_backoff": "10ms"}, "#
            + #""leases": {"table": "fence-state-leases", "worker_id": "host-a", "failover_time": "1500ms", "endpoint_url": "\#(moto.endpoint)"}}"#
        await #expect {
            try await h.run("""
                "source": \(source), "transforms": [{"type": "rolling_aggregates"}],
                "sinks": [{"type": "file", "path": "\(h.dir)/out.jsonl"}]
                """, interval: "100ms")
        } throws: { "\($0)".contains("state_bucket") }
        let after = try #require(try await table.get(shard))
        #expect(after.owner == nil, "the lease is still held by \(after.owner ?? "")")
    }

    /// The source as production configures it (renewals on their own client: a timeout of a third of
    /// failover_time, one retry) while DynamoDB stops answering: nothing is emitted once five sixths of the
    /// failover time have passed since the last renewal was sent (the reader pauses at that deadline, and the
    /// failing renewal gives the lease up soon after; the test fails only with both broken), long before the
    /// source's retry policy (8 attempts, 30 s timeouts) would end; once DynamoDB answers again reading resumes
    /// and every record arrives; the stop releases the lease.
    @Test func aDynamoDBStallStopsReadingPastTheLocalDeadlineThenReadingResumes() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("stall", shards: 1)
        let stalling = Atomic<Bool>(false)
        let stalled = Atomic<Int>(0)
        // Every DynamoDB call is held 5 s and then reset while stalling; Kinesis calls pass.
        let proxy = try FaultProxy(upstreamPort: moto.port) { request in
            guard stalling.load(ordering: .sequentiallyConsistent), request.header("x-amz-target")?.hasPrefix("DynamoDB_") == true else { return nil }
            stalled.add(1, ordering: .sequentiallyConsistent)
            return .delay(.seconds(5), then: { .reset })
        }
        defer { proxy.stop() }
        let harness = PipelineHarness("renew-stall")
        let stop = StopSignal()
        let source = #"{"type": "kinesis", "stream_name": "stall", "endpoint_url": "\#(proxy.url)", "poll_interval": "50ms", "#
            + #""leases": {"table": "stall-leases", "worker_id": "solo", "failover_time": "3s", "endpoint_url": "\#(proxy.url)"}}"#
        async let run = harness.run(#""source": \#(source), "sinks": [{"type": "file", "path": "\#(harness.dir)/out.jsonl"}]"#,
                                    interval: "200ms", stop: stop)
        func ids() -> Set<String> { Set(LeaseSharingTests.ids(harness)) }
        try await aws.put("stall", KinesisPipelineTests.transactions(0..<10))
        try await LeaseSharingTests.waitFor("the first records") { ids().count == 10 }

        stalling.store(true, ordering: .sequentiallyConsistent)
        // The last renewal was sent at most a renewal period (1 s) before the stall; the reader pauses 2.5 s after
        // it. Records put 4.5 s into the stall must wait for its end.
        try await Task.sleep(for: .seconds(4.5))
        try await aws.put("stall", KinesisPipelineTests.transactions(10..<20))
        try await Task.sleep(for: .seconds(3))
        let duringStall = ids()
        stalling.store(false, ordering: .sequentiallyConsistent)
        #expect(duringStall.count == 10, "\(duringStall.count - 10) records emitted under a lease past its local deadline")
        #expect(stalled.load(ordering: .sequentiallyConsistent) >= 1)

        try await LeaseSharingTests.waitFor("every record once DynamoDB answers again") { ids().count == 20 }
        stop.stop()
        _ = try await run
        let leases = try await LeaseSharingTests.leaseTable(aws, "stall-leases").scan()
        #expect(leases.count == 1 && leases.allSatisfy { $0.owner == nil }, "released at the stop: \(leases.map(\.owner))")
    }
}
