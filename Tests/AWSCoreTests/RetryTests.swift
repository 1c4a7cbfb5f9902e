import Foundation
import Synchronization
import Testing

@testable import AWSCore
import TestSupport

/// Retries against a fault-injecting server on 127.0.0.1.
@Suite struct RetryTests {
    static let fast = RetryPolicy(maxAttempts: 4, baseBackoff: .milliseconds(1), maxBackoff: .milliseconds(5))

    /// A server that plays `faults` in order, then answers 200 `{}` forever.
    func withFaults(
        _ faults: [FakeHTTPServer.Action], budget: RetryBudget = RetryBudget(), policy: RetryPolicy = fast,
        _ body: (JSONProtocolClient, FakeHTTPServer) async throws -> Void
    ) async throws {
        let remaining = Mutex(faults)
        let server = try FakeHTTPServer { _ in
            remaining.withLock { $0.isEmpty ? nil : $0.removeFirst() } ?? .json(200, #"{"ok":true}"#)
        }
        defer { server.stop() }
        let http = HTTPClient()
        defer { http.shutdown() }
        let client = AWSClient(
            region: "us-east-1", credentialProvider: StaticCredentialProvider(accessKeyID: "AKID", secretAccessKey: "s3cr3t"),
            httpClient: http, retryPolicy: policy, retryBudget: budget, environment: [:])
        try await body(try JSONProtocolClient.kinesis(client, endpointURL: server.url), server)
    }

    @Test func retries5xxThenSucceeds() async throws {
        try await withFaults([.json(500, #"{"__type":"InternalFailure"}"#), .json(503, "")]) { kinesis, server in
            let reply = try await kinesis.call("ListStreams")
            #expect(reply["ok"]?.boolValue == true)
            #expect(server.requests.count == 3)
        }
    }

    @Test func retriesThrottlingThenSucceeds() async throws {
        let throttled = FakeHTTPServer.Action.json(
            400, #"{"__type":"com.amazonaws.kinesis#ProvisionedThroughputExceededException","message":"slow down"}"#)
        try await withFaults([.json(429, "{}"), throttled]) { kinesis, server in
            _ = try await kinesis.call("GetRecords", ["ShardIterator": "x"])
            #expect(server.requests.count == 3)
            // Each attempt is signed afresh.
            #expect(server.requests.allSatisfy { $0.header("authorization")?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKID/") == true })
        }
    }

    @Test func retriesConnectionResets() async throws {
        try await withFaults([.reset, .reset]) { kinesis, server in
            _ = try await kinesis.call("ListStreams")
            #expect(server.requests.count == 3)
        }
    }

    @Test func validationErrorIsNotRetried() async throws {
        let invalid = FakeHTTPServer.Action.json(
            400, #"{"__type":"ValidationException","message":"1 validation error"}"#, headers: [("x-amzn-RequestId", "req-1")])
        try await withFaults([invalid]) { kinesis, server in
            let error = await #expect(throws: AWSError.self) { _ = try await kinesis.call("ListStreams") }
            #expect(error?.code == "ValidationException")
            #expect(error?.message == "1 validation error")
            #expect(error?.requestID == "req-1")
            #expect(server.requests.count == 1)
        }
    }

    @Test func givesUpAfterMaxAttempts() async throws {
        try await withFaults(Array(repeating: .json(500, "{}"), count: 10)) { kinesis, server in
            await #expect(throws: AWSError.self) { _ = try await kinesis.call("ListStreams") }
            #expect(server.requests.count == 4)
        }
    }

    @Test func budgetStopsRetriesWhenExhausted() async throws {
        // 10 tokens, 5 per retry: the first call gets two retries, later calls none.
        let budget = RetryBudget(.init(capacity: 10, retryCost: 5, timeoutCost: 10, successRefill: 1))
        try await withFaults(Array(repeating: .json(500, "{}"), count: 10), budget: budget) { kinesis, server in
            await #expect(throws: AWSError.self) { _ = try await kinesis.call("ListStreams") }
            #expect(server.requests.count == 3)
            #expect(budget.available == 0)
            await #expect(throws: AWSError.self) { _ = try await kinesis.call("ListStreams") }
            #expect(server.requests.count == 4)
        }
    }

    @Test func successRefillsTheBudget() {
        let budget = RetryBudget(.init(capacity: 20, retryCost: 5, timeoutCost: 10, successRefill: 1))
        #expect(budget.acquire(for: .transient) == 5)
        #expect(budget.acquire(for: .timeout) == 10)
        #expect(budget.available == 5)
        #expect(budget.acquire(for: .timeout) == nil)
        budget.recordSuccess(refund: nil)
        #expect(budget.available == 6)
        budget.recordSuccess(refund: 10)
        #expect(budget.available == 16)
    }

    @Test func classification() {
        #expect(RetryPolicy.classify(AWSError(code: "SlowDown", message: "", statusCode: 503)) == .throttling)
        #expect(RetryPolicy.classify(AWSError(code: "RequestLimitExceeded", message: "", statusCode: 400)) == .throttling)
        #expect(RetryPolicy.classify(AWSError(code: "TooManyRequestsException", message: "", statusCode: 400)) == .throttling)
        #expect(RetryPolicy.classify(AWSError(code: "InternalError", message: "", statusCode: 500)) == .transient)
        #expect(RetryPolicy.classify(AWSError(code: "AccessDeniedException", message: "", statusCode: 400)) == .notRetryable)
        #expect(RetryPolicy.classify(AWSError(code: "NotFound", message: "", statusCode: 404)) == .notRetryable)
        #expect(RetryPolicy.classify(HTTPClientError(.timeout, "t")) == .timeout)
        #expect(RetryPolicy.classify(HTTPClientError(.connectionReset, "r")) == .transient)
        #expect(RetryPolicy.classify(HTTPClientError(.tls, "x")) == .notRetryable)
    }

    @Test func fullJitterBackoffIsBounded() {
        let policy = RetryPolicy(maxAttempts: 5, baseBackoff: .milliseconds(100), maxBackoff: .seconds(1))
        #expect(policy.backoff(retry: 0, random: 1) == .milliseconds(100))
        #expect(policy.backoff(retry: 3, random: 1) == .milliseconds(800))
        #expect(policy.backoff(retry: 10, random: 1) == .seconds(1))
        #expect(policy.backoff(retry: 10, random: 0) == .zero)
        for _ in 0..<100 { #expect(policy.backoff(retry: 2) <= .milliseconds(400)) }
    }
}
