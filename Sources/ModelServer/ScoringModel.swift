import ModelCore
import PipelineHost

/// A loaded model bundle with what the request path needs ready: the feature assembler (the one the
/// local_model scorer and `pipeline-host score` use), the required fields, and the pre-rendered version.
final class ScoringModel: Sendable {
    /// The fields of the original FastAPI request; each is required when the bundle uses it. Every other
    /// feature (hour_of_day, the rolling aggregates) is optional: absent or null is a missing value, except
    /// that hour_of_day is derived from event_created_at_ts when absent.
    static let originalFields = [
        "age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code",
        "event_created_at_ts", "transaction_value", "channel_code",
    ]

    let bundle: ModelBundle
    let assembler: FeatureAssembler
    let required: [String]
    /// `,"model_version":"v1"}`: the tail of every JSON score object.
    let versionTail: [UInt8]

    var version: String { bundle.version }
    var featureCount: Int { bundle.features.count }

    init(bundle: ModelBundle) {
        self.bundle = bundle
        assembler = FeatureAssembler(names: bundle.features)
        required = Self.originalFields.filter(bundle.features.contains)
        var w = JSONWriter(capacity: 64)
        w.append(",\"model_version\":")
        w.writeString(bundle.version)
        w.append("}")
        versionTail = w.bytes
    }

    /// The score of one record of named raw values.
    func score(_ fields: [(String, JSONValue)]) throws(InvocationError) -> Float {
        bundle.model.predict(bundle.scaler.transform(try raw(fields)))
    }

    /// The raw (unscaled) feature values of one record, in model order, after the request's checks.
    func raw(_ fields: [(String, JSONValue)]) throws(InvocationError) -> [Double] {
        @inline(__always) func lookup(_ name: String) -> JSONValue? {
            for (k, v) in fields where k == name { return v }
            return nil
        }
        if fields.count > 32 {
            // A hostile body can carry hundreds of thousands of fields: the pairwise scan below would be quadratic.
            var seen = Set<String>(minimumCapacity: fields.count)
            for (key, _) in fields where !seen.insert(key).inserted {
                throw InvocationError(.duplicateField, "the field appears more than once", field: key)
            }
        } else if fields.count > 1 {
            for i in 1..<fields.count {
                let key = fields[i].0
                for j in 0..<i where fields[j].0 == key {
                    throw InvocationError(.duplicateField, "the field appears more than once", field: key)
                }
            }
        }
        for name in required {
            guard let v = lookup(name) else { throw InvocationError(.missingField, "required field is missing", field: name) }
            if v.isNull { throw InvocationError(.nullField, "required field is null", field: name) }
        }
        let raw: [Double]
        do { raw = try assembler.raw(lookup) } catch {
            if case .double(let d) = lookup(error.field), !d.isFinite {
                throw InvocationError(.nonFinite, "not a finite number", field: error.field)
            }
            throw InvocationError(.wrongType, error.message, field: error.field)
        }
        return raw
    }

    /// The score of one row of already scaled values in feature order (NaN = missing).
    func score(scaled row: UnsafeBufferPointer<Float>) -> Float {
        bundle.model.predict(row)
    }

    /// Appends the scores in `format`: JSON score objects (in an array when `batch`), or one per line for CSV.
    /// `reasons[i]`, when there is one, is row i's top_features (JSON only).
    func writeScores<C: Collection<Float>>(_ scores: C, as format: MediaFormat, batch: Bool, reasons: [JSONValue?] = [], into w: inout JSONWriter) {
        switch format {
        case .json:
            if batch { w.append("[") }
            var first = true
            for (i, p) in scores.enumerated() {
                if !first { w.append(",") }
                first = false
                if i < reasons.count, let r = reasons[i] {
                    // The version tail ends the object: write it without its brace, then the reasons.
                    w.append("{\"fraud_score\":")
                    w.writeDouble(Double(p))
                    w.appendRaw(versionTail.dropLast())
                    w.append(",\"top_features\":")
                    w.write(r)
                    w.append("}")
                } else {
                    writeJSON(p, to: &w)
                }
            }
            if batch { w.append("]") }
        case .csv:
            for p in scores {
                w.writeDouble(Double(p))
                w.append("\n")
            }
        }
    }

    /// Appends `{"fraud_score":p,"model_version":"v"}`.
    func writeJSON(_ p: Float, to w: inout JSONWriter) {
        w.append("{\"fraud_score\":")
        w.writeDouble(Double(p))
        w.appendRaw(versionTail)
    }
}
