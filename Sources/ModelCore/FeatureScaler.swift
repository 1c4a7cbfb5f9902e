import PipelineHost

/// sklearn's StandardScaler as stored in `scaler.json`: `z = Float((x - mean) / scale)` with the subtract
/// and divide in Double, as sklearn does; a NaN input stays NaN. Doing this in Float32 moves values that sit
/// exactly on split thresholds and changes about a third of predictions.
public struct FeatureScaler: Sendable {
    public let featureNames: [String]
    public let mean: [Double]
    public let scale: [Double]

    public init(featureNames: [String], mean: [Double], scale: [Double]) {
        self.featureNames = featureNames
        self.mean = mean
        self.scale = scale
    }

    public init(json: JSONValue) throws {
        func numbers(_ key: String) throws -> [Double] {
            guard let a = json[key]?.arrayValue else { throw XGBoostModel.LoadError(message: "scaler.json has no \"\(key)\" array") }
            return try a.map { v in
                guard let d = v.doubleValue else { throw XGBoostModel.LoadError(message: "scaler.json \"\(key)\" holds a non-number") }
                return d
            }
        }
        guard let names = json["feature_names"]?.arrayValue?.compactMap(\.stringValue), !names.isEmpty else {
            throw XGBoostModel.LoadError(message: "scaler.json has no \"feature_names\"")
        }
        let mean = try numbers("mean"), scale = try numbers("scale")
        guard mean.count == names.count, scale.count == names.count else {
            throw XGBoostModel.LoadError(message: "scaler.json: \(names.count) names, \(mean.count) means, \(scale.count) scales")
        }
        guard scale.allSatisfy({ $0 != 0 && $0.isFinite }) else { throw XGBoostModel.LoadError(message: "scaler.json: a scale is zero or not finite") }
        self.init(featureNames: names, mean: mean, scale: scale)
    }

    @inline(__always)
    public func scale(_ x: Double, at i: Int) -> Float {
        Float((x - mean[i]) / scale[i])
    }

    public func transform(_ raw: [Double]) -> [Float] {
        raw.indices.map { scale(raw[$0], at: $0) }
    }
}
