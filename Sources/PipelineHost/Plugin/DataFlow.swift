/// The record fields a component reads and adds, as its config says. `validate` walks the transforms with them
/// and reports a transform that reads a field only a later transform writes (a scorer placed before its
/// scaler, say): such a pipeline would dead-letter every record at run time.
public struct DataFlow: Sendable {
    /// Fields read, each with the config key that names it, so an error points at that key.
    public var reads: [(field: String, key: String)]
    public var writes: [String]
    /// Fields removed from every record (a `fields` drop, the old name of a rename).
    public var drops: [String]
    /// What written fields hold, where the plugin knows (a scorer's is_alert is a boolean): a sink condition that
    /// compares one with a value of another kind can never match.
    public var kinds: [String: FieldValueKind]
    /// What written fields mean, where it can be known from the config (a local bundle's features and scaler).
    public var promises: [FieldContract]
    /// What read fields must mean, each with the config key it follows from.
    public var requires: [(contract: FieldContract, key: String)]

    public init(reads: [(field: String, key: String)] = [], writes: [String] = [], promises: [FieldContract] = [],
                requires: [(contract: FieldContract, key: String)] = [], drops: [String] = [], kinds: [String: FieldValueKind] = [:]) {
        self.reads = reads
        self.writes = writes
        self.drops = drops
        self.kinds = kinds
        self.promises = promises
        self.requires = requires
    }

    /// This flow followed by the flows of nested components (an A/B split's scorers, a fallback): everything
    /// any of them reads or writes, reads located at `key` of this component.
    public func including(_ nested: [DataFlow], at key: String) -> DataFlow {
        var out = self
        for n in nested {
            out.reads += n.reads.map { ($0.field, key + "." + $0.key) }
            for w in n.writes where !out.writes.contains(w) { out.writes.append(w) }
            out.requires += n.requires.map { ($0.contract, key + "." + $0.key) }
            out.promises += n.promises
            out.kinds.merge(n.kinds) { own, _ in own }
            out.drops += n.drops
        }
        return out
    }
}

/// The kind of JSON value a written field holds.
public enum FieldValueKind: String, Sendable {
    case boolean, number, string

    /// The kind of `value`; nil for null, arrays and objects.
    public init?(of value: JSONValue) {
        switch value {
        case .bool: self = .boolean
        case .int, .double: self = .number
        case .string: self = .string
        default: return nil
        }
    }
}

/// How a plugin's data flow follows from its validated config; `nested` gives the flow of a nested component
/// (the validated JSON of a `.component` field).
public typealias DataFlowOf = @Sendable (_ config: ComponentConfig, _ nested: (JSONValue) -> DataFlow) -> DataFlow

/// The fields every scorer adds (local_model, sagemaker), named once: the plugins, the A/B split, the Slack
/// message, `score` and the backtest read and write them by these names.
public enum ScoreFields {
    public static let score = "fraud_score"
    public static let modelVersion = "model_version"
    public static let variant = "variant"
    public static let isAlert = "is_alert"
    /// In the order scorers write them (`FieldList(all)`).
    public static let all = [score, modelVersion, variant, isAlert]
    /// What they hold.
    public static let kinds: [String: FieldValueKind] = [score: .number, modelVersion: .string, variant: .string, isAlert: .boolean]
    /// What an A/B split's shadow scorer gave, next to the champion's score.
    public static let shadowScore = "shadow_score"
    public static let shadowModelVersion = "shadow_model_version"
    /// Why the shadow gave no score for a record (it refused it, or failed on its batch): the record goes on with
    /// its variant's score.
    public static let shadowError = "shadow_error"
    /// An alert's explanation: [{"name", "contribution", "value"}].
    public static let topFeatures = "top_features"
}
