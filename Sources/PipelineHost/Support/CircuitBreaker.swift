import Synchronization

/// A circuit breaker for calls to one dependency: after `failureThreshold` consecutive failures the circuit opens
/// and calls are refused at once for `openFor` seconds; then one probe call is let through (half-open): its
/// success closes the circuit, its failure opens it again for another `openFor`.
///
/// Why: a dependency that times out makes every call wait the whole timeout (and its retries) before the
/// failure path runs; with a fallback that path is fast, so a dead endpoint should cost one timeout per
/// `openFor`, not one per call.
public final class CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Double)
        /// The probe is out; other calls are refused until it returns.
        case halfOpen
    }

    /// What `acquire` decided for one call.
    public enum Permit: Sendable, Equatable {
        case call
        /// The one call that tests an open circuit.
        case probe
        /// Refused: the circuit is open (seconds until a probe is allowed).
        case refused(retryIn: Double)
    }

    public let failureThreshold: Int
    public let openFor: Double
    private let now: @Sendable () -> Double
    private let state = Mutex(State.closed(failures: 0))
    /// Called with true when the circuit opens, false when it closes (a gauge, a log line).
    private let onChange: @Sendable (Bool) -> Void

    public init(failureThreshold: Int, openFor: Double, now: @escaping @Sendable () -> Double = MonotonicClock.seconds,
                onChange: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.failureThreshold = failureThreshold
        self.openFor = openFor
        self.now = now
        self.onChange = onChange
    }

    public convenience init(config: ComponentConfig, onChange: @escaping @Sendable (Bool) -> Void = { _ in }) {
        let c = config.nested("circuit_breaker")
        self.init(failureThreshold: c.int("failures"), openFor: c.seconds("open_for"), onChange: onChange)
    }

    public var current: State { state.withLock { $0 } }

    public func acquire() -> Permit {
        guard failureThreshold > 0 else { return .call }
        let t = now()
        return state.withLock { s in
            switch s {
            case .closed: return .call
            case .halfOpen: return .refused(retryIn: 0)
            case .open(let until):
                if t < until { return .refused(retryIn: until - t) }
                s = .halfOpen
                return .probe
            }
        }
    }

    public func recordSuccess() {
        guard failureThreshold > 0 else { return }
        let closed = state.withLock { s -> Bool in
            let wasOpen = !Self.isClosed(s)
            s = .closed(failures: 0)
            return wasOpen
        }
        if closed { onChange(false) }
    }

    public func recordFailure() {
        guard failureThreshold > 0 else { return }
        let t = now()
        let opened = state.withLock { s -> Bool in
            switch s {
            case .closed(let n):
                if n + 1 >= failureThreshold {
                    s = .open(until: t + openFor)
                    return true
                }
                s = .closed(failures: n + 1)
                return false
            case .halfOpen, .open:
                s = .open(until: t + openFor)
                return false
            }
        }
        if opened { onChange(true) }
    }

    private static func isClosed(_ s: State) -> Bool {
        if case .closed = s { return true }
        return false
    }
}
