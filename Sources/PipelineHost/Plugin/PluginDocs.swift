/// Human-readable plugin documentation, generated from the descriptors.
public enum PluginDocs {
    public static func index(_ registry: PluginRegistry) -> String {
        var out = ""
        for kind in PluginKind.allCases {
            let plugins = registry.registrations.filter { $0.descriptor.kind == kind }
            guard !plugins.isEmpty else { continue }
            out += "\(kind.rawValue.uppercased())S\n"
            let width = plugins.map(\.descriptor.name.count).max() ?? 0
            for p in plugins {
                out += "  " + p.descriptor.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + p.descriptor.summary + "\n"
            }
            out += "\n"
        }
        out += "Run `pipeline-host plugins NAME` for the fields of one plugin.\n"
        return out
    }

    public static func page(_ d: PluginDescriptor, commonSinkFields: Bool) -> String {
        var out = "\(d.name) (\(d.kind.rawValue))\n\n\(d.summary)\n"
        if !d.description.isEmpty { out += "\n\(d.description)\n" }
        out += "\nFIELDS\n"
        let fields = d.fields + (commonSinkFields ? PipelineSpec.sinkCommonFields : [])
        out += fieldLines(fields, indent: "  ")
        if !d.examples.isEmpty {
            out += "\nEXAMPLES\n"
            for e in d.examples { out += e.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n\n" }
        }
        return out
    }

    static func fieldLines(_ fields: [FieldSpec], indent: String) -> String {
        var out = ""
        for f in fields.sorted(by: { !$0.advanced && $1.advanced }) {
            var req: String
            switch f.requirement {
            case .required: req = "required"
            case .optional: req = "optional"
            case .defaultValue(let v): req = "default \(v)"
            }
            out += "\(indent)\(f.name)  (\(f.type.displayName); \(req))\n"
            out += "\(indent)    \(f.doc)\n"
            if let e = f.example { out += "\(indent)    example: \(e)\n" }
            if case .object(let sub) = f.type { out += fieldLines(sub, indent: indent + "    ") }
        }
        return out
    }
}
