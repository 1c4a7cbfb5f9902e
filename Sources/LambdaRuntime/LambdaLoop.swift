import AWSCore
import Foundation
import Logging
import PipelineHost
import Synchronization

/// The Runtime API loop: next invocation → handler → response or error, one invocation at a time.
public struct LambdaLoop: Sendable {
    public let client: LambdaRuntimeClient
    public let logger: Logger
    /// The handler is abandoned this long before the invocation's deadline: the error is posted while Lambda still
    /// listens, then the loop ends (the process exits and Lambda starts a fresh one, so no stuck run can overlap the
    /// next invocation).
    public var deadlineMargin: Double

    public init(client: LambdaRuntimeClient, logger: Logger, deadlineMargin: Double = 0.5) {
        self.client = client
        self.logger = logger
        self.deadlineMargin = deadlineMargin
    }

    /// Runs until the Runtime API fails (or after `maxInvocations`, for tests).
    public func run(maxInvocations: Int? = nil, handler: @escaping @Sendable (LambdaInvocation) async -> LambdaOutcome) async throws {
        var handled = 0
        while maxInvocations.map({ handled < $0 }) ?? true {
            let invocation = try await client.next()
            handled += 1
            if let trace = invocation.traceID { setenv("_X_AMZN_TRACE_ID", trace, 1) }
            var log = logger
            log[metadataKey: "aws_request_id"] = "\(invocation.requestID)"
            let started = MonotonicClock.seconds()
            guard let outcome = await Self.withDeadline(invocation, margin: deadlineMargin, handler) else {
                let message = "the pipeline did not finish \(deadlineMargin)s before the invocation deadline; the runtime restarts"
                log.error("invocation timed out", metadata: ["error": "\(message)"])
                try await client.fail(requestID: invocation.requestID, errorType: "Runtime.DeadlineExceeded", errorMessage: message)
                throw LambdaRuntimeError("invocation \(invocation.requestID) exceeded its deadline")
            }
            let seconds = String(format: "%.3f", MonotonicClock.seconds() - started)
            switch outcome {
            case .success(let body):
                try await client.respond(requestID: invocation.requestID, body: body)
                log.info("invocation succeeded", metadata: ["seconds": "\(seconds)"])
            case .failure(let type, let message):
                try await client.fail(requestID: invocation.requestID, errorType: type, errorMessage: message)
                log.warning("invocation failed", metadata: ["error_type": "\(type)", "error": "\(message)", "seconds": "\(seconds)"])
            }
        }
    }

    /// Runs the handler with `LambdaInvocation.current` set; nil when the deadline (minus the margin) passes first.
    static func withDeadline(_ invocation: LambdaInvocation, margin: Double,
                             _ handler: @escaping @Sendable (LambdaInvocation) async -> LambdaOutcome) async -> LambdaOutcome? {
        // The pipeline's waits see the deadline (minus the margin) and give up before it.
        let remaining = invocation.deadlineMs.map { Double($0) / 1000 - MonotonicClock.wallSeconds() - margin }
        let workDeadline = remaining.map { MonotonicClock.seconds() + $0 }
        let work = Task {
            await WorkDeadline.$current.withValue(workDeadline) {
                await LambdaInvocation.$current.withValue(invocation) { await handler(invocation) }
            }
        }
        guard let remaining else { return await work.value }
        let once = ResumeOnce()
        let result: LambdaOutcome? = await withCheckedContinuation { continuation in
            once.set(continuation)
            let timer = Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, remaining) * 1e9))
                if !Task.isCancelled { once.resume(nil) }
            }
            Task {
                let value = await work.value
                timer.cancel()
                once.resume(value)
            }
        }
        if result == nil { work.cancel() }
        return result
    }
}

/// A continuation resumed by whichever of two tasks finishes first.
final class ResumeOnce: Sendable {
    private let continuation = Mutex<CheckedContinuation<LambdaOutcome?, Never>?>(nil)

    func set(_ c: CheckedContinuation<LambdaOutcome?, Never>) { continuation.withLock { $0 = c } }

    func resume(_ value: LambdaOutcome?) {
        let c = continuation.withLock { c -> CheckedContinuation<LambdaOutcome?, Never>? in
            defer { c = nil }
            return c
        }
        c?.resume(returning: value)
    }
}
