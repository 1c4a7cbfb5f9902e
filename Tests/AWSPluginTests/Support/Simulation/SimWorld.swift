import AWSCore
import Foundation
import PipelineHost
import Synchronization
import TestSupport

@testable import KinesisSource

#if canImport(Glibc)
    import Glibc
#endif

/// What happened, when (seconds since the start of the seed's run), for the timeline of a report.
final class SimEventLog: Sendable {
    let start = Date()
    private let entries = Mutex<[(Date, String)]>([])

    func add(_ text: String) {
        let now = Date()
        entries.withLock { $0.append((now, text)) }
        if ProcessInfo.processInfo.environment["SIM_VERBOSE"] != nil { print(String(format: "[sim %7.2fs] ", now.timeIntervalSince(start)) + text) }
    }

    func offset(_ date: Date) -> String { String(format: "%.2fs", date.timeIntervalSince(start)) }

    var lines: [String] {
        entries.withLock { $0 }.map { String(format: "%8.2fs  ", $0.0.timeIntervalSince(start)) + $0.1 }
    }
}

/// A fault, a kill or a steal the schedule applied, with the worker ids it hit: what the checker needs to tell
/// an allowed duplicate (docs/guarantees.md) from a bug, and an expected exit from an unexpected one.
struct SimFault: Sendable {
    enum Kind: String, Sendable { case kill9, sigterm, dynamoStall, dynamoError, s3Stall, forceSteal, extraHostStop }
    var kind: Kind
    var workers: [String]
    var start: Date
    var end: Date
    /// forceSteal: the lease key and the checkpoint it had when it was rewritten.
    var shard: String?
    var checkpoint: String?
}

/// One lease as the monitor saw it.
struct SimLeaseView: Sendable, Equatable {
    var owner: String?
    var counter: Int64
    var checkpoint: String
    var switches: Int64
    /// Where the keyed state stored with the checkpoint is: "inline 12 KB", "s3", or "none".
    var state: String

    static func summary(_ state: String?) -> String {
        guard let state, !state.isEmpty else { return "none" }
        if state.hasPrefix(#"{"s3""#) { return "s3" }
        return "inline \(state.utf8.count / 1024) KB"
    }
}

struct SimLeaseSnapshot: Sendable {
    /// When the scan began (everything written before is in it) and when it returned.
    var began: Date
    var time: Date
    var leases: [String: SimLeaseView]
}

/// An exit of a host process, expected or not.
struct SimExit: Sendable {
    enum Cause: String, Sendable { case sigterm = "SIGTERM in the schedule", kill9 = "kill -9", finalStop = "final SIGTERM", unexpected = "exited on its own" }
    var slot: Int
    var worker: String
    var generation: Int
    var cause: Cause
    var code: Int32
    var time: Date
    /// SIGTERM: seconds from the signal to the exit.
    var seconds: Double
    var logPath: String
}

/// One host slot: h1…h3, and h4 (the extra host). A restart makes a new generation of the slot's process.
struct SimHostSlot: Sendable {
    var index: Int
    var worker: String
    var generation = 0
    var process: HostProcess?
    var adminPort = 0
    var logPath = ""
    /// Not supposed to run: never started, or being stopped by the driver. The supervisor leaves it alone.
    var expectedDown = true
}

/// The world of one seed: moto (Kinesis with 4 shards, the lease table, a versioned archive bucket, a state
/// bucket, SNS → SQS), a stall proxy per host for its DynamoDB and one for its S3, the host processes, a lease
/// table monitor and a supervisor that restarts a host that died on its own (as ECS would) and records it.
final class SimWorld: @unchecked Sendable {  // immutable after init, but for the Mutex-guarded parts
    static let stream = "sim", table = "sim-leases", archive = "sim-archive", stateBucket = "sim-state", prefix = "scored"
    static let slots = 4
    static let environment = ["AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"]

    let schedule: SimSchedule
    let moto: MotoServer
    let aws: AWSFixture
    let dir: String
    let specPath: String
    let events = SimEventLog()
    let producer: SimProducer
    let dynamoProxies: [StallProxy]
    let s3Proxies: [StallProxy]
    private(set) var topicARN = ""
    private(set) var queueURL = ""
    let leaseTable: LeaseTable
    private let hosts: Mutex<[SimHostSlot]>
    private let snapshots = Mutex<[SimLeaseSnapshot]>([])
    private let faultLog = Mutex<[SimFault]>([])
    private let exitLog = Mutex<[SimExit]>([])
    private let startLog = Mutex<[(worker: String, time: Date)]>([])
    private let background = Mutex<[Task<Void, Never>]>([])
    private let readiness = HTTPClient()

