import Synchronization
import Logging

/// A plugin type: its one declaration and how it is built from the validated config.
public protocol PluginType {
    static var descriptor: PluginDescriptor { get }
    init(config: ComponentConfig, context: BuildContext) throws
}

/// Reads input and emits batches, resuming from the positions of the last checkpoint.
public protocol Source: AnyObject, Sendable {
    /// Emits batches until the input ends (a bounded replay) or `context.isStopping` turns true.
    func run(_ context: SourceContext) async throws
}

/// Maps a batch to a batch. Records that cannot be processed go to `batch.deadLetter(...)`; the rest flow on.
public protocol Transform: AnyObject, Sendable {
    /// Called once before the first record reaches the transform (load reference data, connect); the source
    /// starts before it returns only when some transform `loadsAtStart`.
    func start(_ context: StageContext) async throws
    /// True when `start` loads reference data, which takes a while: the source then starts at the same time and
    /// reads ahead (`PipelineRunner.startReadAhead` batches) while the transforms start.
    var loadsAtStart: Bool { get }
    func process(_ batch: inout Batch) async throws
    /// How many batches this transform may process at once; results are still emitted in order.
    var maxConcurrentBatches: Int { get }
    /// State to store in a checkpoint, taken when a checkpoint barrier passes; nil when stateless.
    func snapshot() throws -> JSONValue?
    /// The state for a checkpoint: `snapshot()`, or, when `encoded` (the store writes states out as they are),
    /// the same document already encoded by a transform whose state is large enough for the tree to cost.
    func checkpointState(encoded: Bool) throws -> StateSnapshot?
    func restore(_ state: JSONValue) throws
    /// True when the transform's output depends on state built from earlier records (keyed state): a
    /// checkpoint without its state cannot be resumed, because the features would silently start from zero.
    var hasKeyedState: Bool { get }
    /// A hot reload replaces `predecessor` (same id, changed config) with this transform: true when this one can
    /// take the state over as it is, without the snapshot and restore (which the runner uses otherwise).
    func canTakeState(from predecessor: any Transform) -> Bool
    /// Moves the predecessor's state into this transform (only after `canTakeState` said yes). Cannot fail.
    func takeState(from predecessor: any Transform)
    func stop() async
}

extension Transform {
    public func start(_ context: StageContext) async throws {}
    public var loadsAtStart: Bool { false }
    public var maxConcurrentBatches: Int { 1 }
    public func snapshot() throws -> JSONValue? { nil }
    public func checkpointState(encoded: Bool) throws -> StateSnapshot? { try snapshot().map(StateSnapshot.value) }
    public func restore(_ state: JSONValue) throws {}
    public var hasKeyedState: Bool { false }
    public func canTakeState(from predecessor: any Transform) -> Bool { false }
    public func takeState(from predecessor: any Transform) {}
    public func stop() async {}
}

/// Writes deliveries and acknowledges each once its records are durable there.
public protocol Sink: AnyObject, Sendable {
    func start(_ context: StageContext) async throws
    /// Accepts a delivery. The sink calls `delivery.acknowledge()` once the records are durable (now, or at a
    /// later flush), and `delivery.reject(...)` for records that failed permanently. Throwing stops the pipeline
    /// without a checkpoint past this delivery.
    func write(_ delivery: Delivery) async throws
    /// Makes everything written so far durable and acknowledged. Called at each checkpoint and at shutdown.
    func flush() async throws
    /// A cheap call that shows the destination is reachable (run at start-up).
    func healthCheck() async throws
    func close() async throws
    /// How long a partial batch may wait: while the sink's input is idle the runner calls `flushDue` about twice
    /// per this interval. Nil (the default): the sink has no batch timer.
    var batchMaxAge: Double? { get }
    /// Sends the partial batches that have waited `batchMaxAge`, without waiting for them to complete.
    func flushDue() async throws
}

extension Sink {
    public var batchMaxAge: Double? { nil }
    public func flushDue() async throws {}
    public func start(_ context: StageContext) async throws {}
    public func healthCheck() async throws {}
    public func close() async throws {}
}

public typealias SourcePlugin = Source & PluginType
public typealias TransformPlugin = Transform & PluginType
public typealias SinkPlugin = Sink & PluginType

/// What a stage sees of the running pipeline.
public struct StageContext: Sendable {
    public var id: String
    public var logger: Logger
    public var stats: RuntimeStats
    /// Set when this host shares the source's partitions with other hosts (Kinesis leases): an identity of
    /// this process, new at every start. A sink that names its output after source positions adds it, so two
    /// hosts (or two lives of one host) that read the same partition never write under the same name: a
    /// host that lost a lease without knowing it yet must not replace what the new owner wrote.
    public var writerID: String?

    public init(id: String, logger: Logger, stats: RuntimeStats, writerID: String? = nil) {
        self.id = id
        self.logger = logger
        self.stats = stats
        self.writerID = writerID
    }
}

/// What a source uses to emit batches and learn where to resume.
public struct SourceContext: Sendable {
    public let logger: Logger
    /// Positions of the last completed checkpoint, by partition (empty on a first start).
    public let resumePositions: [String: JSONValue]
    /// How many fields the transforms add to a record: a source's parser sizes each record for them
    /// (`RecordParser(addedFields:)`), so no stage has to grow it.
    public let addedFields: Int
    let emitter: BatchEmitter
    let stop: StopSignal
    let partitions: PartitionHandover
    let generations = PartitionGenerations()

