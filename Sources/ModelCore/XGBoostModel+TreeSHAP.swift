import CTreeSHAP
import Synchronization

/// Per-feature contributions of a prediction: exact TreeSHAP (Lundberg, Erion & Lee, "Consistent Individualized
/// Feature Attribution for Tree Ensembles", Algorithm 2), the algorithm of XGBoost's `pred_contribs=True`
/// (`RegTree::TreeShap` in src/tree/tree_model.cc) with the trees' training covers (`sum_hessian`) as the
/// background distribution. The contributions and the bias add up to the margin.
///
/// Each tree's contributions are summed in Float, as XGBoost sums them, and the trees' sums in Double: values
/// agree with `pred_contribs` to about 1e-6. Every path (one record or eight at a time in Swift, eight in AVX2 or
/// AVX-512, one at a time in AVX-512) does the same operations in the same order, so a record's explanation does
/// not depend on its batch or its loop.
extension XGBoostModel {
    /// The contributions of one prediction: one per feature, in model order, and the bias (the expected margin:
    /// the base margin plus each tree's cover-weighted mean leaf).
    public struct Contributions: Sendable {
        public var features: [Double]
        public var bias: Double
        /// bias + Σ features: the margin, up to rounding.
        public var total: Double { features.reduce(bias, +) }
    }

    /// The leaf loops a batch of explanations can run: every one gives the same sums, bit for bit.
    public enum ExplainKernel: String, Sendable, CaseIterable {
        /// Swift SIMD, on any CPU.
        case portable
        /// AVX2 C (`CTreeSHAP`): a leaf's table in registers, read by permutes and blends.
        case avx2
        /// AVX-512 (F, VL): the same with two-table permutes, one or two per read.
        case avx512
        /// AVX-512, one record at a time with the path's features in the lanes (`ctreeshap_records_avx512`): an
        /// entry costs each record a few instructions, where the loops above cost about what eight records do
        /// however few a pass has. For models of at most 16 features, numeric splits and paths of at most 6
        /// distinct features (TreeSHAPRecordTables); others take avx512.
        case avx512Records

        /// Whether this CPU runs it.
        public var isAvailable: Bool {
            switch self {
            case .portable: true
            case .avx2: TreeSHAPTables.avx2
            case .avx512, .avx512Records: TreeSHAPTables.avx512
            }
        }

        /// The fastest this CPU runs for passes of many records.
        public static var fastest: ExplainKernel { avx512.isAvailable ? .avx512 : avx2.isAvailable ? .avx2 : .portable }

        /// The fastest for a pass of `count` records: one record at a time up to `recordPassLimit`.
        public static func fastest(for count: Int) -> ExplainKernel {
            fastest == .avx512 && count <= XGBoostModel.recordPassLimit ? .avx512Records : fastest
        }
    }

    /// Whether explanations take the per-leaf tables (builds them on first use).
    public var explainsWithTables: Bool { canExplain && shapTables.tables(self) != nil }

    /// The contributions' bias: the base margin plus each tree's cover-weighted mean leaf, in tree order (the
    /// recursive algorithm adds them in the same order).
    var expectedMargin: Double {
        var bias = Double(baseMargin)
        for root in roots { bias += meanValues[Int(root)] }
        return bias
    }

    /// Whether the model carries the covers TreeSHAP needs (XGBoost's JSON has them as `sum_hessian`).
    public var canExplain: Bool { !covers.isEmpty }

    /// TreeSHAP contributions for the feature vector `x` (NaN = missing), or nil when the model has no covers.
    /// Uses the per-leaf tables (built on first use) where the trees allow them, through the fastest loop this CPU
    /// runs for one record (`kernel`: another), else the recursive algorithm.
    public func contributions(_ x: UnsafeBufferPointer<Float>, kernel: ExplainKernel? = nil) -> Contributions? {
        guard canExplain else { return nil }
        precondition(x.count >= featureCount, "feature vector has \(x.count) values, the model needs \(featureCount)")
        if shapTables.tables(self) != nil { return contributions(rows: x, count: 1, kernel: kernel)?[0] }
        return recursiveContributions(x)
    }

    /// TreeSHAP contributions of `count` records at once, their vectors one after another in `rows` (NaN =
    /// missing), or nil when the model has no covers. Tree by tree, so a tree's tables are read from memory
    /// once for the whole batch: what an explained record costs falls as the batch grows.
    /// `kernel`: the leaf loop (the fastest this CPU runs unless told; an unavailable one falls back to the
    /// portable loop). Their results are bit-equal; the tests compare them.
    public func contributions(rows: UnsafeBufferPointer<Float>, count: Int, kernel: ExplainKernel? = nil) -> [Contributions]? {
        guard canExplain else { return nil }
        precondition(rows.count >= count * featureCount, "\(rows.count) values for \(count) rows of \(featureCount)")
        if let tables = shapTables.tables(self) {
            let kernel = kernel ?? .fastest(for: count)
            return contributions(rows: rows, count: count, tables: tables, kernel: kernel.isAvailable ? kernel : .portable)
        }
        return (0..<count).map { r in recursiveContributions(UnsafeBufferPointer(rebasing: rows[r * featureCount..<(r + 1) * featureCount]))! }
    }

    /// Passes of at most this many records take the one-record AVX-512 pass unless told otherwise: up to it, a
    /// pass of the eight-record loop costs more than its records one at a time (`bench/scorer.sh`).
    public static let recordPassLimit = 8

