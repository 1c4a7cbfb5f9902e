import PipelineHost
import Synchronization

/// Carries batches from the shard readers (many tasks) to the one task that may call `SourceContext.emit`.
///
/// FIFO over all shards, so each shard's batches leave in the order it read them, and a parent's last batch
/// leaves before its child's first. Each shard may have at most `perShard` batches waiting: a reader that gets
/// ahead suspends in `put` (backpressure reaches GetRecords instead of memory).
final class BatchFunnel: Sendable {
    enum Item: Sendable {
        /// A shard's batch; `tenure` is the lease tenure it was read in (nil without leases).
        case batch(SourceBatch, shard: String, tenure: UInt64?)
        /// A timer tick, so the emitting task can let a due checkpoint barrier through while no shard has data.
        case tick
    }

    fileprivate enum PutStep {
        case done
        case retry
        case finished
    }

    private struct State {
        var queue: [(shard: String?, item: Item)] = []
        var head = 0
        var buffered: [String: Int] = [:]
        var consumer: CheckedContinuation<Item?, Never>?
        var blocked: [String: CheckedContinuation<PutStep, Never>] = [:]
        var tickQueued = false
        var finished = false

        mutating func popFirst() -> (shard: String?, item: Item)? {
            guard head < queue.count else { return nil }
            let first = queue[head]
            head += 1
            if head > 64 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return first
        }
    }

    let perShard: Int
    private let state = Mutex(State())

    init(perShard: Int) {
        self.perShard = max(1, perShard)
    }


    /// Queues a batch of `shard`, waiting while that shard already has `perShard` batches queued.
    /// Returns false once the funnel is finished (the source is stopping).
    func put(_ batch: SourceBatch, shard: String, tenure: UInt64? = nil) async -> Bool {
        while true {
            let step: PutStep = await withCheckedContinuation { (c: CheckedContinuation<PutStep, Never>) in
                enum Action { case resume(PutStep), handOff(CheckedContinuation<Item?, Never>), wait }
                let action: Action = state.withLock { s in
                    if s.finished { return .resume(.finished) }
                    if let consumer = s.consumer {
                        // The consumer waits only on an empty queue: handing over directly keeps FIFO order.
                        s.consumer = nil
                        return .handOff(consumer)
                    }
                    if s.buffered[shard, default: 0] < perShard {
                        s.buffered[shard, default: 0] += 1
                        s.queue.append((shard, .batch(batch, shard: shard, tenure: tenure)))
                        return .resume(.done)
                    }
                    // A second put for the same shard never waits at once: one reader per shard.
                    s.blocked[shard] = c
                    return .wait
                }
                switch action {
                case .resume(let step): c.resume(returning: step)
                case .handOff(let consumer):
                    consumer.resume(returning: .batch(batch, shard: shard, tenure: tenure))
                    c.resume(returning: .done)
                case .wait: break
                }
            }
            switch step {
            case .done: return true
            case .finished: return false
            case .retry: continue
            }
        }
    }

    /// The next item in arrival order; nil once finished and drained.
    func next() async -> Item? {
        await withCheckedContinuation { (c: CheckedContinuation<Item?, Never>) in
            let (item, resumeNow, wake): (Item?, Bool, CheckedContinuation<PutStep, Never>?) = state.withLock { s in
                if let (shard, item) = s.popFirst() {
                    var wake: CheckedContinuation<PutStep, Never>?
                    if let shard {
                        s.buffered[shard, default: 1] -= 1
                        wake = s.blocked.removeValue(forKey: shard)
                    } else {
                        s.tickQueued = false
                    }
                    return (item, true, wake)
                }
                if s.finished { return (nil, true, nil) }
                s.consumer = c
                return (nil, false, nil)
            }
            if resumeNow { c.resume(returning: item) }
            wake?.resume(returning: .retry)
        }
    }

    /// Queues a tick unless one is already waiting.
    func tick() {
        let consumer: CheckedContinuation<Item?, Never>? = state.withLock { s in
            if s.finished || s.tickQueued { return nil }
            if let c = s.consumer {
                s.consumer = nil
                return c
            }
            s.tickQueued = true
            s.queue.append((nil, .tick))
            return nil
        }
        consumer?.resume(returning: .tick)
    }

    /// No more puts: waiting readers return false; `next()` drains what is queued, then returns nil.
    func finish() {
        let (consumer, blocked): (CheckedContinuation<Item?, Never>?, [CheckedContinuation<PutStep, Never>]) = state.withLock { s in
            s.finished = true
            let c = s.head < s.queue.count ? nil : s.consumer
            if c != nil { s.consumer = nil }
            let b = Array(s.blocked.values)
            s.blocked = [:]
            return (c, b)
        }
        consumer?.resume(returning: nil)
        for b in blocked { b.resume(returning: .finished) }
    }
}
