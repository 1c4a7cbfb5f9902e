import Foundation
import ModelCore
import PipelineHost

/// `fields` transform: declarative field mapping, so a model bundle with other feature names or an input with
/// another schema is a spec change, not code.
public final class FieldsTransform: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "fields",
        summary: "Renames, copies, derives, sets and drops record fields by declaration.",
        description: """
            The steps run in this order on every record: rename, copy, derive, set, drop. A rename or copy whose \
            source field is absent does nothing (the record may not have it). derive computes a number from another \
            field: hour_of_day (UTC hour of an epoch-seconds time, as the model's derived feature), abs, log1p \
            (log(1 + x), for skewed amounts; x must be > −1). A derive whose source is absent or null writes null; \
            one whose source is not a number (or out of log1p's domain) sends the record to the dead-letter output \
            with the field and the value, or writes null with on_error "null".
            """,
        fields: [
            FieldSpec("rename", .map(.string), .defaultValue([:]), doc: "Old name → new name.", example: ["amount": "transaction_value"]),
            FieldSpec("copy", .map(.string), .defaultValue([:]), doc: "Source field → another field that gets the same value.",
                      example: ["event_created_at_ts": "ts_copy"]),
            FieldSpec("derive", .array(.object([
                FieldSpec("field", .string, .required, doc: "Field to write."),
                FieldSpec("from", .string, .required, doc: "Field to read."),
                FieldSpec("fn", .oneOf(["hour_of_day", "abs", "log1p"]), .required, doc: "What to compute."),
            ])), .defaultValue([]), doc: "Computed fields."),
            FieldSpec("set", .map(.json), .defaultValue([:]), doc: "Field → constant value (any JSON).", example: ["source_system": "pos"]),
            FieldSpec("drop", .array(.string), .defaultValue([]), doc: "Fields to remove.", example: ["raw_payload"]),
            FieldSpec("on_error", .oneOf(["dead_letter", "null"]), .defaultValue("dead_letter"),
                      doc: "A derive whose source is not a usable number: dead-letter the record, or write null."),
        ],
        examples: [#"""
            {"type": "fields", "rename": {"amount": "transaction_value", "ts": "event_created_at_ts"},
             "derive": [{"field": "hour_of_day", "from": "event_created_at_ts", "fn": "hour_of_day"},
                        {"field": "log_value", "from": "transaction_value", "fn": "log1p"}],
             "set": {"channel_code": 0}, "drop": ["debug"]}
            """#],
        dataFlow: { config, _ in
            var flow = DataFlow()
            for (from, to) in config.stringMap("rename") { flow.reads.append((from, "rename.\(from)")); flow.writes.append(to) }
            for (from, to) in config.stringMap("copy") { flow.reads.append((from, "copy.\(from)")); flow.writes.append(to) }
            for (i, d) in config.nestedArray("derive").enumerated() {
                flow.reads.append((d.string("from"), "derive[\(i)].from"))
                flow.writes.append(d.string("field"))
            }
            let set = config["set"]?.objectValue ?? []
            flow.writes += set.map(\.0)
            // What set writes is known; a later sink condition on it is checked against the constant's kind.
            for (name, value) in set { flow.kinds[name] = FieldValueKind(of: value) }
            // A rename removes the old name (unless another step writes it again); drop comes last.
            flow.drops = config.stringMap("rename").map(\.0).filter { !flow.writes.contains($0) } + config.strings("drop")
            return flow
        },
        // Mappings that cannot mean what they say.
        lint: { config in
            var problems: [ConfigProblem] = []
            var targets: [String: String] = [:]
            for (from, to) in config.stringMap("rename") {
                if to.isEmpty {
                    problems.append(ConfigProblem("rename of \"\(from)\" needs a new name", at: "rename"))
                } else if let other = targets[to] {
                    problems.append(ConfigProblem("both \"\(other)\" and \"\(from)\" are renamed to \"\(to)\"", at: "rename"))
                } else {
                    targets[to] = from
                }
            }
            let set = (config["set"]?.objectValue ?? []).map(\.0), derived = config.nestedArray("derive").map { $0.string("field") }
            for name in config.strings("drop") {
                if set.contains(name) {
                    problems.append(ConfigProblem("\"\(name)\" is set and then dropped: remove one of the two", at: "drop"))
                }
                if derived.contains(name) {
                    problems.append(ConfigProblem("\"\(name)\" is derived and then dropped: remove one of the two", at: "drop"))
                }
            }
            return problems
        })

    enum Function: String, Sendable {
        case hourOfDay = "hour_of_day", abs, log1p
    }

    struct Derive: Sendable {
        var field: String
        var from: String
        var function: Function
    }

    let id: String
    let renames: [(String, String)]
    let copies: [(String, String)]
    let derives: [Derive]
    let constants: [(String, JSONValue)]
    let drops: [String]
    let deadLetterOnError: Bool

    public init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        renames = config.stringMap("rename")
        copies = config.stringMap("copy")
        derives = config.nestedArray("derive").map {
            Derive(field: $0.string("field"), from: $0.string("from"), function: Function(rawValue: $0.string("fn"))!)
        }
        constants = config["set"]?.objectValue ?? []
        drops = config.strings("drop")
        deadLetterOnError = config.string("on_error") == "dead_letter"
        try Self.descriptor.checkLint(config)
    }

    public func process(_ batch: inout Batch) async throws {
        batch.removeFailures(stage: id) { record in
            for (from, to) in renames {
                guard let v = record[from] else { continue }
                record[from] = nil
                record[to] = v
            }
            for (from, to) in copies {
                if let v = record[from] { record[to] = v }
            }
            for d in derives {
                switch Self.derive(d.function, record[d.from]) {
                case .success(let v): record[d.field] = v
                case .failure(let problem):
                    if deadLetterOnError { return "fields: derive \(d.field) = \(d.function.rawValue)(\(d.from)): \(problem.message)" }
                    record[d.field] = .null
                }
            }
            for (name, value) in constants { record[name] = value }
            for name in drops { record[name] = nil }
            return nil
        }
    }

    struct Problem: Error { var message: String }

    static func derive(_ f: Function, _ value: JSONValue?) -> Result<JSONValue, Problem> {
        guard let value, !value.isNull else { return .success(.null) }
        guard let x = value.doubleValue, x.isFinite else {
            return .failure(Problem(message: "\"\(value.description.prefix(40))\" is not a finite number"))
        }
        switch f {
        case .hourOfDay:
            return .success(.int(Int64(DerivedFeatures.hourOfDay(epochSeconds: x))))
        case .abs:
            if case .int(let i) = value, i != .min { return .success(.int(Swift.abs(i))) }
            return .success(.double(Swift.abs(x)))
        case .log1p:
            guard x > -1 else { return .failure(Problem(message: "\(x) is outside log1p's domain (> -1)")) }
            return .success(.double(Foundation.log1p(x)))
        }
    }
}
