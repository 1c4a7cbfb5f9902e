import AdminHTTP
import AWSCore
import BuiltinPlugins
@testable import DynamoBroadcast
import Foundation
import Logging
@testable import PipelineHost
import Prometheus
import Synchronization
import Testing
import TestSupport

/// The `dynamo_broadcast` follower when the stream loses its positions (DynamoDB's real error answers, injected by a
/// proxy in front of moto for the one call that would get them), and the readiness it reports when it cannot sync.
@Suite(.motoServer(), .serialized) struct DynamoBroadcastRecoveryTests {
    let env = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"]

    @Test func aTrimmedStreamPositionReloadsTheTableAndFollowsOn() async throws {
        let moto = try await freshMoto()
        let dynamo = try await makeTable(moto)
        try await put(dynamo, "u1", age: 20)
        try await put(dynamo, "u2", age: 30)
        let script = StreamScript()
        let proxy = try script.proxy(moto)
        defer { proxy.stop() }
        let log = LogCapture()
        let bc = try broadcast(endpoint: proxy.url, logger: log.logger())
        try await bc.start(StageContext(id: "users", logger: log.logger(), stats: RuntimeStats()))
        #expect(age(bc, "u1") == 20)
        try await put(dynamo, "u1", age: 21)
        try await waitFor("the first stream update") { age(bc, "u1") == 21 }

        // The iterator expires; the position it would be taken again from (AFTER_SEQUENCE_NUMBER) has been trimmed,
        // for good, as after a day without reading.
        let scansBefore = script.calls("Scan")
        script.update { $0.expireGetRecords = 1; $0.trimAfterSequence = true }
        try await waitFor("the TrimmedDataAccessException") { script.served("TrimmedDataAccessException") >= 1 }
        try await put(dynamo, "u1", age: 22)
        try await waitFor("the update made after the error") { age(bc, "u1") == 22 }
        #expect(script.calls("Scan") > scansBefore, "the table was scanned again")
        try await put(dynamo, "u2", age: 33)
        try await waitFor("a later update through the stream") { age(bc, "u2") == 33 }

        let warnings = log.all.filter { $0.contains("stream positions lost") }
        #expect(warnings.count == 1, "logged once: \(warnings)")
        #expect(warnings.first?.contains("TrimmedDataAccessException") == true && warnings.first?.contains("GetShardIterator") == true)
        #expect(log.all.contains { $0.contains("reference table reloaded") })
        await bc.stop()
    }

    @Test func aStreamThatNoLongerExistsReloadsTheTableAndFollowsTheNewStream() async throws {
        let moto = try await freshMoto()
        let dynamo = try await makeTable(moto)
        try await put(dynamo, "u1", age: 20)
        try await put(dynamo, "u2", age: 30)
        let script = StreamScript()
        let proxy = try script.proxy(moto)
        defer { proxy.stop() }
        let log = LogCapture()
        let bc = try broadcast(endpoint: proxy.url, logger: log.logger())
        try await bc.start(StageContext(id: "users", logger: log.logger(), stats: RuntimeStats()))
        try await put(dynamo, "u1", age: 21)
        try await waitFor("the first stream update") { age(bc, "u1") == 21 }

        // The table is deleted and created again: its old stream is gone (every call naming it answers
        // ResourceNotFoundException, as DynamoDB Streams does), the new table has a new stream.
        let oldLabel = try #require(try await dynamo.call("DescribeTable", ["TableName": "user_demographics"])["Table"]?["LatestStreamLabel"]?.stringValue)
        script.update { $0.goneStreamLabel = oldLabel }
        _ = try await dynamo.call("DeleteTable", ["TableName": "user_demographics"])
        _ = try await makeTable(moto)
        try await put(dynamo, "u1", age: 40)
        try await put(dynamo, "u3", age: 50)
        try await waitFor("the ResourceNotFoundException") { script.served("ResourceNotFoundException") >= 1 }
        try await put(dynamo, "u1", age: 41)
        try await waitFor("the update made after the error") { age(bc, "u1") == 41 }
        #expect(age(bc, "u3") == 50)
        #expect(bc.table.row("u2") == nil, "u2 went with the old table")
        try await put(dynamo, "u3", age: 51)
        try await waitFor("a later update through the new stream") { age(bc, "u3") == 51 }
        let warnings = log.all.filter { $0.contains("stream positions lost") }
        #expect(warnings.count == 1, "logged once: \(warnings)")
        #expect(warnings.first?.contains("ResourceNotFoundException") == true)
        await bc.stop()
    }

    @Test func readinessFailsWhileTheStreamCannotBeReadForLongerThanMaxStaleness() async throws {
        let moto = try await freshMoto()
        let dynamo = try await makeTable(moto)
        try await put(dynamo, "u1", age: 20)
        let script = StreamScript()
        let proxy = try script.proxy(moto)
        defer { proxy.stop() }
        let stats = RuntimeStats()
        stats.setReady(true)
        let bc = try broadcast(endpoint: proxy.url, extra: #", "max_staleness": "1s""#, logger: LogCapture().logger())
        try await bc.start(StageContext(id: "users", logger: LogCapture().logger(), stats: stats))
        try await Task.sleep(for: .milliseconds(1500))
        try await waitFor("readiness while following normally") { stats.readiness.ready }

        for phase in ["failing", "stalled"] {
            script.update { if phase == "failing" { $0.failStreams = true } else { $0.stallStreams = true } }
            try await waitFor("readiness to fail (\(phase))") { !stats.readiness.ready }
            if phase == "failing" {
                // Staleness can pass max_staleness before the follower's next read has met the injected error
                // (a busy machine): the reason must name the error once a read has failed.
                try await waitFor("the reason to name the failed read") {
                    !stats.readiness.ready && stats.readiness.reasons.joined().contains("injected")
                }
            }
            let reasons = stats.readiness.reasons.joined(separator: "\n")
            #expect(reasons.contains("users: reference table \"user_demographics\" last synced"), "\(reasons)")
            #expect(reasons.contains("max_staleness 1 s"), "\(reasons)")
            if phase == "failing" { #expect(reasons.contains("injected"), "the last error is named: \(reasons)") }
            #expect(bc.follower!.syncAge > 1)
            script.update { $0.failStreams = false; $0.stallStreams = false }
            try await put(dynamo, "u1", age: phase == "failing" ? 21 : 22)
            try await waitFor("readiness to come back (\(phase))") { stats.readiness.ready }
            try await waitFor("the update after recovery (\(phase))") { age(bc, "u1") == (phase == "failing" ? 21 : 22) }
        }
        await bc.stop()
        #expect(stats.unreadyComponents.isEmpty, "a stopped transform holds nothing back")
    }

    /// A shard rollover (DynamoDB Streams closes shards every few hours and opens children): the parent's last
    /// change is applied before the child's newer one, even when the child is listed first and sorts first; the
    /// ended parent stops being read, and is forgotten once the stream stops listing it. Driven step by step.
    @Test func aChildShardIsReadAfterItsParentAndEndedShardsAreDropped() async throws {
        let streams = RolloverStreams()
        let server = try FakeHTTPServer { streams.handle($0) }
        defer { server.stop() }
        let log = LogCapture()
        let bc = try broadcast(endpoint: server.url, logger: log.logger())
        let follower = try #require(bc.follower)
        let (parent, child) = (RolloverStreams.parent, RolloverStreams.child)
        try await follower.load()
        #expect(age(bc, "u1") == 40)
        #expect(follower.trackedShards == [parent])
        try await follower.pollOnce()
        #expect(age(bc, "u1") == 40)

        // The parent closes with changes still to be read (u1 41, u2 50); the child, listed already, holds a newer
        // one (u1 42).
        streams.phase.store(1, ordering: .sequentiallyConsistent)
        try await follower.discoverShards()
        #expect(follower.trackedShards == [child, parent])
        try await follower.pollOnce()
        #expect(age(bc, "u1") == 42, "the child's change was applied before its parent's")
        #expect(age(bc, "u2") == 50, "the parent's last changes were not read")
        #expect(follower.trackedShards == [child], "the ended parent is no longer read")
        #expect(follower.finishedShards == [parent])
        try await follower.pollOnce()
        #expect(age(bc, "u1") == 42)

        // A day later the stream no longer lists the parent: it is forgotten.
        streams.phase.store(2, ordering: .sequentiallyConsistent)
        try await follower.discoverShards()
        #expect(follower.finishedShards.isEmpty)
        #expect(follower.trackedShards == [child])
        #expect(streams.parentReadsAfterItsEnd.load(ordering: .sequentiallyConsistent) == 0)
    }

    // MARK: Helpers

    func makeTable(_ moto: MotoServer) async throws -> JSONProtocolClient {
        let dynamo = try JSONProtocolClient.dynamoDB(moto.makeClient(), endpointURL: moto.endpoint)
        _ = try await dynamo.call("CreateTable", .object([
            ("TableName", "user_demographics"), ("BillingMode", "PAY_PER_REQUEST"),
            ("AttributeDefinitions", [["AttributeName": "user_id", "AttributeType": "S"]]),
            ("KeySchema", [["AttributeName": "user_id", "KeyType": "HASH"]]),
            ("StreamSpecification", ["StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"]),
        ]))
        return dynamo
    }

    func put(_ dynamo: JSONProtocolClient, _ user: String, age: Int) async throws {
        _ = try await dynamo.call("PutItem", .object([("TableName", "user_demographics"), ("Item", .object([
            ("user_id", ["S": .string(user)]), ("age", ["N": .string(String(age))]),
        ]))]))
    }

    func broadcast(endpoint: String, extra: String = "", logger: Logger) throws -> DynamoBroadcast {
        let dir = TestFiles.scratch("bcr")
        let text = """
            {"name": "bc", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [{"type": "dynamo_broadcast", "id": "users", "table": "user_demographics", "endpoint_url": "\(endpoint)",
                             "fields": ["age"], "poll_interval": "50ms", "scan_segments": 2\(extra)}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}], "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "bc.json", registry: BuiltinPlugins.registry, environment: env)
        let context = BuildContext(pipelineName: "bc", logger: logger, environment: env, registry: BuiltinPlugins.registry)
        return try #require(try BuiltinPlugins.registry.makeTransform(spec.transforms[0], context) as? DynamoBroadcast)
    }

    func age(_ bc: DynamoBroadcast, _ user: String) -> Int64? {
        bc.table.row(user)?.first?.intValue
    }

    func waitFor(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(60)  // a hang guard: suites start together on two cores
        while !condition() {
            try #require(Date() < deadline, "timed out waiting for \(what)")
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}

/// What the proxy in front of moto does to DynamoDB Streams calls, changed by the test as it goes.
final class StreamScript: Sendable {
    struct State {
        /// GetRecords calls still to answer ExpiredIteratorException.
        var expireGetRecords = 0
        /// GetShardIterator AFTER_SEQUENCE_NUMBER answers TrimmedDataAccessException.
        var trimAfterSequence = false
        /// Streams calls naming this stream (its ARN, or an iterator of it) answer ResourceNotFoundException.
        var goneStreamLabel: String?
        /// Streams calls answer HTTP 500.
        var failStreams = false
        /// Streams calls are answered after 3 s.
        var stallStreams = false
        var calls: [String: Int] = [:]
        var served: [String: Int] = [:]
    }

    let state = Mutex(State())

    func update(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }
    func calls(_ operation: String) -> Int { state.withLock { $0.calls[operation] ?? 0 } }
    func served(_ code: String) -> Int { state.withLock { $0.served[code] ?? 0 } }

    func proxy(_ moto: MotoServer) throws -> FaultProxy {
        let port = moto.port
        return try FaultProxy(upstreamPort: port) { [self] request in intercept(request, upstreamPort: port) }
    }

    /// DynamoDB's JSON error shape, as the real service sends it.
    static func error(_ code: String, _ message: String) -> FakeHTTPServer.Action {
        .respond(status: 400, headers: [("Content-Type", "application/x-amz-json-1.0")],
                 body: Array(#"{"__type":"com.amazonaws.dynamodb.v20120810#\#(code)","message":"\#(message)"}"#.utf8))
    }

    private func intercept(_ request: FakeHTTPServer.Request, upstreamPort: Int) -> FakeHTTPServer.Action? {
        let target = request.header("x-amz-target") ?? ""
        let operation = String(target.split(separator: ".").last ?? "")
        let streams = target.hasPrefix("DynamoDBStreams_")
        let body = String(decoding: request.body, as: UTF8.self)
        let (action, stall): (FakeHTTPServer.Action?, Bool) = state.withLock { s in
            s.calls[operation, default: 0] += 1
            func serve(_ code: String, _ message: String) -> FakeHTTPServer.Action {
                s.served[code, default: 0] += 1
                return Self.error(code, message)
            }
            guard streams else { return (nil, false) }
            if let label = s.goneStreamLabel, body.contains(label) {
                return (serve("ResourceNotFoundException", "Requested resource not found: Stream: \(label) not found"), false)
            }
            if operation == "GetRecords" && s.expireGetRecords > 0 {
                s.expireGetRecords -= 1
                return (serve("ExpiredIteratorException", "Iterator expired. The iterator was created at time X while right now it is Y"), false)
            }
            if operation == "GetShardIterator" && s.trimAfterSequence && body.contains("AFTER_SEQUENCE_NUMBER") {
                return (serve("TrimmedDataAccessException", "The operation attempted to read past the oldest stream record in a shard."), false)
            }
            if s.failStreams {
                return (.respond(status: 500, headers: [("Content-Type", "application/x-amz-json-1.0")],
                                 body: Array(#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected failure"}"#.utf8)), false)
            }
            return (nil, s.stallStreams)
        }
        if stall { return .delay(.seconds(3), then: { FaultProxy.relay(request, to: upstreamPort) }) }
        return action
    }
}


/// DynamoDB and DynamoDB Streams across a shard rollover, which moto cannot do (its stream keeps one shard):
/// the table holds u1 aged 40; phase 0: one open shard; 1: it has closed after its last changes (u1 41, a new u2
/// 50) and its child, which sorts before it, holds a newer one (u1 42); 2: the stream no longer lists the parent.
final class RolloverStreams: Sendable {
    static let parent = "shardId-00000002-parent"
    static let child = "shardId-00000001-child"
    let phase = Atomic<Int>(0)
    /// GetRecords calls on the parent after it answered without a NextShardIterator.
    let parentReadsAfterItsEnd = Atomic<Int>(0)
    private let parentEnded = Atomic<Bool>(false)

    func handle(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
        let operation = (request.header("x-amz-target") ?? "").split(separator: ".").last.map(String.init) ?? ""
        let body = String(decoding: request.body, as: UTF8.self)
        let phase = self.phase.load(ordering: .sequentiallyConsistent)
        func json(_ text: String) -> FakeHTTPServer.Action {
            .respond(status: 200, headers: [("Content-Type", "application/x-amz-json-1.0")], body: Array(text.utf8))
        }
        func change(_ sequence: Int, user: String = "u1", age: Int) -> String {
            #"{"eventName":"MODIFY","dynamodb":{"SequenceNumber":"\#(sequence)","Keys":{"user_id":{"S":"\#(user)"}},"#
                + #""NewImage":{"user_id":{"S":"\#(user)"},"age":{"N":"\#(age)"}}}}"#
        }
        switch operation {
        case "DescribeTable":
            return json(#"{"Table":{"TableName":"user_demographics","LatestStreamArn":"arn:aws:dynamodb:us-east-1:123456789012:table/user_demographics/stream/2026-12-02T00:00:00.000"}}"#)
        case "Scan":
            return json(#"{"Items":[{"user_id":{"S":"u1"},"age":{"N":"40"}}],"Count":1}"#)
        case "DescribeStream":
            var shards: [String] = []
            if phase >= 1 {
                shards.append(#"{"ShardId":"\#(Self.child)","ParentShardId":"\#(Self.parent)","SequenceNumberRange":{"StartingSequenceNumber":"200"}}"#)
            }
            if phase < 2 {
                let end = phase == 0 ? "" : #","EndingSequenceNumber":"100""#
                shards.append(#"{"ShardId":"\#(Self.parent)","SequenceNumberRange":{"StartingSequenceNumber":"1"\#(end)}}"#)
            }
            return json(#"{"StreamDescription":{"StreamStatus":"ENABLED","Shards":[\#(shards.joined(separator: ","))]}}"#)
        case "GetShardIterator":
            return json(#"{"ShardIterator":"it-\#(body.contains(Self.child) ? "child" : "parent")"}"#)
        case "GetRecords" where body.contains("it-parent"):
            if phase == 0 { return json(#"{"Records":[],"NextShardIterator":"it-parent"}"#) }
            if parentEnded.exchange(true, ordering: .sequentiallyConsistent) { parentReadsAfterItsEnd.add(1, ordering: .sequentiallyConsistent) }
            // Its last changes (u1 to 41, then a new user u2); closed: no NextShardIterator.
            return json(#"{"Records":[\#(change(99, age: 41)),\#(change(100, user: "u2", age: 50))]}"#)
        case "GetRecords" where body.contains("it-child-read"):
            return json(#"{"Records":[],"NextShardIterator":"it-child-read"}"#)
        case "GetRecords":
            return json(#"{"Records":[\#(change(200, age: 42))],"NextShardIterator":"it-child-read"}"#)
        default:
            return .respond(status: 400, headers: [("Content-Type", "application/x-amz-json-1.0")],
                            body: Array(#"{"__type":"com.amazonaws.dynamodb.v20120810#UnknownOperationException","message":"\#(operation)"}"#.utf8))
        }
    }
}

final class PortBox: Sendable { let value = Mutex(0) }

/// `/ready` over HTTP: 503 with the reasons while a component holds readiness back.
@Suite struct AdminReadinessTests {
    @Test func readyAnswers503WithTheReasonsOfUnreadyComponents() async throws {
        let stats = RuntimeStats()
        let server = AdminServer(host: "127.0.0.1", port: 0, stats: stats, registry: PrometheusCollectorRegistry(), logger: LogCapture().logger())
        let port = PortBox()
        let admin = Task { [server, port] in
            try await server.run { p in port.value.withLock { $0 = p } }
        }
        defer { admin.cancel() }
        let deadline = Date().addingTimeInterval(60)  // a hang guard: suites start together on two cores
        while port.value.withLock({ $0 }) == 0 {
            try #require(Date() < deadline)
            try await Task.sleep(for: .milliseconds(10))
        }
        let http = HTTPClient()
        defer { http.shutdown() }
        func ready() async throws -> (Int, String) {
            let r = try await http.execute(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port.value.withLock { $0 })/ready"))
            return (r.status, String(decoding: r.body, as: UTF8.self))
        }
        #expect(try await ready().0 == 503, "not started")
        stats.setReady(true)
        #expect(try await ready().0 == 200)
        stats.setUnready(component: "users", reason: "reference table \"user_demographics\" last synced 7.0 s ago")
        stats.setUnready(component: "other", reason: "second reason")
        let (status, body) = try await ready()
        #expect(status == 503)
        #expect(body.contains(#""ready":false"#))
        #expect(body.contains(#"users: reference table \"user_demographics\" last synced 7.0 s ago"#), "\(body)")
        #expect(body.contains("other: second reason"))
        stats.clearUnready(component: "users")
        stats.clearUnready(component: "other")
        let (again, text) = try await ready()
        #expect(again == 200 && text.contains(#""ready":true"#))

        // /health is terse: a failure's text (endpoints, ARNs, AWS errors) is for the log, not for the port.
        stats.setFailure("sink alerts: cannot publish to arn:aws:sns:eu-west-1:123456789012:alerts: AccessDenied")
        let health = try await http.execute(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port.value.withLock { $0 })/health"))
        #expect(health.status == 503)
        #expect(String(decoding: health.body, as: UTF8.self) == #"{"status":"failed"}"# + "\n")
        admin.cancel()
        _ = await admin.result
    }
}
