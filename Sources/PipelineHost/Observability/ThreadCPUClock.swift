#if canImport(Glibc)
import Glibc
#endif

/// Measures the CPU of a stage's batch on the concurrency pool's thread that runs it, for the stages' CPU
/// meters (`pipeline_stage_cpu_seconds_total`, `run --profile`).
///
/// A batch runs on one thread until it suspends (a sink waiting for an fsync); the thread then runs other
/// tasks. A measurement counts only when the batch ended on the thread it started on and no other stage's batch
/// started on that thread in between; otherwise it is dropped, with its records, so one stage is not charged what
/// the thread ran for another. Exact for the stages that do not suspend (joins, features, scoring, file writing
/// between fsyncs); a stage that suspends is measured over the batches that did not.
enum ThreadCPUClock {
    /// One per thread, touched only by its thread: the batch it is running.
    private final class ThreadSlot {
        var region: UInt64 = 0
    }

    struct Start {
        let thread: pthread_t
        let region: UInt64
        let cpu: Int64
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { p in
            if let p { Unmanaged<AnyObject>.fromOpaque(p).release() }
        }
        return key
    }()

    private static func slot() -> ThreadSlot {
        if let p = pthread_getspecific(key) { return Unmanaged<ThreadSlot>.fromOpaque(p).takeUnretainedValue() }
        let slot = ThreadSlot()
        pthread_setspecific(key, Unmanaged.passRetained(slot).toOpaque())
        return slot
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// A stage starts a batch on this thread.
    static func start() -> Start {
        let s = slot()
        s.region &+= 1
        return Start(thread: pthread_self(), region: s.region, cpu: now())
    }

    /// The batch begun at `start` is done: its CPU for `records` goes to `stage` when it ran uninterrupted.
    static func finish(_ start: Start, stage: PipelineTelemetry.StageMeters?, records: Int) {
        guard let stage, pthread_equal(start.thread, pthread_self()) != 0, slot().region == start.region else { return }
        stage.add(cpu: now() - start.cpu, records: records)
    }
}
