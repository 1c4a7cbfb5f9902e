#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Each stage's CPU per record after a run (`pipeline-host run --profile`), so the next thing to make faster is
/// visible. The stages are measured on their own threads (`ThreadCPUClock`); what no stage meter covers — the
/// source's reading and parsing, routing, checkpoints, the runtime's hand-overs, I/O threads — is the rest of
/// the process, read from its total CPU (getrusage).
public enum StageProfile {
    /// The process's user and system CPU seconds so far.
    public static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    public static func text(telemetry: PipelineTelemetry, recordsIn: Int, processCPUSeconds: Double) -> String {
        func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
        func cell(_ s: String, _ width: Int) -> String { s.padding(toLength: max(width, s.count), withPad: " ", startingAt: 0) }
        var lines = ["CPU by stage (µs per record, over the batches that ran without waiting; records: all the stage handled):"]
        var measured = 0.0
        for m in telemetry.stages where m.kind != .source {
            guard let perRecord = m.cpuMicrosecondsPerRecord else {
                lines.append("  \(cell(m.id, 16)) \(cell(m.type, 20)) \(cell(String(m.records), 10))  not measured")
                continue
            }
            // Batches that waited were not measured: the stage's CPU is its rate over all it handled.
            let seconds = perRecord * Double(m.records) / 1e6
            measured += seconds
            lines.append("  \(cell(m.id, 16)) \(cell(m.type, 20)) \(cell(String(m.records), 10)) \(cell(f(perRecord, 2), 8)) (\(f(seconds, 2)) s)")
        }
        let per = recordsIn > 0 ? 1e6 / Double(recordsIn) : 0
        let rest = max(0, processCPUSeconds - measured)
        lines.append("  \(cell("rest of the process (source reading and parsing, routing, runtime)", 48)) \(cell(f(rest * per, 2), 8)) (\(f(rest, 2)) s)")
        lines.append("  \(cell("whole process, per record in", 48)) \(cell(f(processCPUSeconds * per, 2), 8)) (\(f(processCPUSeconds, 2)) s)")
        return lines.joined(separator: "\n")
    }
}
