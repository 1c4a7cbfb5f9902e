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
        /// Partitions this process has emitted records of, with the last batch that held one.
        var lastBatchOf: [String: UInt64] = [:]
        /// The last checkpoint could not store every position: the next barrier is due without new batches.
        var barrierRequested = false
    }

    let output: BoundedChannel<StreamItem>
    let barriers: BoundedChannel<Barrier>
    let tracker: AckTracker
    let stats: RuntimeStats
    let interval: Double
    /// Barriers ask for states already encoded (`Barrier.encodesStates`).
    let encodesStates: Bool
    private let state: Mutex<State>
    private let recordsIn: Counter
    private let bytesIn: Counter
    private let deadLettered: Counter
    /// The source's entry in the telemetry.
    let sourceMeters: PipelineTelemetry.StageMeters?

    init(output: BoundedChannel<StreamItem>, barriers: BoundedChannel<Barrier>, tracker: AckTracker, stats: RuntimeStats,
         interval: Double, firstBarrierID: UInt64, positions: [String: JSONValue], pipeline: String,
         encodesStates: Bool = false, sourceMeters: PipelineTelemetry.StageMeters? = nil) {
        self.sourceMeters = sourceMeters
        self.encodesStates = encodesStates
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

    /// Numbers and sends a batch. `admit` is asked under the emitter's lock, atomically with recording the
    /// batch's positions: a source whose partitions can be lost (leases) refuses a batch of a partition it no
    /// longer holds there, so neither a position nor a record of it slips past `forget(partition:)` or a restore.
    /// Returns false when `admit` refused.
    /// `source` is consumed: its records move on into the pipeline, so the transforms that change them own them
    /// alone (a copy held here would make their first change copy every record).
    @discardableResult
    func emit(_ source: consuming SourceBatch, admit: () -> Bool = { true }) async throws -> Bool {
        let numbered: UInt64? = state.withLock { s in
            guard admit() else { return nil }
            let id = s.nextBatchID
            s.nextBatchID += 1
            s.lastBatchID = id
            for (p, pos) in source.positions {
                s.positions[p] = pos
                s.lastBatchOf[p] = id
            }
            // Registered under the lock, so a restore that waits for this partition's batches sees it pending.
            tracker.register(id)
            return id
        }
        guard let id = numbered else { return false }
        let token = AckToken(batchID: id, tracker: tracker)
        stats.addIn(records: source.records.count + source.deadLetters.count, bytes: source.bytes)
        recordsIn.increment(by: source.records.count + source.deadLetters.count)
        bytesIn.increment(by: source.bytes)
        if !source.deadLetters.isEmpty {
            deadLettered.increment(by: source.deadLetters.count)
            sourceMeters?.add(failed: source.deadLetters.count)
        }
        sourceMeters?.add(records: source.records.count)
        let records = source.records
        if let id = sourceMeters?.id { stats.taps.offer(stage: id, records) }
        source.records = []
        try await output.send(.batch(Batch(id: id, records: records, deadLetters: source.deadLetters, token: token)))
        try await barrierIfDue()
        return true
    }

    /// Emits a barrier when the interval has passed and batches came since the last one (or a barrier was
    /// requested).
    func barrierIfDue() async throws {
        let due = state.withLock { s in
            (s.lastBatchID > s.lastBarrierBatchID || s.barrierRequested) && MonotonicClock.seconds() - s.lastBarrierTime >= interval
        }
        if due { try await barrier(isFinal: false) }
    }

    /// Makes the next barrier due at the next interval even if no batch comes: the last checkpoint left a
    /// position unstored (`CheckpointSaveResult.deferred`).
    func requestBarrier() {
        state.withLock { $0.barrierRequested = true }
    }

    /// Puts a barrier into the stream. The barrier takes the next batch number and is registered with the
    /// tracker like a batch; the router releases it once it has passed every transform (each added its
    /// snapshot on the way). So "every id up to the barrier's is acknowledged" means both: every record
    /// before the cut is durable at its sinks, and every stateful transform has recorded its state of the cut.
    /// Without the second half an idle pipeline (nothing pending) wrote its checkpoint before any transform
    /// had seen the barrier, with no state in it.
    func barrier(isFinal: Bool) async throws {
        let b: Barrier = state.withLock { s in
            let slot = s.nextBatchID
            s.nextBatchID += 1
            tracker.register(slot)
            let b = Barrier(id: s.nextBarrierID, upTo: slot, positions: s.positions, isFinal: isFinal,
                            encodesStates: encodesStates, passage: AckToken(batchID: slot, tracker: tracker))
            s.nextBarrierID += 1
            s.lastBarrierBatchID = s.lastBatchID
            s.barrierRequested = false
            s.lastBarrierTime = MonotonicClock.seconds()
            return b
        }
        try await output.send(.barrier(b))
        try await barriers.send(b)
    }

    /// Returns once every batch that held records of `partition` has been acknowledged (at once when there
    /// were none): a partition taken back by this host must not see its earlier records processed against the
    /// state restored for it.
    ///
    /// Throws `CancellationError` once a stop is requested: while the pipeline drains, the records may be held
    /// by a sink until the final barrier, which comes only after the source has returned.
    func waitForEarlierRecords(of partition: String, stop: StopSignal) async throws {
        guard let last = state.withLock({ $0.lastBatchOf[partition] }) else { return }
        while !tracker.isComplete(upTo: last) {
            if stop.isStopping || Task.isCancelled { throw CancellationError() }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Forgets a partition's position: this host no longer reads it (a lost or released lease), or is about to
    /// restore its state (no position of an earlier tenure may be checkpointed with the restored state).
    func forget(partition: String) {
        state.withLock { _ = $0.positions.removeValue(forKey: partition) }
    }
}
