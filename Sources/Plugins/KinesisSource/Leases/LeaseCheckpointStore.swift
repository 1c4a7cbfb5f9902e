import PipelineHost

/// The checkpoint store of a Kinesis source that shares its stream through leases: a checkpoint is split by
/// shard and each part is written into that shard's lease. There is nothing to load at start: positions and
/// keyed state arrive with each lease this host takes.
struct LeaseCheckpointStore: CheckpointStore {
    let keeper: LeaseKeeper
    let partitioned: [String: any PartitionedState]
    let stream: String

    var description: String { "lease table \(keeper.table.name)" }

    func load() async throws -> Checkpoint? { nil }

    func save(_ checkpoint: Checkpoint) async throws -> CheckpointSaveResult {
        var parts: [String: [String: JSONValue]] = [:]
        var covered: [String] = []
        for (id, transform) in partitioned {
            guard let state = checkpoint.states[id] else { continue }
            covered.append(id)
            for (shard, part) in try transform.split(state.value) { parts[shard, default: [:]][id] = part }
        }
        let deferred = try await keeper.commit(positions: checkpoint.positions, parts: parts, covered: covered, stream: stream)
        return deferred.isEmpty ? .complete : .deferred(partitions: deferred)
    }

    func close() async {
        await keeper.close()
    }
}
