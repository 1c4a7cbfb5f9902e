import ModelCore
import PipelineHost

/// `local_model` scorer: evaluates an XGBoost JSON model in process, bit-exact with XGBoost's own predictions.
public final class LocalModelScorer: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "local_model",
        summary: "Scores records in process with the bundle's XGBoost model (no network; bit-exact with XGBoost).",
        description: """
            Reads the scaled vector that feature_scaler wrote and adds fraud_score, model_version, variant and \
            is_alert (score >= threshold). Supports gbtree models with objective binary:logistic, reg:logistic or \
            reg:squarederror, numeric and categorical splits. For alerts it also adds top_features: the features \
            with the largest TreeSHAP contributions to the margin (xgboost's pred_contribs), each with its raw value \
            ([{"name", "contribution", "value"}]); only alerts pay for it.
            """,
        fields: [
            FieldSpec("bundle", .string, .required,
                      doc: "Model bundle: a local directory, or a versioned S3 prefix s3://bucket/prefix/vN/ read at start-up (region and credentials as the AWS plugins resolve them; endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).",
                      example: "models/v1"),
            FieldSpec("input_field", .string, .defaultValue("features"), doc: "Field holding the scaled feature vector."),
            FieldSpec("threshold", .double(min: 0, max: 1), doc: "Alert threshold; default: the manifest's alert_threshold."),
            FieldSpec("variant", .string, .defaultValue("local"), doc: "Name recorded in the variant field."),
            FieldSpec("keep_features", .bool, .defaultValue(false), doc: "Keep the feature vector in the record after scoring."),
            // Off by default until explanations demonstrably cost under 5 % of throughput at 2 % alerts (docs/explained-alerts.md).
            FieldSpec("explain_top", .int(min: 0, max: 50), .defaultValue(0),
                      doc: "For alerts: how many features to list in top_features, largest |contribution| first (0: no explanations; a batch's alerts are explained together: with the 100-tree model about 5-15 µs of CPU each in a batch of many, up to about 100 µs for a lone alert)."),
        ],
        examples: [#"{"type": "local_model", "bundle": "models/v1"}"#],
        dataFlow: { config, _ in
            let input = config.string("input_field")
            return DataFlow(reads: [(input, "input_field")], writes: ScoreFields.all + (config.int("explain_top") > 0 ? [ScoreFields.topFeatures] : []),
                            requires: ModelBundle.localFeatureContract(config.string("bundle"), field: input).map { [($0, "bundle")] } ?? [],
                            kinds: ScoreFields.kinds)
        })

    /// What scoring needs from the bundle.
    struct Scoring: Sendable {
        let model: XGBoostModel
        let version: String
        let threshold: Double
        /// For the raw values of explained features.
        let scaler: FeatureScaler
        /// What the input vector must mean: the bundle's features, scaled by its scaler.
        let contract: FieldContract
    }

    let scoring: BundleSlot<Scoring>
    let input: String
    let inputKey: FieldKey
    // Bound once: a field set by name looks its name up in the process-wide table every time.
    static let scoreFields = FieldList(ScoreFields.all)
    static let topFeaturesKey = FieldKey(ScoreFields.topFeatures)
    let variant: String
    let keepFeatures: Bool
    let explainTop: Int

    let id: String

    public init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        let threshold = config.optionalDouble("threshold")
        let input = config.string("input_field")
        let explains = config.int("explain_top") > 0
        scoring = try BundleSlot(config.string("bundle"), environment: context.environment, shared: context.shared) { bundle in
            // The TreeSHAP tables (tens of milliseconds to build) now, with the bundle, not in the first alert's batch.
            if explains { _ = bundle.model.explainsWithTables }
            return Scoring(model: bundle.model, version: bundle.version, threshold: threshold ?? bundle.alertThreshold, scaler: bundle.scaler,
                    contract: bundle.featureContract(field: input))
        }
        self.input = input
        inputKey = FieldKey(input)
        variant = config.string("variant")
        keepFeatures = config.bool("keep_features")
        explainTop = config.int("explain_top")
    }

    public func start(_ context: StageContext) async throws {
        try await scoring.start()
    }

    public func process(_ batch: inout Batch) async throws {
        let scoring = try scoring.get()
        let model = scoring.model
        let n = model.featureCount
        let versionValue = JSONValue.string(scoring.version), variantValue = JSONValue.string(variant)
        // The batch's vectors one after another, scored in one call (tree by tree over the batch), then written.
        var rows: [Float] = []
        rows.reserveCapacity(batch.records.count * n)
        batch.removeFailures(stage: id) { record in
            if let typed = record.vector(inputKey) {
                // What feature_scaler wrote, as floats: no JSON on the way.
                guard typed.count == n else { return "feature vector has \(typed.count) values, the model needs \(n)" }
                rows += typed
            } else {
                guard let values = record[inputKey]?.arrayValue else {
                    return "no feature vector in field \"\(input)\" (is feature_scaler before the scorer?)"
                }
                guard values.count == n else { return "feature vector has \(values.count) values, the model needs \(n)" }
                for v in values { rows.append(v.doubleValue.map(Float.init) ?? .nan) }
            }
            return nil
        }
        let scores = rows.withUnsafeBufferPointer { model.predictions(rows: $0, count: batch.records.count) }
        // Alerts are explained together after scoring: TreeSHAP goes tree by tree over all of them.
        var explain: [Int] = []
        var vectors: [Float] = []
        for i in batch.records.indices {
            let score = scores[i]
            let alert = Double(score) >= scoring.threshold
            batch.records[i].set(Self.scoreFields) { j in
                switch j {
                case 0: .double(Double(score))
                case 1: versionValue
                case 2: variantValue
                default: .bool(alert)
                }
            }
            if explainTop > 0 && alert {
                explain.append(i)
                vectors += rows[i * n..<(i + 1) * n]
            }
            if !keepFeatures { batch.records[i][inputKey] = nil }
        }
        guard !explain.isEmpty,
              let contributions = vectors.withUnsafeBufferPointer({ model.contributions(rows: $0, count: explain.count) })
        else { return }
        for (k, i) in explain.enumerated() {
            let row = Array(vectors[k * n..<(k + 1) * n])
            // As JSON text: both sinks write it as it is (building the value and writing it twice cost more than
            // a fifth of what explaining did).
            let json = Self.topFeatures(contributions[k], x: row, record: batch.records[i], scoring: scoring, top: explainTop)
            batch.records[i].setEncoded(Self.topFeaturesKey, json: json)
        }
    }

    /// `top_features` as JSON text: the `top` features by |contribution|, largest first, each with the value an
    /// analyst recognises: the record's own field when it has one, a derived feature (hour_of_day) computed from
    /// its source field, else the scaled input mapped back; null for a missing value.
    static func topFeatures(_ c: XGBoostModel.Contributions, x: [Float], record: Record, scoring: Scoring, top: Int) -> [UInt8] {
        let names = scoring.model.featureNames
        return TopFeatures.encoded(c, names: names, top: top) { i in
            if x[i].isNaN { return .null }
            return TopFeatures.recordValue(names[i]) { record[$0] } ?? TopFeatures.unscaled(x[i], at: i, scaler: scoring.scaler)
        }
    }
}

extension LocalModelScorer: FieldContracting {
    public var requiredFields: [FieldContract] { (try? scoring.get()).map { [$0.contract] } ?? [] }
}

extension LocalModelScorer: StatusDetailProviding {
    public func statusDetails() -> JSONValue {
        var d: [(String, JSONValue)] = [("variant", .string(variant))]
        if let s = try? scoring.get() {
            d.append(("model_version", .string(s.version)))
            d.append(("threshold", .double(s.threshold)))
        }
        return .object(d)
    }
}
