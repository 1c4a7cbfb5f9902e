/// A transport failure (no HTTP response was received). `kind` lets retry logic classify it.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// TCP connect failed or was refused.
        case connectFailed
        /// The connection was reset or closed before a complete response.
        case connectionReset
        /// Connect or total request timeout.
        case timeout
        case dnsFailure
        case tls
        /// The request could not be built (bad URL, unsupported option).
        case invalidRequest
        case cancelled
        /// The response body was larger than the request's `maxResponseBytes`.
        case responseTooLarge
        /// The client was shut down.
        case shutdown
        case other
    }

    public var kind: Kind
    public var message: String
    /// The libcurl `CURLcode`, when the error came from curl.
    public var curlCode: Int?

    public init(_ kind: Kind, _ message: String, curlCode: Int? = nil) {
        self.kind = kind
        self.message = message
        self.curlCode = curlCode
    }

    /// Connection-level failures that a retry on a fresh connection may fix.
    public var isTransient: Bool {
        switch kind {
        case .connectFailed, .connectionReset, .timeout, .dnsFailure: return true
        case .tls, .invalidRequest, .cancelled, .responseTooLarge, .shutdown, .other: return false
        }
    }

    public var description: String {
        var s = "HTTP \(kind.rawValue): \(message)"
        if let curlCode { s += " (curl \(curlCode))" }
        return s
    }
}
