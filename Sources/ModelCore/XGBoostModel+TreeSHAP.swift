import Synchronization

/// Per-feature contributions of a prediction: exact TreeSHAP (Lundberg, Erion & Lee, "Consistent Individualized
/// Feature Attribution for Tree Ensembles", Algorithm 2), the algorithm of XGBoost's `pred_contribs=True`
/// (`RegTree::TreeShap` in src/tree/tree_model.cc) with the trees' training covers (`sum_hessian`) as the
/// background distribution. The contributions and the bias add up to the margin.
///
/// Arithmetic is in Double (XGBoost's is float32): values agree with `pred_contribs` to about 1e-6.
extension XGBoostModel {
    /// The contributions of one prediction: one per feature, in model order, and the bias (the expected margin:
    /// the base margin plus each tree's cover-weighted mean leaf).
    public struct Contributions: Sendable {
        public var features: [Double]
        public var bias: Double
        /// bias + Σ features: the margin, up to rounding.
        public var total: Double { features.reduce(bias, +) }
    }

    /// Whether explanations take the per-leaf tables (builds them on first use).
    public var explainsWithTables: Bool { canExplain && shapTables.tables(self) != nil }

    /// Whether the model carries the covers TreeSHAP needs (XGBoost's JSON has them as `sum_hessian`).
    public var canExplain: Bool { !covers.isEmpty }

    /// TreeSHAP contributions for the feature vector `x` (NaN = missing), or nil when the model has no covers.
    /// Uses the per-leaf tables (built on first use) where the trees allow them, else the recursive algorithm.
    public func contributions(_ x: UnsafeBufferPointer<Float>) -> Contributions? {
        guard canExplain else { return nil }
        precondition(x.count >= featureCount, "feature vector has \(x.count) values, the model needs \(featureCount)")
        if let tables = shapTables.tables(self) { return contributions(x, tables: tables) }
        return recursiveContributions(x)
    }

