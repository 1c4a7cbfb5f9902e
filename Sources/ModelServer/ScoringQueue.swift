import Dispatch
import Synchronization

/// Scoring off the server's own threads, with a bound on the requests admitted.
///
/// Why: scoring a large batch is CPU work; run on the HTTP server's threads, a few large batches starved `/ping`
/// past SageMaker's 2 s health-check timeout and the instance was replaced. Requests are admitted up to
/// `capacity` (queued and running); beyond that they are refused at once (503, before their body is read), and
/// at most `workers` score at a time on threads of their own, so the server's threads stay free for `/ping`.
final class ScoringQueue: Sendable {
    let capacity: Int
    let workers: Int
    private let admitted = Mutex(0)
    private let queue = DispatchQueue(label: "model-server.scoring", attributes: .concurrent)
    private let slots: DispatchSemaphore

    init(workers: Int, capacity: Int) {
        self.workers = max(1, workers)
        self.capacity = max(self.workers, capacity)
        slots = DispatchSemaphore(value: self.workers)
    }

    /// Takes a place in the queue; false when it is full.
    func admit() -> Bool {
        admitted.withLock { n in
            guard n < capacity else { return false }
            n += 1
            return true
        }
    }

    func release() { admitted.withLock { $0 -= 1 } }

    var pending: Int { admitted.withLock { $0 } }

    /// Runs `work` on a scoring thread once one of the `workers` slots is free (the caller was admitted).
    func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async { [slots] in
                // At most `capacity` blocks wait here (admission bounds them), on dispatch's threads, never on the
                // server's or the cooperative pool's.
                slots.wait()
                defer { slots.signal() }
                continuation.resume(returning: Result { () throws(E) -> T in try work() })
            }
        }
        return try result.get()
    }
}
