import AWSCore
import Logging
import Metrics
import PipelineHost
import Synchronization

/// The leases this host holds: renews them every `failover_time / 3`, notices when one is lost, writes each
/// shard's checkpoint and keyed state into its lease, and releases them all at shutdown.
///
/// Renewal outlives the source's read loop on purpose: after a stop, the final checkpoint is still written
/// under the lease, and only then (`close`) are the leases released for other hosts to take at once.
final class LeaseKeeper: Sendable {
    struct Held: Sendable {
        var counter: Int64
        /// Monotonic time at which the last successful renewal (or the take) was *sent*: the write landed no
        /// earlier, so no other host can see the lease expire before this + the failover time.
        var renewedAt: Double
        /// The checkpoint stored in the lease (by the previous owner or by this host).
        var committed: String
        /// Which time this process holds the lease: a reader and the batches it read belong to one tenure, and
        /// nothing of an earlier tenure may be emitted or checkpointed in a later one.
        var tenure: UInt64
    }

    private struct State {
        var held: [String: Held] = [:]
        var lost: Set<String> = []
        /// Shards read to their end whose SHARD_END is stored: their children carry their keys on.
        var ended: Set<String> = []
        /// Every lease this process took: at close each is released if the table still names this host,
        /// also one it gave up locally (a lapsed renewal) or took while stopping.
        var taken: Set<String> = []
        var nextTenure: UInt64 = 1
    }

    let table: LeaseTable
    /// The same table through a client with a short timeout and one retry: a renewal that cannot finish well
    /// inside the failover time is worth nothing (the lease may be taken meanwhile).
    let renewTable: LeaseTable
    let me: String
    let failoverTime: Double
    let stateStore: LeaseStateStore
    let logger: Logger
    private let state = Mutex(State())
    private let renewer = Mutex<Task<Void, Never>?>(nil)
    private let heldGauge: Gauge
    private let lostCounter: Counter
    private let onClose: @Sendable () -> Void

    init(table: LeaseTable, renewTable: LeaseTable? = nil, me: String, failoverTime: Double, stateStore: LeaseStateStore, logger: Logger,
         onClose: @escaping @Sendable () -> Void = {}) {
        self.onClose = onClose
        self.table = table
        self.renewTable = renewTable ?? table
        self.me = me
        self.failoverTime = failoverTime
        self.stateStore = stateStore
        self.logger = logger
        heldGauge = Gauge(label: "kinesis_leases_held", dimensions: [("worker", me)])
        lostCounter = Counter(label: "kinesis_leases_lost_total", dimensions: [("worker", me)])
    }

    var heldKeys: Set<String> { state.withLock { Set($0.held.keys) } }

    func isHeld(_ key: String) -> Bool { state.withLock { $0.held[key] != nil } }

    /// How long after sending its last successful renewal this host still treats a lease as its own. Another
    /// host takes a lease once its counter stood still for the failover time as that host sees it, which starts
    /// no earlier than our renewal landed; a sixth of the failover time is left for the gap between a check
    /// and the read it allows.
    var localDeadline: Double { failoverTime * 5 / 6 }

    enum Status: Equatable {
        /// Held in this tenure and renewed within the local deadline: read and emit.
        case current
        /// Held in this tenure, but the local deadline passed without a renewal: read nothing more until a
        /// renewal succeeds (it proves the lease is still ours) or the lease is given up.
        case lapsed
        /// Not held in this tenure any more.
        case gone
    }

    func status(_ key: String, tenure: UInt64) -> Status {
        state.withLock { s in
            guard let h = s.held[key], h.tenure == tenure else { return .gone }
            return MonotonicClock.seconds() - h.renewedAt < localDeadline ? .current : .lapsed
        }
    }


    func tenure(of key: String) -> UInt64? { state.withLock { $0.held[key]?.tenure } }

    /// Lease keys lost since the last call (taken by another host, or not renewed within the failover time).
    func drainLost() -> Set<String> {
        state.withLock { s in
            defer { s.lost = [] }
            return s.lost
        }
    }

    /// A take of `key` succeeded in the table (before its state is restored and it is adopted).
    func noteTaken(_ key: String) { _ = state.withLock { $0.taken.insert(key) } }

    /// Shards whose SHARD_END was stored since the last call.
    func drainEnded() -> Set<String> {
        state.withLock { s in
            defer { s.ended = [] }
            return s.ended
        }
    }

    /// Starts holding a lease just taken; returns the tenure its reader and batches carry.
    /// `renewedAt`: when the take or the last renewal of `lease` was sent.
    @discardableResult
    func adopt(_ lease: Lease, renewedAt: Double) -> UInt64 {
        let tenure = state.withLock { s -> UInt64 in
            let t = s.nextTenure
            s.nextTenure += 1
            s.held[lease.key] = Held(counter: lease.counter, renewedAt: renewedAt, committed: lease.checkpoint, tenure: t)
            return t
        }
        heldGauge.record(state.withLock { $0.held.count })
        return tenure
    }

    /// Stops renewing a lease (its shard ended and SHARD_END is stored, or it was lost).
    func drop(_ key: String, lost: Bool) {
        state.withLock { s in
            s.held[key] = nil
            if lost { s.lost.insert(key) }
        }
        if lost { lostCounter.increment() }
        heldGauge.record(state.withLock { $0.held.count })
    }