    /// The table-driven path: every node's decision once, then per leaf the pattern of agreeing features.
    func contributions(_ x: UnsafeBufferPointer<Float>, tables t: TreeSHAPTables) -> Contributions {
        var phi = [Double](repeating: 0, count: featureCount)
        var bias = Double(baseMargin)
        for root in roots { bias += meanValues[Int(root)] }
        // Per node: 1 when the record goes left.
        var left = [UInt8](repeating: 0, count: nodes.count)
        for n in nodes.indices where nodes[n].left >= 0 { left[n] = hotChild(x, n) == Int(nodes[n].left) ? 1 : 0 }
        left.withUnsafeBufferPointer { left in
        phi.withUnsafeMutableBufferPointer { phi in
        t.splitStart.withUnsafeBufferPointer { splitStart in
        t.splits.withUnsafeBufferPointer { splits in
        t.featureStart.withUnsafeBufferPointer { featureStart in
        t.features.withUnsafeBufferPointer { features in
        t.tableStart.withUnsafeBufferPointer { tableStart in
        t.table.withUnsafeBufferPointer { table in
            // Two passes: first every leaf's table row (from the decisions, all in cache), then the sums. The
            // rows are cache misses; with nothing between them but independent loads the CPU overlaps them.
            var rows = [Int32](repeating: -1, count: t.leafCount)
            for l in 0..<t.leafCount {
                let f0 = Int(featureStart[l]), d = Int(featureStart[l + 1]) - f0
                guard d > 0 else { continue }
                var pattern = (1 << d) - 1
                for j in Int(splitStart[l])..<Int(splitStart[l + 1]) {
                    // node << 5 | slot << 1 | left
                    let s = splits[j]
                    if UInt32(left[Int(s >> 5)]) != s & 1 { pattern &= ~(1 << Int((s >> 1) & 0xF)) }
                }
                rows[l] = tableStart[l] + Int32(pattern * d)
            }
            rows.withUnsafeBufferPointer { rows in
                for l in 0..<t.leafCount where rows[l] >= 0 {
                    let f0 = Int(featureStart[l]), d = Int(featureStart[l + 1]) - f0
                    let base = Int(rows[l])
                    for k in 0..<d { phi[Int(features[f0 + k])] += Double(table[base + k]) }
                }
            }
        }}}}}}}}
        return Contributions(features: phi, bias: bias)
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

    public func contributions(_ x: [Float]) -> Contributions? { x.withUnsafeBufferPointer { contributions($0) } }

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

/// TreeSHAP with per-leaf tables (the idea of Fast TreeSHAP v2, Yang 2021): a leaf's contribution to each
/// feature on its path depends on the record only through which of those features the record "agrees" with (goes
/// the leaf's way at every split on it). With d distinct features on a path there are 2^d such patterns: the
/// contributions of each are computed once, at load, by the same path arithmetic as the recursive algorithm, and
/// a record then costs one pattern lookup and d adds per leaf instead of O(d²) arithmetic. Built only when every
/// path has at most `maxPathFeatures` distinct features and the tables stay under `maxTableEntries`.
struct TreeSHAPTables: Sendable {
    static let maxPathFeatures = 10
    static let maxTableEntries = 8_000_000

    // Flat, per leaf of every tree (leaf l's items are [start[l], start[l + 1])):
    /// Its path's splits from the root, each `node << 5 | slot << 1 | left` (slot: the split's feature's position
    /// among the leaf's features; left: the leaf lies left of the node).
    let splits: [UInt32]
    let splitStart: [Int32]
    /// Its distinct path features.
    let features: [Int32]
    let featureStart: [Int32]
    /// For pattern b (bit k: the record agrees with the path on feature k) and feature k:
    /// table[tableStart[l] + b * d + k].
    let tableStart: [Int32]
    /// Float: half the memory of Double, and a record's cost is the cache misses of its leaves' rows.
    let table: [Float]
    var leafCount: Int { tableStart.count }

    init?(model: XGBoostModel) {
        guard model.canExplain, model.nodes.count < (1 << 27) else { return nil }
        var splitsOut: [UInt32] = [], splitStart: [Int32] = [0], featuresOut: [Int32] = [], featureStart: [Int32] = [0]
        var tableStart: [Int32] = []
        var table: [Float] = []
        var path: [XGBoostModel.PathElement] = []
        for root in model.roots {
            var stack: [(node: Int, splits: [(Int32, Bool)])] = [(Int(root), [])]
            while let (n, splits) = stack.popLast() {
                let node = model.nodes[n]
                if node.left >= 0 {
                    stack.append((Int(node.right), splits + [(Int32(n), false)]))
                    stack.append((Int(node.left), splits + [(Int32(n), true)]))
                    continue
                }
                var features: [Int32] = [], zero: [Double] = []
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
                    splitsOut.append(UInt32(s) << 5 | UInt32(k) << 1 | (left ? 1 : 0))
                }
                let d = features.count
                guard d <= Self.maxPathFeatures, table.count + (d << d) <= Self.maxTableEntries else { return nil }
                splitStart.append(Int32(splitsOut.count))
                featuresOut += features
                featureStart.append(Int32(featuresOut.count))
                tableStart.append(Int32(table.count))
                let leafValue = Double(node.value)
                if path.count < d + 2 { path = [XGBoostModel.PathElement](repeating: .init(), count: d + 2) }
                for pattern in 0..<(1 << d) {
                    path.withUnsafeMutableBufferPointer { p in
                        // The root element, then one per distinct feature: the polynomial does not depend on order.
                        XGBoostModel.extend(p, 0, 0, 1, 1, -1)
                        for k in 0..<d { XGBoostModel.extend(p, 0, k + 1, zero[k], Double((pattern >> k) & 1), Int(features[k])) }
                        for k in 0..<d {
                            let w = XGBoostModel.unwoundSum(p, 0, d, k + 1)
                            table.append(Float(w * (Double((pattern >> k) & 1) - zero[k]) * leafValue))
                        }
                    }
                }
            }
        }
        self.splits = splitsOut
        self.splitStart = splitStart
        self.features = featuresOut
        self.featureStart = featureStart
        self.tableStart = tableStart
        self.table = table
    }
}

/// The TreeSHAP tables of a model, built on first use (they take tens of milliseconds and megabytes, and only
/// models that explain alerts need them). A class so the value-typed model can share one.
final class LazySHAPTables: Sendable {
    private let state = Mutex<(built: Bool, tables: TreeSHAPTables?)>((false, nil))

    func tables(_ model: XGBoostModel) -> TreeSHAPTables? {
        if let done = state.withLock({ $0.built ? Optional($0.tables) : nil }) { return done }
        let built = TreeSHAPTables(model: model)
        return state.withLock { s in
            if !s.built { s = (true, built) }
            return s.tables
        }
    }
}
