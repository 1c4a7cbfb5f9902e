import Foundation
import PipelineHost

/// Which hosts a fault hits: one host slot (0-based; slot 3 is the extra host) or every host.
enum SimTarget: Sendable, Equatable, CustomStringConvertible {
    case host(Int)
    case all

    var description: String {
        switch self {
        case .host(let i): return "h\(i + 1)"
        case .all: return "all hosts"
        }
    }
}

/// One operation of the schedule. Durations are seconds of wall time.
enum SimAction: Sendable, Equatable, CustomStringConvertible {
    /// Production only.
    case produce(seconds: Double)
    /// No production at all for longer than the checkpoint interval.
    case idle(seconds: Double)
    /// SIGTERM (graceful: drain, final checkpoint, release leases, exit 0), then a restart after `restartAfter`,
    /// under a new worker id when `newWorkerID` (a redeployed task), else the same one.
    case sigterm(host: Int, restartAfter: Double, newWorkerID: Bool)
    /// SIGKILL, then a restart after `restartAfter`.
    case kill9(host: Int, restartAfter: Double, newWorkerID: Bool)
    /// A fourth host joins for `seconds` (it steals a lease towards an even share), then gets SIGTERM.
    case extraHost(seconds: Double)
    /// Rewrites the owner of one lease (the n-th in key order) with a conditional UpdateItem, as another worker
    /// would: to a worker that never renews it (`toHost` nil), or to a live host that does not hold it.
    case forceSteal(shard: Int, toHost: Int?)
    /// Every lease-table request of the target is held until the stall ends (then forwarded).
    case dynamoStall(SimTarget, seconds: Double)
    /// Every lease-table request of the target is answered 500 until the window ends.
    case dynamoError(SimTarget, seconds: Double)
    /// Every S3 request of the target (archive and lease state) is held until the stall ends.
    case s3Stall(SimTarget, seconds: Double)

    var kind: String {
        switch self {
        case .produce: return "produce"
        case .idle: return "idle"
        case .sigterm: return "sigterm"
        case .kill9: return "kill9"
        case .extraHost: return "extra-host"
        case .forceSteal: return "force-steal"
        case .dynamoStall: return "dynamodb-stall"
        case .dynamoError: return "dynamodb-500"
        case .s3Stall: return "s3-stall"
        }
    }

    var description: String {
        func s(_ d: Double) -> String { String(format: "%.1fs", d) }
        switch self {
        case .produce(let d): return "produce for \(s(d))"
        case .idle(let d): return "idle (no production) for \(s(d))"
        case .sigterm(let h, let r, let n): return "SIGTERM h\(h + 1), restart after \(s(r))\(n ? " under a new worker id" : "")"
        case .kill9(let h, let r, let n): return "kill -9 h\(h + 1), restart after \(s(r))\(n ? " under a new worker id" : "")"
        case .extraHost(let d): return "extra host h4 for \(s(d)), then SIGTERM"
        case .forceSteal(let shard, let to): return "force the owner of lease #\(shard) to \(to.map { "h\($0 + 1)" } ?? "a worker that never renews")"
        case .dynamoStall(let t, let d): return "stall DynamoDB of \(t) for \(s(d))"
        case .dynamoError(let t, let d): return "DynamoDB 500s for \(t) for \(s(d))"
        case .s3Stall(let t, let d): return "stall S3 of \(t) for \(s(d))"
        }
    }
}

/// A bad record the producer slips into a batch. Each must end in the dead-letter output with a reason and
/// disturb nothing else.
enum BadKind: String, Sendable, CaseIterable {
    /// `event_created_at_ts` in milliseconds (1718500000000): a plausible number, 55 000 years ahead.
    case millisecondTime = "ms-time"
    /// Not JSON at all (a truncated object).
    case malformedJSON = "malformed-json"
    /// `transaction_value` is a string.
    case nonNumericValue = "non-numeric-value"
}

struct SimStep: Sendable {
    var index: Int
    var action: SimAction
    /// Records produced during this step (0 for idle).
    var records: Int
    /// Bad records slipped into this step's production, with their position among its records.
    var bad: [(kind: BadKind, at: Int)]

    var line: String {
        let badText = bad.isEmpty ? "" : "; bad: " + bad.map { "\($0.kind.rawValue)@\($0.at)" }.joined(separator: ", ")
        return String(format: "%2d. ", index + 1) + action.description + " — \(records) records" + badText
    }
}

