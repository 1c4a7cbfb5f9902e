/// One invocation as the Runtime API hands it out: the event bytes and the headers that describe it.
public struct LambdaInvocation: Sendable {
    public var requestID: String
    /// Epoch milliseconds by which the function must have answered (`Lambda-Runtime-Deadline-Ms`).
    public var deadlineMs: Int64?
    public var functionARN: String?
    public var traceID: String?
    public var event: [UInt8]

    public init(requestID: String, deadlineMs: Int64? = nil, functionARN: String? = nil, traceID: String? = nil, event: [UInt8]) {
        self.requestID = requestID
        self.deadlineMs = deadlineMs
        self.functionARN = functionARN
        self.traceID = traceID
        self.event = event
    }

    /// The invocation being handled by the current task and its children (the pipeline's stages): how the
    /// `lambda_sns` source gets its event from the runtime loop.
    @TaskLocal public static var current: LambdaInvocation?
}

/// What is reported back for an invocation.
public enum LambdaOutcome: Sendable, Equatable {
    /// POST /runtime/invocation/{id}/response with this body.
    case success([UInt8])
    /// POST /runtime/invocation/{id}/error with `{"errorType", "errorMessage"}`.
    case failure(errorType: String, errorMessage: String)
}

/// An event that is not what the source expects (not JSON, not an SNS envelope). The invocation reports it
/// as `errorType` "InvalidEvent": Lambda's retries will not fix it, so it ends in the function's DLQ.
public struct LambdaEventError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invalid event: \(message)" }
}
