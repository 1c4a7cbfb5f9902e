import Foundation

/// A validated pipeline spec: which plugins, wired in which order, with which settings.
public struct PipelineSpec: Sendable {
    public struct SinkSpec: Sendable {
        public var config: ComponentConfig
        /// Only records matching this go to the sink; nil means all.
        public var when: Condition?
    }

    public struct CheckpointSettings: Sendable, Equatable {
        public var directory: String
        public var interval: Double
    }

    public struct AdminSettings: Sendable, Equatable {
        public var host: String
        public var port: Int
    }

    public struct RuntimeSettings: Sendable, Equatable {
        public var channelCapacity: Int
        public var shutdownTimeout: Double
        public var statusInterval: Double
        /// Workers of each keyed stage (`KeyShards`); nil: as many as there are cores beyond one per stage.
        public var parallelism: Int?
    }

    public struct MetricsSettings: Sendable, Equatable {
        /// The field with each record's event time, for the event time → acknowledgement latency.
        public var eventTimeField: String?
        public var cloudwatch: CloudWatchSettings?
    }

    /// CloudWatch metrics as Embedded Metric Format lines on stdout (shipped by the awslogs driver).
    public struct CloudWatchSettings: Sendable, Equatable {
        public var namespace: String
        public var interval: Double
    }

    public var file: String
    public var name: String
    public var source: ComponentConfig
    public var transforms: [ComponentConfig]
    public var sinks: [SinkSpec]
    public var deadLetter: ComponentConfig
    public var checkpoint: CheckpointSettings
    public var admin: AdminSettings?
    public var runtime: RuntimeSettings
    public var metrics = MetricsSettings()

    // MARK: The spec format, declared once (validation and the JSON Schema both read these).

    public static let componentCommonFields: [FieldSpec] = [
        FieldSpec("type", .string, .required, doc: "The plugin to run (see `pipeline-host plugins`)."),
        FieldSpec("id", .string, doc: "A name for this component, unique in the pipeline; defaults to the plugin name (\"source\" for the source, \"dead_letter\" for the dead-letter output). Names checkpointed state, metrics and dead-letter entries."),
    ]

    public static let sinkCommonFields: [FieldSpec] = [
        FieldSpec("when", .condition, doc: "Only records that match go to this sink, e.g. {\"field\": \"is_alert\", \"equals\": true}. Forms: field with equals, not_equals, in, exists, gt, gte, lt, lte; all, any, not.",
                  example: ["field": "is_alert", "equals": true]),
    ]

    public static let topLevelFields: [FieldSpec] = [
        FieldSpec("name", .string, .required, doc: "Name of the pipeline: labels its logs and metrics and keys its checkpoints.", example: "fraud-scoring"),
        FieldSpec("source", .component(.source), .required, doc: "Where records come from."),
        FieldSpec("transforms", .array(.component(.transform)), .defaultValue([]), doc: "Steps applied in order to every batch."),
        FieldSpec("sinks", .array(.component(.sink)), .required, doc: "Where records go; each sink gets the records that match its `when`."),
        FieldSpec("dead_letter", .component(.sink), doc: "Where records that fail go, with the reason, the stage and the original payload. Default: a file sink at data/<name>/dead-letter.jsonl."),
        FieldSpec("checkpoint", .object(checkpointFields), .defaultValue([:]), doc: "How progress and state are stored."),
        FieldSpec("admin", .object(adminFields), doc: "The admin HTTP server (/metrics, /health, /ready); off when absent."),
        FieldSpec("runtime", .object(runtimeFields), .defaultValue([:]), doc: "Buffers, shutdown and status settings."),
        FieldSpec("metrics", .object(metricsFields), .defaultValue([:]), doc: "Latency measurement and CloudWatch metrics."),
    ]

    static let metricsFields: [FieldSpec] = [
        FieldSpec("event_time_field", .string, doc: "The field with each record's event time (seconds since 1970), for the event time → sink acknowledgement latency. Default: the time_field of the first transform that has one."),
        FieldSpec("cloudwatch", .object(cloudwatchFields), doc: "Publish CloudWatch metrics as Embedded Metric Format lines on stdout (the ECS awslogs driver ships them; no API calls); off when absent."),
    ]

    static let cloudwatchFields: [FieldSpec] = [
        FieldSpec("namespace", .string, .defaultValue("FraudPipeline"), doc: "The CloudWatch namespace (the Terraform alarms read FraudPipeline)."),
        FieldSpec("interval", .duration, .defaultValue("60s"), doc: "Time between metric lines: the resolution of the alarms' periods."),
    ]

    static let checkpointFields: [FieldSpec] = [
        FieldSpec("dir", .string, doc: "Directory of the local checkpoint store. Default: data/<name>/checkpoint."),
        FieldSpec("interval", .duration, .defaultValue("5s"), doc: "Time between checkpoints."),
    ]

