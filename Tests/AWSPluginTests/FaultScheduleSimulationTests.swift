import Foundation
import Testing
import TestSupport

/// A seeded fault-schedule simulation of the operations a team runs every day, against three real
/// `pipeline-host` processes sharing a 4-shard Kinesis stream through leases (moto), with rolling features,
/// S3 (versioned) and SNS sinks and per-host dead-letter files. The schedule — restarts (SIGTERM and kill -9,
/// same or new worker id), an extra host joining and leaving, forced lease steals, DynamoDB stalls and 5xx,
/// S3 stalls, idle periods, bad records — is a pure function of the seed. After it, every host is stopped
/// gracefully and seven invariants are checked against a reference computed from what was produced
/// (docs/simulation.md).
///
///     swift test --skip-build --filter FaultScheduleSimulation                 # the default seed, short
///     SIM_SEED=42 swift test --skip-build --filter FaultScheduleSimulation     # one seed
///     SIM_SEED=random SIM_SEEDS=5 SIM_STEPS=16 SIM_RECORDS=5000 …              # more and bigger
///     scripts/simulate.sh --long                                               # 20 long seeds, a report
@Suite(.serialized, .motoServer())
struct FaultScheduleSimulationTests {
    @Test func faultScheduleSimulation() async throws {
        let config = SimConfig.fromEnvironment()
        var lines: [String] = []
        func writeReport() {
            guard let path = config.reportPath else { return }
            try? (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        let binary = try SimBinary.prepare()
        defer { SimBinary.release(binary.copyDirectory) }  // every seed's run has stopped its hosts by then
        lines.append("fault-schedule simulation: \(config.seeds.count) seeds from \(config.seeds[0]), \(config.steps) steps and \(config.records) records each")
        lines.append("binary: \(binary.description)")
        for seed in config.seeds {
            let moto = try await freshMoto()
            let outcome = await SimRun(seed: seed, config: config, moto: moto).run()
            print(outcome.text)
            lines.append(outcome.reportLine)
            if !outcome.invariants.isEmpty {
                lines.append("    counts: " + outcome.invariants.compactMap { i in i.notes.first.map { "\(i.number). \($0)" } }.joined(separator: "; "))
            }
            for i in outcome.invariants where !i.passed {
                lines.append("    \(i.summary)")
                for e in i.examples.prefix(2) { lines.append("        - " + (e.split(separator: "\n").first.map(String.init) ?? e)) }
            }
            if let e = outcome.harnessError { lines.append("    harness: \(e)") }
            if !outcome.passed { lines.append("    re-run: \(outcome.rerun)") }
            writeReport()
            if !outcome.passed {
                let failed = outcome.invariants.filter { !$0.passed }.map { "\($0.number). \($0.name) (\($0.violations))" }
                Issue.record(Comment(rawValue: "simulation seed \(seed) failed: "
                    + (outcome.harnessError.map { "harness error: \($0); " } ?? "")
                    + failed.joined(separator: "; ") + "\nre-run: \(outcome.rerun)"))
            }
        }
        let passed = lines.filter { $0.hasPrefix("seed ") && $0.contains(": PASS ") }.count
        lines.append("\(passed) of \(config.seeds.count) seeds passed")
        writeReport()
        print(lines.joined(separator: "\n"))
    }

    /// The schedule and the records are a pure function of the seed (what makes a failing seed reproducible).
    @Test func scheduleAndRecordsArePureFunctionsOfTheSeed() {
        for seed: UInt64 in [1, 2, 977] {
            let a = SimSchedule(seed: seed, steps: 14, records: 4000), b = SimSchedule(seed: seed, steps: 14, records: 4000)
            #expect(a.text == b.text)
            #expect(SimRecords.plan(a).flatMap { $0.map(\.json) } == SimRecords.plan(b).flatMap { $0.map(\.json) })
            #expect(a.totalRecords == 4000 && a.badCount >= 3)
            #expect(Set(a.steps.prefix(9).map(\.action.kind)).count == 9, "the first nine steps are the nine kinds")
            let kinds = Set(a.steps.flatMap(\.bad).map(\.kind))
            #expect(kinds == Set(BadKind.allCases), "every kind of bad record")
        }
        #expect(SimSchedule(seed: 1, steps: 9, records: 100).text != SimSchedule(seed: 2, steps: 9, records: 100).text)
    }

    /// The reference on a hand-computed case: same-second events count in arrival order, an event exactly one
    /// window earlier is out, bad records are not part of the state.
    @Test func referenceFollowsTheRollingAggregatesDefinition() {
        func r(_ id: String, _ t: Double, _ v: Double?, bad: BadKind? = nil) -> SimRecord {
            SimRecord(id: id, user: "u", time: t, value: v, isAlert: false, bad: bad, json: "", step: 0)
        }
        let f = SimReference.features([
            r("a", 1000, 1.5), r("b", 1000, 2.25), r("x", 1_718_500_000_000, 10, bad: .millisecondTime), r("c", 4600, 0.25),
            r("y", 4600, nil, bad: .nonNumericValue), r("d", 4601, 4), r("e", 1000 + 86400, 8),
        ])
        #expect(f["a"] == SimFeatures(count1h: 0, sum1h: 0, count24h: 0, sum24h: 0, sinceLast: nil))
        #expect(f["b"] == SimFeatures(count1h: 1, sum1h: 1.5, count24h: 1, sum24h: 1.5, sinceLast: 0))
        // 4600 − 3600 = 1000: the events at 1000 are exactly one hour earlier, out of the 1 h window.
        #expect(f["c"] == SimFeatures(count1h: 0, sum1h: 0, count24h: 2, sum24h: 3.75, sinceLast: 3600))
        #expect(f["d"] == SimFeatures(count1h: 1, sum1h: 0.25, count24h: 3, sum24h: 4, sinceLast: 1))
        #expect(f["e"] == SimFeatures(count1h: 0, sum1h: 0, count24h: 2, sum24h: 4.25, sinceLast: 86400 + 1000 - 4601))
        #expect(f["x"] == nil && f["y"] == nil)
    }
}
