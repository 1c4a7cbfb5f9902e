/// The time by which the current unit of work must be done, when there is one: a Lambda invocation's deadline
/// (set by the Lambda loop for the tasks of one invocation, and inherited by every task the pipeline starts).
///
/// Why: a sink that waits (a rate limit's Retry-After, a backoff, a slow request) past the invocation's end is
/// killed with the function, and the event is retried from scratch; one that sees the deadline coming gives up
/// in time and fails the invocation with its reason instead.
public enum WorkDeadline {
    /// Monotonic seconds (`MonotonicClock.seconds()`), nil outside such work.
    @TaskLocal public static var current: Double?

    /// Seconds left before the deadline (nil: none), never negative.
    public static var remaining: Double? {
        current.map { max(0, $0 - MonotonicClock.seconds()) }
    }

    /// Whether waiting `seconds` (and then having `reserve` seconds to finish) still ends before the deadline.
    public static func allows(waiting seconds: Double, reserve: Double = 1) -> Bool {
        guard let remaining else { return true }
        return seconds + reserve <= remaining
    }
}
