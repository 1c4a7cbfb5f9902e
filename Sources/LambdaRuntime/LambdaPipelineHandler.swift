import AWSCore
import Foundation
import Logging
import PipelineHost

/// Runs the pipeline once per invocation, and turns how that run ended into the invocation's outcome.
///
/// Why one run per invocation rather than one pipeline kept alive across invocations: `PipelineRunner.run()`
/// returns only after the source has ended, every sink has flushed and acknowledged (or dead-lettered) every
/// record, and the final checkpoint barrier has passed. That is exactly the guarantee an invocation needs before it
/// may answer "success", and it needs no new acknowledgement plumbing between the runtime loop and the sinks. The
/// cost is building the plugins per invocation (microseconds); what must outlive an invocation (the Slack rate-limit
/// buckets, the cached secrets, the HTTP connections) lives in process-wide caches of the plugins themselves.
///
/// Outcomes:
/// - the run finished and nothing was dead-lettered → success, body `{"records": n, "delivered": {...}}`;
/// - records were dead-lettered (a permanent sink error, or an SNS message that is not a JSON object) →
///   `errorType` "DeadLettered": Lambda retries the event (async invocations: twice) and then sends it to the
///   function's DLQ / on-failure destination; the dead-letter output of the spec holds the reasons;
/// - the event is not an SNS event → "InvalidEvent";
/// - the run failed (a sink threw, e.g. Slack unreachable after the retries) → "PipelineError.<code>".
public final class LambdaPipelineHandler: Sendable {
    public let spec: PipelineSpec
    let registry: PluginRegistry
    let logger: Logger
    let environment: [String: String]

    public init(spec: PipelineSpec, registry: PluginRegistry, logger: Logger, environment: [String: String]) {
        self.spec = spec
        self.registry = registry
        self.logger = logger
        self.environment = environment
    }

    public func handle(_ invocation: LambdaInvocation) async -> LambdaOutcome {
        var log = logger
        log[metadataKey: "aws_request_id"] = "\(invocation.requestID)"
        let runner = PipelineRunner(spec: spec, registry: registry, logger: log, environment: environment,
                                    store: EphemeralCheckpointStore(), stats: RuntimeStats(), stop: StopSignal())
        do {
            let summary = try await LambdaInvocation.$current.withValue(invocation) { try await runner.run() }
            if summary.deadLettered > 0 {
                return .failure(
                    errorType: "DeadLettered",
                    errorMessage: "\(summary.deadLettered) of \(summary.recordsIn) records failed permanently and were written to "
                        + "the dead-letter output \"\(spec.deadLetter.id)\" with the reason")
            }
            let delivered = summary.sinkOutputs.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int(Int64($0.value))) }
            var w = JSONWriter()
            w.write(.object([
                ("request_id", .string(invocation.requestID)),
                ("records", .int(Int64(summary.recordsIn))),
                ("delivered", .object(delivered)),
                ("dead_lettered", .int(0)),
            ]))
            return .success(w.bytes)
        } catch {
            return Self.outcome(of: error)
        }
    }

    static func outcome(of error: any Error) -> LambdaOutcome {
        if let e = error as? LambdaEventError { return .failure(errorType: "InvalidEvent", errorMessage: cap(e.description)) }
        if let e = error as? PipelineError {
            if let u = e.underlying as? LambdaEventError { return .failure(errorType: "InvalidEvent", errorMessage: cap(u.description)) }
            return .failure(errorType: "PipelineError.\(e.code.rawValue)", errorMessage: cap(e.description))
        }
        return .failure(errorType: "PipelineError", errorMessage: cap("\(error)"))
    }

    static func cap(_ s: String) -> String { s.count <= 4000 ? s : String(s.prefix(4000)) + "…" }
}

/// Lambda keeps no checkpoints: an invocation either acknowledges all its records or fails and is retried by Lambda.
public struct EphemeralCheckpointStore: CheckpointStore {
    public init() {}
    public func load() async throws -> Checkpoint? { nil }
    public func save(_ checkpoint: Checkpoint) async throws -> CheckpointSaveResult { .complete }
    public var description: String { "none (lambda)" }
}

/// `pipeline-host lambda SPEC`: loads the spec (reporting an init error when it does not validate), then serves
/// invocations until the Runtime API goes away. Returns the process exit code.
public enum LambdaHost {
    public static func run(specPath: String, registry: PluginRegistry, environment: [String: String], logger: Logger,
                           maxInvocations: Int? = nil) async -> Int32 {
        guard let api = environment["AWS_LAMBDA_RUNTIME_API"], !api.isEmpty else {
            logger.critical("AWS_LAMBDA_RUNTIME_API is not set: `pipeline-host lambda` runs only inside AWS Lambda (or its emulator)")
            return 1
        }
        let http = HTTPClient(maxConnectionsPerHost: 2)
        defer { http.shutdown() }
        let client = LambdaRuntimeClient(api: api, http: http)
        let spec: PipelineSpec
        do {
            spec = try PipelineSpec.load(path: specPath, registry: registry, environment: environment)
        } catch {
            logger.critical("spec does not validate", metadata: ["spec": "\(specPath)", "error": "\(error)"])
            do { try await client.initError(errorType: "Runtime.InvalidSpec", errorMessage: LambdaPipelineHandler.cap("\(specPath): \(error)")) } catch {
                logger.error("cannot report the init error", metadata: ["error": "\(error)"])
            }
            return 78
        }
        if spec.source.type != "lambda_sns" {
            logger.warning("the spec's source is not lambda_sns: it ignores the invocation events", metadata: ["source": "\(spec.source.type)"])
        }
        logger.info("lambda runtime ready", metadata: ["pipeline": "\(spec.name)", "spec": "\(specPath)"])
        let handler = LambdaPipelineHandler(spec: spec, registry: registry, logger: logger, environment: environment)
        do {
            try await LambdaLoop(client: client, logger: logger).run(maxInvocations: maxInvocations) { await handler.handle($0) }
            return 0
        } catch {
            logger.critical("lambda runtime loop ended", metadata: ["error": "\(error)"])
            return 1
        }
    }
}
