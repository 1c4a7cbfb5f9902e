import AWSCore
import PipelineHost

/// One record of a GetRecords reply.
struct KinesisRecord: Sendable {
    var sequenceNumber: String
    /// Base64, as on the wire: decoded by the reader task, off the shared HTTP thread.
    var data: String
    var partitionKey: String
}

struct GetRecordsResult: Sendable {
    var records: [KinesisRecord]
    /// nil: the shard is closed and was read to its end.
    var nextIterator: String?
    var millisBehindLatest: Int64?
}

/// The three Kinesis calls a polling consumer needs, typed.
///
/// GetRecords goes through a client without automatic retries: the shard reader retries it itself, so that
/// every attempt, retries included, keeps to the per-shard rate limit (5 calls/s).
struct KinesisStreamClient: Sendable {
    let control: JSONProtocolClient
    let data: JSONProtocolClient
    let stream: String

    /// Every shard of the stream (ListShards, following NextToken).
    func listShards() async throws -> [ShardDescription] {
        var shards: [ShardDescription] = []
        var token: String?
        repeat {
            // With a NextToken the stream name must be left out.
            let input: JSONValue = token.map { .object([("NextToken", .string($0))]) } ?? .object([("StreamName", .string(stream))])
            let reply: JSONValue
            do {
                reply = try await control.call("ListShards", input)
            } catch let error as AWSError where error.code == "ExpiredNextTokenException" {
                // A page token lives 300 s; start over rather than return a partial listing.
                shards = []
                token = nil
                continue
            }
            for s in reply["Shards"]?.arrayValue ?? [] {
                guard let id = s["ShardId"]?.stringValue else { continue }
                shards.append(ShardDescription(
                    id: id, parentID: s["ParentShardId"]?.stringValue, adjacentParentID: s["AdjacentParentShardId"]?.stringValue,
                    isClosed: s["SequenceNumberRange"]?["EndingSequenceNumber"]?.stringValue != nil))
            }
            token = reply["NextToken"]?.stringValue
        } while token != nil
        return shards
    }

    func shardIterator(_ shardID: String, from start: IteratorStart) async throws -> String {
        let reply = try await control.call(
            "GetShardIterator", .object([("StreamName", .string(stream)), ("ShardId", .string(shardID))] + start.parameters))
        guard let iterator = reply["ShardIterator"]?.stringValue else {
            throw PipelineError(.source, "GetShardIterator returned no iterator", at: "\(stream)/\(shardID)")
        }
        return iterator
    }

    func getRecords(_ iterator: String, limit: Int) async throws -> GetRecordsResult {
        let reply = try await data.call("GetRecords", .object([("ShardIterator", .string(iterator)), ("Limit", .int(Int64(limit)))]))
        var records: [KinesisRecord] = []
        for r in reply["Records"]?.arrayValue ?? [] {
            guard let sequence = r["SequenceNumber"]?.stringValue else { continue }
            records.append(KinesisRecord(
                sequenceNumber: sequence, data: r["Data"]?.stringValue ?? "", partitionKey: r["PartitionKey"]?.stringValue ?? ""))
        }
        return GetRecordsResult(
            records: records, nextIterator: reply["NextShardIterator"]?.stringValue,
            millisBehindLatest: reply["MillisBehindLatest"]?.intValue)
    }
}
