import Synchronization

/// Counts the outstanding deliveries of one batch; when the count falls to zero the batch is done.
///
/// The pipeline holds one reference while routing; each delivery to a sink or to the dead-letter output
/// holds another until it is acknowledged. Out-of-order acknowledgements are normal.
final class AckToken: Sendable {
    let batchID: UInt64
    private let count = Atomic<Int>(1)
    private let tracker: AckTracker

    init(batchID: UInt64, tracker: AckTracker) {
        self.batchID = batchID
        self.tracker = tracker
    }

    func retain() { count.wrappingAdd(1, ordering: .relaxed) }

    func release() {
        let old = count.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue
        precondition(old > 0, "batch \(batchID) released more often than retained")
        if old == 1 { tracker.complete(batchID) }
    }
}

/// Knows which batches are still unacknowledged and wakes checkpoints waiting for a prefix of them.
final class AckTracker: Sendable {
    private struct State {
        var pending = Set<UInt64>()
        var waiters: [(upTo: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var aborted = false

        func isComplete(upTo: UInt64) -> Bool { aborted || (pending.min() ?? UInt64.max) > upTo }
    }
    private let state = Mutex(State())

    func register(_ id: UInt64) {
        state.withLock { _ = $0.pending.insert(id) }
    }

    func complete(_ id: UInt64) {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { s in
            s.pending.remove(id)
            let lowest = s.pending.min() ?? UInt64.max
            var ready: [CheckedContinuation<Void, Never>] = []
            s.waiters.removeAll { w in
                if lowest > w.upTo { ready.append(w.continuation); return true }
                return false
            }
            return ready
        }
        for c in ready { c.resume() }
    }

    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Whether every batch with an id <= `upTo` is acknowledged (or the pipeline failed).
    func isComplete(upTo: UInt64) -> Bool {
        state.withLock { $0.isComplete(upTo: upTo) }
    }
    var isAborted: Bool { state.withLock { $0.aborted } }

    /// The pipeline failed: wake every waiter; no checkpoint will be written.
    func abort() {
        let waiters = state.withLock { s in
            s.aborted = true
            let w = s.waiters.map(\.continuation)
            s.waiters = []
            return w
        }
        for c in waiters { c.resume() }
    }

    /// Returns once every batch with an id <= `upTo` is acknowledged.
    func waitUntilComplete(upTo: UInt64) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = state.withLock { s in
                if s.isComplete(upTo: upTo) { return true }
                s.waiters.append((upTo, c))
                return false
            }
            if now { c.resume() }
        }
    }
}

/// A one-shot flag.
final class Latch: Sendable {
    private let flag = Atomic<Bool>(false)
    /// True the first time only.
    func trip() -> Bool { !flag.exchange(true, ordering: .acquiringAndReleasing) }
}
