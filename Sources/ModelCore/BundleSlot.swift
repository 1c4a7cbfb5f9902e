import PipelineHost
import Synchronization

/// What a plugin derives from its model bundle (the model, the scaler…), available from build time for a
/// local directory and from `start()` for an `s3://` bundle: plugins are built synchronously, and reading S3 is
/// async I/O that must not block a thread of the concurrency pool. A local bundle still fails at build time.
public final class BundleSlot<Value: Sendable>: Sendable {
    public let location: String
    private let environment: [String: String]
    private let derive: @Sendable (ModelBundle) throws -> Value
    private let value: Mutex<Value?>

    public init(_ location: String, environment: [String: String], derive: @escaping @Sendable (ModelBundle) throws -> Value) throws {
        self.location = location
        self.environment = environment
        self.derive = derive
        if S3BundleLocation.isS3(location) {
            _ = try S3BundleLocation(url: location)  // a malformed URL is still a build-time error
            value = Mutex(nil)
        } else {
            value = Mutex(try derive(ModelBundle(directory: location)))
        }
    }

    /// Reads an S3 bundle, once; nothing to do for a local one.
    public func start() async throws {
        if value.withLock({ $0 != nil }) { return }
        let loaded = try derive(try await ModelBundle.load(location, environment: environment))
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
