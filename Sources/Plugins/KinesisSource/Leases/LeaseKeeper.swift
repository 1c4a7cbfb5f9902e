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
        /// Monotonic time of the last successful renewal (or take).
        var renewedAt: Double
        /// The checkpoint stored in the lease (by the previous owner or by this host).
        var committed: String
    }

    private struct State {
        var held: [String: Held] = [:]
        var lost: Set<String> = []
    }

    let table: LeaseTable
    let me: String
    let failoverTime: Double
    let stateStore: LeaseStateStore
    let logger: Logger
    private let state = Mutex(State())
    private let renewer = Mutex<Task<Void, Never>?>(nil)
    private let heldGauge: Gauge
    private let lostCounter: Counter
    private let onClose: @Sendable () -> Void

    init(table: LeaseTable, me: String, failoverTime: Double, stateStore: LeaseStateStore, logger: Logger,
         onClose: @escaping @Sendable () -> Void = {}) {
        self.onClose = onClose
        self.table = table
        self.me = me
        self.failoverTime = failoverTime
        self.stateStore = stateStore
        self.logger = logger
        heldGauge = Gauge(label: "kinesis_leases_held", dimensions: [("worker", me)])
        lostCounter = Counter(label: "kinesis_leases_lost_total", dimensions: [("worker", me)])
    }

    var heldKeys: Set<String> { state.withLock { Set($0.held.keys) } }

    func isHeld(_ key: String) -> Bool { state.withLock { $0.held[key] != nil } }

    /// Lease keys lost since the last call (taken by another host, or not renewed within the failover time).
    func drainLost() -> Set<String> {
        state.withLock { s in
            defer { s.lost = [] }
            return s.lost
        }
    }

    func adopt(_ lease: Lease) {
        state.withLock { $0.held[lease.key] = Held(counter: lease.counter, renewedAt: MonotonicClock.seconds(), committed: lease.checkpoint) }
        heldGauge.record(state.withLock { $0.held.count })
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
    /// leases this host holds.
    func renewAll() async {
        let keys = state.withLock { $0.held.keys.sorted() }
        await withTaskGroup(of: Void.self) { group in
            for key in keys { group.addTask { await self.renew(key) } }
        }
    }

    private func renew(_ key: String) async {
            do {
                if let counter = try await table.renew(key, owner: me) {
                    state.withLock { s in
                        s.held[key]?.counter = counter
                        s.held[key]?.renewedAt = MonotonicClock.seconds()
                    }
                } else {
                    logger.warning("lease lost to another host", metadata: ["shard": "\(key)"])
                    drop(key, lost: true)
                }
            } catch {
                // Could not reach the table: the lease holds until the failover time is over, then another
                // host may take it, so stop reading it before that happens.
                let overdue = state.withLock { s in s.held[key].map { MonotonicClock.seconds() - $0.renewedAt > failoverTime * 2 / 3 } ?? false }
                logger.warning("lease renewal failed", metadata: ["shard": "\(key)", "error": "\(error)", "giving_up": "\(overdue)"])
                if overdue { drop(key, lost: true) }
            }
    }

    /// Writes the checkpoint of every held shard whose position moved: the sequence number (or SHARD_END) and
    /// the shard's part of the keyed state.
    func commit(positions: [String: JSONValue], parts: [String: [String: JSONValue]], stream: String) async throws {
        for (shard, value) in positions.sorted(by: { $0.key < $1.key }) {
            guard let held = state.withLock({ $0.held[shard] }), let position = ShardPosition(value) else { continue }
            let checkpoint: String
            switch position {
            case .after(let s): checkpoint = s
            case .closed: checkpoint = Lease.shardEnd
            }
            if checkpoint == held.committed || held.committed == Lease.shardEnd { continue }
            // A position from an earlier tenure of this host can be older than what the last owner stored.
            if SequenceNumber.isSequence(checkpoint), SequenceNumber.isSequence(held.committed),
               !SequenceNumber.isAfter(checkpoint, held.committed) { continue }
            let stateText = try await stateStore.encode(parts[shard], stream: stream, shard: shard, checkpoint: checkpoint)
            if try await table.checkpoint(shard, owner: me, checkpoint: checkpoint, state: stateText) {
                state.withLock { $0.held[shard]?.committed = checkpoint }
                if checkpoint == Lease.shardEnd {
                    // Children may start now; an ended lease is never taken again, so it needs no renewal.
                    logger.info("shard read to its end; SHARD_END stored", metadata: ["shard": "\(shard)"])
                    drop(shard, lost: false)
                }
            } else {
                logger.warning("checkpoint not stored: the lease is no longer ours", metadata: ["shard": "\(shard)"])
                drop(shard, lost: true)
            }
        }
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
            return s.held.keys.sorted()
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
