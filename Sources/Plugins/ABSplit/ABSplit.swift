import Metrics
import PipelineHost
import Synchronization

/// `ab_split` transform: sends each record to one of several scorers, chosen deterministically by a hash of
/// a key field with weights, and optionally also to a shadow scorer whose score is recorded but never alerts.
public final class ABSplit: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "ab_split",
        summary: "Splits records between scorers by a stable hash of a key (A/B), and runs an optional shadow scorer.",
        description: """
            The same key always goes to the same variant (FNV-1a hash of the key's text, so every host and every \
            restart agrees). Each record gets variant = the chosen variant's name. The shadow scorer sees a copy \
            of every record: its score lands in shadow_score and shadow_model_version, and its is_alert is dropped, \
            so only the champion alerts. The shadow never costs a record: where it refuses one, or fails on the \
            whole batch, the record goes on with its variant's score and shadow_error says why.
            """,
        fields: [
            FieldSpec("key_field", .string, .defaultValue("user_id"), doc: "Field whose value picks the variant."),
            FieldSpec("variants", .array(.object([
                FieldSpec("name", .string, .required, doc: "Variant name, recorded in the variant field."),
                FieldSpec("weight", .double(min: 0), .required, doc: "Relative share of keys."),
                FieldSpec("scorer", .component(.transform), .required, doc: "The scorer (a transform such as local_model or sagemaker)."),
            ])), .required, doc: "The variants, with weights."),
            FieldSpec("shadow", .component(.transform), doc: "A challenger scored on every record for comparison only."),
        ],
        examples: [#"""
            {"type": "ab_split", "key_field": "user_id",
             "variants": [{"name": "champion", "weight": 90, "scorer": {"type": "local_model", "bundle": "models/v1"}},
                          {"name": "challenger", "weight": 10, "scorer": {"type": "local_model", "bundle": "models/v1", "threshold": 0.5}}],
             "shadow": {"type": "local_model", "bundle": "models/v1", "threshold": 0.3}}
            """#],
        dataFlow: { config, nested in
            var flow = DataFlow(reads: [(config.string("key_field"), "key_field")], writes: [ScoreFields.variant], kinds: ScoreFields.kinds)
            for v in config.nestedArray("variants") {
                if let scorer = v["scorer"] { flow = flow.including([nested(scorer)], at: String(v.path.dropFirst(config.path.count + 1)) + ".scorer") }
            }
            if let shadow = config["shadow"] {
                flow = flow.including([nested(shadow)], at: "shadow")
                flow.writes += [ScoreFields.shadowScore, ScoreFields.shadowModelVersion, ScoreFields.shadowError]
                flow.kinds[ScoreFields.shadowScore] = .number
            }
            return flow
        },
        lint: { config in
            config.nestedArray("variants").reduce(0) { $0 + $1.double("weight") } > 0 ? [] : [ConfigProblem("variant weights add up to 0", at: "variants")]
        })

    let keyField: String
    let variants: [(name: String, upper: Double, scorer: any Transform)]
    let shadow: (any Transform)?
    /// Records that went on without a shadow score (`shadow_error`): what an alarm on a shadow rollout watches,
    /// since a shadow compared on only part of the traffic says less than it seems to.
    let shadowErrorCounter: Counter?
    /// The same count and the last reason, for the status page.
    private let shadowErrorsSeen = Mutex<(count: Int, last: String?)>((0, nil))

    public init(config: ComponentConfig, context: BuildContext) throws {
        keyField = config.string("key_field")
        var cumulative = 0.0
        var built: [(String, Double, any Transform)] = []
        let specs = config.nestedArray("variants")
        try Self.descriptor.checkLint(config)
        let total = specs.reduce(0) { $0 + $1.double("weight") }
        for v in specs {
            cumulative += v.double("weight") / total
            // Named after the split and the variant: two variants' scorers of one type must not share an id (their
            // metrics and dead letters would be one).
            built.append((v.string("name"), cumulative, try context.registry.makeNestedTransform(
                v["scorer"]!, at: v.path + ".scorer", defaultID: "\(config.id).\(v.string("name"))", context)))
        }
        variants = built
        shadow = try config["shadow"].map {
            try context.registry.makeNestedTransform($0, at: config.path + ".shadow", defaultID: "\(config.id).shadow", context)
        }
        shadowErrorCounter = shadow == nil ? nil : Counter(label: "ab_split_shadow_errors_total", dimensions: [("transform", config.id)])
    }

    public func start(_ context: StageContext) async throws {
        for v in variants { try await v.scorer.start(context) }
        try await shadow?.start(context)
    }

    /// FNV-1a of the key's text, mapped to [0, 1).
    public static func bucket(_ key: String) -> Double {
        let h = FNV1a.hash(key)
        return Double(h % 1_000_000) / 1_000_000
    }

    func variantIndex(_ record: Record) -> Int {
        let key: String
        switch record[keyField] {
        case .string(let s)?: key = s
        case let v?: key = v.description
        case nil: key = ""
        }
        let b = Self.bucket(key)
        return variants.firstIndex { b < $0.upper } ?? variants.count - 1
    }

    /// Each record's place in the batch goes through the variants' scorers (which may dead-letter some) as its
    /// `tag`, so the results go back in order, each with its own shadow score. The tags the records came with are
    /// put back (an enclosing split's).
    public func process(_ batch: inout Batch) async throws {
        let incomingTags = batch.records.map(\.tag)
        func tagged(_ indices: some Sequence<Int>) -> [Record] {
            indices.map { i in
                var r = batch.records[i]
                r.tag = Int32(i)
                return r
            }
        }
        var shadowScores: [Int: (JSONValue?, JSONValue?)] = [:]
        var shadowErrors: [Int: String] = [:]
        if let shadow {
            // The shadow must never cost the champion a record: a record it refuses, or every record of a batch it
            // fails on, goes on with its variant's score and says why it has no shadow score.
            var copy = batch.subBatch(tagged(batch.records.indices))
            do {
                try await shadow.process(&copy)
                for r in copy.records where r.tag >= 0 {
                    shadowScores[Int(r.tag)] = (r[ScoreFields.score], r[ScoreFields.modelVersion])
                }
                for d in copy.deadLetters where d.record.tag >= 0 { shadowErrors[Int(d.record.tag)] = "\(d.stage): \(d.reason)" }
                for i in batch.records.indices where shadowScores[i] == nil && shadowErrors[i] == nil {
                    shadowErrors[i] = "the shadow returned no result for this record"
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                for i in batch.records.indices { shadowErrors[i] = "the shadow failed on the batch: \(error)" }
            }
            if !shadowErrors.isEmpty {
                shadowErrorCounter?.increment(by: shadowErrors.count)
                let last = shadowErrors.max { $0.key < $1.key }?.value
                shadowErrorsSeen.withLock { $0 = ($0.count + shadowErrors.count, last) }
            }
        }
        var groups = [[Int]](repeating: [], count: variants.count)
        for (i, r) in batch.records.enumerated() { groups[variantIndex(r)].append(i) }
        var results = [Record?](repeating: nil, count: batch.records.count)
        for (v, indices) in groups.enumerated() where !indices.isEmpty {
            var sub = batch.subBatch(tagged(indices))
            try await variants[v].scorer.process(&sub)
            for d in sub.deadLetters {
                var record = d.record
                if record.tag >= 0 && Int(record.tag) < incomingTags.count { record.tag = incomingTags[Int(record.tag)] }
                batch.deadLetter(record, reason: d.reason, stage: d.stage)
            }
            for var r in sub.records {
                guard r.tag >= 0, Int(r.tag) < results.count else {
                    throw PipelineError(.internal, "the scorer of variant \(variants[v].name) returned a record it was not given")
                }
                let i = Int(r.tag)
                r.tag = incomingTags[i]
                r[ScoreFields.variant] = .string(variants[v].name)
                if let (score, version) = shadowScores[i] {
                    r[ScoreFields.shadowScore] = score ?? .null
                    r[ScoreFields.shadowModelVersion] = version ?? .null
                } else if let error = shadowErrors[i] {
                    r[ScoreFields.shadowError] = .string(error)
                }
                results[i] = r
            }
        }
        batch.records = results.compactMap { $0 }
    }

    public func stop() async {
        for v in variants { await v.scorer.stop() }
        await shadow?.stop()
    }
}

extension ABSplit: StatusDetailProviding {
    /// The split in force (percent of keys per variant) and what each variant's scorer reports.
    public func statusDetails() -> JSONValue {
        var lower = 0.0
        var split: [(String, JSONValue)] = []
        for v in variants {
            var entry: [(String, JSONValue)] = [("percent", .double(((v.upper - lower) * 10000).rounded() / 100))]
            if let p = v.scorer as? any StatusDetailProviding { entry.append(("scorer", p.statusDetails())) }
            split.append((v.name, .object(entry)))
            lower = v.upper
        }
        var d: [(String, JSONValue)] = [("key_field", .string(keyField)), ("split", .object(split))]
        if let shadow {
            d.append(("shadow", (shadow as? any StatusDetailProviding)?.statusDetails() ?? .string("on")))
            // Records that went on without a shadow score: a shadow compared on part of the traffic only.
            let seen = shadowErrorsSeen.withLock { $0 }
            d.append(("shadow_errors", .int(Int64(seen.count))))
            if let last = seen.last { d.append(("last_shadow_error", .string(last))) }
        }
        return .object(d)
    }
}

extension ABSplit: FieldContracting {
    /// What its scorers require of the record they all read.
    public var requiredFields: [FieldContract] {
        (variants.map(\.scorer) + (shadow.map { [$0] } ?? [])).flatMap { ($0 as? any FieldContracting)?.requiredFields ?? [] }
    }
}
