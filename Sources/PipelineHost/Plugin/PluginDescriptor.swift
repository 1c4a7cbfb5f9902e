/// What a plugin is for: where it can stand in a pipeline.
public enum PluginKind: String, Sendable, CaseIterable {
    case source, transform, sink
}

/// The one declaration of a plugin: it drives spec validation, `pipeline-host plugins` and
/// `pipeline-host schema`. Nothing about a plugin's config is written anywhere else.
public struct PluginDescriptor: Sendable {
    public var kind: PluginKind
    public var name: String
    public var summary: String
    public var description: String
    public var fields: [FieldSpec]
    /// Complete component examples (JSON text), shown in the docs and checked by the tests.
    public var examples: [String]
    /// The fields a transform reads and adds, from its config (nil: it declares none).
    public var dataFlow: DataFlowOf?
    /// Rules across fields that the fields' own types cannot say (see `ConfigLint`).
    public var lint: ConfigLint?

    public init(
        kind: PluginKind, name: String, summary: String, description: String = "",
        fields: [FieldSpec], examples: [String] = [], dataFlow: DataFlowOf? = nil, lint: ConfigLint? = nil
    ) {
        self.dataFlow = dataFlow
        self.lint = lint
        self.kind = kind
        self.name = name
        self.summary = summary
        self.description = description
        self.fields = fields
        self.examples = examples
    }
}

/// The type of a config field, as validated and as shown in the schema.
public indirect enum FieldType: Sendable {
    case string
    case int(min: Int64? = nil, max: Int64? = nil)
    case double(min: Double? = nil, max: Double? = nil)
    case bool
    /// "250ms", "5s", "1h", "2d", or a number of seconds.
    case duration
    /// "64KiB", "10MB", or a number of bytes.
    case byteSize
    case oneOf([String])
    case array(FieldType)
    /// A nested object with its own declared fields.
    case object([FieldSpec])
    /// A map from free-form keys to values of one type.
    case map(FieldType)
    /// A record condition (see `Condition`).
    case condition
    /// A pipeline component: `{"type": <plugin of this kind>, "id"?: ..., ...its fields}`.
    case component(PluginKind)
    /// Any JSON value; the plugin interprets it.
    case json

    public var displayName: String {
        switch self {
        case .string: return "string"
        case .int: return "integer"
        case .double: return "number"
        case .bool: return "boolean"
        case .duration: return "duration"
        case .byteSize: return "byte size"
        case .oneOf(let options): return "one of " + options.map { "\"\($0)\"" }.joined(separator: ", ")
        case .array(let t): return "array of \(t.displayName)"
        case .object: return "object"
        case .map(let t): return "map of \(t.displayName)"
        case .condition: return "condition"
        case .component(let kind): return "\(kind.rawValue) component"
        case .json: return "any JSON"
        }
    }
}

/// Whether a field must be given, may be left out, or has a default.
public enum FieldRequirement: Sendable {
    case required
    case optional
    case defaultValue(JSONValue)
}

public struct FieldSpec: Sendable {
    public var name: String
    public var type: FieldType
    public var requirement: FieldRequirement
    public var doc: String
    public var example: JSONValue?
    /// Advanced fields are listed after the others in the docs.
    public var advanced: Bool

    public init(
        _ name: String, _ type: FieldType, _ requirement: FieldRequirement = .optional,
        doc: String, example: JSONValue? = nil, advanced: Bool = false
    ) {
        self.name = name
        self.type = type
        self.requirement = requirement
        self.doc = doc
        self.example = example
        self.advanced = advanced
    }

    public var defaultValue: JSONValue? {
        if case .defaultValue(let v) = requirement { return v }
        return nil
    }

    public var isRequired: Bool {
        if case .required = requirement { return true }
        return false
    }
}

// The shared vocabulary: every plugin that batches, retries or calls out names these settings the same way.
extension FieldSpec {
    public static func batch(maxEvents: Int64, maxBytes: String, maxAge: String) -> FieldSpec {
        FieldSpec("batch", .object([
            FieldSpec("max_events", .int(min: 1), .defaultValue(.int(maxEvents)), doc: "Most records in one batch."),
            FieldSpec("max_bytes", .byteSize, .defaultValue(.string(maxBytes)), doc: "Most bytes in one batch."),
            FieldSpec("max_age", .duration, .defaultValue(.string(maxAge)), doc: "Longest a partial batch waits before it is sent."),
        ]), .defaultValue(.object([])), doc: "When a batch is closed and sent.")
    }

    public static func retry(maxAttempts: Int64 = 8, initialBackoff: String = "100ms", maxBackoff: String = "20s") -> FieldSpec {
        FieldSpec("retry", .object([
            FieldSpec("max_attempts", .int(min: 1), .defaultValue(.int(maxAttempts)), doc: "Attempts per call, the first included."),
            FieldSpec("initial_backoff", .duration, .defaultValue(.string(initialBackoff)), doc: "Backoff cap before the first retry (full jitter)."),
            FieldSpec("max_backoff", .duration, .defaultValue(.string(maxBackoff)), doc: "Largest backoff between attempts."),
        ]), .defaultValue(.object([])), doc: "Retries of throttled, failed (5xx) and timed-out calls, with exponential backoff and full jitter.")
    }

    /// Shared vocabulary for a dependency that can fail slowly: see `CircuitBreaker`.
    public static func circuitBreaker(failures: Int64 = 5, openFor: String = "30s") -> FieldSpec {
        FieldSpec("circuit_breaker", .object([
            FieldSpec("failures", .int(min: 0), .defaultValue(.int(failures)), doc: "Consecutive failed calls (after their retries) that open the circuit; 0 turns the breaker off."),
            FieldSpec("open_for", .duration, .defaultValue(.string(openFor)), doc: "How long an open circuit skips the calls before one probe call tests the dependency again."),
        ]), .defaultValue(.object([])), doc: "Stops calling a failing dependency for a while: its records take the failure path at once (the fallback, or the dead-letter output) instead of each waiting for the timeout and the retries.")
    }

    public static func maxInFlight(_ value: Int64) -> FieldSpec {
        FieldSpec("max_in_flight", .int(min: 1, max: 1024), .defaultValue(.int(value)), doc: "Most calls or batches in flight at once.")
    }

    public static func timeout(_ value: String) -> FieldSpec {
        FieldSpec("timeout", .duration, .defaultValue(.string(value)), doc: "Deadline of one call.")
    }
}
