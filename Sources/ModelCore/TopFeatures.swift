import PipelineHost

/// The `top_features` field of an explained alert: `[{"name", "contribution", "value"}]`, the features with the
/// largest |TreeSHAP contribution|, largest first. One builder for every scorer that explains (local_model, the
/// model server, the sagemaker scorer's local fallback), so an alert reads the same whichever scored it.
public enum TopFeatures {
    public static let field = "top_features"

    /// The `top` features of `c` by |contribution| (ties: feature order), each with `value(i)`: the value an
    /// analyst recognises for feature i (null for a missing value).
    public static func json(_ c: XGBoostModel.Contributions, names: [String], top: Int, value: (Int) -> JSONValue) -> JSONValue {
        .array(order(c, top: top).map { i in
            .object([("name", .string(name(i, names))), ("contribution", .double(c.features[i])), ("value", value(i))])
        })
    }

    /// `json`'s value as JSON text, as JSONWriter writes it, without building the value: for
    /// `Record.setEncoded`, which the sinks write as it is.
    public static func encoded(_ c: XGBoostModel.Contributions, names: [String], top: Int, value: (Int) -> JSONValue) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + 96 * top)
        w.append("[")
        for (k, i) in order(c, top: top).enumerated() {
            w.append(k == 0 ? "{\"name\":" : ",{\"name\":")
            w.writeString(name(i, names))
            w.append(",\"contribution\":")
            w.writeDouble(c.features[i])
            w.append(",\"value\":")
            w.write(value(i))
            w.append("}")
        }
        w.append("]")
        return w.bytes
    }

    /// The indices of the `top` largest |contributions|, largest first (ties: feature order).
    static func order(_ c: XGBoostModel.Contributions, top: Int) -> ArraySlice<Int> {
        c.features.indices.sorted {
            abs(c.features[$0]) != abs(c.features[$1]) ? abs(c.features[$0]) > abs(c.features[$1]) : $0 < $1
        }.prefix(top)
    }

    static func name(_ i: Int, _ names: [String]) -> String { i < names.count ? names[i] : "f\(i)" }

    /// A number as JSON: whole numbers (counts, codes, hours) as integers, so an alert reads "2", not "2.0".
    public static func number(_ d: Double) -> JSONValue {
        d == d.rounded() && abs(d) < 9e15 ? .int(Int64(d)) : .double(d)
    }

    /// The value of feature `name` as the record holds it: its own numeric field, else a derived feature
    /// (hour_of_day) computed from the fields it derives from; nil when neither.
    public static func recordValue(_ name: String, _ field: (String) -> JSONValue?) -> JSONValue? {
        if let v = field(name), v.doubleValue != nil { return v }
        guard let derived = DerivedFeatures.value(of: name, lookup: { field($0)?.doubleValue }), let d = derived else { return nil }
        return number(d)
    }

    /// A scaled model input mapped back through the scaler to the raw value (rounded to 6 decimals, which the
    /// Float round trip cannot beat anyway); null for a missing value.
    public static func unscaled(_ x: Float, at i: Int, scaler: FeatureScaler) -> JSONValue {
        guard !x.isNaN, i < scaler.mean.count else { return .null }
        let raw = Double(x) * scaler.scale[i] + scaler.mean[i]
        return .double((raw * 1e6).rounded() / 1e6)
    }
}

extension ModelBundle {
    /// `top_features` for one scaled row: each value is `raw(i)` when the caller has the record's own field,
    /// else the scaled input mapped back. nil when the model cannot be explained (not a tree model).
    public func topFeatures(scaled x: UnsafeBufferPointer<Float>, top: Int, raw: (Int) -> JSONValue?) -> JSONValue? {
        guard let c = model.contributions(x) else { return nil }
        return TopFeatures.json(c, names: model.featureNames, top: top) { i in
            raw(i) ?? TopFeatures.unscaled(x[i], at: i, scaler: scaler)
        }
    }
}
