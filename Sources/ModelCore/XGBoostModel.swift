import Foundation
import PipelineHost

/// A gradient-boosted tree ensemble loaded from XGBoost's JSON model format, evaluated natively with
/// XGBoost's own arithmetic: float32 inputs, strict `<` splits in float32, missing values following
/// `default_left`, leaf values summed in float32 in tree order starting from the base margin, and
/// XGBoost's float32 sigmoid. Margins are bitwise identical to `Booster.predict(output_margin=True)`.
public struct XGBoostModel: Sendable {
    public enum Objective: String, Sendable {
        case binaryLogistic = "binary:logistic"
        case regLogistic = "reg:logistic"
        case regSquaredError = "reg:squarederror"

        var isLogistic: Bool { self != .regSquaredError }
    }

    /// 16 bytes a node, all trees in one array, so a prediction walks memory that stays in cache.
    struct Node {
        /// Split threshold, or the leaf value on leaves.
        var value: Float
        /// Feature index in the low 30 bits; bit 31 = default left, bit 30 = categorical split.
        var info: UInt32
        /// Absolute index of the left child, -1 on leaves.
        var left: Int32
        var right: Int32

        @inline(__always) var feature: Int { Int(info & 0x3FFF_FFFF) }
        @inline(__always) var defaultLeft: Bool { info & 0x8000_0000 != 0 }
        @inline(__always) var isCategorical: Bool { info & 0x4000_0000 != 0 }
    }

    public let featureNames: [String]
    public let objective: Objective
    /// base_score turned into margin space, as XGBoost does when it loads a model.
    public let baseMargin: Float
    public let treeCount: Int
    let nodes: [Node]
    let roots: [Int32]
    /// Category sets of categorical nodes (node index → sorted categories that go right).
    let categories: [Int32: [Int32]]
    /// The branch-free layout that predictions use when the trees are shallow enough and have no categorical
    /// split (`CompleteTrees`); nil means the node walk below.
    let complete: CompleteTrees?
    /// Per node (same indices as `nodes`): the training cover (`sum_hessian`) and the cover-weighted mean of the
    /// leaves below, which TreeSHAP needs; empty when the model has no `sum_hessian`.
    let covers: [Double]
    let meanValues: [Double]
    /// Per tree: its depth (the longest root-to-leaf path), sizing TreeSHAP's path buffer.
    let depths: [Int]
    let shapTables = LazySHAPTables()

