import Synchronization

/// What the plugins of one build share: a model bundle that several stages name is read once
/// (`BundleSlot`), not once per stage. Each build (the start, each hot reload) gets its own, so a reload reads
/// the files again rather than keeping what an earlier build read.
public final class SharedResources: Sendable {
    private let values = Mutex<[String: any Sendable]>([:])

    public init() {}

    /// The value stored under `key`, made by `make` on first use. `make` runs under the lock: builds are
    /// sequential, and a second caller must wait for the first one's value rather than make its own.
    public func value<T: Sendable>(for key: String, make: () throws -> T) throws -> T {
        try values.withLock { (v: inout [String: any Sendable]) throws -> T in
            if let existing = v[key] as? T { return existing }
            let made = try make()
            v[key] = made
            return made
        }
    }
}
