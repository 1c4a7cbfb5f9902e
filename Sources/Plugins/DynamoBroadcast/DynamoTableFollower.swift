import AWSCore
import Foundation
import Logging
import PipelineHost

/// Keeps a `BroadcastTable` equal to a DynamoDB table: a full (optionally parallel) Scan, then the table's
/// DynamoDB Stream. Stream iterators are taken before the scan starts, so no change made during the scan is
/// missed; replaying a change the scan already saw is harmless because the stream is ordered per key.
/// Parent shards are read to their end before their children. Lost stream positions (expired iterators with
/// nothing read yet, trimmed data) trigger a full reload.
final class DynamoTableFollower: @unchecked Sendable {
    let dynamo: JSONProtocolClient
    let streams: JSONProtocolClient
    let tableName: String
    let keyAttribute: String
    let table: BroadcastTable
    let segments: Int
    let pollInterval: Double
    let logger: Logger

    // Owned by the follow task only.
    private var streamARN: String?
    private var shards: [String: ShardState] = [:]

    struct ShardState {
        var parent: String?
        var iterator: String?
        var lastSequence: String?
        var ended = false
    }

    struct ReloadNeeded: Error { var reason: String }

    init(dynamo: JSONProtocolClient, streams: JSONProtocolClient, tableName: String, keyAttribute: String,
         table: BroadcastTable, segments: Int, pollInterval: Double, logger: Logger) {
        self.dynamo = dynamo
        self.streams = streams
        self.tableName = tableName
        self.keyAttribute = keyAttribute
        self.table = table
        self.segments = segments
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Takes stream positions, then scans the whole table into `table`.
    func load() async throws {
        let description = try await dynamo.call("DescribeTable", .object([("TableName", .string(tableName))]))
        streamARN = description["Table"]?["LatestStreamArn"]?.stringValue
        if streamARN == nil {
            logger.warning("table has no stream: the broadcast table will not follow changes", metadata: ["table": "\(tableName)"])
        }
        shards = [:]
        if streamARN != nil { try await discoverShards(startAt: "LATEST") }
        table.replace(with: try await scan())
    }

    func scan() async throws -> BroadcastTable.Columns {
        let fields = table.fields
        let pages = try await withThrowingTaskGroup(of: [[(String, JSONValue)]].self) { group in
            for segment in 0..<segments {
                group.addTask {
                    var items: [[(String, JSONValue)]] = []
                    var startKey: JSONValue?
                    repeat {
                        var input: [(String, JSONValue)] = [("TableName", .string(self.tableName))]
                        if self.segments > 1 {
                            input += [("Segment", .int(Int64(segment))), ("TotalSegments", .int(Int64(self.segments)))]
                        }
                        if let startKey { input.append(("ExclusiveStartKey", startKey)) }
                        let page = try await self.dynamo.call("Scan", .object(input))
                        items += (page["Items"]?.arrayValue ?? []).map(DynamoAttributeValue.item)
                        startKey = page["LastEvaluatedKey"]
                    } while startKey != nil
                    return items
                }
            }
            var all: [[(String, JSONValue)]] = []
            for try await part in group { all += part }
            return all
        }
        var columns = BroadcastTable.Columns(fieldCount: fields.count)
        for item in pages {
            let r = Record(fields: item)
            guard let key = r[keyAttribute]?.keyText else { continue }
            columns.upsert(key, fields.map { r[$0] ?? .null })
        }
        return columns
    }

    /// Lists the stream's shards; new open shards start at `startAt` (LATEST before a scan, TRIM_HORIZON for
    /// shards that appear later, whose every record is newer than what we have).
    func discoverShards(startAt: String) async throws {
        guard let arn = streamARN else { return }
        var exclusiveStart: String?
        repeat {
            var input: [(String, JSONValue)] = [("StreamArn", .string(arn))]
            if let exclusiveStart { input.append(("ExclusiveStartShardId", .string(exclusiveStart))) }
            let page = try await streams.call("DescribeStream", .object(input))
            let description = page["StreamDescription"]
            for shard in description?["Shards"]?.arrayValue ?? [] {
                guard let id = shard["ShardId"]?.stringValue, shards[id] == nil else { continue }
                let closed = shard["SequenceNumberRange"]?["EndingSequenceNumber"] != nil
                // A shard closed before we started holds only changes older than our starting point.
                shards[id] = ShardState(parent: shard["ParentShardId"]?.stringValue, iterator: nil, lastSequence: nil,
                                        ended: closed && startAt == "LATEST")
                if !(closed && startAt == "LATEST") {
                    shards[id]?.iterator = try await iterator(shard: id, type: startAt, after: nil)
                }
            }
            exclusiveStart = description?["LastEvaluatedShardId"]?.stringValue
        } while exclusiveStart != nil
    }

    func iterator(shard: String, type: String, after sequence: String?) async throws -> String? {
        guard let arn = streamARN else { return nil }
        var input: [(String, JSONValue)] = [("StreamArn", .string(arn)), ("ShardId", .string(shard)), ("ShardIteratorType", .string(type))]
        if let sequence { input.append(("SequenceNumber", .string(sequence))) }
        return try await streams.call("GetShardIterator", .object(input))["ShardIterator"]?.stringValue
    }

    /// Follows the stream until cancelled.
    func follow(discoveryInterval: Double = 30) async {
        var lastDiscovery = MonotonicClock.seconds()
        while !Task.isCancelled {
            do {
                if MonotonicClock.seconds() - lastDiscovery >= discoveryInterval {
                    try await discoverShards(startAt: "TRIM_HORIZON")
                    lastDiscovery = MonotonicClock.seconds()
                }
                try await pollOnce()
            } catch let reload as ReloadNeeded {
                logger.warning("reloading the reference table", metadata: ["reason": "\(reload.reason)"])
                do { try await load() } catch { logger.error("reload failed; retrying", metadata: ["error": "\(error)"]) }
            } catch is CancellationError {
                return
            } catch {
                logger.error("following the table's stream failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(nanoseconds: UInt64(pollInterval * 1e9))
        }
    }

    /// One GetRecords round over every readable shard (a child only once its parent ended).
    func pollOnce() async throws {
        for id in shards.keys.sorted() {
            guard var s = shards[id], !s.ended else { continue }
            if let parent = s.parent, let p = shards[parent], !p.ended { continue }
            if s.iterator == nil { s.iterator = try await iterator(shard: id, type: s.lastSequence == nil ? "TRIM_HORIZON" : "AFTER_SEQUENCE_NUMBER", after: s.lastSequence) }
            guard let it = s.iterator else { continue }
            let page: JSONValue
            do {
                page = try await streams.call("GetRecords", .object([("ShardIterator", .string(it)), ("Limit", .int(1000))]))
            } catch let e as AWSError where e.code == "ExpiredIteratorException" {
                guard s.lastSequence != nil else { throw ReloadNeeded(reason: "iterator of shard \(id) expired before any record was read") }
                s.iterator = nil
                shards[id] = s
                continue
            } catch let e as AWSError where e.code == "TrimmedDataAccessException" {
                throw ReloadNeeded(reason: "stream data of shard \(id) was trimmed")
            }
            var changes: [(key: String, values: [JSONValue]?)] = []
            for record in page["Records"]?.arrayValue ?? [] {
                let ddb = record["dynamodb"]
                s.lastSequence = ddb?["SequenceNumber"]?.stringValue ?? s.lastSequence
                let event = record["eventName"]?.stringValue
                let image = event == "REMOVE" ? ddb?["Keys"] : ddb?["NewImage"]
                let r = Record(fields: DynamoAttributeValue.item(image ?? .null))
                guard let key = r[keyAttribute]?.keyText else { continue }
                changes.append((key, event == "REMOVE" ? nil : table.fields.map { r[$0] ?? .null }))
            }
            if !changes.isEmpty { table.apply(changes) }
            if let next = page["NextShardIterator"]?.stringValue {
                s.iterator = next
            } else {
                s.iterator = nil
                s.ended = true
            }
            shards[id] = s
        }
    }
}