    init(logger: Logger, resumePositions: [String: JSONValue], emitter: BatchEmitter, stop: StopSignal,
         partitions: PartitionHandover = PartitionHandover(), addedFields: Int = 0) {
        self.logger = logger
        self.resumePositions = resumePositions
        self.addedFields = addedFields
        self.emitter = emitter
        self.stop = stop
        self.partitions = partitions
    }

    public var isStopping: Bool { stop.isStopping }

    /// Hands a batch to the pipeline; suspends while the pipeline is full (backpressure).
    public func emit(_ batch: consuming SourceBatch) async throws {
        try await emitter.emit(consume batch)
    }

    /// Hands a batch to the pipeline if `admit` (asked atomically with recording its positions) says its
    /// partition is still this source's; false when refused. For sources whose partitions can be taken away.
    public func emit(_ batch: consuming SourceBatch, if admit: () -> Bool) async throws -> Bool {
        try await emitter.emit(consume batch, admit: admit)
    }

    /// Waits until `seconds` pass or a stop is requested, whichever is first (for polling sources). An idle
    /// source calls this, which also lets a due checkpoint barrier through.
    public func sleep(seconds: Double) async throws {
        try await emitter.barrierIfDue()
        await stop.sleep(seconds: seconds)
    }

    /// Hands the keyed state a partition's previous owner checkpointed (transform id → part, as
    /// `PartitionedState.split` made it) to the transforms. Call it before emitting the partition's first record.
    ///
    /// `checkpointed`: the partition has a stored position (not a first start), so every transform with keyed
    /// state must have its part: one `covered` (the transforms the stored checkpoint covers, nil when it does not
    /// say) lacks is an error naming it, never a silent fresh start. When this host emitted records of the
    /// partition before (an earlier tenure of the same lease), this waits until all of them have passed the
    /// pipeline, so none of them is processed against the newly restored state.
    ///
    /// `inheriting`: the final state of the partition's parents (a Kinesis child shard after a reshard), merged
    /// first with every key moved to `partition`; the partition's own state then overrides it.
    public func restorePartition(_ partition: String, states: [String: JSONValue], covered: Set<String>?, checkpointed: Bool,
                                 inheriting: [(partition: String, states: [String: JSONValue])] = []) async throws {
        try await emitter.waitForEarlierRecords(of: partition, stop: stop)
        for parent in inheriting { try await emitter.waitForEarlierRecords(of: parent.partition, stop: stop) }
        emitter.forget(partition: partition)
        // A new generation of the partition: a drop still pending from an earlier loss can no longer land. What
        // this host still holds of the partition (keys first seen after the stored checkpoint) goes first.
        try generations.renew(partition) {
            partitions.drop(partition)
            try partitions.restore(partition, states, covered, checkpointed, inheriting)
        }
    }

    /// This host no longer reads the partition (its lease was lost or released, or the shard ended and was
    /// handed on): no later checkpoint of this host stores a position for it, and its keyed state is dropped.
    ///
    /// The keys are dropped only once the partition's records already in the pipeline are done: they were read
    /// before the loss and get the features they would have got (the next owner computes the same ones).
    public func forgetPartition(_ partition: String) {
        emitter.forget(partition: partition)
        let generation = generations.current(partition)
        let (emitter, partitions, generations) = (emitter, partitions, generations)
        let stop = stop
        Task {
            // While stopping, the keys need not go: the process is about to end.
            guard (try? await emitter.waitForEarlierRecords(of: partition, stop: stop)) != nil else { return }
            generations.ifUnchanged(partition, generation) { partitions.drop(partition) }
        }
    }

    /// Reports how far a bounded input is, for the progress line.
    public func reportProgress(done: Int64, total: Int64) {
        emitter.stats.setProgress(done: done, total: total)
    }
}

/// Orders the keyed-state changes of a partition that moves between hosts: a drop deferred after a loss never
/// lands after the partition was taken back and restored.
final class PartitionGenerations: Sendable {
    private let generations = Mutex<[String: UInt64]>([:])

    func current(_ partition: String) -> UInt64 { generations.withLock { $0[partition, default: 0] } }

    /// Runs `body` if the partition is still in `generation`, atomically with the check.
    func ifUnchanged(_ partition: String, _ generation: UInt64, _ body: () -> Void) {
        generations.withLock { g in if g[partition, default: 0] == generation { body() } }
    }

    /// Starts a new generation of the partition and runs `body` in it, atomically.
    func renew(_ partition: String, _ body: () throws -> Void) throws {
        try generations.withLock { (g: inout [String: UInt64]) throws -> Void in
            g[partition, default: 0] += 1
            try body()
        }
    }
}

/// How the runner hands keyed state to and from transforms when a source's partitions move between hosts.
struct PartitionHandover: Sendable {
    var restore: @Sendable (_ partition: String, _ states: [String: JSONValue], _ covered: Set<String>?, _ checkpointed: Bool,
                            _ inheriting: [(partition: String, states: [String: JSONValue])]) throws -> Void = { _, _, _, _, _ in }
    var drop: @Sendable (_ partition: String) -> Void = { _ in }
}
