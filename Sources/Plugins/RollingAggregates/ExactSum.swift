/// The exact sum of a multiset of doubles that values can be added to and removed from, read as the correctly
/// rounded double: Python's `math.fsum` of the values, whatever the order of additions and removals.
///
/// The sum is held as Shewchuk's non-overlapping partials (increasing magnitude, none zero), exactly as
/// CPython's `math.fsum` keeps them; removing `x` is adding `−x`, which is exact too, so a running window sum
/// never drifts. `value` is CPython's final rounding step, including its correction for half-even rounding
/// across partials (`fsum([1e-16, 1, 1e16])` is `1e16 + 2`). The partials stay few (bounded by the exponent
/// range, typically one to three), so adding is O(1).
///
/// A sum that leaves the double range on the way (CPython raises "intermediate overflow in fsum") sets
/// `overflowed`; the partials are then meaningless until `reset()`.
struct ExactSum: Sendable, Equatable {
    /// The partials, increasing magnitude. Up to `inlineCapacity` live inline (a running window sum rarely
    /// needs more than two or three), so a key's state is one allocation fewer per window and its sums sit in
    /// the same cache lines as its cursors; more spill to `spilled`, which then holds all of them.
    private var inline: (Double, Double, Double, Double) = (0, 0, 0, 0)
    private var spilled: [Double] = []
    private(set) var count = 0
    private(set) var overflowed = false
    static let inlineCapacity = 4

    init() {}

    static func == (a: ExactSum, b: ExactSum) -> Bool { a.overflowed == b.overflowed && a.partials == b.partials }

    /// The partials in increasing magnitude.
    var partials: [Double] { withPartials { Array($0) } }

    mutating func reset() {
        spilled.removeAll(keepingCapacity: true)
        count = 0
        overflowed = false
    }

    private func withPartials<R>(_ body: (UnsafeBufferPointer<Double>) -> R) -> R {
        if count > Self.inlineCapacity { return spilled.withUnsafeBufferPointer(body) }
        return withUnsafeBytes(of: inline) { body(UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: Double.self), count: count)) }
    }

    /// Adds `value` exactly (CPython `math_fsum_impl`, the loop over the partials).
    mutating func add(_ value: Double) {
        if overflowed { return }
        let n = count
        if n < Self.inlineCapacity {
            // At most n + 1 partials come out: they fit inline.
            count = withUnsafeMutableBytes(of: &inline) { Self.add(value, to: $0.baseAddress!.assumingMemoryBound(to: Double.self), count: n) }
        } else {
            if n == Self.inlineCapacity {
                spilled.removeAll(keepingCapacity: true)
                withPartials { spilled.append(contentsOf: $0) }
            }
            spilled.append(0)  // room for the one partial more there can be
            count = spilled.withUnsafeMutableBufferPointer { Self.add(value, to: $0.baseAddress!, count: n) }
            spilled.removeLast(spilled.count - max(count, 0))
            if count >= 0 && count <= Self.inlineCapacity {
                // Back to inline.
                let moved = spilled
                withUnsafeMutableBytes(of: &inline) { buf in
                    let p = buf.baseAddress!.assumingMemoryBound(to: Double.self)
                    for i in 0..<moved.count { p[i] = moved[i] }
                }
                spilled.removeAll(keepingCapacity: true)
            }
        }
        if count < 0 {
            overflowed = true
            count = 0
            spilled.removeAll()
        }
    }

    /// The CPython loop over `count` partials at `p`, which has room for one more; returns the new count, or
    /// −1 when the sum left the double range.
    @inline(__always)
    private static func add(_ value: Double, to p: UnsafeMutablePointer<Double>, count n: Int) -> Int {
        var x = value
        var i = 0
        var j = 0
        while j < n {
            var y = p[j]
            if x.magnitude < y.magnitude { (x, y) = (y, x) }
            let hi = x + y
            let lo = y - (hi - x)
            if lo != 0 {
                p[i] = lo
                i += 1
            }
            x = hi
            j += 1
        }
        if !x.isFinite { return -1 }
        if x != 0 {
            p[i] = x
            i += 1
        }
        return i
    }

    mutating func remove(_ value: Double) { add(-value) }

    /// The exact sum rounded to the nearest double, ties to even (CPython's rounding of the partials).
    /// 0.0 when empty. Meaningless when `overflowed`.
    var value: Double { withPartials { Self.rounded($0) } }

    private static func rounded(_ partials: UnsafeBufferPointer<Double>) -> Double {
        var n = partials.count
        guard n > 0 else { return 0.0 }
        n -= 1
        var hi = partials[n]
        var lo = 0.0
        // Sum from the top while the sum stays exact.
        while n > 0 {
            let x = hi
            n -= 1
            let y = partials[n]
            hi = x + y
            let yr = hi - x
            lo = y - yr
            if lo != 0 { break }
        }
        // Half-even rounding across several partials: when the rounding error lo is exactly half an ulp of hi
        // and the next partial pushes the same way, round away.
        if n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0)) {
            let y = lo * 2
            let x = hi + y
            let yr = x - hi
            if y == yr { hi = x }
        }
        return hi
    }
}
