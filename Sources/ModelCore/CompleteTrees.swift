/// The trees of a model padded to complete binary trees of one depth, in heap order (the children of split `i`
/// are `2i+1` and `2i+2`): a walk is `depth` steps of load, compare and index arithmetic, with no branch and no
/// child pointer, so nothing for the branch predictor to get wrong on unseen rows, and the walks of several
/// trees can run side by side (models/v1: the node walk 2.3–2.6 µs a row, this layout about 0.9 µs). A leaf
/// above the full depth is repeated under padding splits, so whichever way those go the same value comes out;
/// comparisons, missing values and the float32 sum stay XGBoost's.
struct CompleteTrees: Sendable {
    struct Split {
        var threshold: Float
        /// Feature index; bit 31 = missing goes left.
        var info: UInt32
    }

    /// Deeper models (2^depth leaves a tree) keep the node walk.
    static let maxDepth = 10

    let depth: Int
    let treeCount: Int
    /// treeCount × (2^depth − 1), then one unused entry so the array is never empty.
    let splits: [Split]
    /// treeCount × 2^depth.
    let leaves: [Float]

    /// Nil when a tree is deeper than `maxDepth`, the padded trees would be too large, or a split is categorical.
    init?(nodes: [XGBoostModel.Node], roots: [Int32]) {
        // Depth of the subtree at `i`, found at `level`; stops descending past maxDepth (no deep recursion).
        func depth(_ i: Int, _ level: Int) -> Int {
            let n = nodes[i]
            if n.left < 0 || level > Self.maxDepth { return level }
            return max(depth(Int(n.left), level + 1), depth(Int(n.right), level + 1))
        }
        guard !nodes.contains(where: { $0.left >= 0 && $0.isCategorical }) else { return nil }
        var d = 0
        for root in roots {
            d = max(d, depth(Int(root), 0))
            if d > Self.maxDepth { return nil }
        }
        let internalCount = (1 << d) - 1
        // Padding costs memory: 2^depth leaves a tree. Keep the node walk past 4M leaves (48 MiB).
        guard roots.count * (internalCount + 1) <= 1 << 22 else { return nil }
        var splits = [Split](repeating: Split(threshold: 0, info: 0), count: roots.count * internalCount + 1)
        var leaves = [Float](repeating: 0, count: roots.count * (internalCount + 1))
        for (t, root) in roots.enumerated() {
            let splitBase = t * internalCount, leafBase = t * (internalCount + 1)
            // Places node `i` at heap position `h` of level `level`.
            func place(_ i: Int, _ h: Int, _ level: Int) {
                let n = nodes[i]
                if level == d {
                    leaves[leafBase + h - internalCount] = n.value
                } else if n.left < 0 {
                    place(i, 2 * h + 1, level + 1)
                    place(i, 2 * h + 2, level + 1)
                } else {
                    splits[splitBase + h] = Split(threshold: n.value, info: UInt32(n.feature) | (n.defaultLeft ? 0x8000_0000 : 0))
                    place(Int(n.left), 2 * h + 1, level + 1)
                    place(Int(n.right), 2 * h + 2, level + 1)
                }
            }
            place(Int(root), 0, 0)
        }
        self.depth = d
        self.treeCount = roots.count
        self.splits = splits
        self.leaves = leaves
    }

    /// One level of a walk: the heap position under `h` that row `x` goes to. Right unless x < threshold; a
    /// missing value (NaN fails every comparison) goes by the default. Integer flags rather than || and ?: so
    /// the compiler emits no branch here.
    @inline(__always)
    static func step(_ split: UnsafePointer<Split>, _ x: UnsafePointer<Float>, _ h: Int) -> Int {
        let node = split[h]
        let f = x[Int(node.info & 0x7FFF_FFFF)]
        let atLeast: UInt32 = f >= node.threshold ? 1 : 0
        let missing: UInt32 = f.isNaN ? 1 : 0
        let right = atLeast | (missing & ~(node.info >> 31))
        return 2 &* h &+ 1 &+ Int(right)
    }

