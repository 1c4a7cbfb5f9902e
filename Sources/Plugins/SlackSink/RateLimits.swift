import PipelineHost
import Synchronization

/// A token bucket for one Slack channel: `rate` messages per second on average, up to `burst` at once, and a
/// pause imposed by a 429's Retry-After that every sender to the channel honours.
final class TokenBucket: Sendable {
    private struct State {
        var tokens: Double
        var last: Double
        var blockedUntil: Double = 0
    }

    let rate: Double
    let burst: Double
    private let state: Mutex<State>

    init(rate: Double, burst: Int) {
        self.rate = max(rate, 0.001)
        self.burst = Double(max(burst, 1))
        state = Mutex(State(tokens: Double(max(burst, 1)), last: MonotonicClock.seconds()))
    }

    /// How long to wait before a message may go out; takes a token when that is now.
    func reserve(now: Double = MonotonicClock.seconds()) -> Double {
        state.withLock { s in
            s.tokens = min(burst, s.tokens + (now - s.last) * rate)
            s.last = now
            if now < s.blockedUntil { return s.blockedUntil - now }
            if s.tokens >= 1 {
                s.tokens -= 1
                return 0
            }
            return (1 - s.tokens) / rate
        }
    }

    /// How long `acquire` would wait now (0 when a token is free), without taking one.
    func waitTime(now: Double = MonotonicClock.seconds()) -> Double {
        state.withLock { s in
            if s.blockedUntil > now { return s.blockedUntil - now }
            let tokens = min(burst, s.tokens + (now - s.last) * rate)
            return tokens >= 1 ? 0 : (1 - tokens) / rate
        }
    }

    func acquire() async throws {
        while true {
            let wait = reserve()
            if wait <= 0 { return }
            try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
        }
    }

    /// Slack said 429: nothing goes to this channel for `seconds`, and the burst starts empty afterwards.
    func block(for seconds: Double, now: Double = MonotonicClock.seconds()) {
        state.withLock { s in
            s.blockedUntil = max(s.blockedUntil, now + seconds)
            s.tokens = 0
            s.last = max(s.last, now)
        }
    }
}

/// Counts arrivals to tell an alert storm: more than `threshold` alerts within `window` seconds. Keeps only the
/// last `threshold + 1` arrival times.
final class StormDetector: Sendable {
    let threshold: Int
    let window: Double
    private let arrivals = Mutex<[Double]>([])

    init(threshold: Int, window: Double) {
        self.threshold = max(threshold, 1)
        self.window = window
    }

    /// Registers an alert; true when it is beyond the threshold (to be summarised).
    func arrive(now: Double = MonotonicClock.seconds()) -> Bool {
        arrivals.withLock { a in
            a.append(now)
            if a.count > threshold + 1 { a.removeFirst(a.count - threshold - 1) }
            return a.count == threshold + 1 && now - a[0] < window
        }
    }
}

/// State that must outlive one sink instance: in Lambda mode the pipeline (and the sink) is built per invocation,
/// but the channel's rate limit and the storm window belong to the process.
enum SlackShared {
    private static let buckets = Mutex<[String: TokenBucket]>([:])
    private static let storms = Mutex<[String: StormDetector]>([:])

    static func bucket(_ key: String, rate: Double, burst: Int) -> TokenBucket {
        buckets.withLock { b in
            if let existing = b[key], existing.rate == max(rate, 0.001), existing.burst == Double(max(burst, 1)) { return existing }
            let new = TokenBucket(rate: rate, burst: burst)
            b[key] = new
            return new
        }
    }

    static func storm(_ key: String, threshold: Int, window: Double) -> StormDetector {
        storms.withLock { s in
            if let existing = s[key], existing.threshold == max(threshold, 1), existing.window == window { return existing }
            let new = StormDetector(threshold: threshold, window: window)
            s[key] = new
            return new
        }
    }
}
