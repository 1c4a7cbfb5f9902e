import Foundation
import TestSupport
import PipelineHost
import Synchronization

/// A deterministic in-test Kinesis with the three calls a polling consumer makes (ListShards, GetShardIterator,
/// GetRecords), served over real HTTP by `FakeHTTPServer`. Unlike moto it closes shards properly: a closed
/// shard's last GetRecords has a null NextShardIterator, so reshard handling can be tested.
final class FakeKinesis: @unchecked Sendable {  // `server` is set once, in init
    struct Shard: Sendable {
        var id: String
        var parent: String?
        var adjacentParent: String?
        var closed: Bool
        var records: [(sequence: String, key: String, data: [UInt8])]
    }

    let shards: [Shard]
    /// GetRecords calls (1-based, over all shards) answered with ExpiredIteratorException instead.
    let expireCalls: Set<Int>
    private let getRecordsCalls = Mutex(0)
    /// What happened, in order: "list", "iterator <shard> <type>", "records <shard> <count>", "end <shard>".
    private let log = Mutex<[String]>([])
    private(set) var server: FakeHTTPServer!

    var events: [String] { log.withLock { $0 } }
    var url: String { server.url }

    init(shards: [Shard], expireCalls: Set<Int> = []) throws {
        self.shards = shards
        self.expireCalls = expireCalls
        server = try FakeHTTPServer { [unowned self] request in self.handle(request) }
    }

    func stop() { server.stop() }

    private func record(_ event: String) { log.withLock { $0.append(event) } }

    private func handle(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
        let op = request.header("x-amz-target")?.split(separator: ".").last.map(String.init) ?? ""
        guard let input = try? DocumentParser.parseValue(request.body) else { return .json(400, #"{"__type":"SerializationException"}"#) }
        switch op {
        case "ListShards":
            // Two shards a page, so pagination is exercised; a NextToken call must not name the stream.
            if input["NextToken"] != nil && input["StreamName"] != nil {
                return .json(400, #"{"__type":"InvalidArgumentException","message":"NextToken and StreamName cannot be provided together."}"#)
            }
            let page = Int(input["NextToken"]?.stringValue?.dropFirst(5) ?? "0") ?? 0
            record("list")
            let slice = shards[min(shards.count, page * 2)..<min(shards.count, page * 2 + 2)]
            var out: [(String, JSONValue)] = [("Shards", .array(slice.map { s in
                var fields: [(String, JSONValue)] = [("ShardId", .string(s.id))]
                if let p = s.parent { fields.append(("ParentShardId", .string(p))) }
                if let p = s.adjacentParent { fields.append(("AdjacentParentShardId", .string(p))) }
                var range: [(String, JSONValue)] = [("StartingSequenceNumber", .string(s.records.first?.sequence ?? "0"))]
                if s.closed { range.append(("EndingSequenceNumber", .string(s.records.last?.sequence ?? "0"))) }
                fields.append(("SequenceNumberRange", .object(range)))
                return .object(fields)
            }))]
            if page * 2 + 2 < shards.count { out.append(("NextToken", .string("page-\(page + 1)"))) }
            return .json(200, JSONValue.object(out).description)
        case "GetShardIterator":
            guard let id = input["ShardId"]?.stringValue, let shard = shards.first(where: { $0.id == id }),
                let type = input["ShardIteratorType"]?.stringValue
            else { return .json(400, #"{"__type":"ResourceNotFoundException"}"#) }
            var position = 0
            switch type {
            case "TRIM_HORIZON": position = 0
            case "LATEST": position = shard.records.count
            case "AFTER_SEQUENCE_NUMBER":
                let after = input["StartingSequenceNumber"]?.stringValue ?? ""
                position = (shard.records.firstIndex { $0.sequence == after } ?? -1) + 1
            default: return .json(400, #"{"__type":"InvalidArgumentException"}"#)
            }
            record("iterator \(id) \(type)")
            return .json(200, #"{"ShardIterator":"\#(id)|\#(position)"}"#)
        case "GetRecords":
            let call = getRecordsCalls.withLock { n in n += 1; return n }
            if expireCalls.contains(call) {
                record("expired")
                return .json(400, #"{"__type":"ExpiredIteratorException","message":"Iterator expired"}"#)
            }
            let parts = (input["ShardIterator"]?.stringValue ?? "").split(separator: "|")
            guard parts.count == 2, let shard = shards.first(where: { $0.id == parts[0] }), let position = Int(parts[1]) else {
                return .json(400, #"{"__type":"InvalidArgumentException"}"#)
            }
            let limit = Int(input["Limit"]?.intValue ?? 10000)
            let end = min(shard.records.count, position + limit)
            let slice = shard.records[position..<end]
            record("records \(shard.id) \(slice.count)")
            var out: [(String, JSONValue)] = [("Records", .array(slice.map { r in
                .object([("SequenceNumber", .string(r.sequence)), ("PartitionKey", .string(r.key)),
                         ("Data", .string(Data(r.data).base64EncodedString())), ("ApproximateArrivalTimestamp", .double(1.7e9))])
            }))]
            let rest = shard.records.count - end
            if shard.closed && rest == 0 {
                record("end \(shard.id)")
                out.append(("NextShardIterator", .null))
            } else {
                out.append(("NextShardIterator", .string("\(shard.id)|\(end)")))
            }
            out.append(("MillisBehindLatest", .int(rest > 0 ? 5000 : 0)))
            return .json(200, JSONValue.object(out).description)
        default:
            return .json(400, #"{"__type":"UnknownOperationException"}"#)
        }
    }
}
