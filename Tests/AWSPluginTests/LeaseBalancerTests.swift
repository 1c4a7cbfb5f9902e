import Testing

@testable import KinesisSource

/// The lease-taking rules, driven directly: who takes what, when a lease counts as expired, and when a shard
/// may be read after a reshard.
@Suite struct LeaseBalancerTests {
    static func leases(_ owners: [String?], counter: Int64 = 1) -> [Lease] {
        owners.enumerated().map { i, o in Lease(key: "shard-\(i)", owner: o, counter: counter, checkpoint: "TRIM_HORIZON", parents: []) }
    }

    /// Plays the hosts against one shared table, each applying its own decisions as conditional takes would.
    static func settle(_ table: inout [Lease], hosts: [String], rounds: Int) {
        var balancers = Dictionary(uniqueKeysWithValues: hosts.map { ($0, LeaseBalancer(me: $0, failoverTime: 10)) })
        for round in 0..<rounds {
            for h in hosts {
                balancers[h]!.observe(table, now: Double(round))
                for (key, counter) in balancers[h]!.decide(table, now: Double(round)).take {
                    let i = table.firstIndex { $0.key == key }!
                    guard table[i].counter == counter else { continue }  // the conditional write fails
                    table[i].owner = h
                    table[i].counter += 1
                }
                // Every host renews what it holds each round.
                for i in table.indices where table[i].owner == h { table[i].counter += 1 }
            }
        }
    }

    @Test func aLoneHostTakesEveryFreeLease() {
        let b = LeaseBalancer(me: "a", failoverTime: 10)
        let d = b.decide(Self.leases(Array(repeating: nil, count: 8)), now: 0)
        #expect(d.take.count == 8 && !d.isSteal && d.target == 8)
    }

    @Test func threeHostsSettleOnThreeThreeTwoAndThenStayStill() {
        var table = Self.leases(Array(repeating: "a", count: 8))
        Self.settle(&table, hosts: ["a", "b", "c"], rounds: 12)
        let counts = Dictionary(grouping: table, by: { $0.owner! }).mapValues(\.count)
        #expect(counts.values.sorted() == [2, 3, 3], "\(counts)")
        let before = table.map(\.owner)
        Self.settle(&table, hosts: ["a", "b", "c"], rounds: 5)
        #expect(table.map(\.owner) == before, "a balanced table must not move")
    }

    @Test func stealingTakesOneLeaseAtATimeFromTheMostLoadedHost() {
        let table = Self.leases(["a", "a", "a", "a", "a", "a", "b", "b"])
        var c = LeaseBalancer(me: "c", failoverTime: 10)
        c.observe(table, now: 0)
        let d = c.decide(table, now: 1)
        #expect(d.isSteal && d.take.count == 1 && d.target == 3)
        #expect(table.first { $0.key == d.take[0].key }?.owner == "a")
    }

    @Test func aLeaseWhoseCounterStopsMovingExpiresAfterTheFailoverTime() {
        var table = Self.leases(["dead", "dead", "b", "b"])
        var b = LeaseBalancer(me: "b", failoverTime: 10)
        b.observe(table, now: 0)
        #expect(b.decide(table, now: 0).take.isEmpty, "2 each: balanced while dead looks alive")
        // b renews its own; dead's counters stay put.
        table[2].counter += 5
        table[3].counter += 5
        b.observe(table, now: 9.9)
        #expect(b.decide(table, now: 9.9).take.isEmpty)
        b.observe(table, now: 10)
        let d = b.decide(table, now: 10)
        #expect(Set(d.take.map(\.key)) == ["shard-0", "shard-1"] && !d.isSteal && d.hosts == 1)
    }

    @Test func aRestartedHostTakesBackTheLeasesItsEarlierProcessHeld() {
        // Same worker id after a restart: the table still names it, but this process holds nothing yet.
        let table = Self.leases(["a", "a", "b", "b"])
        var a = LeaseBalancer(me: "a", failoverTime: 10)
        a.observe(table, now: 0)
        let d = a.decide(table, now: 0, held: [])
        #expect(Set(d.take.map(\.key)) == ["shard-0", "shard-1"] && !d.isSteal)
        #expect(a.decide(table, now: 0, held: ["shard-0", "shard-1"]).take.isEmpty)
    }

    @Test func aChildIsReadOnlyAfterItsParentsReachShardEnd() {
        var parent = Lease(key: "p", owner: "a", counter: 3, checkpoint: "495", parents: [])
        let child = Lease(key: "c", owner: nil, counter: 0, checkpoint: "TRIM_HORIZON", parents: ["p", "gone"])
        #expect(!LeaseBalancer.isReadable(child, in: ["p": parent, "c": child]))
        parent.checkpoint = Lease.shardEnd
        #expect(LeaseBalancer.isReadable(child, in: ["p": parent, "c": child]), "a parent no longer in the table does not hold it back")
        #expect(!LeaseBalancer.isReadable(parent, in: ["p": parent]), "an ended lease is never taken again")
        let b = LeaseBalancer(me: "b", failoverTime: 10)
        #expect(b.decide([parent, child], now: 0).take.map(\.key) == ["c"])
    }

    @Test func leaseRowsRoundTripInTheKCLLayout() throws {
        let lease = Lease(key: "shardId-000000000003", owner: "host-1", counter: 42, checkpoint: "49590338271490256608559692538361571095921575989136588898",
                          parents: ["shardId-000000000001"], ownerSwitches: 2, state: #"{"states":{}}"#)
        let item = lease.item
        #expect(item["leaseKey"]?["S"] == "shardId-000000000003")
        #expect(item["leaseCounter"]?["N"] == "42")
        #expect(item["parentShardId"]?["SS"] == ["shardId-000000000001"])
        #expect(Lease(item: item) == lease)
        var free = lease
        free.owner = nil
        free.parents = []
        #expect(free.item["leaseOwner"] == nil && free.item["parentShardId"] == nil)
        #expect(Lease(item: free.item) == free)
    }

    @Test func sequenceNumbersCompareAsNumbers() {
        #expect(SequenceNumber.isAfter("49590338271490256608559692538361571095921575989136588899", "49590338271490256608559692538361571095921575989136588898"))
        #expect(SequenceNumber.isAfter("100", "99"))
        #expect(!SequenceNumber.isAfter("99", "100"))
        #expect(!SequenceNumber.isAfter("5", "5"))
        #expect(SequenceNumber.isSequence("123") && !SequenceNumber.isSequence("TRIM_HORIZON") && !SequenceNumber.isSequence(""))
    }
}
