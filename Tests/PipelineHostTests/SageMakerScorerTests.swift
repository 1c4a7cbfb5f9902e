import AWSCore
import BuiltinPlugins
import Foundation
import Logging
import Synchronization
import PipelineHost
@testable import SageMakerScorer
import Testing
import TestSupport

/// The sagemaker scorer against moto's SageMaker runtime (queued results) and against a failing endpoint.
@Suite(.motoServer()) struct SageMakerScorerTests {
    let dir = TestFiles.scratch("sagemaker")

    func run(_ scorer: String, records: Int, env extra: [String: String] = [:]) async throws -> RunSummary {
        var lines = ""
        for i in 0..<records {
            lines += #"{"transaction_id": "t\#(i)", "user_id": "u\#(i % 7)", "age": 40, "event_created_at_ts": 1718500000, "transaction_value": \#(10 + i), "channel_code": 1}"# + "\n"
        }
        TestFiles.write(lines, to: dir + "/in.jsonl")
        let text = """
            {"name": "sm", "source": {"type": "file", "path": "\(dir)/in.jsonl", "batch": {"max_events": 10}},
             "transforms": [{"type": "feature_scaler", "bundle": "\(TestFiles.path("models/v1"))"}, \(scorer)],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        var env = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"]
        for (k, v) in extra { env[k] = v }
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "sm.json", registry: BuiltinPlugins.registry, environment: env)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: env).run()
    }

    func output() -> [Record] {
        TestFiles.lines(dir + "/out.jsonl").map { Record(fields: try! RecordParser().parse(Array($0.utf8))!) }
    }

    @Test func scoresRowsInCSVRequestsAndRecordsTheVariant() async throws {
        let moto = try await freshMoto()
        // 20 records, 5 rows per request → 4 InvokeEndpoint calls, each answered by one queued result.
        let results = (0..<4).map { r in
            let body = (0..<5).map { String(format: "%.2f", Double(r * 5 + $0) / 100) }.joined(separator: "\\n")
            return #"{"Body": "\#(body)", "ContentType": "text/csv", "InvokedProductionVariant": "blue", "CustomAttributes": ""}"#
        }
        let queued = try await moto.post("/moto-api/static/sagemaker/endpoint-results",
                                         json: #"{"account_id": "123456789012", "region": "us-east-1", "results": [\#(results.joined(separator: ","))]}"#)
        #expect(queued.status == 201 || queued.status == 200)
        let summary = try await run(#"{"type": "sagemaker", "endpoint_name": "fraud", "endpoint_url": "\#(moto.endpoint)", "rows_per_request": 5, "max_in_flight": 1, "threshold": 0.15}"#, records: 20)
        #expect(summary.deadLettered == 0)
        let out = output()
        #expect(out.count == 20)
        let scores = out.map { $0["fraud_score"]!.doubleValue! }
        #expect(Set(scores) == Set((0..<20).map { Double($0) / 100 }))
        #expect(out.allSatisfy { $0["variant"] == .string("blue") && $0["model_version"] == .string("sagemaker:fraud") })
        #expect(out.filter { $0["is_alert"] == .bool(true) }.count == 5)
        #expect(out.allSatisfy { $0["features"] == nil })
    }

    @Test func failingEndpointFallsBackOrDeadLetters() async throws {
        let failing = try FakeHTTPServer { _ in .json(500, #"{"message": "model container crashed"}"#) }
        defer { failing.stop() }
        let base = #""type": "sagemaker", "endpoint_name": "fraud", "endpoint_url": "\#(failing.url)", "retry": {"max_attempts": 2, "initial_backoff": "1ms"}"#
        let withFallback = try await run(#"{\#(base), "fallback": {"type": "local_model", "bundle": "\#(TestFiles.path("models/v1"))"}}"#, records: 12)
        #expect(withFallback.deadLettered == 0)
        let out = output()
        #expect(out.count == 12)
        #expect(out.allSatisfy { $0["model_version"] == .string("v1") && ($0["scorer_fallback_reason"]?.stringValue?.contains("failed") ?? false) })
        #expect(failing.requests.count >= 2, "retried before falling back")

        try? FileManager.default.removeItem(atPath: dir + "/out.jsonl")
        try? FileManager.default.removeItem(atPath: dir + "/cp")
        let withoutFallback = try await run("{\(base)}", records: 12)
        #expect(withoutFallback.deadLettered == 12)
        let dlq = TestFiles.lines(dir + "/dlq.jsonl")
        #expect(dlq.count == 12)
        #expect(dlq.allSatisfy { $0.contains("sagemaker endpoint fraud failed") && !$0.contains("secret") })
    }

    /// An endpoint that times out costs the circuit_breaker.failures requests, not one timeout per request: the
    /// circuit opens and the remaining records go straight to the fallback, with the reason.
    @Test func aTimingOutEndpointOpensTheCircuit() async throws {
        let stalled = try FakeHTTPServer { _ in .delay(.seconds(5), then: { .json(200, "0.5") }) }
        defer { stalled.stop() }
        let scorer = #"{"type": "sagemaker", "endpoint_name": "fraud", "endpoint_url": "\#(stalled.url)", "timeout": "200ms", "rows_per_request": 5, "max_in_flight": 1, "retry": {"max_attempts": 1}, "circuit_breaker": {"failures": 2, "open_for": "1h"}, "fallback": {"type": "local_model", "bundle": "\#(TestFiles.path("models/v1"))"}}"#
        let summary = try await run(scorer, records: 60)
        #expect(summary.deadLettered == 0)
        let out = output()
        #expect(out.count == 60)
        #expect(out.allSatisfy { $0["model_version"] == .string("v1") })
        // The scorer keeps two batches in flight: when the second batch's first request starts a little after the
        // first batch's, the first batch's next request can leave after one failure and before the second, so the
        // breaker lets through its threshold plus at most one request per other batch in flight (2 + 1), not the
        // 12 there would be without it. Every request that went out covers 5 records that fail by timeout; the
        // rest fail because the circuit is open.
        let requests = stalled.requests.count
        #expect((2...3).contains(requests), "12 requests without the breaker")
        let reasons = out.compactMap { $0["scorer_fallback_reason"]?.stringValue }
        #expect(reasons.count == 60)
        #expect(reasons.filter { $0.contains("the circuit is open after 2 failed requests in a row") }.count == 60 - 5 * requests)
    }

    /// The breaker's states with a test clock: closed → open after the threshold → one probe after open_for →
    /// closed on its success, open again on its failure; 0 turns it off.
    @Test func circuitBreakerStates() {
        let clock = Mutex(0.0)
        let changes = Mutex<[Bool]>([])
        let b = CircuitBreaker(failureThreshold: 3, openFor: 10, now: { clock.withLock { $0 } }, onChange: { v in changes.withLock { $0.append(v) } })
        #expect(b.acquire() == .call)
        b.recordFailure(); b.recordFailure()
        b.recordSuccess()  // a success resets the count
        b.recordFailure(); b.recordFailure()
        #expect(b.current == .closed(failures: 2))
        b.recordFailure()
        #expect(b.current == .open(until: 10))
        #expect(b.acquire() == .refused(retryIn: 10))
        clock.withLock { $0 = 10 }
        #expect(b.acquire() == .probe)
        #expect(b.acquire() == .refused(retryIn: 0), "one probe at a time")
        b.recordFailure()
        #expect(b.current == .open(until: 20))
        clock.withLock { $0 = 21 }
        #expect(b.acquire() == .probe)
        b.recordSuccess()
        #expect(b.current == .closed(failures: 0))
        #expect(b.acquire() == .call)
        #expect(changes.withLock { $0 } == [true, false])
        let off = CircuitBreaker(failureThreshold: 0, openFor: 10)
        for _ in 0..<10 { off.recordFailure() }
        #expect(off.acquire() == .call)
    }

    @Test func replyParsing() throws {
        #expect(try SageMakerScorer.parseReply(Array("0.1,0.2\n0.3".utf8), rows: 3).scores == [0.1, 0.2, 0.3])
        let json = try SageMakerScorer.parseReply(Array(#"[{"fraud_score": 0.5, "model_version": "v2"}, 0.25]"#.utf8), rows: 2)
        #expect(json.scores == [0.5, 0.25] && json.versions == ["v2", nil])
        #expect(throws: (any Error).self) { try SageMakerScorer.parseReply(Array("0.1".utf8), rows: 2) }
        #expect(throws: (any Error).self) { try SageMakerScorer.parseReply(Array("nan?".utf8), rows: 1) }
    }
}
