/// The validated config of one component, defaults filled in, read through typed accessors.
///
/// Accessors take the field name the plugin declared in its descriptor; reading a field that is not
/// declared is a programming error caught by the first test that builds the plugin.
public struct ComponentConfig: Sendable {
    public let kind: PluginKind
    public let type: String
    public let id: String
    /// JSON path of the component in the spec, for runtime errors that point back at the spec.
    public let path: String
    public let values: [(String, JSONValue)]
    let fields: [FieldSpec]

    public init(kind: PluginKind, type: String, id: String, path: String, values: [(String, JSONValue)], fields: [FieldSpec]) {
        self.kind = kind
        self.type = type
        self.id = id
        self.path = path
        self.values = values
        self.fields = fields
    }

    /// The raw resolved value of a declared field; nil when optional and absent.
    public subscript(name: String) -> JSONValue? {
        precondition(fields.contains { $0.name == name }, "\(type) reads field \"\(name)\" that its descriptor does not declare")
        for (k, v) in values where k == name { return v.isNull ? nil : v }
        return nil
    }

    public func string(_ name: String) -> String { self[name]?.stringValue ?? "" }
    public func optionalString(_ name: String) -> String? { self[name]?.stringValue }
    public func int(_ name: String) -> Int { Int(self[name]?.intValue ?? 0) }
    public func optionalInt(_ name: String) -> Int? { self[name]?.intValue.map { Int($0) } }
    public func double(_ name: String) -> Double { self[name]?.doubleValue ?? 0 }
    public func optionalDouble(_ name: String) -> Double? { self[name]?.doubleValue }
    public func bool(_ name: String) -> Bool { self[name]?.boolValue ?? false }
    public func seconds(_ name: String) -> Double { self[name].flatMap(Units.seconds) ?? 0 }
    public func optionalSeconds(_ name: String) -> Double? { self[name].flatMap(Units.seconds) }
    public func bytes(_ name: String) -> Int64 { self[name].flatMap(Units.bytes) ?? 0 }
    public func strings(_ name: String) -> [String] { self[name]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    /// The component as spec JSON again (`{"type", "id", ...its resolved fields}`): for tools that run a changed
    /// copy of a spec (backtest replays, spec tests).
    public var json: JSONValue {
        .object([("type", .string(type)), ("id", .string(id))] + values.filter { $0.0 != "type" && $0.0 != "id" })
    }

    /// A `.map(.string)` field's pairs, in the spec's order.
    public func stringMap(_ name: String) -> [(String, String)] {
        (self[name]?.objectValue ?? []).compactMap { k, v in v.stringValue.map { (k, $0) } }
    }

    /// A nested object field, as a config of its own (for shared settings such as `batch` and `retry`).
    public func nested(_ name: String) -> ComponentConfig {
        guard let spec = fields.first(where: { $0.name == name }), case .object(let sub) = spec.type else {
            preconditionFailure("\(type).\(name) is not a declared object field")
        }
        return ComponentConfig(kind: kind, type: type, id: id, path: SpecPath.child(path, name),
                               values: self[name]?.objectValue ?? [], fields: sub)
    }

    /// Nested objects of an array-of-objects field.
    public func nestedArray(_ name: String) -> [ComponentConfig] {
        guard let spec = fields.first(where: { $0.name == name }), case .array(.object(let sub)) = spec.type else {
            preconditionFailure("\(type).\(name) is not a declared array of objects")
        }
        return (self[name]?.arrayValue ?? []).enumerated().map { i, v in
            ComponentConfig(kind: kind, type: type, id: id, path: "\(SpecPath.child(path, name))[\(i)]",
                            values: v.objectValue ?? [], fields: sub)
        }
    }

    public func condition(_ name: String) -> Condition? {
        guard let v = self[name] else { return nil }
        var errors: [SpecDiagnostic] = []
        return Condition.parse(SpecNode(json: v), path: path, file: "", into: &errors)
    }
}

extension SpecNode {
    /// A node built from plain JSON (a default value or a stored config), located at `location`.
    public init(json: JSONValue, at location: SourceLocation = .init(line: 0, column: 0)) {
        switch json {
        case .null: self.init(.null, at: location)
        case .bool(let b): self.init(.bool(b), at: location)
        case .int(let i): self.init(.int(i), at: location)
        case .double(let d): self.init(.double(d), at: location)
        case .string(let s): self.init(.string(s, interpolated: false), at: location)
        case .array(let a): self.init(.array(a.map { SpecNode(json: $0, at: location) }), at: location)
        case .object(let o):
            self.init(.object(o.map { Member(key: $0.0, keyLocation: location, value: SpecNode(json: $0.1, at: location)) }), at: location)
        }
    }
}
