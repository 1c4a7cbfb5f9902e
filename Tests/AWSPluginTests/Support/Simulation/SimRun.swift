import AWSCore
import Foundation
import PipelineHost
import TestSupport

/// The size of a run, from the environment: SIM_SEED (one seed, or "random"), SIM_SEEDS (how many consecutive
/// seeds), SIM_STEPS and SIM_RECORDS (per seed), SIM_REPORT (a file the per-seed report lines are written to),
/// SIM_KEEP (keep the scratch directory of passing seeds too).
struct SimConfig: Sendable {
    var seeds: [UInt64]
    var steps: Int
    var records: Int
    var reportPath: String?
    var keep: Bool

    static let defaultSeed: UInt64 = 1

    static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> SimConfig {
        let first: UInt64
        if env["SIM_SEED"] == "random" {
            first = UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000
        } else {
            first = env["SIM_SEED"].flatMap { UInt64($0) } ?? defaultSeed
        }
        let count = max(1, env["SIM_SEEDS"].flatMap { Int($0) } ?? 1)
        return SimConfig(
            seeds: (0..<UInt64(count)).map { first + $0 },
            steps: max(1, env["SIM_STEPS"].flatMap { Int($0) } ?? 9),
            records: max(10, env["SIM_RECORDS"].flatMap { Int($0) } ?? 1500),
            reportPath: env["SIM_REPORT"], keep: env["SIM_KEEP"] != nil)
    }
}

/// The host binary a run uses, copied once at the start: other builds may replace .build/debug/pipeline-host
/// while a long run goes on, and every host of a run must be the same program. PIPELINE_HOST_BIN, when set, is
/// used as it is.
enum SimBinary {
    /// A description of the binary, and the directory of the copy to remove once every host has stopped.
    static func prepare() throws -> (description: String, copyDirectory: String?) {
        let source = HostProcess.binary
        let attributes = try FileManager.default.attributesOfItem(atPath: source)
        let modified = (attributes[.modificationDate] as? Date).map { ISO8601DateFormatter().string(from: $0) } ?? "?"
        let size = (attributes[.size] as? Int) ?? 0
        if ProcessInfo.processInfo.environment["PIPELINE_HOST_BIN"] != nil { return ("\(source) (PIPELINE_HOST_BIN; built \(modified), \(size) bytes)", nil) }
        let dir = NSTemporaryDirectory() + "simulation-bin-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let copy = dir + "/pipeline-host"
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        setenv("PIPELINE_HOST_BIN", copy, 1)
        return ("\(source) (built \(modified), \(size) bytes), copied for this run", dir)
    }

    static func release(_ copyDirectory: String?) {
        guard let copyDirectory else { return }
        unsetenv("PIPELINE_HOST_BIN")
        try? FileManager.default.removeItem(atPath: copyDirectory)
    }
}

/// What one seed's run found.
struct SimOutcome: Sendable {
    var seed: UInt64
    var schedule: SimSchedule
    var invariants: [SimInvariant]
    var harnessError: String?
    var seconds: Double
    var produced: Int
    var bad: Int
    var dir: String
    var timeline: [String]
    var drainNote: String?
    var proxyStats: [String]

    var passed: Bool { harnessError == nil && invariants.allSatisfy(\.passed) }

    var rerun: String { "SIM_SEED=\(seed) SIM_STEPS=\(schedule.steps.count) SIM_RECORDS=\(schedule.totalRecords) swift test --skip-build --filter FaultScheduleSimulation" }

    /// One line for the report file.
    var reportLine: String {
        let counts = invariants.map { "\($0.number):\($0.passed ? "ok" : "FAIL(\($0.violations))")/\($0.checked)" }.joined(separator: " ")
        let steps = Dictionary(grouping: schedule.steps, by: \.action.kind).map { "\($0.key)×\($0.value.count)" }.sorted().joined(separator: ",")
        return "seed \(seed): \(passed ? "PASS" : "FAIL") in \(String(format: "%.0f", seconds))s; \(schedule.steps.count) steps [\(steps)]; "
            + "\(produced) good + \(bad) bad records; invariants \(counts)"
            + (harnessError.map { "; HARNESS ERROR: \($0)" } ?? "")
    }

