import Foundation
import PipelineHost

/// A versioned model bundle: `model.json` (XGBoost JSON), `scaler.json` (StandardScaler) and
/// `manifest.json` (version, features, default alert threshold, training metrics), in a local directory or
/// under an S3 prefix.
public struct ModelBundle: Sendable {
    public let version: String
    public let features: [String]
    public let alertThreshold: Double
    public let model: XGBoostModel
    public let scaler: FeatureScaler
    public let manifest: JSONValue
    public let location: String

    public init(directory: String) throws {
        func load(_ name: String) throws -> JSONValue {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PipelineError(.config, "model bundle file is missing or unreadable", at: path)
            }
            do { return try DocumentParser.parseValue(Array(data)) } catch {
                throw PipelineError(.config, "invalid JSON: \(error)", at: path, underlying: error)
            }
        }
        try self.init(manifest: load("manifest.json"), model: load("model.json"), scaler: load("scaler.json"), location: directory)
    }

    /// Loads a bundle from a local directory or from a versioned S3 prefix `s3://bucket/prefix/vN/` (see
    /// `S3BundleLoader` for how region, endpoint and credentials are resolved from `environment`).
    public static func load(_ location: String, environment: [String: String]) async throws -> ModelBundle {
        if S3BundleLocation.isS3(location) {
            return try await S3BundleLoader.load(S3BundleLocation(url: location), environment: environment)
        }
        return try ModelBundle(directory: location)
    }

    /// The manifest's version and feature list.
    static func versionAndFeatures(_ manifest: JSONValue, location: String) throws -> (version: String, features: [String]) {
        guard let version = manifest["version"]?.stringValue else {
            throw PipelineError(.config, "manifest.json has no \"version\"", at: location)
        }
        guard let features = manifest["features"]?.arrayValue?.compactMap(\.stringValue), !features.isEmpty else {
            throw PipelineError(.config, "manifest.json has no \"features\"", at: location)
        }
        return (version, features)
    }

    public init(manifest: JSONValue, model modelJSON: JSONValue, scaler scalerJSON: JSONValue, location: String) throws {
        let (version, features) = try Self.versionAndFeatures(manifest, location: location)
        let scaler: FeatureScaler
        let model: XGBoostModel
        do {
            scaler = try FeatureScaler(json: scalerJSON)
            model = try XGBoostModel(json: modelJSON, featureNames: features)
        } catch {
            throw PipelineError(.config, "cannot load model bundle: \(error)", at: location, underlying: error)
        }
        guard scaler.featureNames == features else {
            throw PipelineError(.config, "scaler.json features \(scaler.featureNames) differ from the manifest's \(features)", at: location)
        }
        guard model.featureNames == features else {
            throw PipelineError(.config, "model.json features \(model.featureNames) differ from the manifest's \(features)", at: location)
        }
        self.version = version
        self.features = features
        self.alertThreshold = manifest["alert_threshold"]?.doubleValue ?? 0.5
        self.model = model
        self.scaler = scaler
        self.manifest = manifest
        self.location = location
    }
}

/// Builds a model's input vector from named fields: each feature by name; null or absent means missing (NaN),
/// except that a derived feature (hour_of_day) is computed when its field is absent; anything that is not a
/// number is an error naming the field.
public struct FeatureAssembler: Sendable {
    public let names: [String]
    let derived: [Bool]
    /// The names bound for record lookups (`raw(_ record:)`).
    let keys: [FieldKey]

    public init(names: [String]) {
        self.names = names
        derived = names.map { n in DerivedFeatures.sources.contains { $0.name == n } }
        keys = names.map(FieldKey.init)
    }

    public struct FieldError: Error, CustomStringConvertible, Sendable {
        public var field: String
        public var message: String
        public var description: String { "field \"\(field)\": \(message)" }
    }

    /// Raw (unscaled) values in feature order, from a record's fields.
    public func raw(_ record: Record) throws(FieldError) -> [Double] {
        try raw(feature: { record[keys[$0]] }, field: { record[$0] })
    }

    /// Raw (unscaled) values in feature order.
    public func raw(_ field: (String) -> JSONValue?) throws(FieldError) -> [Double] {
        try raw(feature: { field(names[$0]) }, field: field)
    }

    /// `feature(i)`: the value of feature i's own field; `field(name)`: any field (a derived feature's source).
    private func raw(feature: (Int) -> JSONValue?, field: (String) -> JSONValue?) throws(FieldError) -> [Double] {
        var out = [Double](repeating: .nan, count: names.count)
        for (i, name) in names.enumerated() {
            if let v = feature(i) {
                // An explicit null is a missing value, even for a feature that could be derived.
                if !v.isNull { out[i] = try number(v, name) }
            } else if derived[i] {
                var failure: FieldError?
                let value = DerivedFeatures.value(of: name) { source in
                    guard let v = field(source), !v.isNull else { return nil }
                    do throws(FieldError) { return try number(v, source) } catch { failure = error; return nil }
                }
                if let failure { throw failure }
                out[i] = (value ?? nil) ?? .nan
            }
        }
        return out
    }

    private func number(_ v: JSONValue, _ name: String) throws(FieldError) -> Double {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d):
            guard d.isFinite else { throw FieldError(field: name, message: "not a finite number") }
            return d
        default: throw FieldError(field: name, message: "expected a number, got \(v.typeName) \(v)")
        }
    }
}