/// The schedule: a pure function of (seed, steps, records).
struct SimSchedule: Sendable {
    static let hosts = 3
    static let failoverTime = 3.0

    let seed: UInt64
    let steps: [SimStep]

    var totalRecords: Int { steps.map(\.records).reduce(0, +) }
    var badCount: Int { steps.map(\.bad.count).reduce(0, +) }
    var text: String { steps.map(\.line).joined(separator: "\n") }

    /// Every kind appears once (in an order drawn from the seed) before any repeats, so a schedule of at least
    /// nine steps exercises all of them; the rest are drawn with weights.
    static let kinds = ["kill9", "sigterm", "extra-host", "force-steal", "dynamodb-stall", "dynamodb-500", "s3-stall", "idle", "produce"]
    static let weights: [String: Double] = [
        "kill9": 2, "sigterm": 2, "extra-host": 1, "force-steal": 1.5, "dynamodb-stall": 1.5, "dynamodb-500": 1,
        "s3-stall": 1.5, "idle": 1, "produce": 1,
    ]

    init(seed: UInt64, steps count: Int, records: Int) {
        self.seed = seed
        var rng = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15 ^ 0x51_4D55_4C41_5445)  // "SIMULATE"
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * rng.nextUnit() }
        func int(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
        func chance(_ p: Double) -> Bool { rng.nextUnit() < p }
        func target() -> SimTarget { chance(0.25) ? .all : .host(int(Self.hosts)) }

        var order = Self.kinds
        order.shuffle(using: &rng)
        var actions: [SimAction] = []
        for i in 0..<max(1, count) {
            let kind: String
            if i < order.count {
                kind = order[i]
            } else {
                let total = Self.weights.values.reduce(0, +)
                var x = uniform(0, total)
                kind = Self.kinds.first { k in x -= Self.weights[k]!; return x < 0 } ?? "produce"
            }
            switch kind {
            case "kill9": actions.append(.kill9(host: int(Self.hosts), restartAfter: uniform(0, 5), newWorkerID: chance(0.3)))
            case "sigterm": actions.append(.sigterm(host: int(Self.hosts), restartAfter: uniform(0, 4), newWorkerID: chance(0.3)))
            case "extra-host": actions.append(.extraHost(seconds: uniform(6, 12)))
            case "force-steal": actions.append(.forceSteal(shard: int(4), toHost: chance(0.5) ? nil : int(Self.hosts)))
            // Sometimes shorter than failover_time, sometimes well beyond it.
            case "dynamodb-stall": actions.append(.dynamoStall(target(), seconds: uniform(1.5, 9)))
            // Short: the lease client retries 5xx (8 attempts), and a longer outage may stop a host by design.
            case "dynamodb-500": actions.append(.dynamoError(target(), seconds: uniform(0.5, 2.5)))
            case "s3-stall": actions.append(.s3Stall(target(), seconds: uniform(2, 10)))
            case "idle": actions.append(.idle(seconds: uniform(2.5, 6)))
            default: actions.append(.produce(seconds: uniform(2, 5)))
            }
        }

        // Records: spread over the producing steps with random weights; bad records into random producing steps.
        let producing = actions.indices.filter { if case .idle = actions[$0] { return false } else { return true } }
        let shares = producing.map { _ in uniform(0.5, 1.5) }
        let shareTotal = shares.reduce(0, +)
        var counts = [Int](repeating: 0, count: actions.count)
        var assigned = 0
        for (j, i) in producing.enumerated() {
            counts[i] = j == producing.count - 1 ? records - assigned : Int(Double(records) * shares[j] / shareTotal)
            assigned += counts[i]
        }
        var bad = [[(kind: BadKind, at: Int)]](repeating: [], count: actions.count)
        // One of each kind, plus one more per 3,000 records.
        var badKinds = BadKind.allCases
        for _ in 0..<(records / 3000) { badKinds.append(BadKind.allCases[int(BadKind.allCases.count)]) }
        for kind in badKinds where !producing.isEmpty {
            let i = producing[int(producing.count)]
            bad[i].append((kind, int(max(1, counts[i]))))
        }
        steps = actions.indices.map { SimStep(index: $0, action: actions[$0], records: counts[$0], bad: bad[$0].sorted { $0.at < $1.at }) }
    }
}
