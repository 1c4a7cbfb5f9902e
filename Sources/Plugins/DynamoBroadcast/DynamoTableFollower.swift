import AWSCore
import Foundation
import Logging
import PipelineHost
import Synchronization

/// Keeps a `BroadcastTable` equal to a DynamoDB table: a full (optionally parallel) Scan, then the table's
/// DynamoDB Stream.
///
/// Starting point. `load()` lists the stream's shards and takes a LATEST iterator for every open shard *before* the
/// Scan starts, and only then scans: every change made during or after the Scan is on the stream after those
/// iterators, so none is missed. A change the Scan already saw may be applied again; that is harmless because stream
/// records carry whole item images (NEW_IMAGE / NEW_AND_OLD_IMAGES, the key for REMOVE) and are ordered per key, so
/// re-applying them ends in the same state. (Following from TRIM_HORIZON after the Scan would be just as complete,
/// but would first replay up to 24 h of older images over the fresh Scan, so lookups would briefly see old values.)
/// The iterators live 15 minutes: the Scan has to finish within that, or the follower reloads again.
///
/// Lost positions: a TrimmedDataAccessException (records older than the 24 h retention), a
/// ResourceNotFoundException (stream or shard gone: table recreated, stream disabled and re-enabled), or an
/// expired iterator whose position cannot be taken again (a LATEST iterator with nothing read yet) from
/// DescribeStream, GetShardIterator or GetRecords lead to a reload: a fresh `load()`, logged once with the reason.
/// The new table is built aside and swapped in whole (`BroadcastTable.replace`), together with the new stream
/// positions, only once the Scan has completed: lookups see the old table until then, never a half-loaded one, and
/// a reload that fails is retried with back-off (its stale state shows in `syncAge`, which readiness watches).
/// An expired iterator with a known position is taken again from there (AFTER_SEQUENCE_NUMBER, or TRIM_HORIZON for
/// a shard read from its start), which loses nothing; if that position was trimmed in the meantime, the
/// TrimmedDataAccessException of that call reloads.
///
/// Shards: a child shard is read only once its parents are read to their end. A shard whose GetRecords answer has
/// no NextShardIterator (closed, all records read) is dropped from the tracked shards; its id is remembered, so
/// discovery does not take it for a new shard, only while DescribeStream still lists it (the stream trims it after
/// 24 h), which keeps both sets bounded.
final class DynamoTableFollower: @unchecked Sendable {  // mutable state below is owned by one task at a time
    let dynamo: JSONProtocolClient
    let streams: JSONProtocolClient
    let tableName: String
    let keyAttribute: String
    let table: BroadcastTable
    let segments: Int
    let pollInterval: Double
    let logger: Logger

    // Owned by whoever runs load() (start) and then by the follow task only.
    private var streamARN: String?
    private var shards: [String: ShardState] = [:]
    /// Ended shards, pruned from `shards`, kept while DescribeStream still lists them.
    private var finished: Set<String> = []
    /// Set when an ended shard may have children to discover.
    private var discoveryDue = false

    /// Monotonic time of the last successful sync (a completed GetRecords round or a completed load) and what went
    /// wrong since, read by the staleness watch.
    private let syncState = Mutex<(last: Double, problem: String?)>((MonotonicClock.seconds(), nil))

    struct ShardState {
        var parent: String?
        var iterator: String?
        var lastSequence: String?
        /// Where reading started: an expired iterator with nothing read can be taken again only from TRIM_HORIZON.
        var startedAt: String
    }

    struct ReloadNeeded: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

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

    // MARK: Sync age (read from any task)

    /// Seconds since the last successful sync.
    var syncAge: Double { MonotonicClock.seconds() - syncState.withLock { $0.last } }
    /// The last failure since the last successful sync.
    var lastProblem: String? { syncState.withLock { $0.problem } }

    private func synced() { syncState.withLock { $0 = (MonotonicClock.seconds(), nil) } }
    private func failed(_ problem: String) { syncState.withLock { $0.problem = problem } }

    /// For tests: the shards being followed, and how many ended ones are remembered.
    var trackedShards: [String] { shards.keys.sorted() }
    var finishedShards: Set<String> { finished }

    // MARK: Loading