    var text: String {
        var out = ["==> simulation seed \(seed): \(passed ? "PASSED" : "FAILED") in \(String(format: "%.1f", seconds)) s (scratch \(dir))"]
        out.append("    \(produced) good records and \(bad) bad records produced; schedule of \(schedule.steps.count) steps")
        if let harnessError { out.append("    HARNESS ERROR: \(harnessError)") }
        if let drainNote { out.append("    drain: \(drainNote)") }
        for i in invariants {
            out.append("    " + i.summary)
            for e in i.examples { out.append("        - " + e) }
        }
        out.append("    proxies: " + proxyStats.joined(separator: "; "))
        if !passed {
            out.append("    schedule (seed \(seed)):")
            out += schedule.text.split(separator: "\n").map { "      " + $0 }
            out.append("    timeline:")
            out += timeline.map { "      " + $0 }
            out.append("    re-run exactly this seed: \(rerun)")
        }
        return out.joined(separator: "\n")
    }
}

/// Runs one seed: builds the world, runs the schedule, drains, stops every host gracefully, reads everything
/// back and checks the invariants. Never throws: a harness failure is part of the outcome; every process and
/// proxy is stopped whatever happens.
struct SimRun {
    let seed: UInt64
    let config: SimConfig
    let moto: MotoServer