    init(schedule: SimSchedule, moto: MotoServer, dir: String) throws {
        self.schedule = schedule
        self.moto = moto
        self.dir = dir
        aws = AWSFixture(moto)
        specPath = dir + "/spec.json"
        producer = SimProducer(kinesis: aws.kinesis, stream: Self.stream, plan: SimRecords.plan(schedule))
        dynamoProxies = try (0..<Self.slots).map { try StallProxy(name: "h\($0 + 1)-dynamodb", service: .dynamodb, upstreamPort: moto.port) }
        s3Proxies = try (0..<Self.slots).map { try StallProxy(name: "h\($0 + 1)-s3", service: .s3, upstreamPort: moto.port) }
        leaseTable = LeaseTable(dynamo: try .dynamoDB(aws.client, endpointURL: moto.endpoint), name: Self.table)
        hosts = Mutex((0..<Self.slots).map { SimHostSlot(index: $0, worker: "h\($0 + 1)") })
        try FileManager.default.createDirectory(atPath: dir + "/logs", withIntermediateDirectories: true)
    }

    var faults: [SimFault] { faultLog.withLock { $0 } }
    var exits: [SimExit] { exitLog.withLock { $0 } }
    var starts: [(worker: String, time: Date)] { startLog.withLock { $0 } }
    var leaseSnapshots: [SimLeaseSnapshot] { snapshots.withLock { $0 } }
    var slotsNow: [SimHostSlot] { hosts.withLock { $0 } }

    // MARK: Setup

    func setUp() async throws {
        let shards = try await aws.createStream(Self.stream, shards: 4)
        guard shards.count == 4 else { throw SimError.harness("the stream has \(shards.count) shards, not 4") }
        try await aws.s3.createBucket(Self.archive)
        try await aws.s3.createBucket(Self.stateBucket)
        try await SimS3.enableVersioning(aws, bucket: Self.archive)
        (topicARN, queueURL) = try await aws.topicWithQueue("sim-alerts")
        try """
            {"name": "sim",
             "checkpoint": {"dir": "\(dir)/cp-${WORKER}", "interval": "1500ms"},
             "admin": {"address": "127.0.0.1:${ADMIN_PORT}"},
             "runtime": {"shutdown_timeout": "45s"},
             "source": {"type": "kinesis", "stream_name": "\(Self.stream)", "endpoint_url": "\(moto.endpoint)", "max_records_per_call": 100,
                        "shard_discovery_interval": "2s",
                        "leases": {"table": "\(Self.table)", "worker_id": "${WORKER}", "failover_time": "\(Int(SimSchedule.failoverTime))s",
                                   "endpoint_url": "${DDB_URL}", "state_bucket": "\(Self.stateBucket)"}},
             "transforms": [
               {"type": "rolling_aggregates", "id": "features", "key_field": "user_id", "time_field": "event_created_at_ts",
                "value_field": "transaction_value", "windows": [{"label": "1h", "length": "1h"}, {"label": "24h", "length": "24h"}],
                "aggregates": ["count", "sum"], "since_previous_field": "secs_since_prev_txn"}
             ],
             "sinks": [
               {"type": "s3", "id": "archive", "bucket": "\(Self.archive)", "prefix": "\(Self.prefix)", "endpoint_url": "${S3_URL}",
                "batch": {"max_events": 150, "max_age": "4s"}},
               {"type": "sns", "id": "alerts", "topic_arn": "\(topicARN)", "endpoint_url": "\(moto.endpoint)",
                "when": {"field": "is_alert", "equals": true}}
             ],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq-${WORKER}.jsonl"}}
            """.write(toFile: specPath, atomically: true, encoding: .utf8)
        events.add("world ready: stream \(Self.stream) (4 shards), versioned bucket \(Self.archive), topic → queue, 8 stall proxies; spec \(specPath)")
    }

