import Foundation

/// An AWS access key pair, optionally temporary (session token + expiration).
///
/// `description` and `debugDescription` never print the secret or the token, so credentials can appear in
/// logs and error messages by accident without leaking.
public struct Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var expiration: Date?
    /// Which provider produced these credentials (for diagnostics).
    public var source: String

    public init(
        accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil,
        source: String = "static"
    ) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    /// True when the credentials expire within `window` of `now`.
    public func expires(within window: TimeInterval, now: Date) -> Bool {
        guard let expiration else { return false }
        return expiration.timeIntervalSince(now) <= window
    }

    public var description: String {
        var s = "Credentials(accessKeyID: \(accessKeyID), secretAccessKey: <redacted>"
        if sessionToken != nil { s += ", sessionToken: <redacted>" }
        if let expiration { s += ", expiration: \(expiration)" }
        return s + ", source: \(source))"
    }

    public var debugDescription: String { description }
}