    public var featureCount: Int { featureNames.count }

    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// - Parameter completeTrees: false keeps the node walk even where the complete-tree layout applies (tests
    ///   and the benchmark compare the two).
    public init(json: JSONValue, featureNames fallbackNames: [String]? = nil, completeTrees: Bool = true) throws {
        func fail(_ m: String) -> LoadError { LoadError(message: m) }
        guard let learner = json["learner"] else { throw fail("not an XGBoost JSON model: no \"learner\"") }
        guard let objName = learner["objective"]?["name"]?.stringValue else { throw fail("model has no objective") }
        guard let objective = Objective(rawValue: objName) else {
            throw fail("objective \"\(objName)\" is not supported (binary:logistic, reg:logistic and reg:squarederror are)")
        }
        let booster = learner["gradient_booster"]
        guard booster?["name"]?.stringValue == "gbtree", let model = booster?["model"] else {
            throw fail("booster \"\(booster?["name"]?.stringValue ?? "?")\" is not supported: only gbtree (dart and gblinear are refused)")
        }
        let params = learner["learner_model_param"]
        let numClass = Int(params?["num_class"]?.stringValue ?? "0") ?? 0
        let numTarget = Int(params?["num_target"]?.stringValue ?? "1") ?? 1
        guard numClass <= 1, numTarget <= 1 else { throw fail("multi-class and multi-target models are not supported") }
        if let parallel = model["gbtree_model_param"]?["num_parallel_tree"]?.stringValue, parallel != "1" {
            throw fail("num_parallel_tree \(parallel) (random forests) is not supported")
        }
        var names = (learner["feature_names"]?.arrayValue ?? []).compactMap(\.stringValue)
        if names.isEmpty, let fallbackNames { names = fallbackNames }
        let numFeature = Int(params?["num_feature"]?.stringValue ?? "") ?? names.count
        guard !names.isEmpty, names.count == numFeature else {
            throw fail("model has \(numFeature) features but \(names.count) feature names")
        }

        // base_score: "[1.9743359E-2]" (3.1+) or "5E-1" (older), in probability space for logistic objectives.
        guard var baseText = params?["base_score"]?.stringValue else { throw fail("model has no base_score") }
        baseText = baseText.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
        if let comma = baseText.firstIndex(of: ",") { baseText = String(baseText[..<comma]) }
        guard let base = Float(baseText) else { throw fail("unreadable base_score \"\(baseText)\"") }
        if objective.isLogistic {
            let p = min(max(base, 1e-6 as Float), 1 - 1e-6 as Float)
            baseMargin = -logf(1.0 as Float / p - 1.0 as Float)
        } else {
            baseMargin = base
        }

        guard let trees = model["trees"]?.arrayValue, !trees.isEmpty else { throw fail("model has no trees") }
        if let info = model["tree_info"]?.arrayValue, info.contains(where: { $0.intValue != 0 }) {
            throw fail("tree_info assigns trees to several output groups; only single-output models are supported")
        }
        var nodes: [Node] = []
        var roots: [Int32] = []
        var categories: [Int32: [Int32]] = [:]
        var covers: [Double] = []
        var hasCovers = true
        for (t, tree) in trees.enumerated() {
            func ints(_ key: String) throws -> [Int64] {
                guard let a = tree[key]?.arrayValue else { throw fail("tree \(t): missing \"\(key)\"") }
                return try a.map { v in
                    guard let i = v.intValue else { throw fail("tree \(t): \"\(key)\" holds a non-integer") }
                    return i
                }
            }
            if let leafVector = tree["tree_param"]?["size_leaf_vector"]?.stringValue, leafVector != "1", leafVector != "0" {
                throw fail("tree \(t): vector-leaf trees (size_leaf_vector \(leafVector)) are not supported")
            }
            let left = try ints("left_children"), right = try ints("right_children")
            let split = try ints("split_indices"), defaultLeft = try ints("default_left")
            guard let cond = tree["split_conditions"]?.arrayValue else { throw fail("tree \(t): missing \"split_conditions\"") }
            let splitType = (try? ints("split_type")) ?? Array(repeating: 0, count: left.count)
            let n = left.count
            guard right.count == n, split.count == n, defaultLeft.count == n, cond.count == n, splitType.count == n, n > 0 else {
                throw fail("tree \(t): node arrays have different lengths")
            }
            let base = Int32(nodes.count)
            if let hess = tree["sum_hessian"]?.arrayValue, hess.count == n {
                covers += hess.map { $0.doubleValue.map { Double(Float($0)) } ?? 0 }
            } else {
                hasCovers = false
            }
            var catNodes: [Int64] = [], catSegments: [Int64] = [], catSizes: [Int64] = [], cats: [Int64] = []
            if splitType.contains(1) {
                catNodes = try ints("categories_nodes"); catSegments = try ints("categories_segments")
                catSizes = try ints("categories_sizes"); cats = try ints("categories")
                guard catNodes.count == catSegments.count, catNodes.count == catSizes.count else {
                    throw fail("tree \(t): categorical arrays have different lengths")
                }
            }
            for i in 0..<n {
                guard let value = cond[i].doubleValue else { throw fail("tree \(t) node \(i): split condition is not a number") }
                let isLeaf = left[i] == -1
                if !isLeaf {
                    guard (0..<Int64(n)).contains(left[i]), (0..<Int64(n)).contains(right[i]) else {
                        throw fail("tree \(t) node \(i): child index out of range")
                    }
                    guard (0..<Int64(names.count)).contains(split[i]) else {
                        throw fail("tree \(t) node \(i): feature index \(split[i]) out of range (\(names.count) features)")
                    }
                }
                var info = UInt32(isLeaf ? 0 : split[i])
                if defaultLeft[i] != 0 { info |= 0x8000_0000 }
                if !isLeaf && splitType[i] == 1 {
                    info |= 0x4000_0000
                    guard let k = catNodes.firstIndex(of: Int64(i)) else { throw fail("tree \(t) node \(i): categorical split without categories") }
                    let start = Int(catSegments[k]), size = Int(catSizes[k])
                    guard start >= 0, size >= 0, start + size <= cats.count else { throw fail("tree \(t) node \(i): category range out of bounds") }
                    categories[base + Int32(i)] = cats[start..<start + size].map { Int32($0) }.sorted()
                }
                nodes.append(Node(value: Float(value), info: info,
                                  left: isLeaf ? -1 : base + Int32(left[i]), right: isLeaf ? -1 : base + Int32(right[i])))
            }
            roots.append(base)
        }
        self.featureNames = names
        self.objective = objective
        self.treeCount = roots.count
        self.nodes = nodes
        self.roots = roots
        self.categories = categories
        self.complete = completeTrees ? CompleteTrees(nodes: nodes, roots: roots) : nil
        self.covers = hasCovers ? covers : []
        (self.meanValues, self.depths) = Self.meansAndDepths(nodes: nodes, roots: roots, covers: hasCovers ? covers : [])
    }

