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

    /// Whether the model carries the covers TreeSHAP needs (XGBoost's JSON has them as `sum_hessian`).
    public var canExplain: Bool { !covers.isEmpty }

    /// TreeSHAP contributions for the feature vector `x` (NaN = missing), or nil when the model has no covers.
    public func contributions(_ x: UnsafeBufferPointer<Float>) -> Contributions? {
        guard canExplain else { return nil }
        precondition(x.count >= featureCount, "feature vector has \(x.count) values, the model needs \(featureCount)")
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
    private func hotChild(_ x: UnsafeBufferPointer<Float>, _ n: Int) -> Int {
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

    private static func extend(_ p: UnsafeMutableBufferPointer<PathElement>, _ s: Int, _ depth: Int,
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

    private static func unwoundSum(_ p: UnsafeMutableBufferPointer<PathElement>, _ s: Int, _ depth: Int, _ index: Int) -> Double {
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
