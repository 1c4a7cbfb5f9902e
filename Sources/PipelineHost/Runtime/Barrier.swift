import Synchronization

/// A checkpoint barrier. The source emits it between two batches; it flows through the chain in line
/// with the records, and each stateful transform adds its snapshot as the barrier passes, so the state
/// and the positions describe the same cut of the stream (Flink's aligned checkpoint, in one process).
final class Barrier: Sendable {
    let id: UInt64
    /// The barrier's own slot in the batch numbering: every batch before it has a lower id. A checkpoint for
    /// this barrier waits until every id up to this one is acknowledged, the barrier's own included.
    let upTo: UInt64
    let positions: [String: JSONValue]
    let isFinal: Bool
    /// Whether the checkpoint store takes states already encoded (`CheckpointStore.acceptsEncodedStates`).
    let encodesStates: Bool
    private let snapshots = Mutex<[String: StateSnapshot]>([:])
    /// The transforms with keyed state in the chain this barrier passed: a reload may change them while a
    /// checkpoint is pending, so each barrier says which states its checkpoint must hold.
    private let keyed = Mutex<[String]>([])
    /// Acknowledged (released) by the router once the barrier has passed every transform.
    private let passage: AckToken

    init(id: UInt64, upTo: UInt64, positions: [String: JSONValue], isFinal: Bool, encodesStates: Bool, passage: AckToken) {
        self.id = id
        self.upTo = upTo
        self.positions = positions
        self.isFinal = isFinal
        self.encodesStates = encodesStates
        self.passage = passage
    }

    /// The barrier reached the end of the transform chain: every transform has recorded its snapshot.
    func passedTransforms(keyed ids: [String]) {
        keyed.withLock { $0 = ids }
        passage.release()
    }

    /// The keyed transforms whose state this barrier's checkpoint must hold (set when it passed them).
    var keyedTransforms: [String] { keyed.withLock { $0 } }

    /// Records the state of `transform` as the barrier passes it.
    func recordState(of transform: any Transform, id transformID: String) throws {
        guard let state = try transform.checkpointState(encoded: encodesStates) else { return }
        snapshots.withLock { $0[transformID] = state }
    }

    var states: [String: StateSnapshot] { snapshots.withLock { $0 } }
}

enum StreamItem: Sendable {
    case batch(Batch)
    case barrier(Barrier)
    /// A hot reload's cut: every record before it goes through the old chain, every one after it through the
    /// new. Each transform stage hands it on and ends; the runner then starts the new chain.
    case reload(ReloadMarker)
}

enum SinkItem: Sendable {
    case delivery(Delivery)
    /// Records a sink rejected: written to the dead-letter output and flushed at once, because the
    /// rejecting sink's own acknowledgement waits for them.
    case rejection(Delivery)
    case barrier(Barrier)
    /// The sink's batch timer: a partial batch that has waited `batchMaxAge` goes out now, not with the next
    /// delivery or checkpoint.
    case tick
}