    func contributions(rows: UnsafeBufferPointer<Float>, count: Int, tables t: TreeSHAPTables, kernel: ExplainKernel = .portable) -> [Contributions] {
        if kernel == .avx512Records {
            if let records = t.records { return recordContributions(rows: rows, count: count, tables: t, records: records) }
            return lanedContributions(rows: rows, count: count, tables: t, kernel: .avx512)
        }
        // Eight records per step from two on: a step costs about what one record alone does.
        if count >= 2 { return lanedContributions(rows: rows, count: count, tables: t, kernel: kernel) }
        let bias = expectedMargin
        let width = featureCount
        var phi = [Double](repeating: 0, count: count * width)
        // The current tree's sums, in Float as XGBoost's: see lanedContributions.
        var treePhiStorage = [Float](repeating: 0, count: count * width)
        // Per node of the current tree and record: 1 when the record goes left.
        var left = [UInt8](repeating: 0, count: t.maxTreeNodes * count)
        left.withUnsafeMutableBufferPointer { left in
        phi.withUnsafeMutableBufferPointer { phi in
        treePhiStorage.withUnsafeMutableBufferPointer { treePhi in
        t.splitStart.withUnsafeBufferPointer { splitStart in
        t.splits.withUnsafeBufferPointer { splits in
        t.featureStart.withUnsafeBufferPointer { featureStart in
        t.features.withUnsafeBufferPointer { features in
        t.ratios.withUnsafeBufferPointer { ratios in
        t.hStart.withUnsafeBufferPointer { hStart in
        t.h.withUnsafeBufferPointer { h in
            for tree in 0..<roots.count {
                let first = Int(t.treeNodeStart[tree]), last = Int(t.treeNodeStart[tree + 1])
                let span = last &- first
                for r in 0..<count {
                    let x = UnsafeBufferPointer(rebasing: rows[r * width..<(r + 1) * width])
                    let row = r &* span
                    for n in first..<last where nodes[n].left >= 0 {
                        left[row &+ (n &- first)] = hotChild(x, n) == Int(nodes[n].left) ? 1 : 0
                    }
                }
                for l in Int(t.treeLeafStart[tree])..<Int(t.treeLeafStart[tree + 1]) {
                    let f0 = Int(featureStart[l]), d = Int(featureStart[l &+ 1]) &- f0
                    guard d > 0 else { continue }
                    let base = Int(hStart[l]), pair = Int(t.pairs[l])
                    let s0 = Int(splitStart[l]), s1 = Int(splitStart[l &+ 1])
                    for r in 0..<count {
                        let row = r &* span
                        // Branch-free: a split's decision is data, and a mispredicted branch per split cost more
                        // than the whole sum. node << 5 | slot << 1 | left, node relative to the tree's first.
                        var pattern = (1 &<< d) &- 1
                        for j in s0..<s1 {
                            let s = splits[j]
                            let disagree = (UInt32(left[row &+ Int(s &>> 5)]) ^ s) & 1
                            pattern &= ~(Int(disagree) &<< Int((s &>> 1) & 0xF))
                        }
                        // Features the record disagrees with all get −H[pattern]; one it agrees with gets
                        // (1 − z)/z · H[pattern without it] (see TreeSHAPTables).
                        let own = -h[base &+ pattern]
                        let out = r &* width
                        for k in 0..<(d &- pair) {
                            let bit = 1 &<< k
                            let agreed = ratios[f0 &+ k] * h[base &+ (pattern ^ bit)]
                            treePhi[out &+ Int(features[f0 &+ k])] += pattern & bit != 0 ? agreed : own
                        }
                        // A pair's own split: its second table.
                        if pair != 0 { treePhi[out &+ Int(features[f0 &+ d &- 1])] += h[base &+ (1 &<< d) &+ pattern] }
                    }
                }
                Self.fold(treePhi, into: phi)
            }
        }}}}}}}}}}
        return (0..<count).map { r in Contributions(features: Array(phi[r * width..<(r + 1) * width]), bias: bias) }
    }

