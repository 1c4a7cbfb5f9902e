import PipelineHost

/// Decides which leases this host takes, the way the KCL does, from what it sees of the lease table.
///
/// A lease is expired when it has no owner, or when its counter has not moved for `failoverTime` seconds of
/// this host's clock (its owner stopped renewing). Hosts with an unexpired lease are alive; each aims at
/// `ceil(leases / hosts)`. Short of that, a host takes expired leases first; when there are none, it steals
/// one lease from the most loaded host, if that host holds more than the target. Pure state, no I/O.
struct LeaseBalancer {
    let me: String
    let failoverTime: Double
    /// Counter last seen per lease, and when (this host's monotonic clock) it last changed.
    private(set) var observed: [String: (counter: Int64, since: Double)] = [:]

    init(me: String, failoverTime: Double) {
        self.me = me
        self.failoverTime = failoverTime
    }

    struct Decision {
        /// Lease keys with the counter they were seen at: take them with a conditional write on it.
        var take: [(key: String, counter: Int64)]
        var isSteal: Bool
        var target: Int
        var hosts: Int
    }

    /// Records a scan of the table.
    mutating func observe(_ leases: [Lease], now: Double) {
        var next: [String: (counter: Int64, since: Double)] = [:]
        for l in leases {
            if let o = observed[l.key], o.counter == l.counter { next[l.key] = o } else { next[l.key] = (l.counter, now) }
        }
        observed = next
    }

    func isExpired(_ lease: Lease, now: Double) -> Bool {
        guard lease.owner != nil else { return true }
        guard let o = observed[lease.key] else { return false }
        return now - o.since >= failoverTime
    }

    /// A lease may be read once every parent still in the table is read to its end (SHARD_END), so the
    /// records of a partition key stay in order across a split or merge.
    static func isReadable(_ lease: Lease, in byKey: [String: Lease]) -> Bool {
        !lease.isEnded && lease.parents.allSatisfy { byKey[$0]?.isEnded ?? true }
    }

    /// `held`: the leases this process holds. A lease the table gives to this host's name that it does not hold
    /// is left from an earlier process with the same worker id (a restart): it is free to take at once.
    func decide(_ leases: [Lease], now: Double, held: Set<String>? = nil, randomSeed: UInt64 = 0) -> Decision {
        let byKey = Dictionary(leases.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let readable = leases.filter { Self.isReadable($0, in: byKey) }
        let held = held ?? Set(leases.filter { $0.owner == me }.map(\.key))
        var counts: [String: Int] = [me: 0]
        var expired: [Lease] = []
        for l in readable {
            if l.owner == me {
                if held.contains(l.key) { counts[me, default: 0] += 1 } else { expired.append(l) }
            } else if isExpired(l, now: now) {
                expired.append(l)
            } else if let owner = l.owner {
                counts[owner, default: 0] += 1
            }
        }
        let hosts = counts.count
        let target = readable.isEmpty ? 0 : (readable.count + hosts - 1) / hosts
        let mine = counts[me] ?? 0
        var wanted = target - mine
        guard wanted > 0 else { return Decision(take: [], isSteal: false, target: target, hosts: hosts) }
        if !expired.isEmpty {
            // Shuffled by host, so hosts starting together do not all race for the same leases.
            var order = expired.sorted { $0.key < $1.key }
            var rng = SplitMix64(seed: randomSeed ^ Self.stableHash(me))
            order.shuffle(using: &rng)
            wanted = min(wanted, order.count)
            return Decision(take: order.prefix(wanted).map { ($0.key, $0.counter) }, isSteal: false, target: target, hosts: hosts)
        }
        // Steal one at a time, and only from a host above the target: a balanced table stays still.
        guard let (victim, count) = counts.filter({ $0.key != me }).max(by: { ($0.value, $1.key) < ($1.value, $0.key) }),
              count > target
        else { return Decision(take: [], isSteal: false, target: target, hosts: hosts) }
        let theirs = readable.filter { $0.owner == victim && !isExpired($0, now: now) }.sorted { $0.key < $1.key }
        guard let pick = theirs.last else { return Decision(take: [], isSteal: false, target: target, hosts: hosts) }
        return Decision(take: [(pick.key, pick.counter)], isSteal: true, target: target, hosts: hosts)
    }
}

extension LeaseBalancer {
    /// FNV-1a: the same for a host name in every process (String.hashValue is seeded per process).
    static func stableHash(_ s: String) -> UInt64 { FNV1a.hash(s) }
}
