import Foundation
import PipelineHost
import Synchronization

/// `stdout` sink: JSON lines on standard output, for trying a spec out and for shell pipelines.
public final class StdoutSink: SinkPlugin {
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "stdout",
        summary: "Writes records as JSON lines to standard output.",
        fields: [
            FieldSpec("fields", .array(.string), doc: "Only these fields, in this order; all fields when absent.", example: ["transaction_id", "fraud_score"]),
        ],
        examples: [#"{"type": "stdout", "when": {"field": "is_alert", "equals": true}}"#])

    let fields: [String]?
    /// Reused between deliveries; the runner calls one at a time, so the lock is never contended.
    private let writer = Mutex(JSONWriter(capacity: 64 * 1024))

    public init(config: ComponentConfig, context: BuildContext) throws {
        fields = config["fields"] == nil ? nil : config.strings("fields")
    }

    public func write(_ delivery: Delivery) async throws {
        try writer.withLock { writer in
            defer { writer.removeAll() }
            for r in delivery.records {
                if let fields {
                    writer.writeObject(fields.compactMap { f in r[f].map { (f, $0) } })
                } else {
                    r.write(to: &writer)
                }
                writer.append("\n")
            }
            try FileIO.writeAll(fd: STDOUT_FILENO, writer.bytes, path: "stdout")
        }
        delivery.acknowledge()
    }

    public func flush() async throws {}
}