    /// The batch path eight records at a time: per leaf, the eight patterns are computed together (the splits'
    /// decisions of eight records are eight adjacent bytes) and the eight contributions to each feature are
    /// added together; only the table reads stay one per record. Same arithmetic, same order per record as the
    /// one-record path, so the results are identical. `kernel` avx2 or avx512: the leaf loop in C (`CTreeSHAP`), the same
    /// operations in the same order with a leaf's table in registers: bit-equal and about twice as fast.
    func lanedContributions(rows: UnsafeBufferPointer<Float>, count: Int, tables t: TreeSHAPTables, kernel: ExplainKernel) -> [Contributions] {
        let native = kernel != .portable
        let bias = expectedMargin
        let width = featureCount
        let groups = (count + 7) / 8, lanes = groups * 8
        // The records by feature, eight lanes per group (padding lanes NaN): a split compares eight at once.
        var columns = [SIMD8<Float>](repeating: SIMD8(repeating: .nan), count: groups * width)
        for r in 0..<count {
            for f in 0..<width { columns[(r / 8) * width + f][r % 8] = rows[r * width + f] }
        }
        // By feature, then record: a feature's eight contributions of a group are adjacent.
        var phi = [Double](repeating: 0, count: width * lanes)
        // By node of the current tree, then group: all ones in a lane whose record goes left.
        var left = [SIMD8<Int32>](repeating: .zero, count: t.maxTreeNodes * groups)
        var treePhiStorage = [Float](repeating: 0, count: width * lanes)
        // The C loops' patterns after each depth of the current path, per group (see TreeSHAPTables.steps).
        var stack = [Int32](repeating: 0, count: native ? (t.maxPathLength + 1) * lanes : 0)
        columns.withUnsafeBufferPointer { columns in
        treePhiStorage.withUnsafeMutableBufferPointer { treePhi in
        left.withUnsafeMutableBufferPointer { left in
        phi.withUnsafeMutableBufferPointer { phi in
        t.splitStart.withUnsafeBufferPointer { splitStart in
        t.splits.withUnsafeBufferPointer { splits in
        t.featureStart.withUnsafeBufferPointer { featureStart in
        t.features.withUnsafeBufferPointer { features in
        t.ratios.withUnsafeBufferPointer { ratios in
        t.hStart.withUnsafeBufferPointer { hStart in
        t.h.withUnsafeBufferPointer { h in
        stack.withUnsafeMutableBufferPointer { stack in
        t.withC { c in
            for tree in 0..<roots.count {
                let first = Int(t.treeNodeStart[tree]), last = Int(t.treeNodeStart[tree + 1])
                if native {
                    // The numeric splits in AVX2; categorical ones (rare) below.
                    t.numericSplits.withUnsafeBufferPointer { splits in
                        UnsafeRawPointer(columns.baseAddress!).withMemoryRebound(to: Float.self, capacity: columns.count * 8) { columns in
                            UnsafeMutableRawPointer(left.baseAddress!).withMemoryRebound(to: Int32.self, capacity: left.count * 8) { left in
                                let from = Int(t.numericStart[tree])
                                ctreeshap_decide_avx2(splits.baseAddress! + from, t.numericStart[tree + 1] - Int32(from), columns, Int32(width),
                                                      Int32(groups), left)
                            }
                        }
                    }
                }
                // Which way each group's records go at node n: every node on the portable path, the categorical
                // ones beside the C decisions.
                func decide(_ n: Int) {
                    let node = nodes[n]
                    guard node.left >= 0 else { return }
                    for g in 0..<groups {
                        let goesLeft: SIMD8<Int32>
                        if node.isCategorical {
                            var lanes = SIMD8<Int32>.zero
                            for i in 0..<8 where g * 8 + i < count {
                                let x = UnsafeBufferPointer(rebasing: rows[(g * 8 + i) * width..<(g * 8 + i + 1) * width])
                                lanes[i] = hotChild(x, n) == Int(node.left) ? -1 : 0
                            }
                            goesLeft = lanes
                        } else {
                            // x < threshold goes left; a missing value (NaN) takes the default. In arithmetic, not
                            // comparisons (SIMD comparisons here compile to a loop over the lanes): x − t of two
                            // distinct floats is never 0, so its sign bit says x < t; NaN is |bits| > infinity's.
                            // (−0 − 0 is −0: a zero difference, of either sign, is not less; inf − inf is a NaN,
                            // negative on x86, and not less either.)
                            let v = columns[g &* width &+ node.feature]
                            let difference = unsafeBitCast(v - SIMD8(repeating: node.value), to: SIMD8<Int32>.self)
                            let zero = ((difference & 0x7FFF_FFFF) &- 1) &>> 31
                            let undefined = (SIMD8<Int32>(repeating: 0x7F80_0000) &- (difference & 0x7FFF_FFFF)) &>> 31
                            let less = (difference &>> 31) & ~zero & ~undefined
                            let magnitude = unsafeBitCast(v, to: SIMD8<Int32>.self) & 0x7FFF_FFFF
                            let missing = (SIMD8<Int32>(repeating: 0x7F80_0000) &- magnitude) &>> 31
                            goesLeft = (less & ~missing) | (node.defaultLeft ? missing : .zero)
                        }
                        left[(n &- first) &* groups &+ g] = goesLeft
                    }
                }
                if native {
                    // Only the categorical splits, from a list per tree (mostly empty): scanning every node for
                    // them cost batches of 21 alerts about 5 % (bench/scorer.sh, cold caches).
                    for n in t.categoricalNodes[Int(t.categoricalStart[tree])..<Int(t.categoricalStart[tree + 1])] { decide(Int(n)) }
                } else {
                    for n in first..<last { decide(n) }
                }
                if native {
                    UnsafeRawPointer(left.baseAddress!).withMemoryRebound(to: Int32.self, capacity: left.count * 8) { lanesLeft in
                        if kernel == .avx512 {
                            ctreeshap_leaves_avx512(c, t.treeLeafStart[tree], t.treeLeafStart[tree + 1], lanesLeft, Int32(groups), treePhi.baseAddress,
                                                    stack.baseAddress)
                        } else {
                            ctreeshap_leaves_avx2(c, t.treeLeafStart[tree], t.treeLeafStart[tree + 1], lanesLeft, Int32(groups), treePhi.baseAddress,
                                                  stack.baseAddress)
                        }
                    }
                    Self.fold(treePhi, into: phi)
                    continue
                }
                for l in Int(t.treeLeafStart[tree])..<Int(t.treeLeafStart[tree + 1]) {
                    let f0 = Int(featureStart[l]), d = Int(featureStart[l &+ 1]) &- f0
                    guard d > 0 else { continue }
                    let base = Int(hStart[l]), pair = Int(t.pairs[l])
                    let s0 = Int(splitStart[l]), s1 = Int(splitStart[l &+ 1])
                    for g in 0..<groups {
                        let lane0 = g &* 8
                        var pattern = SIMD8<Int32>(repeating: Int32((1 &<< d) &- 1))
                        for j in s0..<s1 {
                            let s = splits[j]
                            // left: all ones or zero per lane; the split's side: all ones when the leaf is left.
                            let side = Int32(0) &- Int32(s & 1)
                            let disagree = (left[Int(s &>> 5) &* groups &+ g] ^ SIMD8(repeating: side)) & 1
                            pattern &= ~(disagree &<< Int32((s &>> 1) & 0xF))
                        }
                        let own = -Self.gather(h, base, pattern)
                        for k in 0..<(d &- pair) {
                            let agreed = SIMD8(repeating: ratios[f0 &+ k]) * Self.gather(h, base, pattern ^ Int32(1 &<< k))
                            // A bitwise select (all ones where the record agrees): a SIMDMask is built lane by lane.
                            let agrees = SIMD8<UInt32>.zero &- SIMD8<UInt32>(truncatingIfNeeded: (pattern &>> Int32(k)) & 1)
                            let chosen = (unsafeBitCast(agreed, to: SIMD8<UInt32>.self) & agrees)
                                | (unsafeBitCast(own, to: SIMD8<UInt32>.self) & ~agrees)
                            let at = Int(features[f0 &+ k]) &* lanes &+ lane0
                            var acc = UnsafeRawPointer(treePhi.baseAddress! + at).loadUnaligned(as: SIMD8<Float>.self)
                            acc += unsafeBitCast(chosen, to: SIMD8<Float>.self)
                            UnsafeMutableRawPointer(treePhi.baseAddress! + at).storeBytes(of: acc, as: SIMD8<Float>.self)
                        }
                        if pair != 0 {
                            let at = Int(features[f0 &+ d &- 1]) &* lanes &+ lane0
                            var acc = UnsafeRawPointer(treePhi.baseAddress! + at).loadUnaligned(as: SIMD8<Float>.self)
                            acc += Self.gather(h, base &+ (1 &<< d), pattern)
                            UnsafeMutableRawPointer(treePhi.baseAddress! + at).storeBytes(of: acc, as: SIMD8<Float>.self)
                        }
                    }
                }
                Self.fold(treePhi, into: phi)
            }
        }}}}}}}}}}}}}
        return (0..<count).map { r in
            Contributions(features: (0..<width).map { phi[$0 * lanes + r] }, bias: bias)
        }
    }

