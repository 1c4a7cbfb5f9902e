import PipelineHost

/// `passthrough` transform: hands batches on unchanged. Measures the cost of a stage (benchmarks) and keeps
/// a slot in a spec while a step is switched off.
public final class Passthrough: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "passthrough",
        summary: "Passes records through unchanged (a stage boundary with its channel; for benchmarks and placeholders).",
        fields: [],
        examples: [#"{"type": "passthrough"}"#])

    public init(config: ComponentConfig, context: BuildContext) throws {}

    public func process(_ batch: inout Batch) async throws {}
}
