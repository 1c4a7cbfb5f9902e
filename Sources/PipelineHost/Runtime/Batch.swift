/// A record that could not be processed, with why and where.
public struct DeadLetter: Sendable {
    public var record: Record
    public var reason: String
    /// The component id (or "source", "router") where it failed.
    public var stage: String

    public init(record: Record, reason: String, stage: String) {
        self.record = record
        self.reason = reason
        self.stage = stage
    }

    /// The entry written to the dead-letter output.
    public func entry(pipeline: String, time: Double) -> Record {
        Record(fields: [
            ("pipeline", .string(pipeline)),
            ("stage", .string(stage)),
            ("reason", .string(reason)),
            ("origin", .string(record.origin.description)),
            ("time", .double(time)),
            ("payload", .string(record.payloadText)),
        ], origin: record.origin)
    }
}

/// What a source emits: records, the records it could not parse, and the position reached in each
/// partition it read from, so a checkpoint can resume right after this batch.
public struct SourceBatch: Sendable {
    public var records: [Record]
    public var deadLetters: [DeadLetter]
    public var positions: [(partition: String, position: JSONValue)]
    public var bytes: Int

    public init(records: [Record], deadLetters: [DeadLetter] = [], positions: [(partition: String, position: JSONValue)], bytes: Int = 0) {
        self.records = records
        self.deadLetters = deadLetters
        self.positions = positions
        self.bytes = bytes
    }
}

/// A batch on its way through the transforms.
public struct Batch: Sendable {
    public let id: UInt64
    public var records: [Record]
    public internal(set) var deadLetters: [DeadLetter]
    let token: AckToken
    /// When the source emitted the batch (monotonic seconds): the start of its end-to-end latency.
    let arrival: Double

    init(id: UInt64, records: [Record], deadLetters: [DeadLetter], token: AckToken, arrival: Double = MonotonicClock.seconds()) {
        self.id = id
        self.records = records
        self.deadLetters = deadLetters
        self.token = token
        self.arrival = arrival
    }

    /// Moves a record out of the flow to the dead-letter output.
    public mutating func deadLetter(_ record: Record, reason: String, stage: String) {
        deadLetters.append(DeadLetter(record: record, reason: reason, stage: stage))
    }

    /// A batch of some of this batch's records, for a transform that hands part of its input to another
    /// transform (A/B splits). Its dead letters are merged back with `absorb(_:)`.
    public func subBatch(_ records: [Record]) -> Batch {
        Batch(id: id, records: records, deadLetters: [], token: token, arrival: arrival)
    }

    public mutating func absorb(deadLettersOf other: Batch) {
        deadLetters.append(contentsOf: other.deadLetters)
    }

    /// Keeps the records for which `body` returns nil and dead-letters the others with the reason returned.
    public mutating func removeFailures(stage: String, _ body: (inout Record) throws -> String?) rethrows {
        try update(stage: stage) { record in try body(&record).map(RecordOutcome.deadLetter) ?? .keep }
    }

    /// What `update` does with a record after its body ran.
    public enum RecordOutcome {
        case keep
        /// Removed on purpose (a configured drop, which the caller counts).
        case drop
        /// To the dead-letter output with this reason.
        case deadLetter(String)
    }

    /// Runs `body` on every record in place, then removes the records it dropped or dead-lettered, in order.
    /// In place matters: a record copied out of the array and changed would copy its fields (copy on write).
    public mutating func update(stage: String, _ body: (inout Record) throws -> RecordOutcome) rethrows {
        var removed: [(index: Int, reason: String?)] = []
        for i in records.indices {
            switch try body(&records[i]) {
            case .keep: continue
            case .drop: removed.append((i, nil))
            case .deadLetter(let reason): removed.append((i, reason))
            }
        }
        guard !removed.isEmpty else { return }
        var kept: [Record] = []
        kept.reserveCapacity(records.count - removed.count)
        var next = 0
        for i in records.indices {
            if next < removed.count, removed[next].index == i {
                if let reason = removed[next].reason { deadLetters.append(DeadLetter(record: records[i], reason: reason, stage: stage)) }
                next += 1
            } else {
                kept.append(records[i])
            }
        }
        records = kept
    }
}

/// The records of one batch routed to one sink, with the means to acknowledge them.
public final class Delivery: Sendable {
    public let batchID: UInt64
    public let records: [Record]
    let sinkID: String
    private let token: AckToken
    private let rejections: (any RejectionSink)?
    private let done = Latch()
    /// Where the acknowledgement's latencies are recorded, from when the batch arrived and each record's event time.
    private let latency: DeliveryLatency?

    init(batchID: UInt64, records: [Record], sinkID: String, token: AckToken, rejections: (any RejectionSink)?,
         latency: DeliveryLatency? = nil) {
        self.batchID = batchID
        self.records = records
        self.sinkID = sinkID
        self.token = token
        self.rejections = rejections
        self.latency = latency
        token.retain()
    }

    /// The records are durable at the destination. Idempotent.
    public func acknowledge() {
        if done.trip() {
            latency?.acknowledged(count: records.count)
            token.release()
        }
    }

    /// Records that failed permanently at the destination go to the dead-letter output with the reason;
    /// the delivery then counts as acknowledged once that write is durable.
    public func reject(_ indices: [Int], reason: String) async throws {
        guard !indices.isEmpty else { return }
        guard let rejections else {
            throw PipelineError(.sink, "the dead-letter output rejected \(indices.count) records: \(reason)", at: sinkID)
        }
        let letters = indices.map { DeadLetter(record: records[$0], reason: reason, stage: sinkID) }
        try await rejections.reject(letters, token: token, batchID: batchID)
    }

    /// Rejects every record of the delivery and acknowledges it.
    public func rejectAll(reason: String) async throws {
        try await reject(Array(records.indices), reason: reason)
        acknowledge()
    }
}

/// Where sinks send permanently failed records (the dead-letter stage).
protocol RejectionSink: Sendable {
    func reject(_ letters: [DeadLetter], token: AckToken, batchID: UInt64) async throws
}

/// The latencies a delivery records when its sink acknowledges it.
struct DeliveryLatency: Sendable {
    let meters: PipelineTelemetry.StageMeters
    let telemetry: PipelineTelemetry
    let arrival: Double
    /// Event times (seconds since 1970) of the records that have one.
    let eventTimes: [Double]

    func acknowledged(count: Int) {
        let waited = MonotonicClock.seconds() - arrival
        meters.arrivalToAck.record(seconds: waited, count: count)
        telemetry.endToEnd.record(seconds: waited, count: count)
        guard !eventTimes.isEmpty else { return }
        let now = MonotonicClock.wallSeconds()
        let ages = eventTimes.map { now - $0 }
        meters.eventToAck.record(secondsEach: ages)
        telemetry.eventToAck.record(secondsEach: ages)
    }
}
