import Foundation
import PipelineHost

/// `stdout` sink: JSON lines on standard output, for trying a spec out and for shell pipelines.
public final class StdoutSink: SinkPlugin, @unchecked Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "stdout",
        summary: "Writes records as JSON lines to standard output.",
        fields: [
            FieldSpec("fields", .array(.string), doc: "Only these fields, in this order; all fields when absent.", example: ["transaction_id", "fraud_score"]),
        ],
        examples: [#"{"type": "stdout", "when": {"field": "is_alert", "equals": true}}"#])

    let fields: [String]?
    private var writer = JSONWriter(capacity: 64 * 1024)

    public init(config: ComponentConfig, context: BuildContext) throws {
        fields = config["fields"] == nil ? nil : config.strings("fields")
    }

    // Called only from this sink's stage task, one call at a time.
    public func write(_ delivery: Delivery) async throws {
        for r in delivery.records {
            if let fields {
                writer.writeObject(fields.compactMap { f in r[f].map { (f, $0) } })
            } else {
                r.write(to: &writer)
            }
            writer.append("\n")
        }
        try FileIO.writeAll(fd: STDOUT_FILENO, writer.bytes, path: "stdout")
        writer.removeAll()
        delivery.acknowledge()
    }

    public func flush() async throws {}
}
