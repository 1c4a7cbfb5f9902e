import BuiltinPlugins
import Foundation
import Logging
import ModelCore
@testable import PipelineHost
@testable import ABSplit
import Testing

@Suite struct ScoringTests {
    static let bundle = try! ModelBundle(directory: TestFiles.path("models/v1"))

    /// 320 vectors from xgboost 3.2.0 itself (training/make_parity.py): ordinary rows, rows with missing
    /// values, and rows whose scaled value sits exactly on a split threshold.
    /// models/v1 with the node walk instead of the complete-tree layout (both must match xgboost).
    static let nodeWalkModel: XGBoostModel = {
        let data = FileManager.default.contents(atPath: TestFiles.path("models/v1/model.json"))!
        return try! XGBoostModel(json: DocumentParser.parseValue(Array(data)), featureNames: bundle.features, completeTrees: false)
    }()

    @Test(arguments: [true, false]) func evaluatorMatchesXGBoostBitForBit(completeTrees: Bool) throws {
        let lines = TestFiles.lines(TestFiles.path("Tests/Fixtures/xgb-parity.jsonl"))
        try #require(lines.count >= 200)
        let model = completeTrees ? Self.bundle.model : Self.nodeWalkModel
        #expect(model.usesCompleteTrees == completeTrees)
        let assembler = FeatureAssembler(names: Self.bundle.features)
        let parser = RecordParser()
        var marginMismatches = 0, probMismatches = 0, scaledMismatches = 0, kinds: [String: Int] = [:]
        var rows: [[Float]] = []
        for line in lines {
            let row = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            kinds[row["kind"]?.stringValue ?? "?", default: 0] += 1
            let raw = try assembler.raw { row["raw"]?[$0] }
            let x = Self.bundle.scaler.transform(raw)
            rows.append(x)
            let expectedScaled = try #require(row["scaled"]?.arrayValue)
            for (i, e) in expectedScaled.enumerated() {
                let want = e.doubleValue.map(Float.init) ?? .nan
                if !(want.isNaN && x[i].isNaN) && want.bitPattern != x[i].bitPattern { scaledMismatches += 1 }
            }
            let bitsText = try #require(row["margin_bits"]?.stringValue)
            let bits = try #require(UInt32(bitsText, radix: 16))
            if model.margin(x).bitPattern != bits { marginMismatches += 1 }
            let prob = try #require(row["prob"]?.doubleValue)
            if abs(Double(model.predict(x)) - prob) > 1e-6 { probMismatches += 1 }
        }
        // A batch at a time (how local_model scores): every row's score is the one-row score, bit for bit, for
        // batches of every size around the eight rows walked in lockstep.
        for size in [1, 7, 8, 9, 17, rows.count] {
            for start in stride(from: 0, to: rows.count, by: size) {
                let part = Array(rows[start..<min(start + size, rows.count)])
                let scores = part.flatMap { $0 }.withUnsafeBufferPointer { model.predictions(rows: $0, count: part.count) }
                for (x, s) in zip(part, scores) where s.bitPattern != model.predict(x).bitPattern {
                    Issue.record("batch of \(size) from row \(start): \(s) against \(model.predict(x)) alone")
                }
            }
        }
        #expect(scaledMismatches == 0)
        #expect(marginMismatches == 0, "margins must be bitwise equal to xgboost's")
        #expect(probMismatches == 0)
        #expect((kinds["missing"] ?? 0) >= 50 && (kinds["threshold"] ?? 0) >= 50, "fixture kinds: \(kinds)")
    }