    /// The one-record AVX-512 pass (`ctreeshap_records_avx512`): the same sums as the other loops, bit for bit.
    func recordContributions(rows: UnsafeBufferPointer<Float>, count: Int, tables t: TreeSHAPTables, records: TreeSHAPRecordTables) -> [Contributions] {
        let bias = expectedMargin
        let width = featureCount
        var phi = [Double](repeating: 0, count: count * width)
        phi.withUnsafeMutableBufferPointer { phi in
            t.withC { c in
                records.withC(trees: roots.count, treeLeafStart: t.treeLeafStart) { r in
                    ctreeshap_records_avx512(c, r, rows.baseAddress, Int32(count), Int32(width), phi.baseAddress)
                }
            }
        }
        return (0..<count).map { r in Contributions(features: Array(phi[r * width..<(r + 1) * width]), bias: bias) }
    }

    /// Eight table reads as one vector, built from scalars (assigning lanes one by one goes through memory).
    @inline(__always)
    static func gather(_ h: UnsafeBufferPointer<Float>, _ base: Int, _ i: SIMD8<Int32>) -> SIMD8<Float> {
        SIMD8<Float>(h[base &+ Int(i[0])], h[base &+ Int(i[1])], h[base &+ Int(i[2])], h[base &+ Int(i[3])],
                     h[base &+ Int(i[4])], h[base &+ Int(i[5])], h[base &+ Int(i[6])], h[base &+ Int(i[7])])
    }

    /// Adds a tree's Float sums to the Double totals and clears them for the next tree.
    @inline(__always)
    static func fold(_ tree: UnsafeMutableBufferPointer<Float>, into total: UnsafeMutableBufferPointer<Double>) {
        for i in 0..<total.count {
            total[i] += Double(tree[i])
            tree[i] = 0
        }
    }

    /// The recursive algorithm (XGBoost's `TreeShap`), for trees too deep for the tables, and as their reference.
    public func recursiveContributions(_ x: UnsafeBufferPointer<Float>) -> Contributions? {
        guard canExplain else { return nil }
        var phi = [Double](repeating: 0, count: featureCount)
        var bias = Double(baseMargin)
        var path: [PathElement] = []
        for (t, root) in roots.enumerated() {
            bias += meanValues[Int(root)]
            // Each level of the recursion copies its parent's path after it: (depth+2)(depth+3)/2 elements.
            let d = depths[t] + 2
            let needed = d * (d + 1) / 2
            if path.count < needed { path = [PathElement](repeating: PathElement(), count: needed) }
            path.withUnsafeMutableBufferPointer { buffer in
                phi.withUnsafeMutableBufferPointer { phi in
                    shap(x, phi: phi, node: Int(root), uniqueDepth: 0, path: buffer, parentStart: 0,
                         parentZeroFraction: 1, parentOneFraction: 1, parentFeature: -1)
                }
            }
        }
        return Contributions(features: phi, bias: bias)
    }

    public func contributions(_ x: [Float], kernel: ExplainKernel? = nil) -> Contributions? {
        x.withUnsafeBufferPointer { contributions($0, kernel: kernel) }
    }

    struct PathElement {
        var feature = -1
        var zeroFraction = 0.0
        var oneFraction = 0.0
        var weight = 0.0
    }

