/// When a sink closes a batch: the `batch` settings every batching plugin declares (`FieldSpec.batch`).
public struct BatchSettings: Sendable, Equatable {
    public var maxEvents: Int
    public var maxBytes: Int
    /// Seconds a partial batch may wait; 0 sends it at the end of the write that opened it.
    public var maxAge: Double

    public init(maxEvents: Int, maxBytes: Int, maxAge: Double) {
        self.maxEvents = maxEvents
        self.maxBytes = maxBytes
        self.maxAge = maxAge
    }

    /// From the component's `batch` object, capped at a destination's own limits (SNS: 10 entries, 256 KiB).
    public init(config: ComponentConfig, maxEventsCap: Int = .max, maxBytesCap: Int = .max) {
        let batch = config.nested("batch")
        self.init(maxEvents: min(maxEventsCap, batch.int("max_events")), maxBytes: min(maxBytesCap, Int(batch.bytes("max_bytes"))),
                  maxAge: batch.seconds("max_age"))
    }
}
