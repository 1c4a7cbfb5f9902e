/// Keyed state that belongs to source partitions: each key's state sits with the partition its records come
/// from (a Kinesis shard, as the partition key routes a user to one shard), so when several hosts share a
/// stream, the state of a partition can move with it to the host that takes it over.
public protocol PartitionedState: AnyObject, Sendable {
    /// Splits a snapshot of this transform (what `snapshot()` returned) into the part of each partition.
    /// Keys whose records carried no partition are left out.
    func split(_ snapshot: JSONValue) throws -> [String: JSONValue]
    /// Adds one partition's part (as `split` made it) to the live state, replacing what the transform held
    /// for those keys. Called while the pipeline runs, before the partition's first record is emitted.
    func merge(_ part: JSONValue) throws
    /// Forgets every key whose state belongs to `partition`: this host no longer holds it (a lost or released
    /// lease, a parent shard that ended and whose children took over).
    func drop(partition: String)
    /// Adds a parent partition's part (as `split` made it) with every key moved to `partition`: a child shard
    /// after a reshard continues its parents' keys. Keys the transform already holds for `partition` win.
    func inherit(_ part: JSONValue, into partition: String) throws
}

/// A source that shares its partitions with other hosts and keeps each partition's checkpoint (position and
/// keyed state) where the next owner of the partition finds it, for example in a Kinesis lease table.
/// When it returns a store, the runner uses it instead of the spec's checkpoint directory.
public protocol PartitionCheckpointingSource: Source {
    /// `partitioned`: transform id → its state splitter, for every transform with `PartitionedState`.
    /// nil when this source, as configured, does not share its partitions (the spec's store is used).
    func makeCheckpointStore(partitioned: [String: any PartitionedState]) throws -> (any CheckpointStore)?
}
