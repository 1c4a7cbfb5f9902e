extension ComponentConfig {
    /// The ids the spec gives components nested in this one (an A/B variant's scorer, a shadow, a fallback, and
    /// the ones nested in those), with their paths. Ids name metrics and dead-letter stages, so the spec's
    /// uniqueness check covers these too; a nested component without an id is named by its parent.
    public func givenNestedIDs(_ registry: PluginRegistry) -> [(id: String, path: String)] {
        Self.givenIDs(in: values, fields: fields, path: path, registry)
    }

    private static func givenIDs(in values: [(String, JSONValue)], fields: [FieldSpec], path: String,
                                 _ registry: PluginRegistry) -> [(id: String, path: String)] {
        fields.flatMap { field in
            values.first { $0.0 == field.name }.map { givenIDs(in: $0.1, type: field.type, path: SpecPath.child(path, field.name), registry) } ?? []
        }
    }

    private static func givenIDs(in value: JSONValue, type: FieldType, path: String, _ registry: PluginRegistry) -> [(id: String, path: String)] {
        switch type {
        case .component(let kind):
            guard let name = value["type"]?.stringValue, let registration = registry.registration(kind: kind, name: name) else { return [] }
            let own = value["id"]?.stringValue.map { [(id: $0, path: path)] } ?? []
            return own + givenIDs(in: value.objectValue ?? [], fields: registration.descriptor.fields, path: path, registry)
        case .array(let element):
            return (value.arrayValue ?? []).enumerated().flatMap { i, e in givenIDs(in: e, type: element, path: "\(path)[\(i)]", registry) }
        case .object(let sub):
            return givenIDs(in: value.objectValue ?? [], fields: sub, path: path, registry)
        case .map(let element):
            return (value.objectValue ?? []).flatMap { k, e in givenIDs(in: e, type: element, path: SpecPath.child(path, k), registry) }
        default:
            return []
        }
    }
}
