/// One shard as ListShards describes it.
struct ShardDescription: Sendable, Equatable {
    var id: String
    var parentID: String?
    var adjacentParentID: String?
    /// An EndingSequenceNumber is set: the shard takes no new records (split, merged or scaled away).
    var isClosed: Bool

    var parents: [String] { [parentID, adjacentParentID].compactMap { $0 } }
}

/// Which shards may be read now. After a split or merge, records of one partition key continue in a child
/// shard, so per-key order holds only if every parent is read to its end before its children start.
///
/// Pure state, no I/O: the coordinator feeds it listings and reader outcomes, and the tests drive it directly.
struct ShardLineage {
    /// The latest complete listing, by shard id.
    private(set) var shards: [String: ShardDescription] = [:]
    /// Read to the end (NextShardIterator null), now or before the checkpoint.
    private(set) var ended: Set<String> = []
    /// A reader was started for it in this run.
    private(set) var started: Set<String> = []
    /// Data of it was read by this consumer (now or before the checkpoint): its children continue from
    /// their start rather than from the configured start position.
    private(set) var read: Set<String> = []
    let checkpointed: [String: ShardPosition]
    let configuredStart: IteratorStart

    init(checkpointed: [String: ShardPosition], configuredStart: IteratorStart) {
        self.checkpointed = checkpointed
        self.configuredStart = configuredStart
        for (id, position) in checkpointed {
            read.insert(id)
            if case .closed = position { ended.insert(id) }
        }
    }

    mutating func update(_ listing: [ShardDescription]) {
        shards = Dictionary(listing.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
    }

    /// Parents that still matter: a parent missing from the listing has aged out of the stream's retention, so
    /// there is nothing left to wait for (what KCL does too).
    func pendingParents(of shard: ShardDescription) -> [String] {
        shard.parents.filter { shards[$0] != nil && !ended.contains($0) }
    }

    /// Shards to start now, in id order: not started, not ended, every parent read to its end.
    func ready() -> [ShardDescription] {
        shards.values
            .filter { !started.contains($0.id) && !ended.contains($0.id) && pendingParents(of: $0).isEmpty }
            .sorted { $0.id < $1.id }
    }

    /// Where to start reading `shard`, or nil when there is nothing to read (it is then marked ended).
    mutating func start(_ shard: ShardDescription) -> IteratorStart? {
        started.insert(shard.id)
        if case .after(let sequence)? = checkpointed[shard.id] {
            return .afterSequence(sequence)
        }
        if shard.parents.contains(where: read.contains) {
            // The parent was read here: its child goes on from its first record. AT_TIMESTAMP stays as it is,
            // it skips only what the configured start excludes anyway.
            read.insert(shard.id)
            if case .atTimestamp = configuredStart { return configuredStart }
            return .trimHorizon
        }
        if configuredStart == .latest && shard.isClosed {
            // LATEST on a shard that takes no more records reads nothing; its children start at LATEST too.
            ended.insert(shard.id)
            return nil
        }
        read.insert(shard.id)
        return configuredStart
    }

    mutating func markEnded(_ id: String) {
        ended.insert(id)
    }
}
