import Synchronization

/// A token bucket shared by all calls of a client, as in the AWS SDKs' "standard" retry mode.
///
/// Each retry costs tokens (more after a timeout); each success refills a little. When a dependency is down
/// the bucket empties and calls fail after their first attempt, so retries do not multiply the load on a
/// service that is already failing.
public final class RetryBudget: Sendable {
    public struct Costs: Sendable {
        public var capacity: Int
        public var retryCost: Int
        public var timeoutCost: Int
        /// Tokens added by a success that needed no retry.
        public var successRefill: Int

        public init(capacity: Int = 500, retryCost: Int = 5, timeoutCost: Int = 10, successRefill: Int = 1) {
            self.capacity = capacity
            self.retryCost = retryCost
            self.timeoutCost = timeoutCost
            self.successRefill = successRefill
        }
    }

    public let costs: Costs
    private let tokens: Mutex<Int>

    public init(_ costs: Costs = Costs()) {
        self.costs = costs
        tokens = Mutex(costs.capacity)
    }

    public var available: Int { tokens.withLock { $0 } }

    /// Takes the cost of one retry; returns the tokens taken, or nil when the budget cannot pay for it.
    public func acquire(for failure: RetryPolicy.Failure) -> Int? {
        let cost = failure == .timeout ? costs.timeoutCost : costs.retryCost
        return tokens.withLock { t -> Int? in
            guard t >= cost else { return nil }
            t -= cost
            return cost
        }
    }

    /// Records a success: refunds what the call's last retry took, or a small refill if it took none.
    public func recordSuccess(refund: Int?) {
        let amount = refund ?? costs.successRefill
        tokens.withLock { $0 = min(costs.capacity, $0 + amount) }
    }
}