    func run() async -> SimOutcome {
        let schedule = SimSchedule(seed: seed, steps: config.steps, records: config.records)
        let started = Date()
        print("==> simulation seed \(seed): \(schedule.steps.count) steps, \(schedule.totalRecords) good + \(schedule.badCount) bad records")
        print(schedule.text.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        print("    re-run: SIM_SEED=\(seed) SIM_STEPS=\(config.steps) SIM_RECORDS=\(config.records) swift test --skip-build --filter FaultScheduleSimulation")
        let dir = NSTemporaryDirectory() + "simulation-\(seed)-\(UUID().uuidString.prefix(8))"
        var outcome = SimOutcome(seed: seed, schedule: schedule, invariants: [], harnessError: nil, seconds: 0, produced: 0, bad: 0, dir: dir,
                                 timeline: [], drainNote: nil, proxyStats: [])
        let world: SimWorld
        do {
            world = try SimWorld(schedule: schedule, moto: moto, dir: dir)
        } catch {
            outcome.harnessError = "cannot build the world: \(error)"
            return outcome
        }
        do {
            try await world.setUp()
            try await world.startHosts()
            for step in schedule.steps { try await SimDriver(world: world).execute(step) }
            world.events.add("schedule done: \(world.ownersText())")
            outcome.drainNote = try await drainAndStop(world)
            let produced = world.producer.produced
            outcome.produced = produced.filter(\.isGood).count
            outcome.bad = produced.count - outcome.produced
            let observed = try await readBack(world)
            let checker = SimChecker(world: world, produced: produced, expected: SimReference.features(produced), observed: observed)
            outcome.invariants = checker.check()
        } catch {
            outcome.harnessError = "\(error)"
            let produced = world.producer.produced
            outcome.produced = produced.filter(\.isGood).count
            outcome.bad = produced.count - outcome.produced
        }
        world.tearDown()
        outcome.proxyStats = (world.dynamoProxies + world.s3Proxies).compactMap { p in
            let s = p.stats
            return s.requests == 0 ? nil : "\(p.name) \(s.requests) requests (\(s.stalled) stalled, \(s.failed) failed)"
        }
        outcome.timeline = world.events.lines
        outcome.seconds = Date().timeIntervalSince(started)
        if outcome.passed && !config.keep { try? FileManager.default.removeItem(atPath: dir) }
        return outcome
    }

    /// Clears every fault, waits (bounded) until every good record is in S3 and every bad one dead-lettered,
    /// lets the last objects and checkpoints land, then SIGTERMs every host at once.
    func drainAndStop(_ world: SimWorld) async throws -> String {
        for p in world.dynamoProxies + world.s3Proxies { p.set(.pass) }
        let produced = world.producer.produced
        let good = Set(produced.filter(\.isGood).map(\.id))
        let bad = Set(produced.filter { !$0.isGood }.map(\.id))
        let reader = SimArchiveReader(aws: world.aws, bucket: SimWorld.archive)
        let deadline = Date().addingTimeInterval(60 + Double(produced.count) / 100)
        var note = ""
        while true {
            var inS3 = Set<String>()
            for lines in try await reader.current().values {
                for line in lines { if let id = SimReadBack.record(line)?["transaction_id"]?.stringValue { inS3.insert(id) } }
            }
            let dead = Set(SimReadBack.deadLetters(dir: world.dir).compactMap(\.transactionID))
            // Done when every record reached its end, right or wrong (a good record dead-lettered will not come).
            let missing = good.subtracting(inS3).subtracting(dead), notDead = bad.subtracting(dead).subtracting(inS3)
            if missing.isEmpty && notDead.isEmpty {
                note = "every record in S3 or the dead-letter output \(world.events.offset(Date())) into the run"
                break
            }
            if Date() > deadline {
                note = "gave up waiting after \(Int(60 + Double(produced.count) / 100)) s: \(missing.count) good records not in S3 (e.g. \(missing.sorted().prefix(3).joined(separator: ", "))), \(notDead.count) bad records not dead-lettered"
                break
            }
            try await Task.sleep(for: .seconds(2))
        }
        world.events.add("drain: \(note)")
        // The SNS sink flushes after max_age (1 s) and every sink at the final checkpoint; give a checkpoint time to land.
        try await Task.sleep(for: .seconds(2))
        world.events.add("final stop: SIGTERM to every host (\(world.ownersText()))")
        await withTaskGroup(of: Void.self) { group in
            for slot in 0..<SimWorld.slots where world.process(slot) != nil {
                group.addTask { await world.stop(slot, kill: false, cause: .finalStop, timeout: 90) }
            }
        }
        // One scan of the lease table begun after the last exit: the final checkpoints and releases.
        let stopped = Date()
        try await world.waitFor("a lease-table scan after the final stop", seconds: 15) {
            world.leaseSnapshots.last.map { $0.began > stopped } ?? false
        }
        return note
    }

    func readBack(_ world: SimWorld) async throws -> SimObservations {
        let current = try await SimArchiveReader(aws: world.aws, bucket: SimWorld.archive).current()
        var versions: [String: [(version: SimS3.Version, lines: [String])]] = [:]
        let all = try await SimS3.versions(world.aws, bucket: SimWorld.archive)
        let perKey = Dictionary(grouping: all, by: \.key)
        for (key, list) in perKey {
            if list.count == 1, let lines = current[key] {
                versions[key] = [(list[0], lines)]
                continue
            }
            var read: [(version: SimS3.Version, lines: [String])] = []
            for v in list {
                let body = try await SimS3.object(world.aws, bucket: SimWorld.archive, key: key, versionID: v.versionID)
                read.append((v, try AWSReadBack.gunzipLines(body)))
            }
            versions[key] = read
        }
        let alerts = try await AWSReadBack.queueBodies(world.aws.sqs, url: world.queueURL)
        return SimObservations(current: current, versions: versions, alerts: alerts, deadLetters: SimReadBack.deadLetters(dir: world.dir))
    }
}

/// Carries out the steps of a schedule on a world.
struct SimDriver {
    let world: SimWorld