    /// The branch `x` takes at an internal node (XGBoost's traversal rules).
    @inline(__always)
    func hotChild(_ x: UnsafeBufferPointer<Float>, _ n: Int) -> Int {
        let node = nodes[n]
        let f = x[node.feature]
        if f.isNaN { return Int(node.defaultLeft ? node.left : node.right) }
        if node.isCategorical { return Int(categoricalGoesLeft(f, node: n) ? node.left : node.right) }
        return Int(f < node.value ? node.left : node.right)
    }

    private func shap(_ x: UnsafeBufferPointer<Float>, phi: UnsafeMutableBufferPointer<Double>, node n: Int, uniqueDepth: Int,
                      path: UnsafeMutableBufferPointer<PathElement>, parentStart: Int,
                      parentZeroFraction: Double, parentOneFraction: Double, parentFeature: Int) {
        var depth = uniqueDepth
        // This level's path: a copy of the parent's, extended by the split that led here.
        let start = parentStart + depth + 1
        for i in 0...depth { path[start + i] = path[parentStart + i] }
        Self.extend(path, start, depth, parentZeroFraction, parentOneFraction, parentFeature)
        let node = nodes[n]
        if node.left < 0 {
            let leaf = Double(node.value)
            if depth > 0 {
                for i in 1...depth {
                    let w = Self.unwoundSum(path, start, depth, i)
                    let e = path[start + i]
                    phi[e.feature] += w * (e.oneFraction - e.zeroFraction) * leaf
                }
            }
            return
        }
        let hot = hotChild(x, n)
        let cold = hot == Int(node.left) ? Int(node.right) : Int(node.left)
        let w = covers[n]
        let hotZero = covers[hot] / w
        let coldZero = covers[cold] / w
        var incomingZero = 1.0, incomingOne = 1.0
        // A feature split on before: undo that split and redo it here.
        let feature = node.feature
        var k = 0
        while k <= depth && path[start + k].feature != feature { k += 1 }
        if k <= depth {
            incomingZero = path[start + k].zeroFraction
            incomingOne = path[start + k].oneFraction
            Self.unwind(path, start, depth, k)
            depth -= 1
        }
        shap(x, phi: phi, node: hot, uniqueDepth: depth + 1, path: path, parentStart: start,
             parentZeroFraction: hotZero * incomingZero, parentOneFraction: incomingOne, parentFeature: feature)
        shap(x, phi: phi, node: cold, uniqueDepth: depth + 1, path: path, parentStart: start,
             parentZeroFraction: coldZero * incomingZero, parentOneFraction: 0, parentFeature: feature)
    }

    static func extend(_ p: UnsafeMutableBufferPointer<PathElement>, _ s: Int, _ depth: Int,
                               _ zero: Double, _ one: Double, _ feature: Int) {
        p[s + depth] = PathElement(feature: feature, zeroFraction: zero, oneFraction: one, weight: depth == 0 ? 1 : 0)
        var i = depth - 1
        while i >= 0 {
            p[s + i + 1].weight += one * p[s + i].weight * Double(i + 1) / Double(depth + 1)
            p[s + i].weight = zero * p[s + i].weight * Double(depth - i) / Double(depth + 1)
            i -= 1
        }
    }

    private static func unwind(_ p: UnsafeMutableBufferPointer<PathElement>, _ s: Int, _ depth: Int, _ index: Int) {
        let one = p[s + index].oneFraction, zero = p[s + index].zeroFraction
        var next = p[s + depth].weight
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = p[s + i].weight
                p[s + i].weight = next * Double(depth + 1) / (Double(i + 1) * one)
                next = tmp - p[s + i].weight * zero * Double(depth - i) / Double(depth + 1)
            } else {
                p[s + i].weight = p[s + i].weight * Double(depth + 1) / (zero * Double(depth - i))
            }
            i -= 1
        }
        for j in index..<depth {
            p[s + j].feature = p[s + j + 1].feature
            p[s + j].zeroFraction = p[s + j + 1].zeroFraction
            p[s + j].oneFraction = p[s + j + 1].oneFraction
        }
    }

    static func unwoundSum(_ p: UnsafeMutableBufferPointer<PathElement>, _ s: Int, _ depth: Int, _ index: Int) -> Double {
        let one = p[s + index].oneFraction, zero = p[s + index].zeroFraction
        var next = p[s + depth].weight
        var total = 0.0
        var i = depth - 1
        while i >= 0 {
            if one != 0 {
                let tmp = next * Double(depth + 1) / (Double(i + 1) * one)
                total += tmp
                next = p[s + i].weight - tmp * zero * Double(depth - i) / Double(depth + 1)
            } else if zero != 0 {
                total += (p[s + i].weight / zero) / (Double(depth - i) / Double(depth + 1))
            }
            i -= 1
        }
        return total
    }

    /// Each node's cover-weighted mean leaf value (XGBoost's `FillNodeMeanValues`) and each tree's depth.
    static func meansAndDepths(nodes: [Node], roots: [Int32], covers: [Double]) -> ([Double], [Int]) {
        guard !covers.isEmpty else { return ([], []) }
        var means = [Double](repeating: 0, count: nodes.count)
        func fill(_ n: Int) -> (mean: Double, depth: Int) {
            let node = nodes[n]
            if node.left < 0 {
                means[n] = Double(node.value)
                return (means[n], 0)
            }
            let l = fill(Int(node.left)), r = fill(Int(node.right))
            let c = covers[n]
            means[n] = c > 0 ? (l.mean * covers[Int(node.left)] + r.mean * covers[Int(node.right)]) / c : 0
            return (means[n], max(l.depth, r.depth) + 1)
        }
        let depths = roots.map { fill(Int($0)).depth }
        return (means, depths)
    }
}

