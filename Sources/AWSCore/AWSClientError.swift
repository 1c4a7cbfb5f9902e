/// A failure on the client side of an AWS call: configuration, credentials, or an unreadable reply.
public struct AWSClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// No provider in the chain could supply credentials.
        case credentialsUnavailable
        /// A credentials source answered with something unusable.
        case invalidCredentials
        /// The service reply could not be parsed.
        case invalidResponse
        /// Bad endpoint URL, region or parameters.
        case invalidConfiguration
    }

    public var code: Code
    /// Safe to log: never contains secrets (providers only describe where they looked).
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
