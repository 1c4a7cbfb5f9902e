/// A consistent cut of the pipeline: where each source partition is to resume, and the state of every
/// stateful transform as it was when the checkpoint barrier passed it.
public struct Checkpoint: Sendable, Equatable {
    public var id: UInt64
    public var pipeline: String
    /// Wall-clock seconds since 1970 when it was written.
    public var createdAt: Double
    public var positions: [String: JSONValue]
    /// Transform id → state.
    public var states: [String: StateSnapshot]

    public init(id: UInt64, pipeline: String, createdAt: Double, positions: [String: JSONValue], states: [String: StateSnapshot]) {
        self.id = id
        self.pipeline = pipeline
        self.createdAt = createdAt
        self.positions = positions
        self.states = states
    }

    static let formatVersion: Int64 = 1

    /// The checkpoint as one JSON document, states in id order.
    public func write(into w: inout JSONWriter) {
        let head: [(String, JSONValue)] = [
            ("format", .int(Self.formatVersion)),
            ("id", .int(Int64(id))),
            ("pipeline", .string(pipeline)),
            ("created_at", .double(createdAt)),
            ("positions", .object(positions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })),
        ]
        w.append("{")
        for (name, value) in head {
            w.writeString(name)
            w.append(":")
            w.write(value)
            w.append(",")
        }
        w.append("\"states\":{")
        for (i, (id, state)) in states.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { w.append(",") }
            w.writeString(id)
            w.append(":")
            state.write(into: &w)
        }
        w.append("}}")
    }

    public init(json: JSONValue) throws {
        guard json["format"]?.intValue == Self.formatVersion else {
            throw PipelineError(.checkpoint, "unsupported checkpoint format \(json["format"].map(\.description) ?? "(none)")")
        }
        guard let id = json["id"]?.intValue, let pipeline = json["pipeline"]?.stringValue,
              let positions = json["positions"]?.objectValue, let states = json["states"]?.objectValue
        else { throw PipelineError(.checkpoint, "checkpoint is missing id, pipeline, positions or states") }
        // A damaged or hand-edited file: UInt64(id) would trap on a negative id.
        guard id >= 0 else { throw PipelineError(.checkpoint, "checkpoint id \(id) is negative") }
        self.init(
            id: UInt64(id), pipeline: pipeline, createdAt: json["created_at"]?.doubleValue ?? 0,
            positions: Dictionary(positions, uniquingKeysWith: { $1 }),
            states: Dictionary(states.map { ($0.0, StateSnapshot.value($0.1)) }, uniquingKeysWith: { $1 }))
    }
}

/// Where checkpoints live. Local directories now; S3 implements the same two calls.
public protocol CheckpointStore: Sendable {
    func load() async throws -> Checkpoint?
    /// Stores atomically: a reader sees the previous checkpoint or this one, never a mix.
    @discardableResult
    func save(_ checkpoint: Checkpoint) async throws -> CheckpointSaveResult
    /// Called once when the run ends, after the final checkpoint (or after a failure): a store that holds
    /// leases releases them here.
    func close() async
    var description: String { get }
    /// True when the store writes each state out as it is: a transform may then hand over its state already
    /// encoded (`Transform.checkpointState(encoded:)`). A store that takes states apart (per partition) says false.
    var acceptsEncodedStates: Bool { get }
}

extension CheckpointStore {
    public func close() async {}
    public var acceptsEncodedStates: Bool { false }
}

/// What a save stored. A store that writes each partition on its own (Kinesis leases) may have to leave a
/// partition out for now, e.g. one whose lease is past its local deadline until a renewal lands.
public enum CheckpointSaveResult: Sendable, Equatable {
    case complete
    /// These partitions' positions were not stored. The runner then puts in another barrier at the next
    /// interval even when no records come: an idle partition's last position (a closed shard's end, which its
    /// children wait for) must not stay unstored until new input happens to arrive.
    case deferred(partitions: [String])
}
