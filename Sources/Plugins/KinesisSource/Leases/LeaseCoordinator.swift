import AWSCore
import Logging
import Metrics
import PipelineHost
import Synchronization

/// The read loop of a host that shares the stream through a lease table (the KCL's algorithm): every
/// `failover_time / 3` it scans the table, creates leases for new shards, takes expired leases or steals one
/// towards an even share, restores the keyed state stored with each lease it takes, and runs one reader per
/// held lease; a reader stops as soon as its lease is lost.
struct LeaseCoordinator: Sendable {
    let api: KinesisStreamClient
    let settings: KinesisSource.Settings
    let leases: KinesisSource.LeaseSettings
    let keeper: LeaseKeeper
    let funnel: BatchFunnel
    let context: SourceContext
    /// Where each scan's view of the lease table goes (the status page's shard owners).
    var onScan: @Sendable ([Lease]) -> Void = { _ in }

    private final class Finished: Sendable {
        /// Shard, the tenure its reader read in, and how it ended.
        let outcomes = Mutex<[(String, UInt64, Result<ShardReader.Outcome, any Error>)]>([])
    }

    func run() async throws {
        let table = keeper.table
        try await table.ensureExists()
        keeper.startRenewing()
        let taken = Counter(label: "kinesis_leases_taken_total", dimensions: [("worker", keeper.me)])
        let stolen = Counter(label: "kinesis_leases_stolen_total", dimensions: [("worker", keeper.me)])
        var balancer = LeaseBalancer(me: keeper.me, failoverTime: leases.failoverTime)
        /// The running reader of each shard, with the tenure it reads in.
        var readers: [String: (task: Task<Void, Never>, tenure: UInt64)] = [:]
        var readToEnd: Set<String> = []
        let finished = Finished()
        defer { for r in readers.values { r.task.cancel() } }
        var lastDiscovery = -Double.infinity
        var failures = 0
        let tick = leases.failoverTime / 3
        context.logger.info("sharing the stream through leases", metadata: [
            "table": "\(table.name)", "worker": "\(keeper.me)", "failover_time": "\(leases.failoverTime)"])

        while !context.isStopping && !Task.isCancelled {
            for key in keeper.drainLost() {
                readers.removeValue(forKey: key)?.task.cancel()
                // Its records after our last checkpoint are read again by the new owner, with the state stored
                // in the lease: ours must neither be checkpointed by us nor linger in memory.
                context.forgetPartition(key)
            }
            // A parent's keys live on in its children: whoever takes a child inherits them from the parent's
            // lease (below), so this host's copy can go.
            for key in keeper.drainEnded() { context.forgetPartition(key) }
            for (key, tenure, result) in finished.outcomes.withLock({ o in defer { o = [] }; return o }) {
                // A reader of an earlier tenure (cancelled when its lease was lost) may end after the shard was
                // taken again: its end says nothing about the current reader.
                guard readers[key]?.tenure == tenure else { continue }
                readers[key] = nil
                if case .failure(let error) = result, !context.isStopping, keeper.isHeld(key) { throw error }
                // An ended shard stays held until its SHARD_END checkpoint is stored (then the keeper drops it).
                if case .success(let outcome) = result, outcome != .stopped { readToEnd.insert(key) }
            }
            readToEnd.formIntersection(keeper.heldKeys)
            // Every held lease has a running reader and every reader a held lease: a lease held with nothing
            // reading it would keep its shard silent for as long as this host lives.
            for key in readers.keys where !keeper.isHeld(key) {
                readers.removeValue(forKey: key)?.task.cancel()
            }
            for key in keeper.heldKeys.sorted() where readers[key] == nil && !readToEnd.contains(key) {
                context.logger.warning("a held lease had no reader; giving it back", metadata: ["shard": "\(key)"])
                await giveBack(key)
            }
            do {
                var all = try await table.scan()
                let now = MonotonicClock.seconds()
                if now - lastDiscovery >= settings.discoveryInterval {
                    if try await createMissingLeases(all) { all = try await table.scan() }
                    lastDiscovery = now
                }
                onScan(all)
                balancer.observe(all, now: now)
                let decision = balancer.decide(all, now: now, held: keeper.heldKeys, randomSeed: UInt64(now * 1000))
                for (key, counter) in decision.take {
                    guard let lease = try await table.take(key, counter: counter, owner: keeper.me) else { continue }
                    keeper.noteTaken(key)
                    if decision.isSteal { stolen.increment() } else { taken.increment() }
                    context.logger.info(decision.isSteal ? "lease stolen towards an even share" : "lease taken", metadata: [
                        "shard": "\(key)", "checkpoint": "\(lease.checkpoint)", "target": "\(decision.target)", "hosts": "\(decision.hosts)"])
                    if lease.isEnded {
                        try? await table.release(key, owner: keeper.me)
                        continue
                    }
                    // The shard's keys get the state its last owner checkpointed before any record of it flows.
                    // Only once that worked is the lease ours to renew: a lease held without a reader is a silent shard.
                    do {
                        let stored = try await keeper.stateStore.decode(lease.state, shard: key)
                        let inherited = try await parentStates(of: lease)
                        readers.removeValue(forKey: key)?.task.cancel()
                        try await context.restorePartition(key, states: stored.states, covered: stored.covered,
                                                           checkpointed: SequenceNumber.isSequence(lease.checkpoint), inheriting: inherited)
                    } catch {
                        try? await table.release(key, owner: keeper.me)
                        throw error
                    }
                    // The restore may have waited for this host's earlier records of the shard: renew once, so
                    // the local deadline counts from a write that landed after it.
                    let sent = MonotonicClock.seconds()
                    guard let counter = try? await keeper.renewTable.renew(key, owner: keeper.me) else {
                        context.logger.warning("lease lost while its state was restored", metadata: ["shard": "\(key)"])
                        context.forgetPartition(key)
                        continue
                    }
                    var renewed = lease
                    renewed.counter = counter
                    let tenure = keeper.adopt(renewed, renewedAt: sent)
                    readToEnd.remove(key)
                    readers[key] = (startReader(key, tenure: tenure, from: start(for: lease.checkpoint), finished: finished), tenure)
                }
                failures = 0
            } catch let error as PipelineError {
                throw error
            } catch {
                if Task.isCancelled || context.isStopping { return }
                failures += 1
                guard failures < settings.retry.maxAttempts else {
                    throw PipelineError(.source, "lease table calls failed \(failures) times in a row: \(error)", at: table.name, underlying: error)
                }
                context.logger.warning("lease table call failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(tick))
        }
    }

    /// Adds a lease for every listed shard without one; true when it created any.
    private func createMissingLeases(_ existing: [Lease]) async throws -> Bool {
        let known = Set(existing.map(\.key))
        let shards = try await api.listShards()
        let listed = Set(shards.map(\.id))
        var created = false
        for shard in shards where !known.contains(shard.id) {
            // A child of a shard this application reads continues from its first record.
            let childOfRead = shard.parents.contains { known.contains($0) || listed.contains($0) }
            let checkpoint = childOfRead ? "TRIM_HORIZON" : initialCheckpoint
            let lease = Lease(key: shard.id, owner: nil, counter: 0, checkpoint: checkpoint, parents: shard.parents)
            if try await keeper.table.create(lease) { created = true }
        }
        return created
    }

    private var initialCheckpoint: String {
        switch settings.start {
        case .latest: return "LATEST"
        case .atTimestamp: return "AT_TIMESTAMP"
        default: return "TRIM_HORIZON"
        }
    }

    private func start(for checkpoint: String) -> IteratorStart {
        if SequenceNumber.isSequence(checkpoint) { return .afterSequence(checkpoint) }
        switch checkpoint {
        case "LATEST": return .latest
        case "AT_TIMESTAMP": return settings.start
        default: return .trimHorizon
        }
    }

    /// A child shard not yet checkpointed starts with its parents' keys: a user whose hash range moved to it
    /// keeps its rolling state whichever host read the parent. (Both children of a split inherit every key of
    /// the parent; a key that never appears in a child is forgotten after `idle_timeout`.)
    private func parentStates(of lease: Lease) async throws -> [(partition: String, states: [String: JSONValue])] {
        guard !SequenceNumber.isSequence(lease.checkpoint), !lease.parents.isEmpty else { return [] }
        var out: [(partition: String, states: [String: JSONValue])] = []
        for parent in lease.parents.sorted() {
            guard let p = try await keeper.table.get(parent), p.isEnded else { continue }
            out.append((parent, try await keeper.stateStore.decode(p.state, shard: parent).states))
        }
        return out
    }

    /// Releases a lease this host holds but does not read, so that a scan (this host's or another's) takes it
    /// properly, with its stored state.
    private func giveBack(_ key: String) async {
        keeper.drop(key, lost: false)
        context.forgetPartition(key)
        do { try await keeper.table.release(key, owner: keeper.me) } catch {
            context.logger.warning("could not release a lease; it expires after the failover time", metadata: ["shard": "\(key)", "error": "\(error)"])
        }
    }

    private func startReader(_ key: String, tenure: UInt64, from start: IteratorStart, finished: Finished) -> Task<Void, Never> {
        var reader = ShardReader(shardID: key, start: start, api: api, settings: settings, funnel: funnel, context: context)
        reader.tenure = tenure
        reader.lease = { [keeper] in keeper.status(key, tenure: tenure) }
        return Task {
            let result: Result<ShardReader.Outcome, any Error>
            do { result = .success(try await reader.run()) } catch {
                result = Task.isCancelled ? .success(.stopped) : .failure(error)
            }
            finished.outcomes.withLock { $0.append((key, tenure, result)) }
        }
    }
}
