import Foundation
import Logging
import PipelineHost

/// Runs the feature stages of a spec (everything before its scaler and scorer: the broadcast join, the rolling
/// aggregates, any other transform) over a file, with the real runtime, and collects the enriched records.
/// The source becomes that file, the sinks one file of features; keyed state starts empty and the checkpoints
/// go to a scratch directory, so a backtest never touches a pipeline's own state.
public struct FeatureReplay: Sendable {
    /// Transforms from which on the spec scores: not replayed, the backtest scores with each variant itself.
    public static let scoringTypes: Set<String> = ["feature_scaler", "local_model", "sagemaker", "ab_split"]

    public let spec: PipelineSpec
    public let registry: PluginRegistry
    public let environment: [String: String]
    public let logger: Logger

    public init(spec: PipelineSpec, registry: PluginRegistry, environment: [String: String], logger: Logger) {
        self.spec = spec
        self.registry = registry
        self.environment = environment
        self.logger = logger
    }

    /// The spec's transforms before the first scoring one, and the rest.
    public var split: (features: [ComponentConfig], scoring: [ComponentConfig]) {
        let cut = spec.transforms.firstIndex { Self.scoringTypes.contains($0.type) } ?? spec.transforms.count
        return (Array(spec.transforms[..<cut]), Array(spec.transforms[cut...]))
    }

    /// The event-time field: the rolling aggregates' time_field, else event_created_at_ts.
    public var timeField: String {
        split.features.first { $0.type == "rolling_aggregates" }?.optionalString("time_field") ?? "event_created_at_ts"
    }

    /// Replays `input` and returns the path of the enriched records (JSONL) and the run's summary.
    public func run(input: String, scratch: String, deadLetter: String) async throws -> (features: String, summary: RunSummary) {
        let out = scratch + "/features.jsonl"
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: deadLetter)
        try? FileManager.default.removeItem(atPath: scratch + "/checkpoint")
        let replay: JSONValue = .object([
            ("name", .string(spec.name + "-backtest")),
            ("source", .object([("type", "file"), ("id", "backtest_input"), ("path", .string(input))])),
            ("transforms", .array(split.features.map(\.json))),
            ("sinks", .array([.object([("type", "file"), ("id", "features"), ("path", .string(out))])])),
            ("dead_letter", .object([("type", "file"), ("path", .string(deadLetter))])),
            ("checkpoint", .object([("dir", .string(scratch + "/checkpoint")), ("interval", "1h")])),
        ])
        var w = JSONWriter()
        w.write(replay)
        // "$" in a value that was already resolved must stay as it is: no environment for the second parse.
        let replaySpec: PipelineSpec
        do {
            replaySpec = try PipelineSpec.parse(w.bytes, file: "\(spec.file) (backtest replay)", registry: registry, environment: [:])
        } catch {
            throw PipelineError(.config, "the spec's feature stages cannot be replayed: \(error)", at: spec.file)
        }
        let runner = PipelineRunner(spec: replaySpec, registry: registry, logger: logger, environment: environment)
        let summary = try await runner.run()
        return (out, summary)
    }
}