    func startRenewing() {
        renewer.withLock { task in
            guard task == nil else { return }
            task = Task { [self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(failoverTime / 3))
                    if Task.isCancelled { return }
                    await renewAll()
                }
            }
        }
    }

    /// Renews every held lease at once: a round must stay well inside the failover time however many
    /// leases this host holds. A lapsed lease is renewed too: success proves no one took it (the write is
    /// conditional on the owner), and a failure gives it up.
    func renewAll() async {
        let keys = state.withLock { $0.held.keys.sorted() }
        await withTaskGroup(of: Void.self) { group in
            for key in keys { group.addTask { await self.renew(key) } }
        }
    }

    private func renew(_ key: String) async {
            let sent = MonotonicClock.seconds()
            do {
                if let counter = try await renewTable.renew(key, owner: me) {
                    state.withLock { s in
                        // A checkpoint written meanwhile may have bumped the counter further.
                        guard var h = s.held[key] else { return }
                        h.counter = max(h.counter, counter)
                        h.renewedAt = max(h.renewedAt, sent)
                        s.held[key] = h
                    }
                } else {
                    logger.warning("lease lost to another host", metadata: ["shard": "\(key)"])
                    drop(key, lost: true)
                }
            } catch {
                // Could not reach the table: the lease holds until the failover time is over, then another
                // host may take it, so stop reading it before that happens.
                let overdue = state.withLock { s in s.held[key].map { MonotonicClock.seconds() - $0.renewedAt >= localDeadline } ?? false }
                logger.warning("lease renewal failed", metadata: ["shard": "\(key)", "error": "\(error)", "giving_up": "\(overdue)"])
                if overdue { drop(key, lost: true) }
            }
    }

    /// Writes the checkpoint of every held shard whose position moved: the sequence number (or SHARD_END) and
    /// the shard's part of the keyed state.
    /// `covered`: the transforms whose state the parts hold (a shard without keys has no part but is covered).
    /// Returns the shards left out because their lease was past its local deadline: they are written by a later
    /// checkpoint once a renewal lands (or given up with the lease).
    @discardableResult
    func commit(positions: [String: JSONValue], parts: [String: [String: JSONValue]], covered: [String], stream: String) async throws -> [String] {
        var deferred: [String] = []
        for (shard, value) in positions.sorted(by: { $0.key < $1.key }) {
            guard let held = state.withLock({ $0.held[shard] }), let position = ShardPosition(value) else { continue }
            // Only a lease inside its local deadline may be checkpointed: past it, another host may own it.
            guard MonotonicClock.seconds() - held.renewedAt < localDeadline else {
                deferred.append(shard)
                continue
            }
            let checkpoint: String
            switch position {
            case .after(let s): checkpoint = s
            case .closed: checkpoint = Lease.shardEnd
            }
            if checkpoint == held.committed || held.committed == Lease.shardEnd { continue }
            // A position from an earlier tenure of this host can be older than what the last owner stored.
            if SequenceNumber.isSequence(checkpoint), SequenceNumber.isSequence(held.committed),
               !SequenceNumber.isAfter(checkpoint, held.committed) { continue }
            let stateText = try await stateStore.encode(parts[shard], stream: stream, shard: shard, checkpoint: checkpoint,
                                                        transforms: covered)
            if let counter = try await storeCheckpoint(shard, held: held, checkpoint: checkpoint, state: stateText) {
                state.withLock { s in
                    guard var h = s.held[shard], h.tenure == held.tenure else { return }
                    h.committed = checkpoint
                    h.counter = max(h.counter, counter)
                    s.held[shard] = h
                }
                if checkpoint == Lease.shardEnd {
                    // Children may start now; an ended lease is never taken again, so it needs no renewal.
                    logger.info("shard read to its end; SHARD_END stored", metadata: ["shard": "\(shard)"])
                    drop(shard, lost: false)
                    _ = state.withLock { $0.ended.insert(shard) }
                }
            } else {
                logger.warning("checkpoint not stored: the lease is no longer ours", metadata: ["shard": "\(shard)"])
                drop(shard, lost: true)
            }
        }
        return deferred
    }

    /// Writes a checkpoint conditional on the lease being ours in the version we last saw (owner and counter,
    /// as the KCL does). Our own renewal may have bumped the counter meanwhile: then the lease is read again and
    /// the write retried while it is still ours in the same tenure. nil when it is no longer ours.
    private func storeCheckpoint(_ shard: String, held: Held, checkpoint: String, state stateText: String?) async throws -> Int64? {
        var expected = held.counter
        for _ in 0..<3 {
            if let counter = try await table.checkpoint(shard, owner: me, counter: expected, checkpoint: checkpoint, state: stateText) {
                return counter
            }
            guard let current = try await table.get(shard), current.owner == me,
                  let now = state.withLock({ $0.held[shard] }), now.tenure == held.tenure else { return nil }
            expected = current.counter
        }
        return nil
    }

    /// Stops renewing and gives every held lease back.
    func close() async {
        let task = renewer.withLock { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        task?.cancel()
        let keys = state.withLock { s -> [String] in
            defer { s.held = [:] }
            return s.taken.union(s.held.keys).subtracting(s.ended).sorted()
        }
        for key in keys {
            do { try await table.release(key, owner: me) } catch {
                logger.warning("could not release lease; another host takes it after the failover time", metadata: ["shard": "\(key)", "error": "\(error)"])
            }
        }
        heldGauge.record(0)
        onClose()
    }
}
