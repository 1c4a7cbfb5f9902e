import AWSCore
import PipelineHost

/// Where the keyed state of a shard goes at a checkpoint: inside the lease row while it is small, otherwise an
/// S3 object the lease refers to (a DynamoDB item holds at most 400 KB). The lease's `pipelineState` is
/// `{"states": {transform id: part}, "transforms": [ids]}` or `{"s3": "s3://bucket/key"}` holding that.
/// `transforms` lists every transform whose state the checkpoint covers, also those with no keys in this
/// shard, so that a missing part can be told from an empty one.
struct LeaseStateStore: Sendable {
    let s3: S3Client?
    let bucket: String?
    let prefix: String
    /// Whether any transform has partitioned state; without one the attribute is left alone.
    let enabled: Bool
    static let inlineLimit = 100 * 1024

    func encode(_ parts: [String: JSONValue]?, stream: String, shard: String, checkpoint: String, transforms: [String]) async throws -> String? {
        guard enabled else { return nil }
        let states = JSONValue.object((parts ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        var w = JSONWriter()
        w.write(.object([("states", states), ("transforms", .array(transforms.sorted().map { .string($0) }))]))
        if w.bytes.count <= Self.inlineLimit { return w.string }
        guard let s3, let bucket else {
            throw PipelineError(.checkpoint, "the keyed state of shard \(shard) is \(w.bytes.count) bytes, more than a lease row holds (\(Self.inlineLimit)); set leases.state_bucket to keep it in S3", at: stream)
        }
        // One object per checkpoint: a host that loses the lease mid-write never overwrites what the lease refers to.
        let key = "\(prefix)\(stream)/\(shard)/\(checkpoint).json"
        _ = try await s3.putObject(bucket: bucket, key: key, body: w.bytes, contentType: "application/json")
        return JSONValue.object([("s3", .string("s3://\(bucket)/\(key)"))]).description
    }

    /// The transform parts stored with a lease (empty when it holds none), and the transforms the stored
    /// checkpoint covers (nil when it holds no state, or was written before the list existed).
    func decode(_ text: String?, shard: String) async throws -> (states: [String: JSONValue], covered: Set<String>?) {
        guard let text, !text.isEmpty else { return ([:], nil) }
        var value = try DocumentParser.parseValue(Array(text.utf8))
        if let url = value["s3"]?.stringValue {
            guard let s3, url.hasPrefix("s3://"), let slash = url.dropFirst(5).firstIndex(of: "/") else {
                throw PipelineError(.checkpoint, "the lease of shard \(shard) keeps its state at \(url); set leases.state_bucket so it can be read", at: shard)
            }
            let bucket = String(url.dropFirst(5)[..<slash]), key = String(url[url.index(after: slash)...])
            value = try DocumentParser.parseValue(try await s3.getObject(bucket: bucket, key: key).body)
        }
        guard let states = value["states"]?.objectValue else {
            throw PipelineError(.checkpoint, "the state stored with the lease of shard \(shard) has no \"states\"", at: shard)
        }
        let covered = value["transforms"]?.arrayValue.map { Set($0.compactMap(\.stringValue)) }
        return (Dictionary(states, uniquingKeysWith: { $1 }), covered)
    }
}
