import Metrics
import Synchronization

/// Numbers the source's batches, registers them for acknowledgement and, every checkpoint interval,
/// puts a barrier into the stream right after a batch. Called from the source task only, so batches
/// and barriers enter the first channel in the order they were numbered.
final class BatchEmitter: Sendable {
    private struct State {
        var nextBatchID: UInt64 = 1
        var lastBatchID: UInt64 = 0
        var lastBarrierBatchID: UInt64 = 0
        var nextBarrierID: UInt64 = 1
        var lastBarrierTime: Double
        var positions: [String: JSONValue]
    }

    let output: BoundedChannel<StreamItem>
    let barriers: BoundedChannel<Barrier>
    let tracker: AckTracker
    let stats: RuntimeStats
    let interval: Double
    private let state: Mutex<State>
    private let recordsIn: Counter
    private let bytesIn: Counter
    private let deadLettered: Counter

    init(output: BoundedChannel<StreamItem>, barriers: BoundedChannel<Barrier>, tracker: AckTracker, stats: RuntimeStats,
         interval: Double, firstBarrierID: UInt64, positions: [String: JSONValue], pipeline: String) {
        self.output = output
        self.barriers = barriers
        self.tracker = tracker
        self.stats = stats
        self.interval = interval
        state = Mutex(State(nextBarrierID: firstBarrierID, lastBarrierTime: MonotonicClock.seconds(), positions: positions))
        recordsIn = Counter(label: "pipeline_records_in_total", dimensions: [("pipeline", pipeline)])
        bytesIn = Counter(label: "pipeline_bytes_in_total", dimensions: [("pipeline", pipeline)])
        deadLettered = Counter(label: "pipeline_dead_letter_total", dimensions: [("pipeline", pipeline), ("stage", "source")])
    }

    func emit(_ source: SourceBatch) async throws {
        let id: UInt64 = state.withLock { s in
            let id = s.nextBatchID
            s.nextBatchID += 1
            s.lastBatchID = id
            for (p, pos) in source.positions { s.positions[p] = pos }
            return id
        }
        tracker.register(id)
        let token = AckToken(batchID: id, tracker: tracker)
        stats.addIn(records: source.records.count + source.deadLetters.count, bytes: source.bytes)
        recordsIn.increment(by: source.records.count + source.deadLetters.count)
        bytesIn.increment(by: source.bytes)
        if !source.deadLetters.isEmpty { deadLettered.increment(by: source.deadLetters.count) }
        try await output.send(.batch(Batch(id: id, records: source.records, deadLetters: source.deadLetters, token: token)))
        try await barrierIfDue()
    }

    /// Emits a barrier when the interval has passed and batches came since the last one.
    func barrierIfDue() async throws {
        let due = state.withLock { s in
            s.lastBatchID > s.lastBarrierBatchID && MonotonicClock.seconds() - s.lastBarrierTime >= interval
        }
        if due { try await barrier(isFinal: false) }
    }

    func barrier(isFinal: Bool) async throws {
        let b: Barrier = state.withLock { s in
            let b = Barrier(id: s.nextBarrierID, upTo: s.lastBatchID, positions: s.positions, isFinal: isFinal)
            s.nextBarrierID += 1
            s.lastBarrierBatchID = s.lastBatchID
            s.lastBarrierTime = MonotonicClock.seconds()
            return b
        }
        try await output.send(.barrier(b))
        try await barriers.send(b)
    }
}
