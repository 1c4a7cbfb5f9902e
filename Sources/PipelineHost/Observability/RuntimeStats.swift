import Synchronization

/// Counters of a running pipeline, updated per batch, read by the status line, the admin endpoints
/// and the final summary.
public final class RuntimeStats: Sendable {
    private let recordsInCounter = Atomic<Int>(0)
    private let deadLetteredCounter = Atomic<Int>(0)
    private let checkpointsCounter = Atomic<Int>(0)
    private let progressDone = Atomic<Int64>(0)
    private let progressTotal = Atomic<Int64>(0)
    private let bytesInCounter = Atomic<Int>(0)
    private let sinkCounts = Mutex<[String: Int]>([:])
    private let flags = Mutex<(ready: Bool, started: Bool, lastCheckpoint: Double?, failure: String?)>((false, false, nil, nil))
    private let unready = Mutex<[String: String]>([:])
    public let startTime: Double
    /// Per-stage meters and latencies, registered by the runner when it starts.
    public let telemetry = PipelineTelemetry()
    /// Live taps on the stages' output (`/tap`).
    public let taps = TapHub()

    public init() { startTime = MonotonicClock.seconds() }

    public var recordsIn: Int { recordsInCounter.load(ordering: .relaxed) }
    public var bytesIn: Int { bytesInCounter.load(ordering: .relaxed) }
    public var deadLettered: Int { deadLetteredCounter.load(ordering: .relaxed) }
    public var checkpoints: Int { checkpointsCounter.load(ordering: .relaxed) }
    public var progress: (done: Int64, total: Int64) { (progressDone.load(ordering: .relaxed), progressTotal.load(ordering: .relaxed)) }
    public var sinkOutputs: [String: Int] { sinkCounts.withLock { $0 } }
    /// The pipeline has started its stages and not yet stopped (components may still hold readiness back:
    /// see `readiness`).
    public var isReady: Bool { flags.withLock { $0.ready } }
    /// Every plugin has started (the pipeline was ready once). Before that a stop need not drain: nothing has
    /// been processed, although the source may have read ahead.
    public var hasStarted: Bool { flags.withLock { $0.started } }
    public var failure: String? { flags.withLock { $0.failure } }
    public var lastCheckpointTime: Double? { flags.withLock { $0.lastCheckpoint } }
    public var recordsOut: Int { sinkOutputs.values.reduce(0, +) }

    func addIn(records: Int, bytes: Int) {
        recordsInCounter.wrappingAdd(records, ordering: .relaxed)
        bytesInCounter.wrappingAdd(bytes, ordering: .relaxed)
    }
    func addDeadLettered(_ n: Int) { deadLetteredCounter.wrappingAdd(n, ordering: .relaxed) }
    func addOut(sink: String, _ n: Int) { sinkCounts.withLock { $0[sink, default: 0] += n } }
    func checkpointWritten(at time: Double) {
        checkpointsCounter.wrappingAdd(1, ordering: .relaxed)
        flags.withLock { $0.lastCheckpoint = time }
    }
    func setProgress(done: Int64, total: Int64) {
        progressDone.store(done, ordering: .relaxed)
        progressTotal.store(total, ordering: .relaxed)
    }
    func setReady(_ ready: Bool) {
        flags.withLock {
            $0.ready = ready
            if ready { $0.started = true }
        }
    }
    func setFailure(_ message: String) { flags.withLock { $0.failure = message } }

    private let reloadCounts = Mutex<[String: Int]>([:])
    /// Hot reloads by outcome (applied, unchanged, rejected, failed).
    public var reloads: [String: Int] { reloadCounts.withLock { $0 } }
    func recordReload(result: String) { reloadCounts.withLock { $0[result, default: 0] += 1 } }

    /// Holds the host's readiness back on behalf of `component` (a reference table that stopped syncing, say)
    /// until `clearUnready(component:)`. Calling it again replaces the reason. Liveness (`/health`) is not affected.
    public func setUnready(component: String, reason: String) { unready.withLock { $0[component] = reason } }
    public func clearUnready(component: String) { unready.withLock { _ = $0.removeValue(forKey: component) } }

    /// The components holding readiness back, by component name.
    public var unreadyComponents: [(component: String, reason: String)] {
        unready.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    /// What `/ready` answers: the pipeline is running and no component holds readiness back; otherwise why not.
    public var readiness: (ready: Bool, reasons: [String]) {
        var reasons: [String] = []
        if !isReady { reasons.append("pipeline: not running (starting, or stopped)") }
        reasons += unreadyComponents.map { "\($0.component): \($0.reason)" }
        return (reasons.isEmpty, reasons)
    }
}

import Foundation

public enum MonotonicClock {
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    public static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
