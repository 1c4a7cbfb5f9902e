import Synchronization

/// Latencies in HdrHistogram's log-linear buckets: exact below 128 µs, then 64 buckets per power of two (at
/// most 1/64 ≈ 1.6 % relative error) up to 2^36 µs (19 h; larger values count in the last bucket). Fixed
/// memory (16 KB), O(1) per value, and percentiles without keeping samples.
///
/// Keeps two views: everything since start (for Prometheus' cumulative buckets and CloudWatch interval deltas)
/// and a recent window (the last `window` to 2 × `window` seconds, for the status line and page).
public final class LatencyHistogram: Sendable {
    static let linear = 128
    static let perOctave = 64
    static let bucketCount = linear + 30 * perOctave

    private struct State {
        var total = LatencySnapshot()
        var current = LatencySnapshot()
        var previous = LatencySnapshot()
        var currentStart: Double

        mutating func rotate(now: Double, window: Double) {
            guard now - currentStart >= window else { return }
            // Two windows or more without a rotation: the previous one is empty too.
            previous = now - currentStart >= 2 * window ? LatencySnapshot() : current
            current = LatencySnapshot()
            currentStart = now
        }
    }

    private let state: Mutex<State>
    let window: Double

    public init(window: Double = 10) {
        self.window = window
        state = Mutex(State(currentStart: MonotonicClock.seconds()))
    }

    /// Records `count` events that took `seconds` each (negative values, clock steps, count as 0).
    public func record(seconds: Double, count: Int = 1) {
        guard count > 0, !seconds.isNaN else { return }
        let index = Self.index(micros: seconds)
        let now = MonotonicClock.seconds()
        state.withLock { s in
            s.rotate(now: now, window: window)
            s.total.add(index: index, seconds: seconds, count: count)
            s.current.add(index: index, seconds: seconds, count: count)
        }
    }

    /// Records one event per value, under one lock.
    public func record(secondsEach values: [Double]) {
        guard !values.isEmpty else { return }
        let now = MonotonicClock.seconds()
        state.withLock { s in
            s.rotate(now: now, window: window)
            for v in values where !v.isNaN {
                let index = Self.index(micros: v)
                s.total.add(index: index, seconds: v, count: 1)
                s.current.add(index: index, seconds: v, count: 1)
            }
        }
    }

    /// Everything recorded since start.
    public var total: LatencySnapshot { state.withLock { $0.total } }

    /// The recent window: the values of the last `window` to 2 × `window` seconds.
    public var recent: LatencySnapshot {
        let now = MonotonicClock.seconds()
        return state.withLock { s in
            s.rotate(now: now, window: window)
            var r = s.previous
            r.merge(s.current)
            return r
        }
    }

    /// The bucket of a latency in seconds.
    static func index(micros seconds: Double) -> Int {
        let us = seconds <= 0 ? 0 : seconds * 1e6
        guard us < Double(1 << 36) else { return bucketCount - 1 }
        let v = UInt64(us)
        if v < UInt64(linear) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount  // ≥ 7
        let shift = msb - 6                      // v >> shift is in 64..<128
        return linear + (shift - 1) * perOctave + Int(v >> UInt64(shift)) - perOctave
    }

    /// The smallest and the next bucket's smallest value of a bucket, in seconds.
    static func bounds(of index: Int) -> (lower: Double, upper: Double) {
        if index < linear { return (Double(index) / 1e6, Double(index + 1) / 1e6) }
        let k = index - linear
        let shift = k / perOctave + 1
        let mantissa = UInt64(k % perOctave + perOctave)
        return (Double(mantissa << UInt64(shift)) / 1e6, Double((mantissa + 1) << UInt64(shift)) / 1e6)
    }
}

/// The counts of a `LatencyHistogram` at one moment; a value type, so intervals are differences of two.
public struct LatencySnapshot: Sendable, Equatable {
    /// Sparse while small: most histograms use a few dozen buckets.
    var counts: [Int: Int] = [:]
    public private(set) var count = 0
    public private(set) var sum = 0.0
    public private(set) var max = 0.0

    public init() {}

    mutating func add(index: Int, seconds: Double, count n: Int) {
        counts[index, default: 0] += n
        count += n
        sum += Swift.max(0, seconds) * Double(n)
        max = Swift.max(max, seconds)
    }

    mutating func merge(_ other: LatencySnapshot) {
        for (i, n) in other.counts { counts[i, default: 0] += n }
        count += other.count
        sum += other.sum
        max = Swift.max(max, other.max)
    }

    /// What was recorded since `earlier` (a snapshot of the same histogram). The maximum is that of the whole
    /// histogram's buckets in the interval (the exact maximum is only known overall).
    public func since(_ earlier: LatencySnapshot) -> LatencySnapshot {
        var d = LatencySnapshot()
        for (i, n) in counts {
            let m = n - (earlier.counts[i] ?? 0)
            if m > 0 { d.counts[i] = m }
        }
        d.count = count - earlier.count
        d.sum = sum - earlier.sum
        d.max = d.counts.keys.max().map { Swift.min(max, LatencyHistogram.bounds(of: $0).upper) } ?? 0
        return d
    }

    /// The value at quantile q (0...1): the middle of the bucket holding it (exact below 128 µs; within 1.6 %
    /// above), capped at the maximum. Nil when empty.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = Swift.max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for i in counts.keys.sorted() {
            seen += counts[i]!
            if seen >= rank {
                let b = LatencyHistogram.bounds(of: i)
                return Swift.min(max, (b.lower + b.upper) / 2)
            }
        }
        return max
    }

    public var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// How many values were at most `bound` seconds (a bucket counts when it lies wholly below the bound):
    /// Prometheus' cumulative `le` buckets.
    public func countAtMost(_ bound: Double) -> Int {
        counts.reduce(0) { $0 + (LatencyHistogram.bounds(of: $1.key).upper <= bound + 1e-12 ? $1.value : 0) }
    }
}
