/// What one window holds for one event: the count, the correctly rounded sum (nil when it leaves the double
/// range) and the largest value (−∞ when empty or when max is not tracked).
struct WindowStats: Sendable {
    var count: Int
    var sum: Double?
    var max: Double
}

/// The windows of a `rolling_aggregates` transform, as its keys' states need them.
struct WindowShape: Sendable {
    /// Window lengths in seconds, in output order.
    var lengths: [Double]
    /// Keep a monotonic deque per window for `max`.
    var trackMax: Bool
    /// allowed_lateness + the longest window: a key keeps its events newer than its newest time minus this.
    var keep: Double
}

/// One key's recent events in (time, arrival) order, and per window a running cursor over them, so an in-order
/// event costs O(1) amortised whatever the number of events in its windows.
///
/// `times`/`values` hold the events from index `head` on; the ones before `head` are pruned (no on-time event
/// can see them any more) and removed in one move once they are at least half the arrays (amortised O(1),
/// no `removeFirst` per event). `prunedNewest` is the newest pruned time, so "seconds since previous" survives
/// pruning.
///
/// Each window's cursor covers the events `start..<times.count` that the window of the key's newest event
/// time holds (time > newest − W), with their exact sum and, when `max` is computed, a monotonic deque of
/// indices whose values decrease. An in-order event (time ≥ the key's newest) moves `start` forward past the
/// events that left its window, reads the cursor, then appends itself. An out-of-order event (behind the key's
/// newest but within allowed_lateness; rare) is answered by scanning its windows and inserted in place, and the
/// key's cursors are rebuilt: O(events in the window) for that key.
struct KeyState: Sendable {
    var times: [Double] = []
    var values: [Double] = []
    var head = 0
    var prunedNewest: Double?
    /// The source partition of the key's latest record (nil for unpartitioned sources such as files).
    var partition: String?
    var cursors: [WindowCursor]

    init(windowCount: Int) {
        cursors = Array(repeating: WindowCursor(), count: windowCount)
    }

    /// The key's newest event time (−∞ for a key without events).
    var newest: Double { times.count > head ? times[times.count - 1] : (prunedNewest ?? -.infinity) }

    /// The kept events, oldest first.
    var liveTimes: ArraySlice<Double> { times[head...] }
    var liveValues: ArraySlice<Double> { values[head...] }

    /// Fills `stats` with what each window holds for an event at `t` (the key's events strictly before it in
    /// (time, arrival) order with time > t − W), inserts the event, prunes, and returns the time of the key's
    /// previous event (nil for its first). The caller has checked lateness: t ≥ newest − allowed_lateness.
    /// `work` counts the elementary steps (events visited), for the complexity test.
    mutating func insert(time t: Double, value v: Double, shape: WindowShape, stats: inout [WindowStats], work: inout Int) -> Double? {
        stats.removeAll(keepingCapacity: true)
        let n = times.count
        let previous: Double?
        if n == head || t >= times[n - 1] {
            // In order: same-second events count in arrival order, so the window ends at the end of the arrays.
            for w in 0..<shape.lengths.count {
                cursors[w].advance(past: t - shape.lengths[w], times: times, values: values, end: n, work: &work)
                stats.append(cursors[w].stats(end: n, values: values, work: &work))
            }
            previous = n > head ? times[n - 1] : prunedNewest.flatMap { $0 <= t ? $0 : nil }
            times.append(t)
            values.append(v)
            for w in 0..<cursors.count { cursors[w].push(index: n, values: values, trackMax: shape.trackMax, work: &work) }
        } else {
            // Out of order: after every event with time <= t.
            let pos = upperBound(t, from: head, to: n)
            for length in shape.lengths {
                let start = upperBound(t - length, from: head, to: pos)
                var sum = ExactSum()
                var maximum = -Double.infinity
                for i in start..<pos {
                    sum.add(values[i])
                    maximum = max(maximum, values[i])
                }
                work += pos - start
                stats.append(WindowStats(count: pos - start, sum: sum.overflowed ? nil : sum.value, max: maximum))
            }
            previous = pos > head ? times[pos - 1] : prunedNewest.flatMap { $0 <= t ? $0 : nil }
            times.insert(t, at: pos)
            values.insert(v, at: pos)
            work += n - pos
            rebuild(shape: shape, work: &work)
        }
        prune(keep: shape.keep, work: &work)
        return previous
    }