    /// Sum of the trees' leaf values from `base`, in tree order (XGBoost's float32 accumulation). Trees are
    /// walked eight at a time in lockstep (they all have the same depth), then four, then one: independent
    /// chains of load → compare → index keep the core busy where one chain would wait on each load (one chain
    /// at a time measured 3.6 µs a row, four 1.2 µs, eight 0.9 µs on models/v1).
    @inline(__always)
    func margin(_ x: UnsafePointer<Float>, base: Float) -> Float {
        var out = base
        let internalCount = (1 << depth) - 1, leafCount = internalCount + 1
        let depth = self.depth, treeCount = self.treeCount
        splits.withUnsafeBufferPointer { splits in
            leaves.withUnsafeBufferPointer { leaves in
                let s = splits.baseAddress!, l = leaves.baseAddress!
                @inline(__always) func step(_ split: UnsafePointer<Split>, _ h: Int) -> Int { Self.step(split, x, h) }
                var t = 0
                while t &+ 8 <= treeCount {
                    let s0 = s + (t &* internalCount)
                    var h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0, h7 = 0
                    for _ in 0..<depth {
                        h0 = step(s0, h0)
                        h1 = step(s0 + internalCount, h1)
                        h2 = step(s0 + 2 &* internalCount, h2)
                        h3 = step(s0 + 3 &* internalCount, h3)
                        h4 = step(s0 + 4 &* internalCount, h4)
                        h5 = step(s0 + 5 &* internalCount, h5)
                        h6 = step(s0 + 6 &* internalCount, h6)
                        h7 = step(s0 + 7 &* internalCount, h7)
                    }
                    // Leaf k of tree t is at t·leafCount + (h − internalCount).
                    let b = t &* leafCount &- internalCount
                    out += l[b &+ h0]
                    out += l[b &+ leafCount &+ h1]
                    out += l[b &+ 2 &* leafCount &+ h2]
                    out += l[b &+ 3 &* leafCount &+ h3]
                    out += l[b &+ 4 &* leafCount &+ h4]
                    out += l[b &+ 5 &* leafCount &+ h5]
                    out += l[b &+ 6 &* leafCount &+ h6]
                    out += l[b &+ 7 &* leafCount &+ h7]
                    t &+= 8
                }
                if t &+ 4 <= treeCount {
                    let s0 = s + (t &* internalCount)
                    var h0 = 0, h1 = 0, h2 = 0, h3 = 0
                    for _ in 0..<depth {
                        h0 = step(s0, h0)
                        h1 = step(s0 + internalCount, h1)
                        h2 = step(s0 + 2 &* internalCount, h2)
                        h3 = step(s0 + 3 &* internalCount, h3)
                    }
                    let b = t &* leafCount &- internalCount
                    out += l[b &+ h0]
                    out += l[b &+ leafCount &+ h1]
                    out += l[b &+ 2 &* leafCount &+ h2]
                    out += l[b &+ 3 &* leafCount &+ h3]
                    t &+= 4
                }
                while t < treeCount {
                    let st = s + (t &* internalCount)
                    var h = 0
                    for _ in 0..<depth { h = step(st, h) }
                    out += l[t &* leafCount &+ h &- internalCount]
                    t &+= 1
                }
            }
        }
        return out
    }
    /// `margin` for `count` rows of `width` values, one after another in `rows`, written to `out`: tree by tree,
    /// eight rows at a time in lockstep. A tree's splits stay in the L1 cache for the whole batch, where a row at
    /// a time reads every tree's from L2; each row's sum is still base + tree 0 + tree 1 + … in float32, so the
    /// results are `margin`'s bit for bit.
    func margins(_ rows: UnsafePointer<Float>, count: Int, width: Int, base: Float, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<count { out[r] = base }
        let internalCount = (1 << depth) - 1, leafCount = internalCount + 1
        let depth = self.depth
        splits.withUnsafeBufferPointer { splits in
            leaves.withUnsafeBufferPointer { leaves in
                @inline(__always) func step(_ split: UnsafePointer<Split>, _ x: UnsafePointer<Float>, _ h: Int) -> Int { Self.step(split, x, h) }
                for t in 0..<treeCount {
                    let st = splits.baseAddress! + t &* internalCount
                    // Leaf k of tree t is at t·leafCount + (h − internalCount).
                    let lt = leaves.baseAddress! + (t &* leafCount &- internalCount)
                    var r = 0
                    while r &+ 8 <= count {
                        let x0 = rows + r &* width
                        let x1 = x0 + width, x2 = x1 + width, x3 = x2 + width
                        let x4 = x3 + width, x5 = x4 + width, x6 = x5 + width, x7 = x6 + width
                        var h0 = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0, h6 = 0, h7 = 0
                        for _ in 0..<depth {
                            h0 = step(st, x0, h0)
                            h1 = step(st, x1, h1)
                            h2 = step(st, x2, h2)
                            h3 = step(st, x3, h3)
                            h4 = step(st, x4, h4)
                            h5 = step(st, x5, h5)
                            h6 = step(st, x6, h6)
                            h7 = step(st, x7, h7)
                        }
                        out[r] += lt[h0]
                        out[r &+ 1] += lt[h1]
                        out[r &+ 2] += lt[h2]
                        out[r &+ 3] += lt[h3]
                        out[r &+ 4] += lt[h4]
                        out[r &+ 5] += lt[h5]
                        out[r &+ 6] += lt[h6]
                        out[r &+ 7] += lt[h7]
                        r &+= 8
                    }
                    while r < count {
                        let x = rows + r &* width
                        var h = 0
                        for _ in 0..<depth { h = step(st, x, h) }
                        out[r] += lt[h]
                        r &+= 1
                    }
                }
            }
        }
    }
}