    /// local_model scores a batch in one call: records without a usable vector go to the dead-letter output with
    /// the reason, in between the others, and every other record gets its own score, whatever the form of its
    /// vector (typed, as feature_scaler writes it, or a JSON array).
    @Test func localModelScoresABatchAroundItsBadRecords() async throws {
        let dir = TestFiles.scratch("batch-score")
        let text = """
            {"name": "s", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [{"type": "local_model", "id": "score", "bundle": "\(TestFiles.path("models/v1"))"}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}], "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "s.json", registry: BuiltinPlugins.registry, environment: [:])
        let context = BuildContext(pipelineName: "s", logger: Logger(label: "test"), environment: [:], registry: BuiltinPlugins.registry)
        let scorer = try BuiltinPlugins.registry.makeTransform(spec.transforms[0], context)
        let n = Self.bundle.features.count
        var vectors: [[Float]] = []
        for i in 0..<20 {
            var v = [Float](repeating: .nan, count: n)
            for f in 0..<n where (i + f) % 7 != 0 { v[f] = Float(i * f % 11) / 5 - 1 }
            vectors.append(v)
        }
        var records: [Record] = []
        for (i, v) in vectors.enumerated() {
            var r = Record(fields: [("i", .int(Int64(i)))])
            switch i {
            case 3: r["features"] = .array([.double(1)])                        // too short
            case 9: break                                                        // no vector
            case 12: r.setVector("features", Array(v.prefix(n - 1)))            // typed, too short
            case let i where i % 2 == 0: r.setVector("features", v)             // typed
            default: r["features"] = .array(v.map { $0.isNaN ? .null : .double(Double($0)) })  // JSON
            }
            records.append(r)
        }
        var batch = Batch(id: 1, records: records, deadLetters: [], token: AckToken(batchID: 1, tracker: AckTracker()))
        try await scorer.process(&batch)
        #expect(batch.records.map { $0["i"]?.intValue } == (0..<20).filter { ![3, 9, 12].contains($0) }.map { Int64($0) })
        for r in batch.records {
            let i = Int(try #require(r["i"]?.intValue))
            let score = try #require(r["fraud_score"]?.doubleValue)
            #expect(score == Double(Self.bundle.model.predict(vectors[i])), "record \(i)")
            #expect(r["is_alert"] == .bool(score >= Self.bundle.alertThreshold))
            #expect(r["features"] == nil, "the vector is dropped after scoring")
        }
        var reasons: [Int64: String] = [:]
        for d in batch.deadLetters { reasons[d.record["i"]?.intValue ?? -1] = d.reason }
        #expect(reasons[3] == "feature vector has 1 values, the model needs \(n)")
        #expect(reasons[9] == "no feature vector in field \"features\" (is feature_scaler before the scorer?)")
        #expect(reasons[12] == "feature vector has \(n - 1) values, the model needs \(n)")
        #expect(batch.deadLetters.allSatisfy { $0.stage == "score" })
    }

    @Test func baseScoreAndObjectivesFollowXGBoost() throws {
        // A one-split model written by hand: base_score 0.5 → margin 0; reg:squarederror keeps the base as is.
        func model(objective: String, base: String, splitType: Int = 0, categories: String = "") throws -> XGBoostModel {
            let text = """
                {"learner": {"feature_names": ["a"], "learner_model_param": {"base_score": "\(base)", "num_class": "0", "num_feature": "1"},
                 "objective": {"name": "\(objective)"},
                 "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_parallel_tree": "1"}, "tree_info": [0],
                   "trees": [{"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [0, 0, 0],
                              "split_conditions": [1.5E0, -1E0, 2E0], "default_left": [1, 0, 0], "split_type": [\(splitType), 0, 0]\(categories),
                              "tree_param": {"size_leaf_vector": "1"}}]}}}}
                """
            return try XGBoostModel(json: DocumentParser.parseValue(Array(text.utf8)))
        }
        let logistic = try model(objective: "binary:logistic", base: "[5E-1]")
        #expect(logistic.usesCompleteTrees)
        #expect(logistic.baseMargin == 0)
        #expect(logistic.margin([1.0]) == -1)
        #expect(logistic.margin([1.5]) == 2, "equal to the threshold goes right")
        #expect(logistic.margin([.nan]) == -1, "missing follows default_left")
        #expect(logistic.predict([1.5]) == XGBoostModel.sigmoid(2))
        let regression = try model(objective: "reg:squarederror", base: "3E0")
        #expect(regression.predict([5]) == 5)
        // Categorical split: categories {2, 5} go right, everything else left.
        let cat = try model(objective: "reg:squarederror", base: "0E0", splitType: 1,
                            categories: #", "categories_nodes": [0], "categories_segments": [0], "categories_sizes": [2], "categories": [5, 2]"#)
        #expect(!cat.usesCompleteTrees, "categorical splits take the node walk")
        #expect(cat.predict([2]) == 2)
        #expect(cat.predict([5]) == 2)
        #expect(cat.predict([3]) == -1)
        #expect(cat.predict([-1]) == -1)
    }

    /// A chain tree (each split has a leaf on the left): the most padding the complete-tree layout needs. Up to
    /// depth 10 it takes that layout and must agree with the node walk; deeper, it keeps the node walk.
    @Test(arguments: [10, 11]) func unbalancedTreesAgreeInBothLayouts(depth: Int) throws {
        // Split k (node 2k) tests x0 < k and goes left to leaf 2k+1 (value k), right to split k+1; missing goes
        // left on even splits. The last right child is a leaf of value 100.
        var left: [Int] = [], right: [Int] = [], cond: [String] = [], dl: [Int] = []
        for k in 0..<depth {
            left += [2 * k + 1, -1]; right += [2 * k + 2, -1]
            cond += ["\(k)E0", "\(k)E0"]; dl += [k % 2 == 0 ? 1 : 0, 0]
        }
        left.append(-1); right.append(-1); cond.append("1E2"); dl.append(0)
        let n = left.count
        let text = """
            {"learner": {"feature_names": ["a"], "learner_model_param": {"base_score": "0E0", "num_class": "0", "num_feature": "1"},
             "objective": {"name": "reg:squarederror"},
             "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_parallel_tree": "1"}, "tree_info": [0],
               "trees": [{"left_children": \(left), "right_children": \(right), "split_indices": \(Array(repeating: 0, count: n)),
                          "split_conditions": [\(cond.joined(separator: ","))], "default_left": \(dl),
                          "tree_param": {"size_leaf_vector": "1"}}]}}}}
            """
        let json = try DocumentParser.parseValue(Array(text.utf8))
        let complete = try XGBoostModel(json: json), walk = try XGBoostModel(json: json, completeTrees: false)
        #expect(complete.usesCompleteTrees == (depth <= 10))
        for x: Float in [-1, 0, 0.5, 1, 3, 7.5, 9, 9.5, 10, 10.5, 11, 1e30, .nan] {
            #expect(complete.margin([x]).bitPattern == walk.margin([x]).bitPattern, "x = \(x)")
        }
        #expect(walk.margin([0.5]) == 1, "0.5 fails x0 < 0 and passes x0 < 1: leaf of split 1")
        #expect(walk.margin([1e30]) == 100)
        #expect(walk.margin([.nan]) == 0, "split 0 sends missing values left")
    }

    @Test func unsupportedModelsAreRefusedClearly() throws {
        func load(_ booster: String, objective: String = "binary:logistic") -> String {
            let text = #"{"learner": {"learner_model_param": {"base_score": "5E-1"}, "objective": {"name": "\#(objective)"}, "gradient_booster": {"name": "\#(booster)", "model": {}}}}"#
            do { _ = try XGBoostModel(json: try DocumentParser.parseValue(Array(text.utf8)), featureNames: ["a"]); return "" } catch { return "\(error)" }
        }
        #expect(load("dart").contains("only gbtree (dart and gblinear are refused)"))
        #expect(load("gblinear").contains("only gbtree"))
        #expect(load("gbtree", objective: "multi:softprob").contains("objective \"multi:softprob\" is not supported"))
    }

    @Test func derivedFeaturesUseFloorSemantics() {
        #expect(DerivedFeatures.hourOfDay(epochSeconds: 1718500000) == 1)
        #expect(DerivedFeatures.hourOfDay(epochSeconds: 3599) == 0)
        #expect(DerivedFeatures.hourOfDay(epochSeconds: 3600) == 1)
        #expect(DerivedFeatures.hourOfDay(epochSeconds: -1) == 23)
    }

    @Test func assemblerNamesTheBadField() throws {
        let a = FeatureAssembler(names: ["age", "hour_of_day", "tenure_months"])
        let raw = try a.raw { ["age": JSONValue.int(30), "event_created_at_ts": .int(7200)][$0] }
        #expect(raw[0] == 30 && raw[1] == 2 && raw[2].isNaN)
        #expect(throws: FeatureAssembler.FieldError.self) { try a.raw { $0 == "age" ? .string("old") : nil } }
        do { _ = try a.raw { $0 == "age" ? .string("old") : nil } } catch {
            #expect(error.description == #"field "age": expected a number, got string "old""#)
        }
    }
}

/// The streaming features against training/features.py's own output on the sample data.
@Suite struct StreamingFeatureTests {
    @Test func rollingAggregatesReproduceTheTrainingFeatures() async throws {
        let dir = TestFiles.scratch("features")
        let text = """
            {"name": "features", "source": {"type": "file", "path": "\(TestFiles.path("samples/transactions.jsonl.gz"))"},
             "transforms": [{"type": "rolling_aggregates"}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "features.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        _ = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
        let parser = RecordParser()
        var produced: [String: Record] = [:]
        for line in TestFiles.lines(dir + "/out.jsonl") {
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            produced[r["transaction_id"]!.stringValue!] = r
        }
        let expected = TestFiles.lines(TestFiles.path("samples/expected-features.jsonl"))
        try #require(expected.count >= 2000)
        var compared = 0
        for line in expected {
            let e = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            let id = e["transaction_id"]!.stringValue!
            let got = try #require(produced[id], "transaction \(id) missing from the output")
            for f in ["txn_count_1h", "txn_sum_1h", "txn_count_24h", "txn_sum_24h", "secs_since_prev_txn"] {
                let want = e[f]!, have = got[f] ?? .null
                #expect(want.doubleValue == have.doubleValue, "\(id) \(f): expected \(want), got \(have)")
            }
            compared += 1
        }
        #expect(compared == expected.count)
        // The hand-made edge events: same second, 3599/3600 s and 86399/86400 s apart.
        let edge = produced.filter { $0.key.hasPrefix("edge-") }
        #expect(edge.count == 7)
    }

    @Test func lateEventsAreDeadLetteredAndLatenessIsHonoured() async throws {
        let dir = TestFiles.scratch("late")
        TestFiles.write("""
            {"user_id": "a", "event_created_at_ts": 1000, "transaction_value": 1}
            {"user_id": "a", "event_created_at_ts": 2000, "transaction_value": 2}
            {"user_id": "a", "event_created_at_ts": 1900, "transaction_value": 4}
            {"user_id": "a", "event_created_at_ts": 500, "transaction_value": 8}
            {"user_id": "a", "event_created_at_ts": 2100, "transaction_value": 16}

            """, to: dir + "/in.jsonl")
        let text = """
            {"name": "late", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [{"type": "rolling_aggregates", "allowed_lateness": "200s", "windows": [{"label": "1h", "length": "1h"}], "aggregates": ["count", "sum", "max"]}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "late.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        _ = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
        let out = TestFiles.lines(dir + "/out.jsonl").map { Record(fields: try! RecordParser().parse(Array($0.utf8))!) }
        #expect(out.map { $0["txn_count_1h"]!.intValue! } == [0, 1, 1, 3])
        // The event at 1900 arrived after 2000 but within lateness: it sees only the event at 1000.
        #expect(out[2]["txn_sum_1h"] == .double(1))
        #expect(out[2]["secs_since_prev_txn"] == .int(900))
        #expect(out[3]["txn_sum_1h"] == .double(7))
        #expect(out[3]["txn_max_1h"] == .double(4))
        let dlq = TestFiles.lines(dir + "/dlq.jsonl")
        #expect(dlq.count == 1)
        #expect(dlq.first?.contains(#""reason":"late: event time 500.0 is 1500.0s behind"#) == true)
    }
}

@Suite struct ABSplitTests {
    /// The spec's first transform, built and started.
    static func startedSplit(_ spec: PipelineSpec, registry: PluginRegistry = BuiltinPlugins.registry) async throws -> any Transform {
        let context = BuildContext(pipelineName: spec.name, logger: Logger(label: "test"), environment: [:], registry: registry)
        let split = try registry.makeTransform(spec.transforms[0], context)
        try await split.start(StageContext(id: spec.transforms[0].id, logger: Logger(label: "test"), stats: RuntimeStats()))
        return split
    }

    /// An ab_split "ab" with variants a and b (both models/v1, b alerting from 0.01) and the shadow
    /// `shadow(bundle)` (models/v1's path), started.
    static func abSplit(shadow: (_ bundle: String) -> String, registry: PluginRegistry = BuiltinPlugins.registry) async throws -> any Transform {
        let bundle = TestFiles.path("models/v1")
        let text = """
            {"name": "ab", "source": {"type": "file", "path": "/dev/null"},
             "transforms": [{"type": "ab_split", "id": "ab", "key_field": "user_id",
                "variants": [{"name": "a", "weight": 50, "scorer": {"type": "local_model", "bundle": "\(bundle)"}},
                             {"name": "b", "weight": 50, "scorer": {"type": "local_model", "bundle": "\(bundle)", "threshold": 0.01}}],
                "shadow": \(shadow(bundle))}],
             "sinks": [{"type": "stdout"}]}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "ab.json", registry: registry, environment: [:])
        return try await startedSplit(spec, registry: registry)
    }

    /// `records` through `split` as one batch.
    static func process(_ split: any Transform, _ records: [Record]) async throws -> Batch {
        var batch = Batch(id: 1, records: records, deadLetters: [], token: AckToken(batchID: 1, tracker: AckTracker()))
        try await split.process(&batch)
        return batch
    }

    /// `count` records with `fields(i)` and a feature vector, except where `refused(i)`: a vector too short for
    /// every scorer. Returns the vectors by record.
    static func scorable(_ count: Int, refused: (Int) -> Bool, fields: (Int) -> [(String, JSONValue)]) -> (records: [Record], vectors: [Int: [Float]]) {
        let n = ScoringTests.bundle.features.count
        var records: [Record] = []
        var vectors: [Int: [Float]] = [:]
        for i in 0..<count {
            var r = Record(fields: fields(i))
            if refused(i) {
                r["features"] = .array([.double(1)])
            } else {
                let v = (0..<n).map { Float((i * 7 + $0 * 3) % 13) / 6 - 1 }
                vectors[i] = v
                r.setVector("features", v)
            }
            records.append(r)
        }
        return (records, vectors)
    }

    /// Records a variant's scorer (or the shadow) cannot score go to the dead-letter output as they came in,
    /// without the split's bookkeeping; the others keep their order, each with its own shadow score.
    @Test func variantFailuresAreDeadLetteredCleanAndTheRestKeepTheirOrderAndShadowScores() async throws {
        let split = try await Self.abSplit { #"{"type": "local_model", "bundle": "\#($0)", "threshold": 0.0}"# }
        let (records, vectors) = Self.scorable(40, refused: { $0 % 5 == 2 }) { i in [("i", .int(Int64(i))), ("user_id", .string("u\(i)"))] }
        let batch = try await Self.process(split, records)
        let kept = (0..<40).filter { $0 % 5 != 2 }
        #expect(batch.records.map { Int($0["i"]!.intValue!) } == kept)
        for r in batch.records {
            let i = Int(r["i"]!.intValue!)
            let expected = Double(ScoringTests.bundle.model.predict(vectors[i]!))
            #expect(r["fraud_score"]?.doubleValue == expected, "record \(i)")
            #expect(r["shadow_score"]?.doubleValue == expected, "record \(i): the shadow scored the same vector")
            #expect(r.fields.allSatisfy { !$0.0.hasPrefix("_") }, "record \(i): \(r.fields.map(\.0))")
        }
        #expect(batch.deadLetters.map { Int($0.record["i"]!.intValue!) }.sorted() == (0..<40).filter { $0 % 5 == 2 })
        for d in batch.deadLetters {
            #expect(d.record.fields.map(\.0) == ["i", "user_id", "features"], "dead letter carries \(d.record.fields.map(\.0))")
            #expect(d.stage.hasPrefix("ab"), "\(d.stage)")
        }
    }

    /// A record the shadow refuses (here: it reads a field only some records have) is neither dead-lettered nor
    /// dropped: it goes on with its variant's score and says why it has no shadow score.
    @Test func aRecordTheShadowRefusesGoesOnWithItsReason() async throws {
        let split = try await Self.abSplit { #"{"type": "local_model", "id": "candidate", "bundle": "\#($0)", "input_field": "shadow_features"}"# }
        let counter = try #require((split as? ABSplit)?.shadowErrorCounter)
        #expect(counter.label == "ab_split_shadow_errors_total" && counter.dimensions.map { "\($0.0)=\($0.1)" } == ["transform=ab"])
        var (records, vectors) = Self.scorable(40, refused: { _ in false }) { i in [("i", .int(Int64(i))), ("user_id", .string("u\(i)"))] }
        for i in records.indices where i % 4 != 1 { records[i].setVector("shadow_features", vectors[i]!) }
        let batch = try await Self.process(split, records)
        #expect(batch.deadLetters.isEmpty, "\(batch.deadLetters.map(\.reason))")
        #expect(batch.records.map { Int($0["i"]!.intValue!) } == Array(0..<40))
        for r in batch.records {
            let i = Int(r["i"]!.intValue!)
            let expected = Double(ScoringTests.bundle.model.predict(vectors[i]!))
            #expect(r["fraud_score"]?.doubleValue == expected, "record \(i)")
            if i % 4 == 1 {
                #expect(r["shadow_score"] == nil, "record \(i)")
                let error = r["shadow_error"]?.stringValue ?? ""
                #expect(error.hasPrefix("candidate: ") && error.contains("shadow_features"), "record \(i): \(error)")
            } else {
                #expect(r["shadow_score"]?.doubleValue == expected, "record \(i)")
                #expect(r["shadow_error"] == nil, "record \(i)")
            }
        }
        // The status page's details count them and show the last reason.
        let details = try #require((split as? ABSplit)?.statusDetails())
        #expect(details["shadow_errors"] == .int(10), "\(details)")
        #expect(details["last_shadow_error"]?.stringValue?.contains("shadow_features") == true, "\(details)")
    }

    /// A shadow that fails on a whole batch (it throws) costs no record either: every record goes on with its
    /// variant's score and the shadow's error.
    @Test func aShadowThatFailsOnTheBatchCostsNoRecord() async throws {
        let split = try await Self.abSplit(shadow: { _ in #"{"type": "flaky", "mode": "throw", "fail_every": 1}"# }, registry: TestRegistry.registry)
        let (records, vectors) = Self.scorable(12, refused: { _ in false }) { i in [("n", .int(Int64(i))), ("user_id", .string("u\(i)"))] }
        let batch = try await Self.process(split, records)
        #expect(batch.deadLetters.isEmpty)
        #expect(batch.records.count == 12)
        for r in batch.records {
            let i = Int(r["n"]!.intValue!)
            #expect(r["fraud_score"]?.doubleValue == Double(ScoringTests.bundle.model.predict(vectors[i]!)), "record \(i)")
            #expect(r["shadow_score"] == nil)
            #expect(r["shadow_error"]?.stringValue?.contains("the shadow failed on the batch") == true && r["shadow_error"]?.stringValue?.contains("boom") == true,
                    "record \(i): \(String(describing: r["shadow_error"]))")
        }
    }

    /// A split inside a split's variant: each level matches its scorers' output back to its input by the records'
    /// tags, the inner one puts back the outer one's, and nothing is lost or reordered. (With the position carried
    /// as a field, the inner split overwrote and removed the outer one's, which then dropped those records.)
    @Test func aSplitInsideAVariantKeepsEveryRecordInOrder() async throws {
        let bundle = TestFiles.path("models/v1")
        let text = """
            {"name": "abn", "source": {"type": "file", "path": "/dev/null"},
             "transforms": [{"type": "ab_split", "id": "outer", "key_field": "user_id",
                "variants": [{"name": "a", "weight": 50, "scorer": {"type": "local_model", "bundle": "\(bundle)"}},
                             {"name": "b", "weight": 50, "scorer": {"type": "ab_split", "key_field": "region",
                                "variants": [{"name": "b1", "weight": 1, "scorer": {"type": "local_model", "id": "local_model", "bundle": "\(bundle)"}},
                                             {"name": "b2", "weight": 1, "scorer": {"type": "local_model", "bundle": "\(bundle)", "threshold": 0.01}}],
                                "shadow": {"type": "local_model", "bundle": "\(bundle)"}}}],
                "shadow": {"type": "local_model", "bundle": "\(bundle)"}}],
             "sinks": [{"type": "stdout"}]}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "abn.json", registry: BuiltinPlugins.registry, environment: [:])
        let split = try await Self.startedSplit(spec)
        let (records, vectors) = Self.scorable(200, refused: { $0 % 9 == 4 }) { i in
            [("i", .int(Int64(i))), ("user_id", .string("u\(i)")), ("region", .string("r\(i % 7)"))]
        }
        let batch = try await Self.process(split, records)
        let kept = (0..<200).filter { $0 % 9 != 4 }
        #expect(batch.records.map { Int($0["i"]!.intValue!) } == kept)
        let variants = Set(batch.records.compactMap { $0["variant"]?.stringValue })
        #expect(variants == ["a", "b"], "\(variants)")
        for r in batch.records {
            let i = Int(r["i"]!.intValue!)
            let expected = Double(ScoringTests.bundle.model.predict(vectors[i]!))
            #expect(r["fraud_score"]?.doubleValue == expected, "record \(i)")
            #expect(r["shadow_score"]?.doubleValue == expected, "record \(i)")
            #expect(r.tag == -1, "record \(i) leaves with the tag \(r.tag)")
            #expect(r.fields.allSatisfy { !$0.0.hasPrefix("_") }, "record \(i): \(r.fields.map(\.0))")
        }
        #expect(batch.deadLetters.map { Int($0.record["i"]!.intValue!) }.sorted() == (0..<200).filter { $0 % 9 == 4 })
        for d in batch.deadLetters {
            #expect(d.record.fields.map(\.0) == ["i", "user_id", "region", "features"], "dead letter carries \(d.record.fields.map(\.0))")
            #expect(d.record.tag == -1)
        }
        // Each scorer under its own id: the split's name for it, or the one the spec gives (even its type).
        #expect(Set(batch.deadLetters.map(\.stage)) == ["outer.a", "local_model", "outer.b.b2"], "\(Set(batch.deadLetters.map(\.stage)))")
    }

    @Test func splitIsDeterministicAndCloseToWeightsAndShadowNeverAlerts() async throws {
        let dir = TestFiles.scratch("ab")
        var lines = ""
        for i in 0..<4000 {
            lines += #"{"user_id": "u\#(i % 2000)", "age": 30, "tenure_months": 0, "event_created_at_ts": 1718500000, "transaction_value": \#(Double(i % 700)), "channel_code": 3}"# + "\n"
        }
        TestFiles.write(lines, to: dir + "/in.jsonl")
        let bundle = TestFiles.path("models/v1")
        let text = """
            {"name": "ab", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [{"type": "feature_scaler", "bundle": "\(bundle)"},
               {"type": "ab_split", "key_field": "user_id",
                "variants": [{"name": "champion", "weight": 80, "scorer": {"type": "local_model", "bundle": "\(bundle)", "keep_features": true}},
                             {"name": "challenger", "weight": 20, "scorer": {"type": "local_model", "bundle": "\(bundle)", "threshold": 0.05, "keep_features": true}}],
                "shadow": {"type": "local_model", "bundle": "\(bundle)", "threshold": 0.0, "keep_features": true}}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}, {"type": "file", "id": "alerts", "path": "\(dir)/alerts.jsonl", "when": {"field": "is_alert", "equals": true}}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "ab.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        _ = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
        let out = TestFiles.lines(dir + "/out.jsonl").map { Record(fields: try! RecordParser().parse(Array($0.utf8))!) }
        #expect(out.count == 4000)
        var variantOf: [String: String] = [:]
        var challengers = 0
        for r in out {
            let user = r["user_id"]!.stringValue!, variant = r["variant"]!.stringValue!
            if let earlier = variantOf[user] { #expect(earlier == variant, "user \(user) switched variants") }
            variantOf[user] = variant
            if variant == "challenger" { challengers += 1 }
            // Every record carries the shadow's score; the shadow (threshold 0) would alert on everything.
            #expect(r["shadow_score"]?.doubleValue != nil)
            #expect(r["fraud_score"]?.doubleValue != nil && r["model_version"] == .string("v1") && r["is_alert"] != nil)
        }
        let share = Double(challengers) / 4000
        #expect(share > 0.15 && share < 0.25, "challenger share \(share)")
        let alerts = TestFiles.lines(dir + "/alerts.jsonl").count
        #expect(alerts < 4000, "shadow must not alert")
        #expect(alerts == out.filter { $0["is_alert"] == .bool(true) }.count)
        // Each user's variant is the one an independent FNV-1a of the key puts it in (champion below 0.8).
        for (user, variant) in variantOf {
            let expected = HotReloadTests.bucket(user) < 0.8 ? "champion" : "challenger"
            #expect(variant == expected, "user \(user): \(variant), its bucket \(HotReloadTests.bucket(user))")
        }
    }
}
