import Synchronization

/// Why a destination can never take a record (too large, a field it requires missing): the record goes to the
/// dead-letter output with this reason.
public struct SinkRefusal: Error, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// What a batching sink provides to the driver: how a record becomes an item of a batch, and a batch a request.
/// Owned by the driver and used inside it only, so it may keep mutable state (counters, a compressor's batch).
public protocol BatchingSinkWriter {
    associatedtype Key: Hashable
    associatedtype Batch: SinkBatch
    associatedtype Sender: SinkSender

    /// The item for `record` and the key of the batch it joins, or why the destination could never take it.
    mutating func item(for record: Record) -> Result<(key: Key, item: Batch.Item), SinkRefusal>
    /// A new batch for `key`; `first` is its first record.
    mutating func makeBatch(for key: Key, first: Record, now: Double) throws -> Batch
    /// The request that sends a closed batch.
    mutating func request(for batch: Batch) throws -> Sender.Request
    /// A part of a batch still filling that is ready to go ahead of the rest (S3's multipart parts); nil by default.
    mutating func readyPart(of batch: Batch) throws -> Sender.Part?
    /// Notes where a part sent ahead went (its ETag).
    mutating func partSent(_ receipt: Sender.PartReceipt, of batch: Batch)
    /// Called after every flush (report what was noted since the last).
    mutating func flushed()
}

extension BatchingSinkWriter {
    public mutating func readyPart(of batch: Batch) throws -> Sender.Part? { nil }
    public mutating func partSent(_ receipt: Sender.PartReceipt, of batch: Batch) {}
    public mutating func flushed() {}
}

/// Sends requests; called from the driver's sending tasks, concurrently.
public protocol SinkSender: Sendable {
    associatedtype Request: Sendable
    associatedtype Part: Sendable = Never
    associatedtype PartReceipt: Sendable = Never
    /// Sends one batch. Returns the items the destination refused for their content (position in the batch,
    /// reason), which go to the dead-letter output; throws when the batch could not be sent (after retries),
    /// which stops the pipeline without a checkpoint past it.
    func send(_ request: Request) async throws -> [(position: Int, reason: String)]
    func send(part: Part) async throws -> PartReceipt
}

extension SinkSender where Part == Never, PartReceipt == Never {
    public func send(part: Part) async throws -> PartReceipt {}
}

