/// Checks a spec tree against the declared fields of the spec and of every plugin it names, collecting
/// every problem (not just the first) and returning the values with defaults filled in.
struct SpecValidator {
    let registry: PluginRegistry
    let file: String
    var errors: [SpecDiagnostic] = []

    init(registry: PluginRegistry, file: String) {
        self.registry = registry
        self.file = file
    }

    mutating func error(_ location: SourceLocation, _ path: String, _ message: String) {
        errors.append(.init(file: file, location: location, path: path, message: message))
    }

    /// Validates an object against declared fields; `known` are extra keys the caller handles itself.
    mutating func object(_ node: SpecNode, fields: [FieldSpec], path: String, known: [String] = [], context: String) -> [(String, JSONValue)]? {
        guard let members = node.members else {
            error(node.location, path, "expected an object, got \(node.typeName)")
            return nil
        }
        var out: [(String, JSONValue)] = []
        var ok = true
        let names = fields.map(\.name) + known
        for m in members where !names.contains(m.key) {
            error(m.keyLocation, SpecPath.child(path, m.key), "unknown key \"\(m.key)\" in \(context)" + Suggestions.didYouMean(m.key, names))
            ok = false
        }
        for f in fields {
            let p = SpecPath.child(path, f.name)
            if let v = members.first(where: { $0.key == f.name })?.value {
                if case .null = v.kind, !f.isRequired {
                    out.append((f.name, f.defaultValue ?? .null))
                    continue
                }
                if let value = self.value(v, type: f.type, path: p) { out.append((f.name, value)) } else { ok = false }
            } else {
                switch f.requirement {
                case .required:
                    error(node.location, p, "missing required key \"\(f.name)\" in \(context) (\(f.type.displayName): \(f.doc))")
                    ok = false
                case .optional:
                    break
                case .defaultValue(let d):
                    // Validate the default too, so nested objects get their own defaults filled in.
                    if let value = self.value(SpecNode(json: d, at: node.location), type: f.type, path: p) {
                        out.append((f.name, value))
                    }
                }
            }
        }
        return ok ? out : nil
    }