    func execute(_ step: SimStep) async throws {
        let producer = world.producer
        let index = step.index
        world.events.add("step \(index + 1): \(step.action) (\(step.records) records\(step.bad.isEmpty ? "" : ", \(step.bad.count) bad")) — leases \(world.ownersText())")
        func production(over seconds: Double) -> Task<Void, any Error> {
            Task { try await producer.produce(step: index, over: seconds) }
        }
        func sleep(_ seconds: Double) async throws {
            if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
        }
        switch step.action {
        case .produce(let seconds), .idle(let seconds):
            try await producer.produce(step: index, over: seconds)

        case .sigterm(let slot, let restartAfter, let newWorkerID):
            try await world.waitReady(slot)
            let worker = world.worker(slot)
            let start = Date()
            let producing = production(over: max(2, restartAfter + 1))
            defer { producing.cancel() }
            await world.stop(slot, kill: false, cause: .sigterm)
            world.recordFault(SimFault(kind: .sigterm, workers: [worker], start: start, end: Date()))
            try await sleep(restartAfter)
            try world.start(slot, newWorkerID: newWorkerID)
            try await producing.value

        case .kill9(let slot, let restartAfter, let newWorkerID):
            let worker = world.worker(slot)
            let producing = production(over: max(2, restartAfter + 1))
            defer { producing.cancel() }
            try await sleep(0.5)  // the kill lands mid-production
            let start = Date()
            await world.stop(slot, kill: true, cause: .kill9)
            world.recordFault(SimFault(kind: .kill9, workers: [worker], start: start, end: Date()))
            try await sleep(restartAfter)
            try world.start(slot, newWorkerID: newWorkerID)
            try await producing.value

        case .extraHost(let seconds):
            try world.start(3, newWorkerID: false)
            try await producer.produce(step: index, over: seconds)
            try await world.waitReady(3)
            let worker = world.worker(3)
            let start = Date()
            await world.stop(3, kill: false, cause: .sigterm)
            world.recordFault(SimFault(kind: .extraHostStop, workers: [worker], start: start, end: Date()))

        case .forceSteal(let lease, let toHost):
            let producing = production(over: 4)
            defer { producing.cancel() }
            try await sleep(0.5)  // the steal lands mid-production
            // The conditional write fails when a renewal got in between the scan and the write: try again.
            var done = false
            for _ in 0..<5 where !done {
                let start = Date()
                if let stolen = try await world.forceOwner(leaseIndex: lease, to: toHost.map { world.worker($0) }) {
                    world.recordFault(SimFault(kind: .forceSteal, workers: stolen.from.map { [$0] } ?? [], start: start, end: start,
                                               shard: stolen.key, checkpoint: stolen.checkpoint))
                    done = true
                }
            }
            if !done { world.events.add("force-steal: the lease moved between the scan and the write 5 times; nothing forced") }
            try await producing.value

        case .dynamoStall(let target, let seconds), .dynamoError(let target, let seconds), .s3Stall(let target, let seconds):
            let until = Date().addingTimeInterval(seconds)
            let (list, mode, kind): ([StallProxy], StallProxy.Mode, SimFault.Kind)
            switch step.action {
            case .dynamoStall: (list, mode, kind) = (world.dynamoProxies, .stall(until: until), .dynamoStall)
            case .dynamoError: (list, mode, kind) = (world.dynamoProxies, .fail(until: until), .dynamoError)
            default: (list, mode, kind) = (world.s3Proxies, .stall(until: until), .s3Stall)
            }
            let proxies = world.proxies(target, list)
            let workers = world.workers(target)
            let start = Date()
            for p in proxies { p.set(mode) }
            defer { for p in proxies { p.set(.pass) } }
            world.events.add("\(kind.rawValue) on \(target) (\(workers.joined(separator: ","))) until +\(String(format: "%.1f", seconds))s")
            try await producer.produce(step: index, over: seconds)
            for p in proxies { p.set(.pass) }
            world.recordFault(SimFault(kind: kind, workers: workers, start: start, end: max(until, Date())))
            world.events.add("\(kind.rawValue) on \(target) over")
        }
    }
}