    /// True when predictions take the complete-tree layout rather than the node walk.
    public var usesCompleteTrees: Bool { complete != nil }

    /// The raw score before the link function (XGBoost's `output_margin=True`).
    @inline(__always)
    public func margin(_ x: UnsafeBufferPointer<Float>) -> Float {
        precondition(x.count >= featureNames.count, "feature vector has \(x.count) values, the model needs \(featureNames.count)")
        if let complete, let row = x.baseAddress { return complete.margin(row, base: baseMargin) }
        var out = baseMargin
        nodes.withUnsafeBufferPointer { nodes in
            for root in roots {
                var n = Int(root)
                while true {
                    let node = nodes[n]
                    if node.left < 0 { break }
                    let f = x[node.feature]
                    if f.isNaN {
                        n = Int(node.defaultLeft ? node.left : node.right)
                    } else if node.isCategorical {
                        n = Int(categoricalGoesLeft(f, node: n) ? node.left : node.right)
                    } else {
                        n = Int(f < node.value ? node.left : node.right)
                    }
                }
                out += nodes[n].value
            }
        }
        return out
    }

    /// XGBoost's `common::Decision`: a category in the node's set goes right; negative, huge or absent goes left.
    func categoricalGoesLeft(_ f: Float, node: Int) -> Bool {
        if f < 0 || f >= 16_777_216 { return true }
        guard let set = categories[Int32(node)] else { return true }
        let c = Int32(f)
        var lo = 0, hi = set.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if set[mid] < c { lo = mid + 1 } else { hi = mid }
        }
        return !(lo < set.count && set[lo] == c)
    }

    /// The prediction: the probability for logistic objectives, the margin otherwise.
    public func predict(_ x: UnsafeBufferPointer<Float>) -> Float {
        let m = margin(x)
        return objective.isLogistic ? Self.sigmoid(m) : m
    }

    public func predict(_ x: [Float]) -> Float { x.withUnsafeBufferPointer { predict($0) } }

    /// `predict` for `count` rows of `featureCount` values, one after another in `rows`: the same values bit for
    /// bit, tree by tree over the batch where the complete-tree layout applies (a fifth less time a row:
    /// `bench/scorer.sh`, 0.54 against 0.65 µs).
    public func predictions(rows: UnsafeBufferPointer<Float>, count: Int) -> [Float] {
        let width = featureNames.count
        precondition(rows.count >= count * width, "\(rows.count) values for \(count) rows of \(width)")
        guard count > 0 else { return [] }
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { out in
            if let complete {
                complete.margins(rows.baseAddress!, count: count, width: width, base: baseMargin, into: out.baseAddress!)
            } else {
                for r in 0..<count { out[r] = margin(UnsafeBufferPointer(rebasing: rows[r * width..<(r + 1) * width])) }
            }
            if objective.isLogistic { for r in 0..<count { out[r] = Self.sigmoid(out[r]) } }
        }
        return out
    }
    public func margin(_ x: [Float]) -> Float { x.withUnsafeBufferPointer { margin($0) } }

    /// XGBoost's float32 `common::Sigmoid`.
    @inline(__always)
    public static func sigmoid(_ m: Float) -> Float {
        let x = min(-m, 88.7 as Float)
        return 1.0 as Float / (expf(x) + 1.0 as Float + 1e-16 as Float)
    }
}