/// TreeSHAP with per-leaf tables (after the idea of Fast TreeSHAP v2, Yang 2021): a leaf's contribution to each
/// feature on its path depends on the record only through which of those features the record "agrees" with (goes
/// the leaf's way at every split on it). With d distinct features on a path, z_k the product of the cover ratios
/// of feature k's splits and v the leaf value, Path-dependent TreeSHAP gives, for the set A of agreeing features
/// and B of the others:
///
///     φ_k = −v · Π_B z · E(A)                 for k in B
///     φ_k = v · (1 − z_k) · Π_B z · E(A∖k)    for k in A
///     E(S) = Σ_{T ⊆ S} |T|!(d−|T|−1)!/d! · Π_{S∖T} z
///
/// With H[A] = v · Π_B z · E(A), both read one table of 2^d numbers per leaf: φ_k = −H[A] for k in B, and,
/// since moving k from A to B multiplies Π_B z by z_k, φ_k = (1 − z_k)/z_k · H[A∖k] for k in A. That is d times
/// less memory than a table of every φ per pattern (0.7 MB instead of 4 MB for the 100-tree bundle).
///
/// Two sibling leaves whose split is on a feature m new to their path (two thirds of the 100-tree bundle's
/// leaves) are one entry: with m's bit meaning "goes left", the left leaf's pattern is p and the right's p with
/// m's bit flipped, and every other feature's ratio is the same for both. So H[p] = H_left[p] + H_right[p ^ m]
/// serves both leaves' terms for every feature but m, whose term (one leaf agrees, the other does not) is a
/// second table M[p]. A pair costs what one leaf costs: d + 1 reads instead of 2(d + 1).
///
/// Built only when every path has at most `maxPathFeatures` distinct features and fewer than 255 splits (`prefix`
/// is a byte), every z is at least `minZ` (the ratio divides by it) and the tables stay under `maxTableEntries`.
struct TreeSHAPTables: Sendable {
    static let maxPathFeatures = 10
    static let maxTableEntries = 8_000_000
    static let minZ = 1e-6
    /// Whether this CPU runs the AVX2 and the AVX-512 leaf loops (`CTreeSHAP`).
    static let avx2 = ctreeshap_has_avx2() != 0
    static let avx512 = ctreeshap_has_avx512() != 0

    // Flat, per leaf (or pair of leaves) of every tree (leaf l's items are [start[l], start[l + 1])):
    /// Its path's splits from the root, for the Swift loops: each `node << 5 | slot << 1 | left` (node: relative
    /// to its tree's first node; slot: the split's feature's position among the leaf's features; left: the leaf
    /// lies left of it). A pair's last split is its own, as seen from its left leaf.
    let splits: [UInt32]
    let splitStart: [Int32]
    /// Its distinct path features, and (1 − z)/z for each (a pair's last, its own split's feature, has 0: unused).
    let features: [Int32]
    let ratios: [Float]
    let featureStart: [Int32]
    /// H of pattern b (bit k: the record agrees with the path on feature k): h[hStart[l] + b]; for a pair, M
    /// follows: h[hStart[l] + 2^d + b].
    let hStart: [Int32]
    let h: [Float]
    /// 1 where the entry is a pair of sibling leaves.
    let pairs: [UInt8]
    /// The same splits for the C loops, which go through a tree's entries in order keeping each depth's patterns:
    /// an entry's path shares its first prefix[l] splits with the entry before it in its tree (none for a tree's
    /// first), and only the rest, steps[stepStart[l]..<stepStart[l + 1]], are applied for it. Neighbours in
    /// depth-first order share most of their paths: in the shipped bundle 2.4 splits per entry instead of the
    /// whole path's 5.8, and the TreeSHAP pass about 9 % faster (`bench/scorer.sh`, paired rounds).
    let steps: [UInt32]
    let stepStart: [Int32]
    let prefix: [UInt8]
    /// The longest path in splits: the depth of the C loops' stack of patterns.
    let maxPathLength: Int
    /// Each tree's leaves and nodes: [start[t], start[t + 1]).
    let treeLeafStart: [Int32]
    let treeNodeStart: [Int32]
    let maxTreeNodes: Int
    /// Each tree's numeric splits for the AVX2 decisions, [start[t], start[t + 1]) (see ctreeshap_split). Only
    /// those: a list of every node went through the leaves too, half the nodes (the pass 2 % slower).
    let numericSplits: [ctreeshap_split]
    let numericStart: [Int32]
    /// Each tree's categorical splits, which the AVX2 decisions leave to Swift: [start[t], start[t + 1]).
    let categoricalNodes: [Int32]
    let categoricalStart: [Int32]
    /// For the one-record AVX-512 pass, where the model allows it (see TreeSHAPRecordTables).
    let records: TreeSHAPRecordTables?

