/// A line and column in a text document, both 1-based.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}

/// A JSON value that remembers where it stood in its document, so every spec error can name line:column.
public struct SpecNode: Sendable {
    public indirect enum Kind: Sendable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        /// `interpolated` is true when `${VAR}` substitution produced the text; such strings may be
        /// coerced to the number or boolean a field expects, since environment variables are text.
        case string(String, interpolated: Bool)
        case array([SpecNode])
        case object([Member])
    }

    public struct Member: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: SpecNode
    }

    public var kind: Kind
    public var location: SourceLocation
    /// The spec's text before `${VAR}` interpolation, when interpolation changed it. Errors name this, never the
    /// value: a variable may hold a secret (a webhook URL put there by mistake).
    public var template: String?

    public init(_ kind: Kind, at location: SourceLocation) {
        self.kind = kind
        self.location = location
    }

    public subscript(key: String) -> SpecNode? {
        guard case .object(let members) = kind else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var members: [Member]? { if case .object(let m) = kind { return m } else { return nil } }
    public var elements: [SpecNode]? { if case .array(let a) = kind { return a } else { return nil } }
    public var stringValue: String? { if case .string(let s, _) = kind { return s } else { return nil } }

    public var typeName: String { json.typeName }

    /// The plain JSON value, positions dropped.
    public var json: JSONValue {
        switch kind {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s, _): return .string(s)
        case .array(let a): return .array(a.map(\.json))
        case .object(let m): return .object(m.map { ($0.key, $0.value.json) })
        }
    }
}
