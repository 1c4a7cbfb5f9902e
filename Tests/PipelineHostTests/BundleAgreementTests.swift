import BuiltinPlugins
import Foundation
import Logging
import ModelCore
import PipelineHost
import Testing
import TestSupport

/// Stages of one build that name the same model bundle read it once, and a scorer whose bundle means other
/// features (or another scaling) than the feature scaler's before it stops the pipeline at start, before any
/// record is read: its scores would be silently wrong.
@Suite struct BundleAgreementTests {
    /// models/v1 copied, with the first feature's scaler mean moved when `shifted`; with its first two features
    /// in the other order (in the manifest, the scaler and the model, with their scaling) when `swapped`: a
    /// consistent bundle that reads other features than v1's scaler writes.
    static func copyOfV1(_ dir: String, shifted: Bool, swapped: Bool = false) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for f in ["manifest.json", "model.json", "scaler.json"] {
            var data = try #require(FileManager.default.contents(atPath: TestFiles.path("models/v1/\(f)")))
            if swapped {
                var text = String(decoding: data, as: UTF8.self)
                if f == "model.json" {
                    let names = #""feature_names":["age","gender_code","#
                    try #require(text.contains(names))
                    text = text.replacingOccurrences(of: names, with: #""feature_names":["gender_code","age","#)
                } else {
                    var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                    for key in ["features", "feature_names", "mean", "scale"] {
                        guard var list = object[key] as? [Any] else { continue }
                        list.swapAt(0, 1)
                        object[key] = list
                    }
                    text = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
                }
                data = Data(text.utf8)
            }
            if f == "scaler.json" && shifted {
                var scaler = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                var mean = try #require(scaler["mean"] as? [Double])
                mean[0] += 1
                scaler["mean"] = mean
                data = try JSONSerialization.data(withJSONObject: scaler)
            }
            TestFiles.write(String(decoding: data, as: UTF8.self), to: "\(dir)/\(f)")
        }
        return dir
    }

