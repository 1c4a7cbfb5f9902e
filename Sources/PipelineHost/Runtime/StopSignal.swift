import Synchronization

/// A stop request shared by the runner and the source: set once by a signal or a failure.
public final class StopSignal: Sendable {
    private struct State {
        var stopping = false
        var sleepers: [UInt64: CheckedContinuation<Void, Never>] = [:]
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

    /// Sleeps `seconds` or until stopped.
    func sleep(seconds: Double) async {
        let id: UInt64 = state.withLock { s in s.nextID += 1; return s.nextID }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { s in
                        if s.stopping { return true }
                        s.sleepers[id] = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(max(0, seconds) * 1e9))
                let c = self.state.withLock { $0.sleepers.removeValue(forKey: id) }
                c?.resume()
            }
            await group.next()
            group.cancelAll()
            let c = self.state.withLock { $0.sleepers.removeValue(forKey: id) }
            c?.resume()
        }
    }
}
