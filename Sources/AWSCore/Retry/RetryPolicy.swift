/// When and how long to wait before retrying an AWS call. A value: copy it, tweak it, pass it per client.
///
/// Backoff is exponential with FULL jitter (sleep = random(0, min(maxBackoff, base · 2^retry))), which spreads
/// a burst of clients that failed together (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
public struct RetryPolicy: Sendable {
    /// Total attempts including the first; 1 disables retries.
    public var maxAttempts: Int
    public var baseBackoff: Duration
    public var maxBackoff: Duration

    public init(maxAttempts: Int = 3, baseBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(20)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseBackoff = baseBackoff
        self.maxBackoff = maxBackoff
    }

    /// The AWS SDK "standard" mode defaults.
    public static let `default` = RetryPolicy()
    public static let none = RetryPolicy(maxAttempts: 1)

    /// How an attempt failed, for the retry decision and the retry budget's cost.
    public enum Failure: Sendable, Equatable {
        case throttling
        case transient
        case timeout
        case notRetryable
    }

    /// Classifies an error: throttling (429 and throttling codes), 5xx and transient codes, network failures.
    /// Validation and other 4xx errors are never retried.
    public static func classify(_ error: any Error) -> Failure {
        switch error {
        case let aws as AWSError:
            if aws.isThrottling { return .throttling }
            if aws.isTransient { return .transient }
            return .notRetryable
        case let http as HTTPClientError:
            if http.kind == .timeout { return .timeout }
            return http.isTransient ? .transient : .notRetryable
        default:
            return .notRetryable
        }
    }

    /// Sleep before retry number `retry` (0 for the first retry).
    public func backoff(retry: Int, random: Double) -> Duration {
        let cap = maxBackoff.seconds
        let exponential = min(cap, baseBackoff.seconds * Double(1 << min(retry, 30)))
        return .nanoseconds(Int64(exponential * min(max(random, 0), 1) * 1e9))
    }

    public func backoff(retry: Int) -> Duration {
        backoff(retry: retry, random: Double.random(in: 0...1))
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
