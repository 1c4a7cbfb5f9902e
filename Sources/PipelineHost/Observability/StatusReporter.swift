import Foundation
import Logging

/// Shows how a run is going: on a terminal a progress line redrawn in place (percent, events/s, ETA);
/// otherwise a periodic one-line status in the log (events in/out, dead-lettered, checkpoint age).
public struct StatusReporter: Sendable {
    let stats: RuntimeStats
    let logger: Logger
    let interval: Double
    let interactive: Bool

    public init(stats: RuntimeStats, logger: Logger, interval: Double, interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.stats = stats
        self.logger = logger
        self.interval = interval
        self.interactive = interactive
    }

    /// Runs until cancelled.
    public func run() async {
        var lastIn = stats.recordsIn
        var lastTime = MonotonicClock.seconds()
        let period = interactive ? 0.5 : max(0.5, interval)
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(period * 1e9))
            if Task.isCancelled { break }
            let now = MonotonicClock.seconds()
            let inNow = stats.recordsIn
            let rate = Double(inNow - lastIn) / max(1e-9, now - lastTime)
            lastIn = inNow
            lastTime = now
            if interactive { draw(rate: rate) } else { log(rate: rate, now: now) }
        }
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    private func draw(rate: Double) {
        let (done, total) = stats.progress
        var line = "\r\u{1B}[K"
        if total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let elapsed = MonotonicClock.seconds() - stats.startTime
            let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
            line += String(format: "%5.1f%%  ", fraction * 100)
            line += "\(Self.count(Double(stats.recordsIn))) in  \(Self.count(rate)) ev/s  ETA \(Self.duration(eta))"
        } else {
            line += "\(Self.count(Double(stats.recordsIn))) in  \(Self.count(rate)) ev/s"
        }
        line += "  out \(Self.count(Double(stats.recordsOut)))  dead-lettered \(stats.deadLettered)"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func log(rate: Double, now: Double) {
        var meta: Logger.Metadata = [
            "records_in": "\(stats.recordsIn)", "records_out": "\(stats.recordsOut)",
            "dead_lettered": "\(stats.deadLettered)", "events_per_second": "\(Int(rate))",
            "checkpoints": "\(stats.checkpoints)",
        ]
        let latency = stats.telemetry.endToEnd.recent
        if let p50 = latency.quantile(0.5), let p99 = latency.quantile(0.99) {
            meta["latency_p50_ms"] = "\(String(format: "%.1f", p50 * 1000))"
            meta["latency_p99_ms"] = "\(String(format: "%.1f", p99 * 1000))"
        }
        if let last = stats.lastCheckpointTime { meta["checkpoint_age_seconds"] = "\(Int(MonotonicClock.wallSeconds() - last))" }
        let (done, total) = stats.progress
        if total > 0 { meta["progress_percent"] = "\(String(format: "%.1f", Double(done) * 100 / Double(total)))" }
        logger.info("status", metadata: meta)
    }

    static func count(_ x: Double) -> String {
        if x >= 1e6 { return String(format: "%.2fM", x / 1e6) }
        if x >= 1e4 { return String(format: "%.1fk", x / 1e3) }
        return String(Int(x))
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return "\(Int(s.rounded()))s" }
        if s < 3600 { return "\(Int(s) / 60)m\(Int(s) % 60)s" }
        return "\(Int(s) / 3600)h\(Int(s) % 3600 / 60)m"
    }
}
