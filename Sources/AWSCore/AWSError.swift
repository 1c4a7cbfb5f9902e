/// An error reply from an AWS service (the service answered, with a non-success status or an error body).
///
/// Built only from the reply (code, message, request id, status): never from the request, so it cannot carry
/// credentials or signatures into logs.
public struct AWSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error code without namespace, e.g. `ResourceNotFoundException`, `SlowDown`.
    public var code: String
    public var message: String
    public var requestID: String?
    public var statusCode: Int

    public init(code: String, message: String, requestID: String? = nil, statusCode: Int) {
        self.code = code
        self.message = message
        self.requestID = requestID
        self.statusCode = statusCode
    }

    public var description: String {
        var s = "\(code) (HTTP \(statusCode))"
        if !message.isEmpty { s += ": \(message)" }
        if let requestID { s += " [request id \(requestID)]" }
        return s
    }

    /// Throttling codes across AWS services (SDK "standard" retry mode list plus the S3/SageMaker ones).
    public static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
        "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
        "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", "Throttled", "KMSThrottlingException",
        "ModelNotReadyException",
    ]

    /// Codes that mean "try again" although the status may be 4xx.
    public static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "ServiceUnavailable",
        "InternalServerError", "IDPCommunicationError",
    ]

    public var isThrottling: Bool { statusCode == 429 || Self.throttlingCodes.contains(code) }
    public var isTransient: Bool { statusCode >= 500 || Self.transientCodes.contains(code) }
}
