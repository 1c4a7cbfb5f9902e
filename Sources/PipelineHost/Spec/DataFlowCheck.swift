/// The data-flow lint of a spec: every field a transform reads must not be one that only a later transform
/// writes. A field no transform writes is left alone: it may come from the source, whose fields are not
/// declared; so is one whose later writers also read it (they overwrite a field that must exist already).
/// Not checked: what `feature_scaler` reads (its bundle's feature list is known only once the bundle loads).
struct DataFlowCheck {
    let registry: PluginRegistry

    /// The declared flow of a transform; nil when its plugin declares none.
    func flow(of config: ComponentConfig) -> DataFlow? {
        guard let of = registry.registration(kind: .transform, name: config.type)?.descriptor.dataFlow else { return nil }
        return of(config) { nested in flow(ofNested: nested) }
    }

    /// The flow of a nested component, given as its validated JSON (`{"type": ..., fields...}`).
    func flow(ofNested json: JSONValue) -> DataFlow {
        let type = json["type"]?.stringValue ?? ""
        guard let reg = registry.registration(kind: .transform, name: type) else { return DataFlow() }
        let values = (json.objectValue ?? []).filter { $0.0 != "type" && $0.0 != "id" }
        let config = ComponentConfig(kind: .transform, type: type, id: json["id"]?.stringValue ?? type, path: "",
                                     values: values, fields: reg.descriptor.fields)
        return flow(of: config) ?? DataFlow()
    }

    /// One problem per read that a later transform provides: (path of the reading key, message).
    func problems(_ transforms: [ComponentConfig]) -> [(path: String, message: String)] {
        let flows = transforms.map { flow(of: $0) }
        var written: Set<String> = []
        var out: [(String, String)] = []
        for (i, t) in transforms.enumerated() {
            guard let f = flows[i] else { continue }
            for read in f.reads where !written.contains(read.field) {
                // A later transform that reads the field too only overwrites it (a join whose fields include its key):
                // the field must come from upstream anyway, so it proves nothing.
                guard let j = (i + 1..<transforms.count).first(where: { k in
                    flows[k].map { $0.writes.contains(read.field) && !$0.reads.contains { $0.field == read.field } } ?? false
                }) else { continue }
                let later = transforms[j]
                out.append((t.path + "." + read.key,
                            "transform \"\(t.id)\" reads \"\(read.field)\", which only the later transform \"\(later.id)\" (\(later.path)) writes: "
                                + "every record would fail here; put \"\(later.id)\" before \"\(t.id)\""))
            }
            written.formUnion(f.writes)
        }
        // What a field means, where the configs tell (a local bundle's features and scaler).
        let steps = zip(transforms, flows).compactMap { t, f in
            f.map { FieldContractCheck.Step(config: t, writes: $0.writes, promises: $0.promises, requires: $0.requires) }
        }
        return out + FieldContractCheck.problems(steps)
    }
}