    /// Takes stream positions, then scans the whole table, then swaps both in (nothing changes if it throws).
    func load() async throws {
        let description = try await dynamo.call("DescribeTable", .object([("TableName", .string(tableName))]))
        let arn = description["Table"]?["LatestStreamArn"]?.stringValue
        if arn == nil {
            logger.warning("table has no stream: the broadcast table will not follow changes", metadata: ["table": "\(tableName)"])
        }
        var newShards: [String: ShardState] = [:]
        var newFinished: Set<String> = []
        if let arn {
            (newShards, newFinished) = try await listShards(arn: arn, known: [:], finished: [], startAt: "LATEST")
        }
        let columns = try await scan()
        streamARN = arn
        shards = newShards
        finished = newFinished
        discoveryDue = false
        table.replace(with: columns)
        synced()
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

    // MARK: Shards

    /// Lists the stream's shards and returns the tracked and finished sets updated with them. New shards start at
    /// `startAt`: LATEST before a scan (an iterator is taken at once for every open shard; a shard already closed
    /// holds only changes the scan will see, so it counts as finished), TRIM_HORIZON for shards that appear later
    /// (every record in them is newer than what we have; their iterator is taken when they become readable).
    func listShards(arn: String, known: [String: ShardState], finished: Set<String>, startAt: String) async throws
        -> (shards: [String: ShardState], finished: Set<String>)
    {
        var tracked = known
        var listed: Set<String> = []
        var exclusiveStart: String?
        repeat {
            var input: [(String, JSONValue)] = [("StreamArn", .string(arn))]
            if let exclusiveStart { input.append(("ExclusiveStartShardId", .string(exclusiveStart))) }
            let page = try await streamsCall("DescribeStream", .object(input), shard: nil)
            let description = page["StreamDescription"]
            for shard in description?["Shards"]?.arrayValue ?? [] {
                guard let id = shard["ShardId"]?.stringValue else { continue }
                listed.insert(id)
                guard tracked[id] == nil, !finished.contains(id) else { continue }
                let closed = shard["SequenceNumberRange"]?["EndingSequenceNumber"] != nil
                if startAt == "LATEST" && closed { continue }
                var state = ShardState(parent: shard["ParentShardId"]?.stringValue, iterator: nil, lastSequence: nil, startedAt: startAt)
                if startAt == "LATEST" {
                    state.iterator = try await iterator(arn: arn, shard: id, type: "LATEST", after: nil)
                }
                tracked[id] = state
            }
            exclusiveStart = description?["LastEvaluatedShardId"]?.stringValue
        } while exclusiveStart != nil
        // Closed-before-start shards (LATEST) are finished; ended shards the stream no longer lists are forgotten.
        let stillListed = startAt == "LATEST" ? listed.subtracting(tracked.keys) : finished.intersection(listed)
        return (tracked, stillListed)
    }

    /// Adds shards that appeared since (children of ended or split shards), committing only a complete listing so
    /// that a child is never tracked without its listed parent.
    func discoverShards() async throws {
        guard let arn = streamARN else { return }
        (shards, finished) = try await listShards(arn: arn, known: shards, finished: finished, startAt: "TRIM_HORIZON")
        discoveryDue = false
    }

    func iterator(arn: String, shard: String, type: String, after sequence: String?) async throws -> String? {
        var input: [(String, JSONValue)] = [("StreamArn", .string(arn)), ("ShardId", .string(shard)), ("ShardIteratorType", .string(type))]
        if let sequence { input.append(("SequenceNumber", .string(sequence))) }
        return try await streamsCall("GetShardIterator", .object(input), shard: shard)["ShardIterator"]?.stringValue
    }

    /// A DynamoDB Streams call; the answers that mean our stream positions are gone become `ReloadNeeded`.
    private func streamsCall(_ operation: String, _ input: JSONValue, shard: String?) async throws -> JSONValue {
        do {
            return try await streams.call(operation, input)
        } catch let e as AWSError where e.code == "TrimmedDataAccessException" || e.code == "ResourceNotFoundException" {
            let what = e.code == "TrimmedDataAccessException" ? "stream records were trimmed (older than the stream's retention)"
                : "the stream or shard no longer exists"
            throw ReloadNeeded(reason: "\(what): \(operation)\(shard.map { " on shard \($0)" } ?? "") answered \(e)")
        }
    }

    // MARK: Following

    /// Follows the stream until cancelled: polls every `pollInterval`, looks for new shards every
    /// `discoveryInterval` (and at once after a shard ended), reloads when positions are lost.
    func follow(discoveryInterval: Double = 30) async {
        var lastDiscovery = MonotonicClock.seconds()
        var reload: String?
        var failures = 0
        while !Task.isCancelled {
            do {
                if let reason = reload {
                    let started = MonotonicClock.seconds()
                    try await load()
                    reload = nil
                    lastDiscovery = MonotonicClock.seconds()
                    logger.notice("reference table reloaded", metadata: [
                        "table": "\(tableName)", "rows": "\(table.count)", "reason": "\(reason)",
                        "seconds": "\(String(format: "%.2f", MonotonicClock.seconds() - started))",
                    ])
                } else {
                    if discoveryDue || MonotonicClock.seconds() - lastDiscovery >= discoveryInterval {
                        try await discoverShards()
                        lastDiscovery = MonotonicClock.seconds()
                    }
                    try await pollOnce()
                    synced()
                }
                failures = 0
            } catch let needed as ReloadNeeded {
                if reload == nil {
                    // Once per incident; failed attempts of the reload itself are logged below.
                    logger.warning("stream positions lost: reloading the reference table", metadata: [
                        "table": "\(tableName)", "reason": "\(needed.reason)",
                    ])
                    reload = needed.reason
                    failed("reloading: \(needed.reason)")
                    continue
                }
                failures += 1
                failed("reload failed: \(needed.reason)")
                logger.error("reload of the reference table failed; retrying", metadata: ["table": "\(tableName)", "error": "\(needed.reason)"])
            } catch {
                if Task.isCancelled || error is CancellationError { return }
                failures += 1
                failed("\(error)")
                if let reason = reload {
                    logger.error("reload of the reference table failed; retrying", metadata: [
                        "table": "\(tableName)", "reason": "\(reason)", "error": "\(error)",
                    ])
                } else {
                    logger.error("following the table's stream failed; retrying", metadata: ["table": "\(tableName)", "error": "\(error)"])
                }
            }
            // Back off on repeated failures (a reload is a full Scan), up to ten poll intervals (at most 30 s).
            let cap = max(pollInterval, min(30, 10 * pollInterval))
            let delay = failures == 0 ? pollInterval : min(cap, pollInterval * Double(1 << min(failures - 1, 16)))
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
        }
    }

    /// One GetRecords round over every readable shard. A child is readable once no parent is tracked any more
    /// (ended and pruned, or never seen because trimmed); a child whose parent ends in this round is read in it too.
    func pollOnce() async throws {
        guard let arn = streamARN else { return }
        var visited: Set<String> = []
        var progressed = true
        while progressed {
            progressed = false
            for id in shards.keys.sorted() where !visited.contains(id) {
                guard let s = shards[id] else { continue }
                if let parent = s.parent, shards[parent] != nil { continue }
                visited.insert(id)
                progressed = true
                try await read(shard: id, s, arn: arn)
            }
        }
    }

    private func read(shard id: String, _ state: ShardState, arn: String) async throws {
        var s = state
        if s.iterator == nil {
            if let last = s.lastSequence {
                s.iterator = try await iterator(arn: arn, shard: id, type: "AFTER_SEQUENCE_NUMBER", after: last)
            } else if s.startedAt == "TRIM_HORIZON" {
                s.iterator = try await iterator(arn: arn, shard: id, type: "TRIM_HORIZON", after: nil)
            } else {
                throw ReloadNeeded(reason: "the LATEST iterator of shard \(id) expired before any record was read: its position is lost")
            }
            shards[id] = s
        }
        guard let it = s.iterator else {
            // No iterator for a shard: it has nothing more to give.
            end(shard: id)
            return
        }
        let page: JSONValue
        do {
            page = try await streamsCall("GetRecords", .object([("ShardIterator", .string(it)), ("Limit", .int(1000))]), shard: id)
        } catch let e as AWSError where e.code == "ExpiredIteratorException" {
            // Taken again from the last position in the next round (or a reload if there is none).
            s.iterator = nil
            shards[id] = s
            if s.lastSequence == nil && s.startedAt != "TRIM_HORIZON" {
                throw ReloadNeeded(reason: "the LATEST iterator of shard \(id) expired before any record was read (\(e)): its position is lost")
            }
            logger.info("shard iterator expired; taking a new one from the last position", metadata: ["shard": "\(id)"])
            return
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
            shards[id] = s
        } else {
            end(shard: id)
        }
    }

    /// A closed shard read to its end: stop tracking it (its children become readable) and look for children.
    private func end(shard id: String) {
        shards[id] = nil
        finished.insert(id)
        discoveryDue = true
        logger.debug("shard read to its end", metadata: ["shard": "\(id)"])
    }
}
