import AWSCore
import Foundation
import PipelineHost
import Synchronization

/// One record the simulation produces, as planned from the seed, and where Kinesis put it.
struct SimRecord: Sendable {
    var id: String
    var user: String
    /// Event time (seconds), or the millisecond value of a `.millisecondTime` bad record.
    var time: Double
    /// nil for a `.nonNumericValue` bad record.
    var value: Double?
    var isAlert: Bool
    var bad: BadKind?
    var json: String
    var step: Int

    // Filled in by the producer.
    var shard: String = ""
    var sequence: String = ""
    /// When the PutRecords call carrying it started: no host can have read it before.
    var putAt: Date = .distantPast
    var isProduced = false

    var isGood: Bool { bad == nil }
}

/// The records of a schedule, a pure function of the seed: users, event times, dyadic values (k × 0.25, so
/// every window sum is exact in float64), ~5 % alerts, and the bad records at the places the schedule says.
enum SimRecords {
    static let users = 300
    static let baseTime = 1_718_000_000.0
    static let millisecondTime = 1_718_500_000_000.0

    static func plan(_ schedule: SimSchedule) -> [[SimRecord]] {
        var rng = SplitMix64(seed: schedule.seed ^ 0x5245_434F_5244_5321)  // "RECORDS!"
        func int(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var t = baseTime
        var jumped = 0.0
        var n = 0
        var badN = 0
        func user() -> String {
            // A fifth of the traffic from 12 busy users: their windows hold many events.
            let u = rng.nextUnit() < 0.2 ? int(12) : int(users)
            return "u" + String(format: "%03d", u)
        }
        var out: [[SimRecord]] = []
        for step in schedule.steps {
            var records: [SimRecord] = []
            var bad = step.bad[...]
            for i in 0..<step.records + 1 {
                while let b = bad.first, b.at == i {
                    bad = bad.dropFirst()
                    badN += 1
                    let u = user()
                    let id = "bad-\(b.kind.rawValue)-\(badN)-s\(schedule.seed)"
                    let time = Int64(t)
                    switch b.kind {
                    case .millisecondTime:
                        records.append(SimRecord(
                            id: id, user: u, time: millisecondTime, value: 10.25, isAlert: false, bad: b.kind,
                            json: #"{"transaction_id":"\#(id)","user_id":"\#(u)","event_created_at_ts":\#(Int64(millisecondTime)),"transaction_value":10.25,"is_alert":false,"channel":"web"}"#,
                            step: step.index))
                    case .malformedJSON:
                        records.append(SimRecord(
                            id: id, user: u, time: t, value: nil, isAlert: false, bad: b.kind,
                            json: #"{"transaction_id":"\#(id)","user_id":"\#(u)","event_created_at_ts":\#(time),"transaction_value":"#,
                            step: step.index))
                    case .nonNumericValue:
                        records.append(SimRecord(
                            id: id, user: u, time: t, value: nil, isAlert: false, bad: b.kind,
                            json: #"{"transaction_id":"\#(id)","user_id":"\#(u)","event_created_at_ts":\#(time),"transaction_value":"twelve","is_alert":false,"channel":"web"}"#,
                            step: step.index))
                    }
                }
                guard i < step.records else { break }
                // Time never goes back (no record is late); a third of the records share their second with
                // the one before; now and then a jump of hours exercises the 24 h window (at most 15 days in all,
                // well inside idle_timeout).
                let r = rng.nextUnit()
                if r < 0.004 && jumped < 15 * 86400 {
                    let jump = Double(3600 + int(22 * 3600))
                    t += jump
                    jumped += jump
                } else if r > 0.35 {
                    t += Double(1 + int(8))
                }
                n += 1
                let u = user()
                let id = "s\(schedule.seed)-t\(n)"
                let value = Double(1 + int(4000)) * 0.25
                let alert = rng.nextUnit() < 0.05
                records.append(SimRecord(
                    id: id, user: u, time: t, value: value, isAlert: alert, bad: nil,
                    json: #"{"transaction_id":"\#(id)","user_id":"\#(u)","event_created_at_ts":\#(Int64(t)),"transaction_value":\#(value),"is_alert":\#(alert),"channel":"web"}"#,
                    step: step.index))
            }
            out.append(records)
        }
        return out
    }
}

/// Puts the planned records into the stream (partition key = user, so a user's records stay in one shard in
/// production order), one PutRecords call at a time, and remembers each record's shard, sequence number and
/// put time.
final class SimProducer: Sendable {
    let kinesis: JSONProtocolClient
    let stream: String
    private let state: Mutex<[[SimRecord]]>
    private let next = Mutex<[Int]>([])

    init(kinesis: JSONProtocolClient, stream: String, plan: [[SimRecord]]) {
        self.kinesis = kinesis
        self.stream = stream
        state = Mutex(plan)
        next.withLock { $0 = [Int](repeating: 0, count: plan.count) }
    }

    var records: [SimRecord] { state.withLock { $0.flatMap { $0 } } }
    var produced: [SimRecord] { records.filter(\.isProduced) }

    /// Puts the records of `step` not yet put, spread over `seconds` (about four calls a second).
    func produce(step: Int, over seconds: Double) async throws {
        let total = state.withLock { $0[step].count }
        guard total > 0 else {
            if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            return
        }
        let calls = max(1, min(total, Int(seconds * 4)))
        let chunk = max(1, (total + calls - 1) / calls)
        let pause = seconds / Double(calls)
        let started = Date()
        var done = 0
        while done < total {
            let range = done..<min(total, done + chunk)
            try await put(step: step, range)
            done = range.upperBound
            // Keep to the schedule's pace: sleep until this chunk's slot ends.
            let due = started.addingTimeInterval(pause * Double(done / chunk))
            let wait = due.timeIntervalSinceNow
            if wait > 0 && done < total { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
        }
        let rest = started.addingTimeInterval(seconds).timeIntervalSinceNow
        if rest > 0 { try await Task.sleep(for: .milliseconds(Int64(rest * 1000))) }
    }

    private func put(step: Int, _ range: Range<Int>) async throws {
        let chunk = state.withLock { Array($0[step][range]) }
        let entries: [JSONValue] = chunk.map {
            .object([("PartitionKey", .string($0.user)), ("Data", .string(Data($0.json.utf8).base64EncodedString()))])
        }
        let putAt = Date()
        var reply: JSONValue = .null
        // moto is local: a failure here is the harness's, retried a few times before giving up.
        for attempt in 1...5 {
            do {
                reply = try await kinesis.call("PutRecords", .object([("StreamName", .string(stream)), ("Records", .array(entries))]))
                break
            } catch {
                if attempt == 5 { throw SimError.harness("PutRecords failed 5 times: \(error)") }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let results = reply["Records"]?.arrayValue ?? []
        guard results.count == chunk.count, reply["FailedRecordCount"]?.intValue ?? 0 == 0 else {
            throw SimError.harness("PutRecords rejected records: \(reply)")
        }
        state.withLock { s in
            for (offset, r) in results.enumerated() {
                let i = range.lowerBound + offset
                s[step][i].shard = r["ShardId"]?.stringValue ?? "?"
                s[step][i].sequence = r["SequenceNumber"]?.stringValue ?? "?"
                s[step][i].putAt = putAt
                s[step][i].isProduced = true
            }
        }
    }
}

enum SimError: Error, CustomStringConvertible {
    /// The harness could not do what the schedule says (setup, moto, a wait that timed out).
    case harness(String)

    var description: String {
        switch self {
        case .harness(let m): return "harness: \(m)"
        }
    }
}