    mutating func value(_ node: SpecNode, type: FieldType, path: String) -> JSONValue? {
        func mismatch(_ expected: String) -> JSONValue? {
            error(node.location, path, "expected \(expected), got \(node.typeName)\(show(node))")
            return nil
        }
        // Environment variables are text: an interpolated string may stand for a number or boolean (the template
        // stays on the node, so errors name it instead of the value).
        var node = node
        if case .string(let s, true) = node.kind {
            switch type {
            case .int: if let i = Int64(s) { node.kind = .int(i) }
            case .double: if let d = Double(s) { node.kind = .double(d) }
            case .bool: if s == "true" || s == "false" { node.kind = .bool(s == "true") }
            default: break
            }
        }
        switch type {
        case .string:
            guard let s = node.stringValue else { return mismatch("a string") }
            return .string(s)
        case let .int(lo, hi):
            guard let i = node.json.intValue, case .int = node.kind else { return mismatch("an integer") }
            if let lo, i < lo { error(node.location, path, "must be at least \(lo), got \(shown(node, "\(i)"))"); return nil }
            if let hi, i > hi { error(node.location, path, "must be at most \(hi), got \(shown(node, "\(i)"))"); return nil }
            return .int(i)
        case let .double(lo, hi):
            guard let d = node.json.doubleValue else { return mismatch("a number") }
            if let lo, d < lo { error(node.location, path, "must be at least \(lo), got \(shown(node, "\(d)"))"); return nil }
            if let hi, d > hi { error(node.location, path, "must be at most \(hi), got \(shown(node, "\(d)"))"); return nil }
            return .double(d)
        case .bool:
            guard case .bool(let b) = node.kind else { return mismatch("true or false") }
            return .bool(b)
        case .duration:
            guard Units.seconds(node.json) != nil else {
                error(node.location, path, "expected a duration such as \"250ms\", \"5s\", \"1h\" or a number of seconds, got \(node.typeName)\(show(node))")
                return nil
            }
            return node.json
        case .byteSize:
            guard Units.bytes(node.json) != nil else {
                error(node.location, path, "expected a size such as \"64KiB\", \"10MB\" or a number of bytes, got \(node.typeName)\(show(node))")
                return nil
            }
            return node.json
        case .oneOf(let options):
            guard let s = node.stringValue else { return mismatch("one of \(options.joined(separator: ", "))") }
            guard options.contains(s) else {
                error(node.location, path, "\(shown(node, "\"\(s)\"")) is not one of \(options.map { "\"\($0)\"" }.joined(separator: ", "))" + Suggestions.didYouMean(s, options))
                return nil
            }
            return .string(s)
        case .array(let element):
            guard let items = node.elements else { return mismatch("an array") }
            var out: [JSONValue] = []
            var ok = true
            for (i, item) in items.enumerated() {
                if let v = value(item, type: element, path: "\(path)[\(i)]") { out.append(v) } else { ok = false }
            }
            return ok ? .array(out) : nil
        case .object(let fields):
            return object(node, fields: fields, path: path, context: path).map { .object($0) }
        case .map(let element):
            guard let members = node.members else { return mismatch("an object") }
            var out: [(String, JSONValue)] = []
            var ok = true
            for m in members {
                if let v = value(m.value, type: element, path: SpecPath.child(path, m.key)) { out.append((m.key, v)) } else { ok = false }
            }
            return ok ? .object(out) : nil
        case .condition:
            guard Condition.parse(node, path: path, file: file, into: &errors) != nil else { return nil }
            return node.json
        case .component(let kind):
            // With an id only when the spec gives one: the parent names the component otherwise
            // (`PluginRegistry.makeNestedTransform`: two A/B variants' scorers of one type must not share an id).
            return component(node, kind: kind, path: path)?.asJSON(withID: node["id"] != nil)
        case .json:
            return node.json
        }
    }

    /// A component: `type` picks the plugin, whose descriptor (plus the host's common keys) gives the fields.
    mutating func component(_ node: SpecNode, kind: PluginKind, path: String, extra: [FieldSpec] = [], defaultID: String? = nil) -> ComponentConfig? {
        guard node.members != nil else {
            error(node.location, path, "expected a \(kind.rawValue) component object {\"type\": ...}, got \(node.typeName)")
            return nil
        }
        guard let typeNode = node["type"] else {
            let names = registry.names(of: kind)
            error(node.location, path, "missing \"type\": which \(kind.rawValue) plugin (one of \(names.joined(separator: ", ")))")
            return nil
        }
        guard let type = typeNode.stringValue else {
            error(typeNode.location, SpecPath.child(path, "type"), "expected a plugin name, got \(typeNode.typeName)")
            return nil
        }
        guard let registration = registry.registration(kind: kind, name: type) else {
            let names = registry.names(of: kind)
            var message = "unknown \(kind.rawValue) plugin \(shown(typeNode, "\"\(type)\""))" + Suggestions.didYouMean(type, names)
            if let other = PluginKind.allCases.first(where: { $0 != kind && registry.registration(kind: $0, name: type) != nil }) {
                message = "\"\(type)\" is a \(other.rawValue) plugin, not a \(kind.rawValue) plugin"
            }
            error(typeNode.location, SpecPath.child(path, "type"), message + " (available: \(names.joined(separator: ", ")))")
            return nil
        }
        var id = defaultID ?? type
        if let idNode = node["id"] {
            if let s = idNode.stringValue, !s.isEmpty { id = s } else {
                error(idNode.location, SpecPath.child(path, "id"), "\"id\" must be a non-empty string")
            }
        }
        let fields = registration.descriptor.fields + extra
        guard let values = object(node, fields: fields, path: path, known: ["type", "id"], context: "\(kind.rawValue) \"\(type)\"") else {
            return nil
        }
        let config = ComponentConfig(kind: kind, type: type, id: id, path: path, values: values, fields: fields)
        for problem in registration.descriptor.lint?(config) ?? [] {
            // At the key's node where the spec has it (a rule may be about a key that is missing).
            var at = node
            for part in (problem.key ?? "").split(separator: ".") {
                guard let child = at[String(part)] else { break }
                at = child
            }
            error(at.location, problem.path(in: path), problem.message)
        }
        return config
    }

    /// `text` (the value as the message would show it), or for an interpolated value where it came from.
    private func shown(_ node: SpecNode, _ text: String) -> String {
        node.template.map { "the value of \"\($0)\"" } ?? text
    }

    private func show(_ node: SpecNode) -> String {
        if let template = node.template { return " (the value of \"\(template)\")" }
        switch node.kind {
        case .string(let s, _): return " \"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .int, .double, .bool: return " \(node.json)"
        default: return ""
        }
    }
}

extension ComponentConfig {
    /// The config as JSON, as stored inside another component's resolved values.
    func asJSON(withID: Bool) -> JSONValue {
        .object([("type", .string(type))] + (withID ? [("id", .string(id))] : []) + values)
    }
}
