import PipelineHost

/// One row of the lease table, in the KCL's layout so the table reads the same as a KCL application's:
/// `leaseKey` (shard id), `leaseOwner`, `leaseCounter`, `checkpoint`, `checkpointSubSequenceNumber`,
/// `ownerSwitchesSinceCheckpoint`, `parentShardId`. `pipelineState` is this host's addition: the keyed state of
/// the shard's keys at the checkpoint (transform id → part, as JSON text), so the state moves with the lease.
struct Lease: Sendable, Equatable {
    var key: String
    var owner: String?
    var counter: Int64
    var checkpoint: String
    var parents: [String]
    var ownerSwitches: Int64 = 0
    var state: String?

    static let shardEnd = "SHARD_END"
    var isEnded: Bool { checkpoint == Self.shardEnd }

    /// The DynamoDB item.
    var item: JSONValue {
        var fields: [(String, JSONValue)] = [
            ("leaseKey", Self.s(key)),
            ("leaseCounter", Self.n(counter)),
            ("checkpoint", Self.s(checkpoint)),
            ("checkpointSubSequenceNumber", Self.n(0)),
            ("ownerSwitchesSinceCheckpoint", Self.n(ownerSwitches)),
        ]
        if let owner { fields.append(("leaseOwner", Self.s(owner))) }
        // A string set may not be empty: a shard without parents has no attribute.
        if !parents.isEmpty { fields.append(("parentShardId", .object([("SS", .array(parents.map(JSONValue.string)))]))) }
        if let state { fields.append(("pipelineState", Self.s(state))) }
        return .object(fields)
    }

    init(key: String, owner: String?, counter: Int64, checkpoint: String, parents: [String], ownerSwitches: Int64 = 0, state: String? = nil) {
        self.key = key
        self.owner = owner
        self.counter = counter
        self.checkpoint = checkpoint
        self.parents = parents
        self.ownerSwitches = ownerSwitches
        self.state = state
    }

    /// Reads an item; nil when it is not a lease row (no leaseKey).
    init?(item: JSONValue) {
        guard let key = item["leaseKey"]?["S"]?.stringValue else { return nil }
        self.key = key
        owner = item["leaseOwner"]?["S"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        counter = item["leaseCounter"]?["N"]?.stringValue.flatMap { Int64($0) } ?? 0
        checkpoint = item["checkpoint"]?["S"]?.stringValue ?? "TRIM_HORIZON"
        parents = item["parentShardId"]?["SS"]?.arrayValue?.compactMap(\.stringValue) ?? []
        ownerSwitches = item["ownerSwitchesSinceCheckpoint"]?["N"]?.stringValue.flatMap { Int64($0) } ?? 0
        state = item["pipelineState"]?["S"]?.stringValue
    }

    static func s(_ v: String) -> JSONValue { .object([("S", .string(v))]) }
    static func n(_ v: Int64) -> JSONValue { .object([("N", .string(String(v)))]) }
}

/// Kinesis sequence numbers are decimal integers of up to 128 bits, as strings: compare them as numbers.
enum SequenceNumber {
    static func isAfter(_ a: String, _ b: String) -> Bool {
        let x = a.drop { $0 == "0" }, y = b.drop { $0 == "0" }
        if x.count != y.count { return x.count > y.count }
        return x > y
    }

    static func isSequence(_ checkpoint: String) -> Bool {
        !checkpoint.isEmpty && checkpoint.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}
