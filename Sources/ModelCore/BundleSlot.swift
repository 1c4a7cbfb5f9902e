import Foundation
import PipelineHost
import Synchronization

/// What a plugin derives from its model bundle (the model, the scaler…), available from build time for a
/// local directory and from `start()` for an `s3://` bundle: plugins are built synchronously, and reading S3 is
/// async I/O that must not block a thread of the concurrency pool. A local bundle still fails at build time.
///
/// Stages of one build that name the same bundle share one read of it (`SharedResources`): the feature scaler
/// and the scorer parse the model once, and an S3 bundle is downloaded once.
public final class BundleSlot<Value: Sendable>: Sendable {
    public let location: String
    private let read: SharedBundleRead?
    private let derive: @Sendable (ModelBundle) throws -> Value
    private let value: Mutex<Value?>

    public init(_ location: String, environment: [String: String], shared: SharedResources = SharedResources(),
                derive: @escaping @Sendable (ModelBundle) throws -> Value) throws {
        self.location = location
        self.derive = derive
        if S3BundleLocation.isS3(location) {
            _ = try S3BundleLocation(url: location)  // a malformed URL is still a build-time error
            read = try shared.value(for: "model-bundle \(location)") { SharedBundleRead(location: location, environment: environment) }
            value = Mutex(nil)
        } else {
            read = nil
            value = Mutex(try derive(try shared.value(for: "model-bundle \(location)") { try ModelBundle(directory: location) }))
        }
    }

    /// Reads an S3 bundle (once for all the stages that share it); nothing to do for a local one.
    public func start() async throws {
        guard let read, value.withLock({ $0 == nil }) else { return }
        let loaded = try derive(try await read.bundle())
        value.withLock { $0 = loaded }
    }

    /// The derived value; throws when an S3 bundle is used before `start()` loaded it.
    public func get() throws -> Value {
        guard let v = value.withLock({ $0 }) else {
            throw PipelineError(.internal, "model bundle used before its stage started", at: location)
        }
        return v
    }
}

/// One download of an S3 bundle, shared by the stages of a build that name it.
final class SharedBundleRead: Sendable {
    let location: String
    let environment: [String: String]
    private let task = Mutex<Task<ModelBundle, any Error>?>(nil)

    init(location: String, environment: [String: String]) {
        self.location = location
        self.environment = environment
    }

    func bundle() async throws -> ModelBundle {
        let (location, environment) = (location, environment)
        let t = task.withLock { t in
            if let t { return t }
            let started = Task { try await ModelBundle.load(location, environment: environment) }
            t = started
            return started
        }
        return try await t.value
    }
}

extension ModelBundle {
    /// What a scaled feature vector made with this bundle means (`FieldContract`): its features in order and
    /// its scaler's values, bit for bit. A scorer whose bundle gives another identity than the scaler's before
    /// it would score vectors it does not understand.
    public func featureContract(field: String) -> FieldContract {
        Self.featureContract(field: field, features: features, scaler: scaler, version: version, location: location)
    }

    static func featureContract(field: String, features: [String], scaler: FeatureScaler, version: String, location: String) -> FieldContract {
        var identity = features.joined(separator: ",")
        for i in scaler.mean.indices {
            identity += ";\(scaler.mean[i].bitPattern),\(i < scaler.scale.count ? scaler.scale[i].bitPattern : 0)"
        }
        return FieldContract(field: field, identity: identity,
                             summary: "the features of bundle \(location) (version \(version), \(features.count) features and their scaling)")
    }

    /// The feature contract of a local bundle from its manifest and scaler alone (no model), for the spec's
    /// lint; nil for an S3 bundle or one that cannot be read (building the stage reports why).
    public static func localFeatureContract(_ location: String, field: String) -> FieldContract? {
        guard !S3BundleLocation.isS3(location),
              let manifestData = FileManager.default.contents(atPath: location + "/manifest.json"),
              let scalerData = FileManager.default.contents(atPath: location + "/scaler.json"),
              let manifest = try? DocumentParser.parseValue(Array(manifestData)),
              let (version, features) = try? versionAndFeatures(manifest, location: location),
              let scalerJSON = try? DocumentParser.parseValue(Array(scalerData)),
              let scaler = try? FeatureScaler(json: scalerJSON)
        else { return nil }
        return featureContract(field: field, features: features, scaler: scaler, version: version, location: location)
    }
}
