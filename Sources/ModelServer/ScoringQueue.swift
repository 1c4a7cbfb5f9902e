import Foundation
import Synchronization

/// Scoring off the server's own threads, with a bound on the requests admitted.
///
/// Why: scoring a large batch is CPU work; run on the HTTP server's threads, a few large batches starved `/ping`
/// past SageMaker's 2 s health-check timeout and the instance was replaced. Requests are admitted up to
/// `capacity` (queued and running); beyond that they are refused at once (503, before their body is read), and
/// `workers` threads of this queue's own score them, so neither the server's event loops nor the cooperative
/// pool (nor dispatch's shared threads) ever run or wait for scoring.
final class ScoringQueue: Sendable {
    let capacity: Int
    let workers: Int
    private let admitted = Mutex(0)
    /// Jobs waiting for a worker; the condition wakes one worker per job.
    private let jobs = JobList()

    // A job list behind a condition variable; @unchecked because NSCondition guards `items`.
    private final class JobList: @unchecked Sendable {
        let condition = NSCondition()
        var items: [@Sendable () -> Void] = []
        var stopped = false
    }

    /// Called with the number admitted whenever it changes (a gauge).
    private let onChange: @Sendable (Int) -> Void

    init(workers: Int, capacity: Int, onChange: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.onChange = onChange
        self.workers = max(1, workers)
        self.capacity = max(self.workers, capacity)
        for i in 0..<self.workers {
            let jobs = self.jobs
            let thread = Thread {
                while true {
                    jobs.condition.lock()
                    while jobs.items.isEmpty && !jobs.stopped { jobs.condition.wait() }
                    if jobs.items.isEmpty {  // stopped and drained
                        jobs.condition.unlock()
                        return
                    }
                    let job = jobs.items.removeFirst()
                    jobs.condition.unlock()
                    job()
                }
            }
            thread.name = "scoring-\(i)"
            thread.start()
        }
    }

    deinit {
        // The workers finish what is queued, then end (a job holds the handler, so none is left when this runs).
        jobs.condition.lock()
        jobs.stopped = true
        jobs.condition.broadcast()
        jobs.condition.unlock()
    }

    /// Takes a place in the queue; false when it is full.
    func admit() -> Bool {
        let now = admitted.withLock { n -> Int? in
            guard n < capacity else { return nil }
            n += 1
            return n
        }
        guard let now else { return false }
        onChange(now)
        return true
    }

    func release() { onChange(admitted.withLock { n in n -= 1; return n }) }

    /// Runs `work` on a scoring thread (the caller was admitted, so at most `capacity` jobs wait).
    func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            jobs.condition.lock()
            jobs.items.append { continuation.resume(returning: Result { () throws(E) -> T in try work() }) }
            jobs.condition.signal()
            jobs.condition.unlock()
        }
        return try result.get()
    }
}
