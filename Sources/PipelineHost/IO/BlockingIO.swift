import Dispatch

/// Runs blocking system calls (fsync) off Swift's cooperative thread pool. That pool has one thread per core:
/// on a two-core machine an fsync that blocks one of them for tens of milliseconds stalls half the pipeline,
/// while on a thread of its own it only delays the stage that waits for it.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "pipeline-host.blocking-io", attributes: .concurrent)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
