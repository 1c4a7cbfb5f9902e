import PipelineHost

/// A variant to replay: a model bundle, with the name and threshold it runs under.
public struct BacktestVariantSpec: Sendable, Equatable {
    public var name: String
    public var bundle: String
    /// nil: the bundle manifest's alert_threshold.
    public var threshold: Double?
    /// Where it was named (a `--bundle` option, or the spec's component path), for the report.
    public var origin: String

    public init(name: String, bundle: String, threshold: Double? = nil, origin: String) {
        self.name = name
        self.bundle = bundle
        self.threshold = threshold
        self.origin = origin
    }

    /// `[NAME=]PATH[@THRESHOLD]`, as `--bundle` takes it.
    public static func parse(_ text: String) throws -> BacktestVariantSpec {
        var rest = Substring(text)
        var name: String?
        if let eq = rest.firstIndex(of: "="), !rest[..<eq].contains("/") {
            name = String(rest[..<eq])
            rest = rest[rest.index(after: eq)...]
        }
        var threshold: Double?
        if let at = rest.lastIndex(of: "@") {
            guard let t = Double(rest[rest.index(after: at)...]), t >= 0, t <= 1 else {
                throw PipelineError(.config, "--bundle \(text): the threshold after @ must be a number from 0 to 1")
            }
            threshold = t
            rest = rest[..<at]
        }
        guard !rest.isEmpty else { throw PipelineError(.config, "--bundle \(text): no bundle path") }
        let path = String(rest)
        let fallback = path.split(separator: "/").last.map(String.init) ?? path
        return BacktestVariantSpec(name: name ?? fallback, bundle: path, threshold: threshold, origin: "--bundle \(text)")
    }

    /// The scorers of a spec's scoring stage, as variants: a `local_model`, the variants and shadow of an
    /// `ab_split`. A scorer with no bundle to replay (sagemaker) is an error that says to pass --bundle.
    public static func fromSpec(_ transforms: [ComponentConfig]) throws -> [BacktestVariantSpec] {
        var out: [BacktestVariantSpec] = []
        func scorer(_ json: JSONValue, name: String, at path: String) throws {
            let type = json["type"]?.stringValue ?? "?"
            guard type == "local_model", let bundle = json["bundle"]?.stringValue else {
                throw PipelineError(.config, "the \(type) scorer at \(path) has no model bundle to replay; name one with --bundle", at: path)
            }
            out.append(BacktestVariantSpec(name: name, bundle: bundle, threshold: json["threshold"]?.doubleValue, origin: path))
        }
        for t in transforms {
            switch t.type {
            case "local_model":
                out.append(BacktestVariantSpec(name: t.string("variant"), bundle: t.string("bundle"), threshold: t.optionalDouble("threshold"), origin: t.path))
            case "ab_split":
                for v in t.nestedArray("variants") {
                    try scorer(v["scorer"] ?? .null, name: v.string("name"), at: v.path + ".scorer")
                }
                if let shadow = t["shadow"] { try scorer(shadow, name: "shadow", at: t.path + ".shadow") }
            case "sagemaker":
                throw PipelineError(.config, "the sagemaker scorer at \(t.path) has no model bundle to replay; name one with --bundle", at: t.path)
            default:
                continue
            }
        }
        return out
    }

    /// Names made unique in order (a second "local" becomes "local-2").
    public static func uniqued(_ specs: [BacktestVariantSpec]) -> [BacktestVariantSpec] {
        var seen: [String: Int] = [:]
        return specs.map { s in
            var s = s
            let n = (seen[s.name] ?? 0) + 1
            seen[s.name] = n
            if n > 1 { s.name += "-\(n)" }
            return s
        }
    }
}
