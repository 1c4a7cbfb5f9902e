import BuiltinPlugins
import Foundation
import Logging
@testable import LocalModelScorer
@testable import ModelCore
import PipelineHost
import Testing
import TestSupport

/// TreeSHAP contributions against xgboost 3.2.0's `pred_contribs=True` on the 320 parity rows (ordinary, with
/// missing values, on split thresholds): training/make_contribs.py wrote the expected values.
@Suite struct TreeSHAPTests {
    @Test func contributionsMatchXGBoostPredContribs() throws {
        let model = ScoringTests.bundle.model
        try #require(model.canExplain, "models/v1 has no sum_hessian")
        let parity = TestFiles.lines(TestFiles.path("Tests/Fixtures/xgb-parity.jsonl"))
        let expected = TestFiles.lines(TestFiles.path("Tests/Fixtures/xgb-contribs.jsonl"))
        try #require(parity.count == expected.count && parity.count >= 300)
        let parser = RecordParser()
        var worst = 0.0, worstSum = 0.0, kinds: [String: Int] = [:]
        for (p, e) in zip(parity, expected) {
            let row = Record(fields: try #require(try parser.parse(Array(p.utf8))))
            kinds[row["kind"]?.stringValue ?? "?", default: 0] += 1
            let x = try #require(row["scaled"]?.arrayValue).map { $0.doubleValue.map(Float.init) ?? .nan }
            let expectedRow = Record(fields: try #require(try parser.parse(Array(e.utf8))))
            let want = try #require(expectedRow["contribs"]?.arrayValue).compactMap(\.doubleValue)
            try #require(want.count == model.featureCount + 1)
            // The table-driven path (the one scoring uses) and the recursive algorithm it is built from.
            let recursive = try #require(x.withUnsafeBufferPointer { model.recursiveContributions($0) })
            for got in [try #require(model.contributions(x)), recursive] {
                for i in 0..<model.featureCount { worst = max(worst, abs(got.features[i] - want[i])) }
                worst = max(worst, abs(got.bias - want[model.featureCount]))
                // Contributions and bias add up to the margin (which is bitwise xgboost's).
                worstSum = max(worstSum, abs(got.total - Double(model.margin(x))))
            }
        }
        #expect(worst <= 1e-5, "largest difference from pred_contribs: \(worst)")
        #expect(worstSum <= 1e-5, "largest |Σ contributions + bias − margin|: \(worstSum)")
        #expect((kinds["missing"] ?? 0) >= 50, "rows with missing values: \(kinds)")
        print("TreeSHAP vs xgboost pred_contribs on \(parity.count) rows: max |Δ| \(worst), max |Σ − margin| \(worstSum)")
    }

    /// Many records at once (how local_model explains a batch's alerts) give each record's own contributions.
    @Test func aBatchExplainsEachRecordAsAlone() throws {
        let model = ScoringTests.bundle.model
        let parser = RecordParser()
        var rows: [[Float]] = []
        for line in TestFiles.lines(TestFiles.path("Tests/Fixtures/xgb-parity.jsonl")) {
            let row = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            rows.append(try #require(row["scaled"]?.arrayValue).map { $0.doubleValue.map(Float.init) ?? .nan })
        }
        // Edge values for the eight-at-a-time splits: −0 and +0 against every threshold, infinities, NaN.
        for edge: Float in [-0.0, 0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude] {
            rows.append([Float](repeating: edge, count: model.featureCount))
            rows.append(rows[rows.count - 2].enumerated().map { $0.offset % 3 == 0 ? edge : $0.element })
        }
        let flat = rows.flatMap { $0 }
        let batch = try #require(flat.withUnsafeBufferPointer { model.contributions(rows: $0, count: rows.count) })
        #expect(batch.count == rows.count)
        // Every leaf loop this CPU runs (the batch above took the fastest).
        let kernels = XGBoostModel.ExplainKernel.allCases.filter(\.isAvailable)
        let byKernel = try kernels.map { k in try #require(flat.withUnsafeBufferPointer { model.contributions(rows: $0, count: rows.count, kernel: k) }) }
        for (r, (x, together)) in zip(rows, batch).enumerated() {
            let alone = try #require(model.contributions(x))
            #expect(together.features == alone.features)
            #expect(together.bias == alone.bias)
            for (k, kernel) in kernels.enumerated() { #expect(byKernel[k][r].features == alone.features, "\(kernel)") }
        }
        print("TreeSHAP batch: leaf loops compared: \(kernels.map(\.rawValue))")
    }

    /// Trees the bundle does not have: paths of seven and eight distinct features (tables too big for registers,
    /// read from memory in the AVX2 loop), categorical splits (decided in Swift beside the AVX2 decisions), a path
    /// that splits one feature twice (its last two leaves are not a pair), sibling leaves under a categorical split
    /// and under the root (pairs of every size from 1 to 8), a threshold of +infinity met by ±infinity, 25 groups of eight, and two
    /// records alone. Every path agrees bit for bit, and with the recursive
    /// algorithm and the margin.
    @Test func unusualTreesAgreeAcrossPaths() throws {
        var rng = SplitMix64(seed: 18)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        func tree(depth: Int, feature: (Int) -> Int, categorical: Set<Int> = [], rootThreshold: Double? = nil) -> String {
            Self.completeTree(depth: depth, feature: feature, categorical: categorical, rootThreshold: rootThreshold, rng: &rng)
        }
        let trees = [
            tree(depth: 8, feature: { $0 }),                              // eight distinct features per path
            tree(depth: 3, feature: { [9, 9, 2][$0] }, categorical: [0, 2]),  // categorical root and child
            tree(depth: 7, feature: { [6, 5, 4, 3, 2, 1, 0][$0] }),       // seven: the first size read from memory
            tree(depth: 1, feature: { _ in 8 }, rootThreshold: 1e39),     // a threshold of +infinity (as Float)
            tree(depth: 2, feature: { _ in 4 }),                          // one feature split twice: d = 1
            tree(depth: 6, feature: { [3, 5, 3, 6, 7, 0][$0] }),          // d = 5 with a repeat
            tree(depth: 2, feature: { [2, 9][$0] }, categorical: [1, 2]), // pairs of leaves under categorical splits
        ]
        let model = try Self.model(trees: trees, features: 10)
        try #require(model.explainsWithTables, "the tables cover these trees")
        // Where the CPU has AVX2 or AVX-512, the batches below must take them.
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if cpu.contains(" avx2") { #expect(XGBoostModel.ExplainKernel.avx2.isAvailable, "the CPU has AVX2 but the explanations do not use it") }
        if cpu.contains(" avx512f") && cpu.contains(" avx512vl") {
            #expect(XGBoostModel.ExplainKernel.fastest == .avx512, "the CPU has AVX-512 but the explanations do not use it")
        }
        var rows: [[Float]] = []
        for r in 0..<200 {
            rows.append((0..<10).map { f in
                if f == 9 { return Float(Int(uniform() * 7)) }  // categories 0…6
                if f == 8 { return [Float.infinity, -.infinity, 1][r % 3] }
                return (r + f) % 11 == 0 ? .nan : Float(2 * uniform() - 1)
            })
        }
        let flat = rows.flatMap { $0 }
        let batch = try #require(flat.withUnsafeBufferPointer { model.contributions(rows: $0, count: rows.count) })
        let kernels = XGBoostModel.ExplainKernel.allCases.filter(\.isAvailable)
        let byKernel = try kernels.map { k in try #require(flat.withUnsafeBufferPointer { model.contributions(rows: $0, count: rows.count, kernel: k) }) }
        // Two records: one group of eight lanes, six of them padding.
        let pair = try #require(flat.withUnsafeBufferPointer { model.contributions(rows: UnsafeBufferPointer(rebasing: $0[0..<20]), count: 2) })
        for i in 0..<2 { #expect(pair[i].features == (try #require(model.contributions(rows[i]))).features, "pair row \(i)") }
        var worst = 0.0
        for (i, x) in rows.enumerated() {
            let alone = try #require(model.contributions(x))
            #expect(batch[i].features == alone.features, "row \(i): batch \(batch[i].features) alone \(alone.features)")
            for (k, kernel) in kernels.enumerated() { #expect(byKernel[k][i].features == alone.features, "row \(i), \(kernel)") }
            let recursive = try #require(x.withUnsafeBufferPointer { model.recursiveContributions($0) })
            for f in 0..<10 { worst = max(worst, abs(alone.features[f] - recursive.features[f])) }
            #expect(abs(alone.total - Double(model.margin(x))) < 1e-5, "row \(i): Σ \(alone.total) margin \(model.margin(x))")
        }
        #expect(worst < 1e-5, "largest difference from the recursive algorithm: \(worst)")
    }

    /// The shipped bundle's trees are ones the one-record pass takes (its tables are built), so local_model uses
    /// it for small passes wherever the CPU has AVX-512.
    @Test func theOneRecordPassTakesTheShippedBundle() throws {
        let bundleTables = try #require(ScoringTests.bundle.model.shapTables.tables(ScoringTests.bundle.model))
        #expect(bundleTables.records != nil, "the one-record pass takes the shipped bundle")
    }

    /// The one-record AVX-512 pass (`avx512Records`) on trees it takes but the bundle does not have: 16 features
    /// (its lanes' limit, feature 15 split), a tree of 63 splits (four blocks of sixteen decisions), a tree of one
    /// leaf, one feature split twice on a path, a threshold of +infinity, default directions both ways, and
    /// records with missing values, ±infinity and −0; passes of 1 to 20 records (more than it takes at once).
    /// Bit for bit the same as every other path. Shown as skipped, not passed, on a CPU without AVX-512.
    @Test(.enabled(if: XGBoostModel.ExplainKernel.avx512Records.isAvailable, "no AVX-512 on this CPU"))
    func theOneRecordPassAgreesWithTheOtherLoops() throws {
        var rng = SplitMix64(seed: 1818)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        func tree(depth: Int, feature: (Int) -> Int, rootThreshold: Double? = nil) -> String {
            Self.completeTree(depth: depth, feature: feature, rootThreshold: rootThreshold, rng: &rng)
        }
        let trees = [
            tree(depth: 6, feature: { [15, 3, 9, 0, 12, 7][$0] }),        // 63 splits, six distinct features, feature 15
            tree(depth: 0, feature: { _ in 0 }),                          // one leaf
            tree(depth: 4, feature: { [2, 14, 2, 5][$0] }),               // feature 2 twice on every path
            tree(depth: 1, feature: { _ in 8 }, rootThreshold: 1e39),     // a threshold of +infinity (as Float)
            tree(depth: 5, feature: { [1, 4, 6, 10, 11][$0] }),           // pairs of five features
            tree(depth: 3, feature: { [13, 15, 13][$0] }),
        ]
        let model = try Self.model(trees: trees, features: 16)
        let tables = try #require(model.shapTables.tables(model))
        try #require(tables.records != nil, "the one-record pass takes these trees")
        let edges: [Float] = [.nan, .infinity, -.infinity, -0.0, 0.0]
        let rows: [[Float]] = (0..<40).map { r in
            (0..<16).map { f in (r + 2 * f) % 7 == 0 ? edges[(r + f) % edges.count] : Float(2 * uniform() - 1) }
        }
        let flat = rows.flatMap { $0 }
        for count in 1...20 {
            for start in [0, 20] where start + count <= rows.count {
                let part = Array(flat[(start * 16)..<((start + count) * 16)])
                let byRecord = try #require(part.withUnsafeBufferPointer { model.contributions(rows: $0, count: count, kernel: .avx512Records) })
                let byGroup = try #require(part.withUnsafeBufferPointer { model.contributions(rows: $0, count: count, kernel: .avx512) })
                for i in 0..<count {
                    let alone = try #require(model.contributions(rows[start + i], kernel: .portable))
                    #expect(byRecord[i].features == alone.features, "\(count) records from \(start), record \(i)")
                    #expect(byRecord[i].bias == alone.bias)
                    #expect(byGroup[i].features == alone.features, "\(count) records from \(start), record \(i), eight-record loop")
                }
            }
        }
        // Chosen by itself for a few records, not for many.
        #expect(XGBoostModel.ExplainKernel.fastest(for: 1) == .avx512Records)
        #expect(XGBoostModel.ExplainKernel.fastest(for: XGBoostModel.recordPassLimit + 1) == .avx512)
    }

    /// A complete tree of `depth` levels as XGBoost's JSON has it: node i's children are 2i + 1 and 2i + 2
    /// (numbered breadth first, as XGBoost does), level l's splits on `feature(l)`, random covers, thresholds and
    /// leaf values; the nodes in `categorical` split on categories {5, 2}; missing values go left at every third node.
    static func completeTree(depth: Int, feature: (Int) -> Int, categorical: Set<Int> = [], rootThreshold: Double? = nil,
                             rng: inout SplitMix64) -> String {
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        let inner = (1 << depth) - 1, count = (1 << (depth + 1)) - 1
        var covers = [Double](repeating: 0, count: count)
        for n in stride(from: count - 1, through: 0, by: -1) {
            covers[n] = n >= inner ? 1 + 9 * uniform() : covers[2 * n + 1] + covers[2 * n + 2]
        }
        let level = { (n: Int) in Int(log2(Double(n + 1))) }
        let left = (0..<count).map { $0 < inner ? 2 * $0 + 1 : -1 }, right = (0..<count).map { $0 < inner ? 2 * $0 + 2 : -1 }
        let split = (0..<count).map { $0 < inner ? feature(level($0)) : 0 }
        var value = (0..<count).map { n in n < inner ? (categorical.contains(n) ? 0 : 2 * uniform() - 1) : 2 * uniform() - 1 }
        if let rootThreshold, inner > 0 { value[0] = rootThreshold }
        let cats = categorical.sorted()
        return """
            {"left_children": \(left), "right_children": \(right), "split_indices": \(split),
             "split_conditions": \(value), "default_left": \((0..<count).map { $0 % 3 == 0 ? 1 : 0 }),
             "split_type": \((0..<count).map { categorical.contains($0) ? 1 : 0 }), "sum_hessian": \(covers),
             "categories_nodes": \(cats), "categories_segments": \(cats.indices.map { 2 * $0 }),
             "categories_sizes": \(cats.map { _ in 2 }), "categories": \(cats.flatMap { _ in [5, 2] }),
             "tree_param": {"num_nodes": "\(count)", "size_leaf_vector": "1"}}
            """
    }

    /// A binary:logistic model of these trees over features f0, f1, ….
    static func model(trees: [String], features: Int) throws -> XGBoostModel {
        let names = (0..<features).map { "\"f\($0)\"" }.joined(separator: ", ")
        let json = """
            {"learner": {"feature_names": [\(names)], "learner_model_param": {"base_score": "0.5", "num_feature": "\(features)", "num_class": "0"},
             "objective": {"name": "binary:logistic"},
             "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_trees": "\(trees.count)", "num_parallel_tree": "1"},
              "tree_info": \([Int](repeating: 0, count: trees.count)), "trees": [\(trees.joined(separator: ", "))]}}}}
            """
        return try XGBoostModel(json: DocumentParser.parseValue(Array(json.utf8)))
    }

    /// top_features as text (what local_model stores) is what the writer writes of the value (what the sagemaker
    /// scorer and the model server build), for every `top` and values of every kind.
    @Test func topFeaturesTextIsTheValueWritten() throws {
        let c = XGBoostModel.Contributions(features: [0.5, -2.5564942707133014, 0, 1e-9, -0.5, 3], bias: 0.1)
        let names = ["a", "hour_of_day", "c\"quoted", "d", "e"]  // feature 5 has no name: "f5"
        let values: [JSONValue] = [.int(3), .double(0.25), .null, .string("x"), .double(12.0), .bool(true)]
        for top in 0...7 {
            var w = JSONWriter()
            w.write(TopFeatures.json(c, names: names, top: top) { values[$0] })
            #expect(TopFeatures.encoded(c, names: names, top: top) { values[$0] } == w.bytes, "top \(top)")
        }
    }

    /// A one-split tree by hand: the contribution is exact and the bias is the cover-weighted mean.
    @Test func aSingleSplitIsAttributedToItsFeature() throws {
        let json = """
            {"learner": {"feature_names": ["a", "b"], "learner_model_param": {"base_score": "0.5", "num_feature": "2", "num_class": "0"},
             "objective": {"name": "reg:squarederror"},
             "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_trees": "1", "num_parallel_tree": "1"},
              "tree_info": [0], "trees": [{"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [1, 0, 0],
              "split_conditions": [0.5, -1.0, 3.0], "default_left": [1, 0, 0], "split_type": [0, 0, 0],
              "sum_hessian": [4.0, 3.0, 1.0], "tree_param": {"num_nodes": "3", "size_leaf_vector": "1"}}]}}}}
            """
        let model = try XGBoostModel(json: DocumentParser.parseValue(Array(json.utf8)))
        // Mean leaf: (3·(−1) + 1·3)/4 = 0; b = 1 goes right to 3: all of the 3 − 0 is b's.
        let c = try #require(model.contributions([7, 1]))
        #expect(abs(c.bias - 0.5) < 1e-12)
        #expect(c.features[0] == 0 && abs(c.features[1] - 3) < 1e-6, "\(c.features)")
        let missing = try #require(model.contributions([7, .nan]))
        // The tables hold Float: exact to about 1e-8 here.
        #expect(missing.features[0] == 0 && abs(missing.features[1] - -1) < 1e-6, "a missing b takes the default (left) branch: \(missing.features)")
    }

    /// local_model with explain_top builds the TreeSHAP tables with its bundle, so the first alert's batch does
    /// not wait for them; without explain_top it never builds them (0.7 MB it would not use).
    @Test func theTablesAreBuiltWithTheBundleOnlyWhenExplaining() throws {
        func scorer(explainTop: Int) throws -> LocalModelScorer {
            let text = """
                {"name": "s", "source": {"type": "file", "path": "in.jsonl"},
                 "transforms": [{"type": "local_model", "bundle": "\(TestFiles.path("models/v1"))", "explain_top": \(explainTop)}],
                 "sinks": [{"type": "file", "path": "out.jsonl"}], "dead_letter": {"type": "file", "path": "dlq.jsonl"}}
                """
            let spec = try PipelineSpec.parse(Array(text.utf8), file: "s.json", registry: BuiltinPlugins.registry, environment: [:])
            // A context of its own: its own read of the bundle, so its own model and tables.
            let context = BuildContext(pipelineName: "s", logger: Logger(label: "test"), environment: [:], registry: BuiltinPlugins.registry)
            return try #require(try BuiltinPlugins.registry.makeTransform(spec.transforms[0], context) as? LocalModelScorer)
        }
        #expect(try scorer(explainTop: 3).scoring.get().model.shapTables.isBuilt)
        #expect(try !scorer(explainTop: 0).scoring.get().model.shapTables.isBuilt)
    }

    /// local_model explains its alerts, and only those: top_features lists the largest |contribution|s with the
    /// raw values, and equals TreeSHAP on the same vector.
    @Test func alertsCarryTheirTopFeatures() async throws {
        let dir = TestFiles.scratch("explain")
        // The first 5,000 sample events (about 100 alerts): enough to check, light enough for a debug build.
        let sample = try AWSReadBack.gunzipLines(Array(try #require(FileManager.default.contents(atPath: TestFiles.path("samples/transactions.jsonl.gz")))))
        TestFiles.write(sample.prefix(5000).joined(separator: "\n") + "\n", to: dir + "/in.jsonl")
        let text = """
            {"name": "explain", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [
               {"type": "dynamo_broadcast", "mode": "file", "path": "\(TestFiles.path("samples/user_demographics.jsonl"))",
                "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"], "on_missing": "missing"},
               {"type": "rolling_aggregates", "key_field": "user_id", "time_field": "event_created_at_ts", "value_field": "transaction_value"},
               {"type": "feature_scaler", "bundle": "\(TestFiles.path("models/v1"))"},
               {"type": "local_model", "bundle": "\(TestFiles.path("models/v1"))", "explain_top": 3, "keep_features": true}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "explain.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        _ = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
        let model = ScoringTests.bundle.model
        let parser = RecordParser()
        var alerts = 0, others = 0
        for line in TestFiles.lines(dir + "/out.jsonl") {
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            guard r["is_alert"] == .bool(true) else {
                others += 1
                #expect(r["top_features"] == nil, "only alerts are explained")
                continue
            }
            alerts += 1
            let top = try #require(r["top_features"]?.arrayValue, "alert without top_features")
            #expect(top.count == 3)
            let x = try #require(r["features"]?.arrayValue).map { $0.doubleValue.map(Float.init) ?? .nan }
            let c = try #require(model.contributions(x))
            let largest = c.features.map(abs).sorted(by: >)
            for (k, item) in top.enumerated() {
                let name = try #require(item["name"]?.stringValue)
                let i = try #require(model.featureNames.firstIndex(of: name))
                #expect(item["contribution"]?.doubleValue == c.features[i])
                #expect(abs(c.features[i]) == largest[k], "ordered by |contribution|")
                // The raw value: the record's own field where it has one (hour_of_day is derived).
                if let own = r[name], own.doubleValue != nil { #expect(item["value"]?.doubleValue == own.doubleValue, "\(name)") }
            }
        }
        #expect(alerts >= 20 && others > alerts, "\(alerts) alerts, \(others) others")
    }
}