/// The one driver of batching sinks: batches records by key with `batch.max_events`, `max_bytes` and `max_age`
/// (the runner's batch timer calls `flushDue` while the input is idle), keeps at most `max_in_flight` requests
/// under way, and acknowledges each delivery once every batch holding its records is sent, after dead-lettering
/// the records that were refused. A sink is its config, a writer and a sender around this.
///
/// An actor, so a sink's mutable state has one owner without `@unchecked Sendable`. Its methods must be called
/// one at a time, as the runner does (each awaits its predecessor): they await in the middle (a part upload, a
/// free slot for a call), and a `flush` slipped in there would close a batch whose part is still on its way.
/// The hop is once per delivery. A failed call stops the sink at its next write, timer tick or flush, whichever
/// comes first (a checkpoint never passes it): reading does not go on for long against a destination that fails.
public actor SinkDriver<Writer: BatchingSinkWriter> {
    public typealias Filling = PartitionedBatcher<Writer.Key, Writer.Batch>.Filling

    public nonisolated let settings: BatchSettings
    public nonisolated let finalizer = DeliveryFinalizer()
    private var writer: Writer
    private let sender: Writer.Sender
    private var batcher: PartitionedBatcher<Writer.Key, Writer.Batch>
    private var calls: BoundedCalls
    /// The first call that failed, set by its task: the next write, tick or flush throws it.
    private nonisolated let failure = FirstFailure()

    public init(writer: Writer, sender: Writer.Sender, settings: BatchSettings, maxInFlight: Int, maxOpenBatches: Int = 1) {
        self.writer = writer
        self.sender = sender
        self.settings = settings
        batcher = PartitionedBatcher(settings: settings, maxOpen: maxOpenBatches)
        calls = BoundedCalls(limit: maxInFlight)
    }

    /// Batches the delivery's records, sending the batches they close; the delivery is acknowledged when the
    /// last batch holding its records has been sent.
    public func write(_ delivery: Delivery) async throws {
        try throwIfFailed()
        // The write holds the delivery until every record is placed: a batch sent mid-loop (closed by size, or
        // the oldest of too many open) must not complete a delivery whose later records are unplaced.
        finalizer.hold(delivery)
        let now = MonotonicClock.seconds()
        var closed: [Filling] = []
        var touched: [Writer.Batch] = []
        var refused: [(index: Int, reason: String)] = []
        for (i, record) in delivery.records.enumerated() {
            let placed: (key: Writer.Key, item: Writer.Batch.Item)
            switch writer.item(for: record) {
            case .success(let p): placed = p
            case .failure(let r):
                refused.append((i, r.reason))
                continue
            }
            let (batch, newDelivery) = try batcher.append(placed.item, key: placed.key, of: delivery, index: i, now: now, closed: &closed) {
                try writer.makeBatch(for: $0, first: record, now: now)
            }
            if newDelivery { finalizer.hold(delivery) }
            if touched.last !== batch { touched.append(batch) }
            if !closed.isEmpty {
                try await send(closed)
                closed.removeAll()
            }
        }
        // Refused now, not when the delivery completes: the dead-letter output takes them while the pipeline runs.
        try await DeliveryFinalizer.deadLetter(refused, of: delivery)
        for batch in touched where batcher.isOpen(batch) {
            guard let part = try writer.readyPart(of: batch) else { continue }
            writer.partSent(try await sender.send(part: part), of: batch)
        }
        try await send(batcher.closeDue(now: MonotonicClock.seconds()))
        try await finalizer.release([delivery])
    }

    /// The batch timer: sends the batches that have waited `max_age`, without waiting for them.
    public func flushDue() async throws {
        try throwIfFailed()
        try await send(batcher.closeDue(now: MonotonicClock.seconds()))
    }

    /// Sends every batch and returns once every request has completed (rethrowing the first failure): every
    /// delivery written before is then acknowledged.
    public func flush() async throws {
        try await send(batcher.closeAll())
        while let call = calls.takeOldest() { try await Self.wait(for: call) }
        writer.flushed()
    }

    private func throwIfFailed() throws {
        if let error = failure.error { throw error }
    }

    /// Waits for a call, rethrowing its failure; cancelling the waiter cancels the call (the shutdown deadline
    /// reaches requests under way, which are tasks of their own).
    private static func wait(for call: Task<Void, any Error>) async throws {
        try await withTaskCancellationHandler { try await call.value } onCancel: { call.cancel() }
    }

    /// Batches filling and requests under way (for status pages and tests).
    public var pending: (openBatches: Int, inFlight: Int) { (batcher.openCount, calls.count) }

    private func send(_ batches: [Filling]) async throws {
        for filling in batches {
            let request = try writer.request(for: filling.batch)
            while calls.isFull, let oldest = calls.takeOldest() { try await Self.wait(for: oldest) }
            let sender = sender
            let finalizer = finalizer
            let deliveries = filling.deliveries
            let origins = filling.origins
            let failure = failure
            calls.add(Task {
                let refusals: [(position: Int, reason: String)]
                do { refusals = try await sender.send(request) } catch {
                    failure.record(error)
                    throw error
                }
                try await finalizer.release(deliveries, refused: refusals.map { r in
                    let origin = origins[r.position]
                    return (deliveries[Int(origin.delivery)], Int(origin.index), r.reason)
                })
            })
        }
    }
}

/// The first error recorded, of any number of tasks.
final class FirstFailure: Sendable {
    private let first = Mutex<(any Error)?>(nil)
    var error: (any Error)? { first.withLock { $0 } }
    func record(_ error: any Error) { first.withLock { if $0 == nil { $0 = error } } }
}
