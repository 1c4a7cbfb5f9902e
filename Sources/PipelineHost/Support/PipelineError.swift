/// The one error type of the host: a code for the kind of failure, a message that names where, and
/// the underlying error when there is one.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case spec, config, source, transform, sink, checkpoint, io, shutdown, `internal`
    }

    public var code: Code
    public var message: String
    /// Where: a spec path such as `$.sinks[1]`, a file and line, or a component id.
    public var location: String?
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, at location: String? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.location = location
        self.underlying = underlying
    }

    public var description: String {
        var s = "\(code.rawValue) error"
        if let location { s += " at \(location)" }
        return s + ": " + message
    }
}
