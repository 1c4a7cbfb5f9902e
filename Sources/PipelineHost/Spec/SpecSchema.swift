/// Generates the JSON Schema (draft 2020-12) of the whole spec format from the spec's and the plugins'
/// declarations, for editors and for `pipeline-host schema`.
public enum SpecSchema {
    public static func generate(registry: PluginRegistry) -> JSONValue {
        var defs: [(String, JSONValue)] = [("condition", conditionSchema())]
        for kind in PluginKind.allCases {
            let plugins = registry.registrations.filter { $0.descriptor.kind == kind }
            defs.append((kind.rawValue, .object([
                ("description", .string("A \(kind.rawValue) component; \"type\" selects the plugin.")),
                ("oneOf", .array(plugins.map { .object([("$ref", .string("#/$defs/\(kind.rawValue).\($0.descriptor.name)"))]) })),
            ])))
            for p in plugins {
                let extra = kind == .sink ? PipelineSpec.sinkCommonFields : []
                defs.append(("\(kind.rawValue).\(p.descriptor.name)", componentSchema(p.descriptor, extra: extra)))
            }
        }
        var top = objectSchema(PipelineSpec.topLevelFields)
        top.insert(("$schema", "https://json-schema.org/draft/2020-12/schema"), at: 0)
        top.insert(("title", "Pipeline spec"), at: 1)
        top.append(("$defs", .object(defs)))
        // Sinks carry the extra `when` key, which the generic component schema of a plain field does not know.
        return .object(top)
    }

    static func componentSchema(_ d: PluginDescriptor, extra: [FieldSpec]) -> JSONValue {
        var props: [(String, JSONValue)] = [
            ("type", .object([("const", .string(d.name)), ("description", .string(d.summary))])),
            ("id", .object([("type", "string"), ("description", .string(PipelineSpec.componentCommonFields[1].doc))])),
        ]
        for f in d.fields + extra { props.append((f.name, fieldSchema(f))) }
        var out: [(String, JSONValue)] = [
            ("type", "object"),
            ("title", .string("\(d.kind.rawValue) \(d.name)")),
            ("description", .string(d.summary)),
            ("properties", .object(props)),
            ("required", .array([.string("type")] + d.fields.filter(\.isRequired).map { .string($0.name) })),
            ("additionalProperties", false),
        ]
        if !d.examples.isEmpty, let parsed = try? d.examples.map({ try DocumentParser.parseValue(Array($0.utf8)) }) {
            out.append(("examples", .array(parsed)))
        }
        return .object(out)
    }

    static func objectSchema(_ fields: [FieldSpec]) -> [(String, JSONValue)] {
        [
            ("type", "object"),
            ("properties", .object(fields.map { ($0.name, fieldSchema($0)) })),
            ("required", .array(fields.filter(\.isRequired).map { .string($0.name) })),
            ("additionalProperties", false),
        ]
    }

    static func fieldSchema(_ f: FieldSpec) -> JSONValue {
        guard case .object(var pairs) = typeSchema(f.type) else { return .object([]) }
        pairs.append(("description", .string(f.doc)))
        if let d = f.defaultValue { pairs.append(("default", d)) }
        if let e = f.example { pairs.append(("examples", .array([e]))) }
        return .object(pairs)
    }

    /// `${VAR}` may stand where a number or boolean is expected.
    static let interpolated: JSONValue = .object([("type", "string"), ("pattern", "\\$\\{[A-Za-z_][A-Za-z0-9_]*")])

    static func typeSchema(_ t: FieldType) -> JSONValue {
        switch t {
        case .string: return .object([("type", "string")])
        case let .int(lo, hi):
            var p: [(String, JSONValue)] = [("type", "integer")]
            if let lo { p.append(("minimum", .int(lo))) }
            if let hi { p.append(("maximum", .int(hi))) }
            return .object([("anyOf", .array([.object(p), interpolated]))])
        case let .double(lo, hi):
            var p: [(String, JSONValue)] = [("type", "number")]
            if let lo { p.append(("minimum", .double(lo))) }
            if let hi { p.append(("maximum", .double(hi))) }
            return .object([("anyOf", .array([.object(p), interpolated]))])
        case .bool: return .object([("anyOf", .array([.object([("type", "boolean")]), interpolated]))])
        case .duration:
            return .object([("anyOf", .array([
                .object([("type", "string"), ("pattern", "^([0-9]+(\\.[0-9]+)?(ms|us|s|m|h|d)?|\\$\\{.*\\})$")]),
                .object([("type", "number"), ("minimum", 0)]),
            ]))])
        case .byteSize:
            return .object([("anyOf", .array([
                .object([("type", "string"), ("pattern", "^([0-9]+(\\.[0-9]+)? ?(B|KB|MB|GB|KiB|MiB|GiB)?|\\$\\{.*\\})$")]),
                .object([("type", "integer"), ("minimum", 0)]),
            ]))])
        // `${VAR}` may stand for one of the options too (lambda-slack.json's `"mode": "${SLACK_MODE:-webhook}"`).
        case .oneOf(let options): return .object([("anyOf", .array([.object([("enum", .array(options.map { .string($0) }))]), interpolated]))])
        case .array(let e): return .object([("type", "array"), ("items", typeSchema(e))])
        case .object(let fields): return .object(objectSchema(fields))
        case .map(let e): return .object([("type", "object"), ("additionalProperties", typeSchema(e))])
        case .condition: return .object([("$ref", "#/$defs/condition")])
        case .component(let kind): return .object([("$ref", .string("#/$defs/\(kind.rawValue)"))])
        case .json: return .object([])
        }
    }

    static func conditionSchema() -> JSONValue {
        let ref: JSONValue = .object([("$ref", "#/$defs/condition")])
        func fieldOp(_ op: String, _ value: JSONValue) -> JSONValue {
            .object([
                ("type", "object"),
                ("properties", .object([("field", .object([("type", "string")])), (op, value)])),
                ("required", .array(["field", .string(op)])),
                ("additionalProperties", false),
            ])
        }
        func combinator(_ op: String, _ value: JSONValue) -> JSONValue {
            .object([("type", "object"), ("properties", .object([(op, value)])), ("required", .array([.string(op)])), ("additionalProperties", false)])
        }
        let number: JSONValue = .object([("type", "number")])
        return .object([
            ("description", "A condition on record fields."),
            ("oneOf", .array([
                fieldOp("equals", .object([])), fieldOp("not_equals", .object([])),
                fieldOp("in", .object([("type", "array")])), fieldOp("exists", .object([("type", "boolean")])),
                fieldOp("gt", number), fieldOp("gte", number), fieldOp("lt", number), fieldOp("lte", number),
                fieldOp("within", .object([("anyOf", .array([.object([("type", "string")]), number]))])),
                combinator("all", .object([("type", "array"), ("items", ref), ("minItems", 1)])),
                combinator("any", .object([("type", "array"), ("items", ref), ("minItems", 1)])),
                combinator("not", ref),
            ])),
        ])
    }
}