    init?(model: XGBoostModel) {
        guard model.canExplain, !model.roots.isEmpty else { return nil }
        var splitsOut: [UInt32] = [], splitStart: [Int32] = [0], featuresOut: [Int32] = [], ratios: [Float] = []
        var featureStart: [Int32] = [0], hStart: [Int32] = [], h: [Float] = [], pairs: [UInt8] = []
        var treeLeafStart: [Int32] = [0], treeNodeStart: [Int32] = []
        var steps: [UInt32] = [], stepStart: [Int32] = [0], prefix: [UInt8] = [], maxPathLength = 0
        // An entry's splits after those it shares with the one before (see `steps`).
        // (A copy: a slice would share splitsOut's storage and make every append to it copy the whole array.)
        var previous: [UInt32] = []
        func step(_ path: ArraySlice<UInt32>) -> Bool {
            var shared = 0
            while shared < min(path.count, previous.count) && path[path.startIndex + shared] == previous[shared] { shared += 1 }
            guard path.count < 255 else { return false }
            steps += path.dropFirst(shared)
            stepStart.append(Int32(steps.count))
            prefix.append(UInt8(shared))
            maxPathLength = max(maxPathLength, path.count)
            previous = Array(path)
            return true
        }
        // A tree's nodes are contiguous, from its root to the next tree's.
        for (t, root) in model.roots.enumerated() {
            treeNodeStart.append(root)
            if t > 0 && root <= model.roots[t - 1] { return nil }
        }
        treeNodeStart.append(Int32(model.nodes.count))
        for (t, root) in model.roots.enumerated() {
            let first = Int(root), end = Int(treeNodeStart[t + 1])
            guard end - first < (1 << 27) else { return nil }
            previous = []
            var stack: [(node: Int, splits: [(Int32, Bool)])] = [(first, [])]
            while let (n, splits) = stack.popLast() {
                guard n >= first && n < end else { return nil }
                let node = model.nodes[n]
                let path = Self.path(splits, first: first, model: model)
                if node.left >= 0 {
                    let l = Int(node.left), r = Int(node.right)
                    // Two leaves under a split on a feature new to the path: one entry (see `pairs`).
                    guard l >= first && l < end && r >= first && r < end else { return nil }
                    guard model.nodes[l].left < 0 && model.nodes[r].left < 0 && !path.features.contains(Int32(node.feature)) else {
                        stack.append((r, splits + [(Int32(n), false)]))
                        stack.append((l, splits + [(Int32(n), true)]))
                        continue
                    }
                    let zl = model.covers[l] / model.covers[n], zr = model.covers[r] / model.covers[n]
                    let d = path.features.count + 1
                    guard d <= Self.maxPathFeatures, h.count + (2 << d) <= Self.maxTableEntries,
                          ([zl, zr] + path.zero).allSatisfy({ $0 >= Self.minZ && $0.isFinite }) else { return nil }
                    splitsOut += path.splits + [UInt32(n - first) << 5 | UInt32(d - 1) << 1 | 1]
                    guard step(splitsOut[Int(splitStart.last!)...]) else { return nil }
                    featuresOut += path.features + [Int32(node.feature)]
                    ratios += path.zero.map { Float((1 - $0) / $0) } + [0]
                    hStart.append(Int32(h.count))
                    h += Self.pairTables(path.zero, left: (zl, Double(model.nodes[l].value)), right: (zr, Double(model.nodes[r].value)))
                    pairs.append(1)
                } else {
                    let d = path.features.count
                    guard d <= Self.maxPathFeatures, h.count + (1 << d) <= Self.maxTableEntries,
                          path.zero.allSatisfy({ $0 >= Self.minZ && $0.isFinite }) else { return nil }
                    splitsOut += path.splits
                    guard step(splitsOut[Int(splitStart.last!)...]) else { return nil }
                    featuresOut += path.features
                    ratios += path.zero.map { Float((1 - $0) / $0) }
                    hStart.append(Int32(h.count))
                    h += Self.hTable(path.zero, leaf: Double(node.value)).map(Float.init)
                    pairs.append(0)
                }
                splitStart.append(Int32(splitsOut.count))
                featureStart.append(Int32(featuresOut.count))
            }
            treeLeafStart.append(Int32(hStart.count))
        }
        // The C loops load 8 (AVX2), 16 or 64 (AVX-512) entries at a time, also from a last table of fewer.
        h += [Float](repeating: 0, count: 64)
        self.splits = splitsOut
        self.splitStart = splitStart
        self.features = featuresOut
        self.ratios = ratios
        self.featureStart = featureStart
        self.hStart = hStart
        self.h = h
        self.pairs = pairs
        self.steps = steps
        self.stepStart = stepStart
        self.prefix = prefix
        self.maxPathLength = maxPathLength
        self.treeLeafStart = treeLeafStart
        self.treeNodeStart = treeNodeStart
        // Each tree's splits, numeric (for the C decisions) and categorical (for Swift's).
        var numeric: [ctreeshap_split] = [], numericStart: [Int32] = [0]
        var categorical: [Int32] = [], categoricalStart: [Int32] = [0]
        for t in model.roots.indices {
            let first = Int(treeNodeStart[t])
            for n in first..<Int(treeNodeStart[t + 1]) where model.nodes[n].left >= 0 {
                let node = model.nodes[n]
                if node.isCategorical {
                    categorical.append(Int32(n))
                } else {
                    numeric.append(ctreeshap_split(threshold: node.value, feature: Int32(node.feature),
                                                   node: UInt32(n - first) | (node.defaultLeft ? 1 << 31 : 0)))
                }
            }
            numericStart.append(Int32(numeric.count))
            categoricalStart.append(Int32(categorical.count))
        }
        numericSplits = numeric
        self.numericStart = numericStart
        maxTreeNodes = zip(treeNodeStart.dropFirst(), treeNodeStart).map { Int($0 - $1) }.max() ?? 0
        categoricalNodes = categorical
        self.categoricalStart = categoricalStart
        records = TreeSHAPRecordTables(featureCount: model.featureCount, hasCategorical: !categorical.isEmpty, numericSplits: numeric,
                                       numericStart: numericStart, treeNodeStart: treeNodeStart, treeLeafStart: treeLeafStart,
                                       splits: splitsOut, splitStart: splitStart, features: featuresOut, featureStart: featureStart)
    }

