import AWSCore
import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing
import TestSupport

@Suite(.motoServer()) struct DynamoBroadcastTests {
    let dir = TestFiles.scratch("broadcast")

    func spec(_ broadcast: String, follow: Bool) throws -> PipelineSpec {
        let text = """
            {"name": "bc", "source": {"type": "file", "path": "\(dir)/in.jsonl", "follow": \(follow), "poll_interval": "50ms", "batch": {"max_age": "10ms"}},
             "transforms": [\(broadcast)],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp", "interval": "50ms"}}
            """
        return try PipelineSpec.parse(Array(text.utf8), file: "bc.json", registry: BuiltinPlugins.registry, environment: env)
    }

    let env = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"]

    func runner(_ spec: PipelineSpec, stop: StopSignal = StopSignal()) -> PipelineRunner {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: env, stop: stop)
    }

    func output(_ name: String) -> [Record] {
        TestFiles.lines(dir + "/" + name).map { Record(fields: try! RecordParser().parse(Array($0.utf8))!) }
    }

    func append(_ line: String) throws { try TestFiles.append([line], to: dir + "/in.jsonl") }

    func waitFor(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(20)
        while !condition() {
            try #require(Date() < deadline, "timed out waiting for \(what)")
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    @Test func tableChangesReachLaterEventsThroughTheStream() async throws {
        let moto = try await freshMoto()
        let aws = moto.makeClient()
        let dynamo = try JSONProtocolClient.dynamoDB(aws, endpointURL: moto.endpoint)
        _ = try await dynamo.call("CreateTable", .object([
            ("TableName", "user_demographics"), ("BillingMode", "PAY_PER_REQUEST"),
            ("AttributeDefinitions", [["AttributeName": "user_id", "AttributeType": "S"]]),
            ("KeySchema", [["AttributeName": "user_id", "KeyType": "HASH"]]),
            ("StreamSpecification", ["StreamEnabled": true, "StreamViewType": "NEW_AND_OLD_IMAGES"]),
        ]))
        func put(_ user: String, age: Int) async throws {
            _ = try await dynamo.call("PutItem", .object([("TableName", "user_demographics"), ("Item", .object([
                ("user_id", ["S": .string(user)]), ("age", ["N": .string(String(age))]), ("tenure_months", ["N": "12"]),
            ]))]))
        }
        for i in 0..<30 { try await put("u\(i)", age: 20 + i) }
        TestFiles.write(#"{"user_id": "u1", "n": 1}"# + "\n" + #"{"user_id": "ghost", "n": 2}"# + "\n", to: dir + "/in.jsonl")

        let stop = StopSignal()
        let broadcast = #"{"type": "dynamo_broadcast", "table": "user_demographics", "endpoint_url": "\#(moto.endpoint)", "fields": ["age", "tenure_months"], "on_missing": "dead_letter", "poll_interval": "100ms", "scan_segments": 3}"#
        let run = Task { try await runner(try spec(broadcast, follow: true), stop: stop).run() }
        try await waitFor("the first event") { output("out.jsonl").count == 1 && TestFiles.lines(dir + "/dlq.jsonl").count == 1 }
        #expect(output("out.jsonl")[0]["age"] == .int(21))
        #expect(TestFiles.lines(dir + "/dlq.jsonl")[0].contains(#"unknown user_id \"ghost\" in the reference table"#))

        try await put("u1", age: 99)
        try await put("ghost", age: 50)
        _ = try await dynamo.call("DeleteItem", .object([("TableName", "user_demographics"), ("Key", ["user_id": ["S": "u2"]])]))
        // Until the changes have come through the stream: u2 probes (n ≥ 1000) are enriched until the delete,
        // the last change, arrives; the one shard applies changes in order, so then the others have too.
        func deadLettered() -> [(n: Int64?, reason: String)] {
            output("dlq.jsonl").map { entry in
                let payload = (try? RecordParser().parse(Array((entry["payload"]?.stringValue ?? "").utf8))) ?? nil
                return (payload.map { Record(fields: $0) }?["n"]?.intValue, entry["reason"]?.stringValue ?? "")
            }
        }
        let probing = Date().addingTimeInterval(20)
        var probes: Int64 = 0
        while !deadLettered().contains(where: { ($0.n ?? 0) >= 1000 }) {
            try #require(Date() < probing, "the delete never came through the stream")
            try append(#"{"user_id": "u2", "n": \#(1000 + probes)}"#)
            probes += 1
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        try append(#"{"user_id": "u1", "n": 3}"#)
        try append(#"{"user_id": "ghost", "n": 4}"#)
        try append(#"{"user_id": "u2", "n": 5}"#)
        try await waitFor("the later events") { deadLettered().contains { $0.n == 5 } && output("out.jsonl").contains { $0["n"] == .int(4) } }
        stop.stop()
        _ = try await run.value
        let out = output("out.jsonl")
        #expect(out.first { $0["n"] == .int(3) }?["age"] == .int(99), "the update reached the enrichment")
        #expect(out.first { $0["n"] == .int(4) }?["age"] == .int(50), "the new user is known")
        let removed = try #require(deadLettered().first { $0.n == 5 })
        #expect(removed.reason.contains(#"unknown user_id "u2""#), "the removed user is gone: \(removed.reason)")
        #expect(!out.contains { $0["n"] == .int(5) })
    }

    @Test func missingKeyPoliciesInFileMode() async throws {
        TestFiles.write(#"{"user_id": "a", "age": 33}"# + "\n", to: dir + "/users.jsonl")
        for (policy, expectOut, expectDLQ) in [("missing", 2, 0), ("defaults", 2, 0), ("drop", 1, 0), ("dead_letter", 1, 1)] {
            for f in ["out.jsonl", "dlq.jsonl", "cp"] { try? FileManager.default.removeItem(atPath: dir + "/" + f) }
            TestFiles.write(#"{"user_id": "a"}"# + "\n" + #"{"user_id": "b"}"# + "\n", to: dir + "/in.jsonl")
            let broadcast = #"{"type": "dynamo_broadcast", "mode": "file", "path": "\#(dir)/users.jsonl", "fields": ["age"], "on_missing": "\#(policy)", "defaults": {"age": 40}}"#
            let summary = try await runner(try spec(broadcast, follow: false)).run()
            let out = output("out.jsonl")
            #expect(out.count == expectOut, "\(policy)")
            #expect(summary.deadLettered == expectDLQ, "\(policy)")
            #expect(out.first?["age"] == .int(33))
            if policy == "missing" { #expect(out[1]["age"] == .null) }
            if policy == "defaults" { #expect(out[1]["age"] == .int(40)) }
        }
    }
}
