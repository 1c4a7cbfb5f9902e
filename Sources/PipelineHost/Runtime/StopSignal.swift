import Synchronization

/// A stop request shared by the runner and the source: set once by a signal or a failure.
public final class StopSignal: Sendable {
    private struct State {
        var stopping = false
        var sleepers: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Sleeps whose wake-up (timer, cancellation) came before they had registered.
        var woken: Set<UInt64> = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    public var isStopping: Bool { state.withLock { $0.stopping } }

    public func stop() {
        let sleepers = state.withLock { s in
            s.stopping = true
            let all = Array(s.sleepers.values)
            s.sleepers = [:]
            return all
        }
        for c in sleepers { c.resume() }
    }

    /// Sleeps `seconds`, until stopped, or until the calling task is cancelled.
    ///
    /// Every wake-up path goes through `wake(id)` under the lock, and a wake-up that arrives before the sleeper
    /// registered is remembered, so no ordering of timer, stop and registration can leave a sleeper behind.
    func sleep(seconds: Double) async {
        guard seconds > 0, !Task.isCancelled else { return }
        let id: UInt64 = state.withLock { s in s.nextID += 1; return s.nextID }
        let timer = Task {
            try? await Task.sleep(nanoseconds: UInt64(min(seconds, 1e9) * 1e9))
            self.wake(id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s in
                    if s.stopping || s.woken.remove(id) != nil { return true }
                    s.sleepers[id] = c
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.wake(id)
        }
        timer.cancel()
        await timer.value
        state.withLock { _ = $0.woken.remove(id) }
    }

    private func wake(_ id: UInt64) {
        let c: CheckedContinuation<Void, Never>? = state.withLock { s in
            if let c = s.sleepers.removeValue(forKey: id) { return c }
            s.woken.insert(id)
            return nil
        }
        c?.resume()
    }
}
