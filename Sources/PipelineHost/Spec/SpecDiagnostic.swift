/// One problem found in a spec: where (file, line:column, JSON path) and what.
public struct SpecDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation
    public var path: String
    public var message: String

    public init(file: String, location: SourceLocation, path: String, message: String) {
        self.file = file
        self.location = location
        self.path = path
        self.message = message
    }

    public var description: String { "\(file):\(location): \(path): \(message)" }
}

/// Every problem of a spec at once, in document order.
public struct SpecErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [SpecDiagnostic]
    public init(_ diagnostics: [SpecDiagnostic]) {
        self.diagnostics = diagnostics.sorted {
            ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column)
        }
    }
    public var description: String {
        let n = diagnostics.count
        return "\(n) error\(n == 1 ? "" : "s") in spec:\n" + diagnostics.map { "  " + $0.description }.joined(separator: "\n")
    }
}