    /// First index in `from..<to` whose time is > x (`to` when none).
    func upperBound(_ x: Double, from: Int, to: Int) -> Int {
        var lo = from, hi = to
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] <= x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Recomputes every cursor from the kept events, for the windows of the key's newest time.
    mutating func rebuild(shape: WindowShape, work: inout Int) {
        let n = times.count
        for w in 0..<cursors.count {
            var c = WindowCursor()
            c.start = n > head ? upperBound(times[n - 1] - shape.lengths[w], from: head, to: n) : n
            for i in c.start..<n { c.push(index: i, values: values, trackMax: shape.trackMax, work: &work) }
            cursors[w] = c
        }
    }

    /// Forgets the events no on-time event of this key can see: time <= newest − allowed_lateness − longest.
    /// (An accepted event has t ≥ newest − allowed_lateness, so its windows reach back to more than that.)
    mutating func prune(keep: Double, work: inout Int) {
        let n = times.count
        guard n > head else { return }
        let horizon = times[n - 1] - keep
        while head < n && times[head] <= horizon {
            prunedNewest = max(prunedNewest ?? -.infinity, times[head])
            head += 1
            work += 1
        }
        if head >= 16 && head * 2 >= n { compact(work: &work) }
    }

    /// Moves the kept events to the front of the arrays.
    mutating func compact(work: inout Int) {
        guard head > 0 else { return }
        let shift = head
        times.removeFirst(shift)
        values.removeFirst(shift)
        work += times.count
        head = 0
        for w in 0..<cursors.count { cursors[w].shift(by: shift) }
    }
}

/// One window's running aggregates over `start..<end` of its key's events.
struct WindowCursor: Sendable {
    var start = 0
    var sum = ExactSum()
    /// Indices (from `maxHead` on) of the events that can still be a window's maximum: values strictly
    /// decreasing from front to back. Empty unless `max` is computed.
    var maxQueue: [Int] = []
    var maxHead = 0

    /// Drops the events with time <= lower from the window.
    mutating func advance(past lower: Double, times: [Double], values: [Double], end: Int, work: inout Int) {
        while start < end && times[start] <= lower {
            sum.remove(values[start])
            start += 1
            work += 1
        }
        while maxHead < maxQueue.count && maxQueue[maxHead] < start {
            maxHead += 1
            work += 1
        }
        if maxHead >= 16 && maxHead * 2 >= maxQueue.count {
            maxQueue.removeFirst(maxHead)
            maxHead = 0
        }
    }

    mutating func stats(end: Int, values: [Double], work: inout Int) -> WindowStats {
        if sum.overflowed {
            // The running partials left the double range on the way (only with values near 1e308): sum the
            // window again from scratch; nil when even that overflows.
            sum.reset()
            for i in start..<end { sum.add(values[i]) }
            work += end - start
        }
        let maximum = maxHead < maxQueue.count ? values[maxQueue[maxHead]] : -.infinity
        return WindowStats(count: end - start, sum: sum.overflowed ? nil : sum.value, max: maximum)
    }

    /// Adds the event at `index` (the new last one) to the window.
    mutating func push(index: Int, values: [Double], trackMax: Bool, work: inout Int) {
        let v = values[index]
        sum.add(v)
        guard trackMax else { return }
        while maxQueue.count > maxHead && values[maxQueue[maxQueue.count - 1]] <= v {
            maxQueue.removeLast()
            work += 1
        }
        maxQueue.append(index)
    }

    /// The key's arrays lost their first `shift` elements.
    mutating func shift(by shift: Int) {
        start -= shift
        maxQueue = maxQueue[maxHead...].map { $0 - shift }
        maxHead = 0
    }
}