    /// Runs `body` with the C view of the tables (valid only inside it).
    func withC<R>(_ body: (UnsafePointer<ctreeshap_tables>) -> R) -> R {
        features.withUnsafeBufferPointer { features in
        ratios.withUnsafeBufferPointer { ratios in
        featureStart.withUnsafeBufferPointer { featureStart in
        hStart.withUnsafeBufferPointer { hStart in
        h.withUnsafeBufferPointer { h in
        pairs.withUnsafeBufferPointer { pairs in
        steps.withUnsafeBufferPointer { steps in
        stepStart.withUnsafeBufferPointer { stepStart in
        prefix.withUnsafeBufferPointer { prefix in
            var c = ctreeshap_tables(features: features.baseAddress, ratios: ratios.baseAddress, featureStart: featureStart.baseAddress,
                                     hStart: hStart.baseAddress, h: h.baseAddress, pairs: pairs.baseAddress, steps: steps.baseAddress,
                                     stepStart: stepStart.baseAddress, prefix: prefix.baseAddress, leaves: Int32(pairs.count))
            return body(&c)
        }}}}}}}}}
    }

    /// The distinct features of a path (in order of first split), the product of each one's cover ratios, and the
    /// splits encoded as `splits` holds them.
    static func path(_ splits: [(node: Int32, left: Bool)], first: Int, model: XGBoostModel) -> (features: [Int32], zero: [Double], splits: [UInt32]) {
        var features: [Int32] = [], zero: [Double] = [], encoded: [UInt32] = []
        for (s, left) in splits {
            let parent = model.nodes[Int(s)]
            let child = Int(left ? parent.left : parent.right)
            let ratio = model.covers[child] / model.covers[Int(s)]
            let f = Int32(parent.feature)
            let k: Int
            if let i = features.firstIndex(of: f) {
                zero[i] *= ratio
                k = i
            } else {
                features.append(f)
                zero.append(ratio)
                k = features.count - 1
            }
            encoded.append(UInt32(Int(s) - first) << 5 | UInt32(k) << 1 | (left ? 1 : 0))
        }
        return (features, zero, encoded)
    }

    /// A pair's H and M (see the type's comment), its split's feature the last of d = zero.count + 1: from each
    /// leaf's own table in Double, rounded once.
    static func pairTables(_ zero: [Double], left: (z: Double, value: Double), right: (z: Double, value: Double)) -> [Float] {
        let d = zero.count + 1, m = 1 << (d - 1)
        let hl = hTable(zero + [left.z], leaf: left.value), hr = hTable(zero + [right.z], leaf: right.value)
        let rl = (1 - left.z) / left.z, rr = (1 - right.z) / right.z
        var out = [Float](repeating: 0, count: 2 << d)
        for p in 0..<(1 << d) {
            out[p] = Float(hl[p] + hr[p ^ m])
            // Goes left: the left leaf agrees on m (its A∖m is p without m), the right one does not (its pattern
            // is p without m); goes right: the other way round.
            out[(1 << d) + p] = Float(p & m != 0 ? rl * hl[p ^ m] - hr[p ^ m] : rr * hr[p] - hl[p])
        }
        return out
    }

    /// H[b] = v · Π_{k∉b} z_k · Σ_s w(s) e_{|b|−s}(z_b) for every pattern b, in Double: e_j is the elementary
    /// symmetric polynomial of degree j of the agreeing features' z, w(s) = s!(d−s−1)!/d! the Shapley weight. The
    /// all-agreeing pattern is never read (no feature is in B, and A∖k drops a bit): 0.
    static func hTable(_ z: [Double], leaf v: Double) -> [Double] {
        let d = z.count
        guard d > 0 else { return [] }
        var w = [Double](repeating: 0, count: d)
        for s in 0..<d { w[s] = factorial(s) * factorial(d - s - 1) / factorial(d) }
        var out = [Double](repeating: 0, count: 1 << d)
        var e = [Double](repeating: 0, count: d + 1)
        for b in 0..<((1 << d) - 1) {
            var pB = 1.0
            for j in 0...d { e[j] = 0 }
            e[0] = 1
            var a = 0
            for k in 0..<d {
                if b & (1 << k) != 0 {
                    a += 1
                    var j = a
                    while j > 0 { e[j] += e[j - 1] * z[k]; j -= 1 }
                } else {
                    pB *= z[k]
                }
            }
            var sum = 0.0
            for s in 0...a { sum += w[s] * e[a - s] }
            out[b] = v * pB * sum
        }
        return out
    }

    static func factorial(_ n: Int) -> Double { n < 2 ? 1 : (2...n).reduce(1.0) { $0 * Double($1) } }
}

/// The TreeSHAP tables of a model, built on first use (they take tens of milliseconds and megabytes, and only
/// models that explain alerts need them; scorers that explain build them when they load the bundle). A class so
/// the value-typed model can share one.
final class LazySHAPTables: Sendable {
    private let state = Mutex<(built: Bool, tables: TreeSHAPTables?)>((false, nil))

    /// Whether they have been built (or found impossible for these trees).
    var isBuilt: Bool { state.withLock { $0.built } }

    func tables(_ model: XGBoostModel) -> TreeSHAPTables? {
        if let done = state.withLock({ $0.built ? Optional($0.tables) : nil }) { return done }
        let built = TreeSHAPTables(model: model)
        return state.withLock { s in
            if !s.built { s = (true, built) }
            return s.tables
        }
    }
}