    static func spec(dir: String, scaler: String, scorer: String, follow: Bool = false) throws -> PipelineSpec {
        let text = """
            {"name": "agreement", "source": {"type": "file", "path": "\(TestFiles.path("samples/transactions.jsonl.gz"))", "follow": \(follow), "poll_interval": "20ms"},
             "transforms": [{"type": "feature_scaler", "id": "scale", "bundle": "\(scaler)"}, \(scorer)],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        return try PipelineSpec.parse(Array(text.utf8), file: "agreement.json", registry: BuiltinPlugins.registry, environment: [:])
    }

    static func run(_ spec: PipelineSpec) async throws -> RunSummary {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
    }

    /// Moves the first feature's scaler mean of the bundle in `dir` (after the spec naming it was validated).
    static func shift(_ dir: String) throws {
        let path = "\(dir)/scaler.json"
        let data = try #require(FileManager.default.contents(atPath: path))
        var scaler = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var mean = try #require(scaler["mean"] as? [Double])
        mean[0] += 1
        scaler["mean"] = mean
        TestFiles.write(String(decoding: try JSONSerialization.data(withJSONObject: scaler), as: UTF8.self), to: path)
    }

    @Test func aScorerWhoseBundleScalesOtherwiseFailsValidation() throws {
        let dir = TestFiles.scratch("bundle-agreement-lint")
        let v1 = TestFiles.path("models/v1")
        let same = try Self.copyOfV1("\(dir)/same", shifted: false)
        let shifted = try Self.copyOfV1("\(dir)/shifted", shifted: true)
        let swapped = try Self.copyOfV1("\(dir)/swapped", shifted: false, swapped: true)
        // Another directory with the same features and scaler agrees.
        _ = try Self.spec(dir: dir, scaler: v1, scorer: #"{"type": "local_model", "id": "score", "bundle": "\#(same)"}"#)
        for (scorer, path, other) in [
            (#"{"type": "local_model", "id": "score", "bundle": "\#(shifted)"}"#, "$.transforms[1].bundle", shifted),
            (#"{"type": "local_model", "id": "score", "bundle": "\#(swapped)"}"#, "$.transforms[1].bundle", swapped),
            // Nested under ab_split as one variant: found there too.
            (#"{"type": "ab_split", "id": "score", "variants": [{"name": "a", "weight": 1, "scorer": {"type": "local_model", "bundle": "\#(v1)"}},"#
                + #"{"name": "b", "weight": 1, "scorer": {"type": "local_model", "bundle": "\#(shifted)"}}]}"#, "$.transforms[1].variants[1].scorer.bundle", shifted),
        ] {
            do {
                _ = try Self.spec(dir: dir, scaler: v1, scorer: scorer)
                Issue.record("a scorer with other features or scaling passed validation: \(scorer)")
            } catch {
                let text = "\(error)"
                // Where, as validate prints it: file:line:column, then the JSON path.
                let located = #"agreement\.json:\d+:\d+: "# + NSRegularExpression.escapedPattern(for: path + ": reads \"features\"")
                #expect(text.range(of: located, options: .regularExpression) != nil, "\(text)")
                #expect(text.contains("feature_scaler \"scale\" ($.transforms[0])") && text.contains(other) && text.contains(v1), "\(text)")
                #expect(text.contains("features or scaling differ"), "\(text)")
            }
        }
    }

    @Test func aBundleChangedAfterValidationIsRefusedAtStart() async throws {
        let dir = TestFiles.scratch("bundle-agreement-start")
        let v1 = TestFiles.path("models/v1")
        let changing = try Self.copyOfV1("\(dir)/changing", shifted: false)
        let scorers = [
            #"{"type": "local_model", "id": "score", "bundle": "\#(changing)"}"#,
            // Nested under ab_split as one variant: found there too.
            #"{"type": "ab_split", "id": "score", "variants": [{"name": "a", "weight": 1, "scorer": {"type": "local_model", "bundle": "\#(v1)"}},"#
                + #"{"name": "b", "weight": 1, "scorer": {"type": "local_model", "bundle": "\#(changing)"}}]}"#,
        ]
        // Agreeing, it runs and scores every record.
        let ok = try await Self.run(Self.spec(dir: "\(dir)/ok", scaler: v1, scorer: scorers[0]))
        #expect(ok.recordsIn > 0 && ok.sinkOutputs.values.reduce(0, +) == ok.recordsIn - ok.deadLettered)
        // Validated while they agree; then the bundle's scaler changes on disk.
        let specs = try scorers.indices.map { try Self.spec(dir: "\(dir)/run-\($0)", scaler: v1, scorer: scorers[$0]) }
        try Self.shift(changing)
        for (i, spec) in specs.enumerated() {
            do {
                _ = try await Self.run(spec)
                Issue.record("a scorer whose bundle changed after validation was started: \(scorers[i])")
            } catch {
                let text = "\(error)"
                #expect(text.contains("$.transforms[1]") && text.contains("feature_scaler \"scale\""), "\(text)")
                #expect(text.contains(changing) && text.contains("features or scaling differ"), "\(text)")
            }
            let written = TestFiles.lines("\(dir)/run-\(i)/out.jsonl").count
            #expect(written == 0, "\(written) records were scored before the check")
        }
    }

    @Test func aReloadToADisagreeingScorerFailsAndKeepsTheRunningSpec() async throws {
        let dir = TestFiles.scratch("bundle-agreement-reload")
        let v1 = TestFiles.path("models/v1")
        let same = try Self.copyOfV1("\(dir)/same", shifted: false)
        let changing = try Self.copyOfV1("\(dir)/changing", shifted: false)
        func scorer(_ bundle: String) -> String { #"{"type": "local_model", "id": "score", "bundle": "\#(bundle)"}"# }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runner = PipelineRunner(spec: try Self.spec(dir: dir, scaler: v1, scorer: scorer(v1), follow: true),
                                    registry: BuiltinPlugins.registry, logger: logger, environment: [:])
        let running = Task { try await runner.run() }
        defer { running.cancel() }
        // Validated while it agrees; its scaler changes before the reload builds it.
        let next = try Self.spec(dir: dir, scaler: v1, scorer: scorer(changing), follow: true)
        try Self.shift(changing)
        // Until the chain runs, a reload answers that the pipeline is not running.
        var outcome = ReloadOutcome.failed(reason: "not tried")
        for _ in 0..<500 {
            outcome = await runner.reload(to: next)
            if outcome != .failed(reason: "the pipeline is not running") { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        guard case .failed(let reason) = outcome else {
            Issue.record("a reload to a scorer with another scaling did not fail: \(outcome)")
            return
        }
        #expect(reason.contains("features or scaling differ") && reason.contains(changing), "\(reason)")
        #expect(runner.currentSpec.transforms[1].optionalString("bundle") == v1, "the running spec stays")
        // An agreeing bundle in another directory is applied.
        let applied = await runner.reload(to: try Self.spec(dir: dir, scaler: v1, scorer: scorer(same), follow: true))
        if case .applied = applied {} else { Issue.record("an agreeing bundle was not applied: \(applied)") }
        runner.stop.stop()
        _ = try await running.value
    }

    @Test func stagesOfOneBuildShareABundleRead() throws {
        let v1 = TestFiles.path("models/v1")
        let shared = SharedResources()
        func slot(_ resources: SharedResources) throws -> BundleSlot<ModelBundle> {
            try BundleSlot(v1, environment: [:], shared: resources) { $0 }
        }
        func storage(_ b: ModelBundle) -> UnsafeRawPointer? { b.features.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } }
        let a = try slot(shared).get(), b = try slot(shared).get(), c = try slot(SharedResources()).get()
        // One read: the second stage's bundle is the first one's (the same arrays), another build's is its own.
        #expect(storage(a) == storage(b))
        #expect(storage(a) != storage(c))
        #expect(a.features == c.features)

        var made = 0
        for _ in 0..<3 { _ = try shared.value(for: "k") { made += 1; return made } }
        #expect(made == 1)
    }
}
