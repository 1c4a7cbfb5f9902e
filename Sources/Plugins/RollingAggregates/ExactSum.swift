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
    private(set) var partials: [Double] = []
    private(set) var overflowed = false

    init() {}

    mutating func reset() {
        partials.removeAll(keepingCapacity: true)
        overflowed = false
    }

    /// Adds `value` exactly (CPython `math_fsum_impl`, the loop over the partials).
    mutating func add(_ value: Double) {
        if overflowed { return }
        var x = value
        var i = 0
        let n = partials.count
        var j = 0
        while j < n {
            var y = partials[j]
            if x.magnitude < y.magnitude { (x, y) = (y, x) }
            let hi = x + y
            let lo = y - (hi - x)
            if lo != 0 {
                partials[i] = lo
                i += 1
            }
            x = hi
            j += 1
        }
        if !x.isFinite {
            overflowed = true
            partials.removeAll()
            return
        }
        partials.removeLast(n - i)
        if x != 0 { partials.append(x) }
    }

    mutating func remove(_ value: Double) { add(-value) }

    /// The exact sum rounded to the nearest double, ties to even (CPython's rounding of the partials).
    /// 0.0 when empty. Meaningless when `overflowed`.
    var value: Double {
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