    static let adminFields: [FieldSpec] = [
        FieldSpec("address", .string, .defaultValue("127.0.0.1:9090"), doc: "host:port to listen on."),
    ]

    static let runtimeFields: [FieldSpec] = [
        FieldSpec("channel_capacity", .int(min: 1, max: 1024), .defaultValue(4), doc: "Batches buffered between two stages before the earlier one waits (high watermark; resumes at half). While a transform loads reference data at start, the source may read up to 64 batches ahead."),
        FieldSpec("shutdown_timeout", .duration, .defaultValue("30s"), doc: "On SIGINT/SIGTERM: how long draining, flushing and the final checkpoint may take."),
        FieldSpec("status_interval", .duration, .defaultValue("10s"), doc: "Time between status lines when stderr is not a terminal."),
        FieldSpec("parallelism", .int(min: 1, max: 64),
                  doc: "Workers of each keyed stage (rolling_aggregates): its keys are split among them by a hash of the key, each key's records stay in order, and the checkpoint holds the same state whatever the number (a restart may change it). Default: one, plus one for each core left over after one per stage (every stage already runs on its own task; cores as a container's CPU quota allows); more workers than spare cores only add hand-offs (docs/benchmarks.md).",
                  example: 2),
    ]

    // MARK: Loading

    public static func load(path: String, registry: PluginRegistry, environment: [String: String]) throws(SpecErrors) -> PipelineSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            // Why, as the system says it (no such file, permission denied); a directory opens, so it is named.
            var isDirectory: ObjCBool = false
            let why = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue ? "it is a directory"
                : access(path, R_OK) != 0 ? String(cString: strerror(errno)) : "it cannot be read"
            throw SpecErrors([.init(file: path, location: .init(line: 0, column: 0), path: "$", message: "cannot read the spec file: \(why)")])
        }
        return try parse(Array(data), file: path, registry: registry, environment: environment)
    }

    public static func parse(_ text: [UInt8], file: String, registry: PluginRegistry, environment: [String: String]) throws(SpecErrors) -> PipelineSpec {
        let root: SpecNode
        do {
            root = try DocumentParser.parse(text)
        } catch {
            throw SpecErrors([.init(file: file, location: error.location, path: "$", message: "invalid JSON: \(error.message)")])
        }
        var diagnostics: [SpecDiagnostic] = []
        let node = Interpolation.apply(to: root, path: "$", env: environment, file: file, into: &diagnostics)
        var v = SpecValidator(registry: registry, file: file)
        v.errors = diagnostics
        let spec = build(node, &v, file: file)
        if !v.errors.isEmpty { throw SpecErrors(v.errors) }
        return spec!
    }

    private static func build(_ node: SpecNode, _ v: inout SpecValidator, file: String) -> PipelineSpec? {
        guard let members = node.members else {
            v.error(node.location, "$", "a spec is a JSON object, got \(node.typeName)")
            return nil
        }
        let names = topLevelFields.map(\.name)
        for m in members where !names.contains(m.key) {
            v.error(m.keyLocation, SpecPath.child("$", m.key), "unknown key \"\(m.key)\" at the top level" + Suggestions.didYouMean(m.key, names))
        }
        func required(_ key: String) -> SpecNode? {
            if let n = node[key] { return n }
            let f = topLevelFields.first { $0.name == key }!
            v.error(node.location, SpecPath.child("$", key), "missing required key \"\(key)\" (\(f.doc))")
            return nil
        }
        let name = required("name").flatMap { n -> String? in
            guard let s = n.stringValue, !s.isEmpty else {
                v.error(n.location, "$.name", n.stringValue == nil ? "expected a non-empty string, got \(n.typeName)" : "the name is empty")
                return nil
            }
            return s
        }
        let source = required("source").flatMap { v.component($0, kind: .source, path: "$.source", defaultID: "source") }
        var transforms: [ComponentConfig] = []
        if let t = node["transforms"] {
            if let items = t.elements {
                for (i, item) in items.enumerated() {
                    if let c = v.component(item, kind: .transform, path: "$.transforms[\(i)]") { transforms.append(c) }
                }
            } else { v.error(t.location, "$.transforms", "expected an array of transform components, got \(t.typeName)") }
        }
        var sinks: [SinkSpec] = []
        if let s = required("sinks") {
            if let items = s.elements, !items.isEmpty {
                for (i, item) in items.enumerated() {
                    let path = "$.sinks[\(i)]"
                    guard let c = v.component(item, kind: .sink, path: path, extra: sinkCommonFields) else { continue }
                    var when: Condition?
                    if let w = item["when"] { when = Condition.parse(w, path: path + ".when", file: file, into: &v.errors) }
                    sinks.append(SinkSpec(config: c, when: when))
                }
            } else { v.error(s.location, "$.sinks", "expected a non-empty array of sink components") }
        }
        var deadLetter: ComponentConfig?
        if let d = node["dead_letter"] { deadLetter = v.component(d, kind: .sink, path: "$.dead_letter", defaultID: "dead_letter") }

        func section(_ key: String) -> ComponentConfig? {
            let f = topLevelFields.first { $0.name == key }!
            guard case .object(let fields) = f.type else { return nil }
            let n = node[key] ?? SpecNode(json: f.defaultValue ?? .object([]), at: node.location)
            guard let values = v.object(n, fields: fields, path: "$.\(key)", context: "\"\(key)\"") else { return nil }
            return ComponentConfig(kind: .source, type: key, id: key, path: "$.\(key)", values: values, fields: fields)
        }
        let checkpointSection = section("checkpoint")
        let runtimeSection = section("runtime")
        let metricsSection = section("metrics")
        var admin: AdminSettings?
        if node["admin"] != nil, let a = section("admin") {
            let address = a.string("address")
            if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port) {
                admin = AdminSettings(host: String(address[..<colon]), port: port)
            } else {
                let shown = node["admin"]!["address"]?.template.map { "the value of \"\($0)\"" } ?? "\"\(address)\""
                v.error(node["admin"]!["address"]?.location ?? node["admin"]!.location, "$.admin.address", "expected host:port, got \(shown)")
            }
        }

        // Ids name state in checkpoints, metrics and dead letters: they must be unique, also the ones a spec gives
        // nested components (an A/B variant's scorer).
        var seen: [String: String] = [:]
        for c in [source].compactMap({ $0 }) + transforms + sinks.map(\.config) + [deadLetter].compactMap({ $0 }) {
            for (id, path) in [(c.id, c.path)] + c.givenNestedIDs(v.registry) {
                if let other = seen[id] {
                    v.error(locate(node, path), path, "id \"\(id)\" is already used by \(other); give each component its own \"id\"")
                } else { seen[id] = path }
            }
        }

        if v.errors.isEmpty {
            let flows = DataFlowCheck(registry: v.registry)
            for p in flows.problems(transforms) + SinkConditionCheck(check: flows).problems(transforms, sinks) {
                v.error(locate(node, p.path), p.path, p.message)
            }
        }

        guard let name, let source, let checkpointSection, let runtimeSection, let metricsSection, v.errors.isEmpty else { return nil }
        var metrics = MetricsSettings()
        metrics.eventTimeField = metricsSection.optionalString("event_time_field")
            ?? transforms.lazy.compactMap { t in t.fields.contains { $0.name == "time_field" } ? t.optionalString("time_field") : nil }.first
        if metricsSection["cloudwatch"] != nil {
            let cw = metricsSection.nested("cloudwatch")
            metrics.cloudwatch = CloudWatchSettings(namespace: cw.optionalString("namespace") ?? "FraudPipeline",
                                                    interval: max(1, cw.optionalSeconds("interval") ?? 60))
        }
        let dlq = deadLetter ?? ComponentConfig(
            kind: .sink, type: "file", id: "dead_letter", path: "$.dead_letter (default)",
            values: defaultDeadLetterValues(name: name, registry: v.registry), fields: v.registry.registration(kind: .sink, name: "file")?.descriptor.fields ?? [])
        return PipelineSpec(
            file: file, name: name, source: source, transforms: transforms, sinks: sinks, deadLetter: dlq,
            checkpoint: CheckpointSettings(
                directory: checkpointSection.optionalString("dir") ?? "data/\(name)/checkpoint",
                interval: checkpointSection.seconds("interval")),
            admin: admin,
            runtime: RuntimeSettings(
                channelCapacity: runtimeSection.int("channel_capacity"),
                shutdownTimeout: runtimeSection.seconds("shutdown_timeout"),
                statusInterval: runtimeSection.seconds("status_interval"),
                parallelism: runtimeSection.optionalInt("parallelism")),
            metrics: metrics)
    }

    private static func defaultDeadLetterValues(name: String, registry: PluginRegistry) -> [(String, JSONValue)] {
        guard let fields = registry.registration(kind: .sink, name: "file")?.descriptor.fields else { return [] }
        var v = SpecValidator(registry: registry, file: "")
        let node = SpecNode(json: .object([("path", .string("data/\(name)/dead-letter.jsonl"))]))
        return v.object(node, fields: fields, path: "$.dead_letter", context: "dead_letter") ?? []
    }

    /// The location of the node at a simple path like `$.sinks[1]`, for errors found after validation.
    private static func locate(_ root: SpecNode, _ path: String) -> SourceLocation {
        var node = root
        var rest = Substring(path.dropFirst())
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let end = rest.firstIndex { $0 == "." || $0 == "[" } ?? rest.endIndex
                guard let n = node[String(rest[..<end])] else { break }
                node = n
                rest = rest[end...]
            } else if rest.hasPrefix("["), let close = rest.firstIndex(of: "]"), let i = Int(rest[rest.index(after: rest.startIndex)..<close]),
                      let items = node.elements, i < items.count {
                node = items[i]
                rest = rest[rest.index(after: close)...]
            } else { break }
        }
        return node.location
    }
}