    /// Starts the lease monitor and the supervisor, then h1…h3, and waits until every shard has a lease and
    /// every lease an owner.
    func startHosts() async throws {
        let monitor = Task { [self] in
            while !Task.isCancelled {
                let began = Date()
                if let all = try? await leaseTable.scan() {
                    let view = Dictionary(all.map { ($0.key, SimLeaseView(owner: $0.owner, counter: $0.counter, checkpoint: $0.checkpoint, switches: $0.ownerSwitches, state: SimLeaseView.summary($0.state))) },
                                          uniquingKeysWith: { a, _ in a })
                    snapshots.withLock { $0.append(SimLeaseSnapshot(began: began, time: Date(), leases: view)) }
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        let supervisor = Task { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(300))
                await superviseOnce()
            }
        }
        background.withLock { $0 += [monitor, supervisor] }
        for slot in 0..<SimSchedule.hosts { try start(slot, newWorkerID: false) }
        // The schedule starts from the balanced table of a settled cluster: every lease owned, nobody above the
        // even share (2 of 4 for 3 hosts: 2/1/1 or 2/2/0, both stable), each lease renewed three more times by
        // the same owner (a host a lease was stolen from has noticed by then).
        try await waitFor("h1…h3 holding all 4 leases, at most 2 each", seconds: 90) { [self] in
            guard let latest = snapshots.withLock({ $0.last }), latest.leases.count == 4 else { return false }
            let owners = Dictionary(grouping: latest.leases.values.compactMap(\.owner), by: { $0 }).mapValues(\.count)
            return latest.leases.values.allSatisfy { $0.owner != nil } && owners.values.allSatisfy { $0 <= 2 }
        }
        let balanced = snapshots.withLock { $0.last! }
        try await waitFor("three more renewals of every lease by the same owner", seconds: 30) { [self] in
            let now = snapshots.withLock { $0.last! }
            return balanced.leases.allSatisfy { key, before in
                guard let l = now.leases[key] else { return false }
                return l.owner == before.owner && l.counter >= before.counter + 3
            }
        }
        events.add("settled: " + ownersText())
    }

    func ownersText() -> String {
        guard let latest = snapshots.withLock({ $0.last }) else { return "(no scan yet)" }
        return latest.leases.sorted { $0.key < $1.key }.map { "\(Self.short($0.key))→\($0.value.owner ?? "-")" }.joined(separator: " ")
    }

    static func short(_ shard: String) -> String {
        guard let n = Int(shard.split(separator: "-").last ?? "") else { return shard }
        return "s\(n)"
    }

    // MARK: Hosts

    func start(_ slot: Int, newWorkerID: Bool) throws {
        let port = try MotoServer.freePort()
        let (worker, generation, logPath) = hosts.withLock { h -> (String, Int, String) in
            h[slot].generation += 1
            if newWorkerID { h[slot].worker = "h\(slot + 1)-g\(h[slot].generation)" }
            let log = "\(dir)/logs/h\(slot + 1)-gen\(h[slot].generation)-\(h[slot].worker).log"
            return (h[slot].worker, h[slot].generation, log)
        }
        var env = Self.environment
        env["WORKER"] = worker
        env["DDB_URL"] = dynamoProxies[slot].url
        env["S3_URL"] = s3Proxies[slot].url
        env["AWS_ENDPOINT_URL_S3"] = s3Proxies[slot].url  // the lease state bucket
        env["ADMIN_PORT"] = String(port)
        let process = try HostProcess(name: worker, spec: specPath, environment: env, logPath: logPath)
        startLog.withLock { $0.append((worker, Date())) }
        hosts.withLock { h in
            h[slot].process = process
            h[slot].adminPort = port
            h[slot].logPath = logPath
            h[slot].expectedDown = false
        }
        events.add("started h\(slot + 1) as \(worker) (generation \(generation), pid \(process.pid), log \(logPath)\(generation == 1 && slot == 0 ? ", binary \(process.process.executableURL?.path ?? "?")" : ""))")
    }

    func process(_ slot: Int) -> HostProcess? { hosts.withLock { $0[slot].process } }
    func worker(_ slot: Int) -> String { hosts.withLock { $0[slot].worker } }

    /// Workers currently running (for a fault on "all hosts").
    func runningWorkers() -> [String] {
        hosts.withLock { $0.filter { $0.process?.isRunning == true }.map(\.worker) }
    }

    /// Waits until the slot's process runs and answers /ready (plugins started): a SIGTERM before that exits
    /// without a drain by design.
    func waitReady(_ slot: Int, seconds: Double = 60) async throws {
        try await waitFor("h\(slot + 1) ready (/ready answers 200)", seconds: seconds) { [self] in
            let (p, port) = hosts.withLock { ($0[slot].process, $0[slot].adminPort) }
            guard let p, p.isRunning else { return false }
            let r = try? await readiness.execute(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/ready", timeout: .seconds(2)))
            return r?.status == 200
        }
    }

    /// Sends SIGTERM (or SIGKILL) to a slot's process and waits for its exit; the slot stays down.
    @discardableResult
    func stop(_ slot: Int, kill: Bool, cause: SimExit.Cause, timeout: Double = 60) async -> SimExit? {
        let (p, worker, generation, log) = hosts.withLock { h -> (HostProcess?, String, Int, String) in
            h[slot].expectedDown = true
            return (h[slot].process, h[slot].worker, h[slot].generation, h[slot].logPath)
        }
        guard let p else { return nil }
        let signalled = Date()
        if kill { p.kill9() } else { p.terminate() }
        events.add("\(kill ? "SIGKILL" : "SIGTERM") → h\(slot + 1) (\(worker), pid \(p.pid))")
        let code = await p.exit(timeout: timeout)
        let seconds = Date().timeIntervalSince(signalled)
        hosts.withLock { $0[slot].process = nil }
        let exit = SimExit(slot: slot, worker: worker, generation: generation, cause: cause, code: code, time: Date(), seconds: seconds, logPath: log)
        exitLog.withLock { $0.append(exit) }
        events.add(String(format: "h\(slot + 1) (\(worker)) exited with \(code) after %.1fs", seconds))
        return exit
    }

    /// A process that exited although nobody stopped it: recorded, then restarted under the same worker id
    /// after a second, as a container orchestrator would.
    private func superviseOnce() async {
        for slot in 0..<Self.slots {
            let candidate = hosts.withLock { h -> (HostProcess, String, Int, String)? in
                guard let p = h[slot].process, !h[slot].expectedDown, !p.isRunning else { return nil }
                h[slot].process = nil
                return (p, h[slot].worker, h[slot].generation, h[slot].logPath)
            }
            guard let (p, worker, generation, log) = candidate else { continue }
            let code = await p.exit(timeout: 1)
            exitLog.withLock { $0.append(SimExit(slot: slot, worker: worker, generation: generation, cause: .unexpected, code: code, time: Date(), seconds: 0, logPath: log)) }
            events.add("UNEXPECTED: h\(slot + 1) (\(worker)) exited on its own with \(code); restarting it in 1 s (log \(log))")
            try? await Task.sleep(for: .seconds(1))
            let restart = hosts.withLock { $0[slot].process == nil && !$0[slot].expectedDown }
            if restart { try? start(slot, newWorkerID: false) }
        }
    }

    // MARK: Faults

    func recordFault(_ fault: SimFault) { faultLog.withLock { $0.append(fault) } }

    func proxies(_ target: SimTarget, _ list: [StallProxy]) -> [StallProxy] {
        switch target {
        case .host(let i): return [list[i]]
        case .all: return list
        }
    }

    func workers(_ target: SimTarget) -> [String] {
        switch target {
        case .host(let i): return [worker(i)]
        case .all: return runningWorkers()
        }
    }

    /// Rewrites the owner of a lease with a conditional UpdateItem (on the counter just read), as a worker that
    /// steals it would. Returns the lease key and its checkpoint then, or nil when the lease moved meanwhile.
    func forceOwner(leaseIndex: Int, to wanted: String?) async throws -> (key: String, checkpoint: String, from: String?, to: String)? {
        let all = try await leaseTable.scan().filter { !$0.isEnded }.sorted { $0.key < $1.key }
        guard !all.isEmpty else { return nil }
        let lease = all[leaseIndex % all.count]
        // A steal moves the lease to someone else: when the schedule names the current owner, the next host.
        var owner = wanted ?? "sim-intruder"
        if owner == lease.owner, let slot = (0..<SimSchedule.hosts).first(where: { worker($0) == owner }) {
            owner = worker((slot + 1) % SimSchedule.hosts)
        }
        let dynamo = try JSONProtocolClient.dynamoDB(aws.client, endpointURL: moto.endpoint)
        do {
            _ = try await dynamo.call("UpdateItem", .object([
                ("TableName", .string(Self.table)),
                ("Key", .object([("leaseKey", Lease.s(lease.key))])),
                ("UpdateExpression", "SET leaseOwner = :who, leaseCounter = leaseCounter + :one, ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one"),
                ("ConditionExpression", "leaseCounter = :seen"),
                ("ExpressionAttributeValues", .object([
                    (":who", Lease.s(owner)), (":one", Lease.n(1)), (":zero", Lease.n(0)), (":seen", Lease.n(lease.counter)),
                ])),
            ]))
        } catch let e as AWSError where e.code == "ConditionalCheckFailedException" {
            return nil
        }
        events.add("forced the lease of \(lease.key) (owner \(lease.owner ?? "-"), checkpoint \(lease.checkpoint)) to \(owner)")
        return (lease.key, lease.checkpoint, lease.owner, owner)
    }

    // MARK: Teardown

    /// Stops everything this seed started, also after a failure: background tasks, every host (SIGKILL), the proxies.
    func tearDown() {
        for t in background.withLock({ $0 }) { t.cancel() }
        let running = hosts.withLock { h -> [HostProcess] in
            for i in h.indices { h[i].expectedDown = true }
            return h.compactMap(\.process)
        }
        for p in running where p.isRunning {
            p.kill9()
            p.process.waitUntilExit()
        }
        for p in dynamoProxies + s3Proxies { p.set(.pass); p.stop() }
        readiness.shutdown()
    }

    /// Polls `condition` every 200 ms; throws a harness error naming `what` after `seconds`.
    func waitFor(_ what: String, seconds: Double, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try await !condition() {
            if Date() > deadline { throw SimError.harness("timed out after \(Int(seconds)) s waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
