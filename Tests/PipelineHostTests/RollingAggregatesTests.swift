import BuiltinPlugins
import Foundation
import Logging
@testable import PipelineHost
@testable import RollingAggregates
import Testing

/// The `rolling_aggregates` transform driven batch by batch (`process`, as the runtime calls it), against an
/// independent O(n²) reference with exact sums.
@Suite struct RollingAggregatesTests {
    static let t0 = 1_718_500_000.0
    static let allFields = #""windows": [{"label": "1h", "length": "1h"}, {"label": "24h", "length": "24h"}], "aggregates": ["count", "sum", "mean", "max"]"#
    static let lengths = [3600.0, 86400.0], labels = ["1h", "24h"]

    struct Event {
        var key: String
        var t: Double
        var v: Double
        var partition: String? = nil
    }

    // MARK: Driving the transform

    static func make(_ fields: String = allFields, workers: Int = 1) throws -> RollingAggregates {
        let text = #"{"name": "ra", "source": {"type": "file", "path": "/dev/null"}, "transforms": [{"type": "rolling_aggregates", \#(fields)}], "sinks": [{"type": "stdout"}]}"#
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "ra.json", registry: BuiltinPlugins.registry, environment: [:])
        let context = BuildContext(pipelineName: "ra", logger: Logger(label: "test"), environment: [:], registry: BuiltinPlugins.registry,
                                   parallelism: workers)
        return try RollingAggregates(config: spec.transforms[0], context: context)
    }

    static func record(_ e: Event, n: Int) -> Record {
        let time: JSONValue = e.t == e.t.rounded() && abs(e.t) < 9e15 ? .int(Int64(e.t)) : .double(e.t)
        let origin: RecordOrigin = e.partition.map { .sequence(partition: $0, sequence: "\(n)") } ?? .line(file: SourceFile("test"), line: Int64(n + 1))
        return Record(fields: [("n", .int(Int64(n))), ("user_id", .string(e.key)), ("event_created_at_ts", time), ("transaction_value", .double(e.v))],
                      origin: origin)
    }

    /// Feeds `events[range]` in batches of `batchSize`; returns the records out (by "n") and the dead letters.
    static func feed(_ transform: RollingAggregates, _ events: [Event], _ range: Range<Int>? = nil, batchSize: Int = 100)
        async throws -> (out: [Int: Record], dead: [(n: Int, reason: String)])
    {
        var out: [Int: Record] = [:], dead: [(n: Int, reason: String)] = []
        let range = range ?? events.indices
        var i = range.lowerBound
        while i < range.upperBound {
            let end = min(range.upperBound, i + batchSize)
            var batch = Batch(id: UInt64(i), records: (i..<end).map { record(events[$0], n: $0) }, deadLetters: [],
                              token: AckToken(batchID: UInt64(i), tracker: AckTracker()))
            try await transform.process(&batch)
            for r in batch.records { out[Int(r["n"]!.intValue!)] = r }
            for d in batch.deadLetters { dead.append((Int(d.record["n"]!.intValue!), d.reason)) }
            i = end
        }
        return (out, dead)
    }

    /// A snapshot as it goes through a checkpoint file: written as JSON text and parsed back.
    static func throughText(_ value: JSONValue) throws -> JSONValue {
        var w = JSONWriter()
        w.write(value)
        return try DocumentParser.parseValue(w.bytes)
    }

    // MARK: Reference

    /// Exact sums: the sum as a two's-complement fixed-point integer in units of 2^-1074 (the smallest double),
    /// wide enough for any sum met here, rounded once to the nearest double, ties to even. That is what
    /// Python's math.fsum returns, computed in a different way from the transform's partials.
    struct ExactReference {
        private var limbs = [UInt64](repeating: 0, count: 40)

        mutating func add(_ d: Double) {
            guard d != 0 else { return }
            let m: UInt64 = d.significandBitPattern | (d.isNormal ? 1 << 52 : 0)
            let shift = d.isNormal ? Int(d.exponentBitPattern) - 1 : 0
            let i = shift / 64, b = UInt64(shift % 64)
            let parts = [(i, m << b), (i + 1, b == 0 ? 0 : m >> (64 - b))]
            var carry: UInt64 = 0
            if d > 0 {
                for (j, part) in parts {
                    let (r1, c1) = limbs[j].addingReportingOverflow(part)
                    let (r2, c2) = r1.addingReportingOverflow(carry)
                    limbs[j] = r2
                    carry = (c1 || c2) ? 1 : 0
                }
                var j = i + 2
                while carry != 0 && j < limbs.count {
                    let (r, c) = limbs[j].addingReportingOverflow(1)
                    limbs[j] = r
                    carry = c ? 1 : 0
                    j += 1
                }
            } else {
                for (j, part) in parts {
                    let (r1, c1) = limbs[j].subtractingReportingOverflow(part)
                    let (r2, c2) = r1.subtractingReportingOverflow(carry)
                    limbs[j] = r2
                    carry = (c1 || c2) ? 1 : 0
                }
                var j = i + 2
                while carry != 0 && j < limbs.count {
                    let (r, c) = limbs[j].subtractingReportingOverflow(1)
                    limbs[j] = r
                    carry = c ? 1 : 0
                    j += 1
                }
            }
        }

        mutating func remove(_ d: Double) { add(-d) }

        var value: Double {
            var x = limbs
            let negative = x[x.count - 1] >> 63 == 1
            if negative {
                var carry: UInt64 = 1
                for i in x.indices {
                    let (r, c) = (~x[i]).addingReportingOverflow(carry)
                    x[i] = r
                    carry = c ? 1 : 0
                }
            }
            guard let top = x.lastIndex(where: { $0 != 0 }) else { return 0 }
            func bit(_ i: Int) -> UInt64 { (x[i / 64] >> UInt64(i % 64)) & 1 }
            let p = top * 64 + 63 - x[top].leadingZeroBitCount  // the highest set bit
            let low = max(0, p - 52)
            var m: UInt64 = 0
            for i in stride(from: p, through: low, by: -1) { m = m << 1 | bit(i) }
            if low > 0 {
                let half = bit(low - 1) == 1
                let r = low - 1  // sticky: any bit below r
                var sticky = r % 64 > 0 && x[r / 64] & ((1 << UInt64(r % 64)) - 1) != 0
                for l in 0..<(r / 64) where x[l] != 0 { sticky = true }
                if half && (sticky || m & 1 == 1) { m += 1 }
            }
            let magnitude = Double(sign: .plus, exponent: low - 1074, significand: Double(m))
            return negative ? -magnitude : magnitude
        }

        static func sum(_ values: [Double]) -> Double {
            var r = ExactReference()
            for v in values { r.add(v) }
            return r.value
        }
    }

    /// The expected output fields of every accepted event, straight from the definition: a window of W holds
    /// the key's accepted events strictly before this one in (time, arrival) order with time > t − W. Events
    /// that arrive later cannot be seen, whatever their time: "before" is arrived earlier with time <= t.
    static func reference(_ events: [Event], accepted: Set<Int>, lengths: [Double] = lengths, labels: [String] = labels) -> [Int: [(String, JSONValue)]] {
        var byKey: [String: [Int]] = [:]
        for i in events.indices where accepted.contains(i) { byKey[events[i].key, default: []].append(i) }
        var out: [Int: [(String, JSONValue)]] = [:]
        for (_, indices) in byKey {
            for i in indices {
                let e = events[i]
                let earlier = indices.filter { $0 < i && events[$0].t <= e.t }
                var fields: [(String, JSONValue)] = []
                for (length, label) in zip(lengths, labels) {
                    let window = earlier.filter { events[$0].t > e.t - length }.map { events[$0].v }
                    let sum = ExactReference.sum(window)
                    fields.append(("txn_count_\(label)", .int(Int64(window.count))))
                    fields.append(("txn_sum_\(label)", .double(sum)))
                    fields.append(("txn_mean_\(label)", window.isEmpty ? .null : .double(sum / Double(window.count))))
                    fields.append(("txn_max_\(label)", window.max().map { .double($0) } ?? .null))
                }
                let previous = earlier.max { (events[$0].t, $0) < (events[$1].t, $1) }.map { events[$0].t }
                fields.append(("secs_since_prev_txn", previous.map { .double(e.t - $0) } ?? .null))
                out[i] = fields
            }
        }
        return out
    }

    /// Every accepted event came out with exactly the reference's fields.
    static func expectMatches(_ out: [Int: Record], _ expected: [Int: [(String, JSONValue)]], sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        #expect(out.count == expected.count, sourceLocation: sourceLocation)
        var mismatches = 0
        for (n, fields) in expected.sorted(by: { $0.key < $1.key }) {
            guard let r = out[n] else {
                Issue.record("event \(n) missing from the output", sourceLocation: sourceLocation)
                continue
            }
            for (name, want) in fields where r[name] != want {
                mismatches += 1
                if mismatches <= 10 { Issue.record("event \(n) \(name): expected \(want), got \(r[name] ?? .null)", sourceLocation: sourceLocation) }
            }
        }
        #expect(mismatches == 0, sourceLocation: sourceLocation)
    }

    // MARK: Defect A: bad event times

    @Test func millisecondTimestampIsDeadLetteredAndBlindsNobody() async throws {
        let transform = try Self.make()
        var events: [Event] = (0..<2000).map { i in
            Event(key: "u\(i * 37 % 150)", t: Self.t0 + Double(i * 7), v: Double(i * 7919 % 100_000) / 100, partition: "shard-0")
        }
        events[1000].t = 1_718_500_000_000  // the replay's millisecond timestamp
        let (out, dead) = try await Self.feed(transform, events)
        #expect(dead.count == 1)
        #expect(dead.first?.n == 1000)
        let reason = dead.first?.reason ?? ""
        #expect(reason == #"invalid event time: "event_created_at_ts" = 1718500000000 looks like milliseconds, not seconds since 1970"#)
        #expect(transform.rejected == ["implausible": 1])
        let counter = try #require(transform.invalidTimeCounters["implausible"])
        #expect(counter.label == "rolling_aggregates_invalid_time_total")
        #expect(counter.dimensions.map { "\($0.0)=\($0.1)" } == ["transform=rolling_aggregates", "reason=implausible"])
        Self.expectMatches(out, Self.reference(events, accepted: Set(events.indices).subtracting([1000])))
    }

    @Test func implausibleTimesNameTheirKind() {
        #expect(RollingAggregates.implausibility(of: 1_718_500_000, field: "ts") == nil)
        #expect(RollingAggregates.implausibility(of: 0, field: "ts") == nil)
        #expect(RollingAggregates.implausibility(of: -5, field: "ts") == #"invalid event time: "ts" = -5 is negative, not seconds since 1970"#)
        #expect(RollingAggregates.implausibility(of: 1_718_500_000_000_000, field: "ts")?.contains("looks like microseconds") == true)
        #expect(RollingAggregates.implausibility(of: 1_718_500_000_000_000_000, field: "ts")?.contains("looks like nanoseconds") == true)
    }

    @Test func farFutureRecordIsDeadLetteredAndLaterRecordsAreUnaffected() async throws {
        let transform = try Self.make()
        let now = Date().timeIntervalSince1970.rounded()
        var events: [Event] = []
        for i in 0..<300 { events.append(Event(key: "u\(i % 7)", t: Self.t0 + Double(i * 20), v: Double(i % 13) + 0.25)) }
        events.insert(Event(key: "u3", t: now + 2 * 86400, v: 1e6), at: 150)
        let (out, dead) = try await Self.feed(transform, events)
        #expect(dead.count == 1)
        #expect(dead.first?.n == 150)
        let reason = dead.first?.reason ?? ""
        #expect(reason.hasPrefix(#"future event time: "event_created_at_ts" = \#(Int64(now + 2 * 86400)) is "#), "\(reason)")
        #expect(reason.hasSuffix("s ahead of the wall clock, beyond max_future 3600s"), "\(reason)")
        #expect(transform.rejected == ["future": 1])
        #expect(transform.invalidTimeCounters["future"]?.dimensions.last.map { "\($0.0)=\($0.1)" } == "reason=future")
        // u3's later records neither count the future record nor are judged late against it.
        Self.expectMatches(out, Self.reference(events, accepted: Set(events.indices).subtracting([150])))
    }

    @Test func latenessIsJudgedPerKey() async throws {
        let transform = try Self.make(#""allowed_lateness": "60s", "#.appending(Self.allFields))
        let events = [
            Event(key: "A", t: Self.t0 + 100_000, v: 1, partition: "shard-0"),
            Event(key: "B", t: Self.t0, v: 2, partition: "shard-0"),  // far behind A, but B's own first event
            Event(key: "B", t: Self.t0 + 10, v: 4, partition: "shard-0"),
            Event(key: "B", t: Self.t0 + 5, v: 8, partition: "shard-0"),  // 5 s behind B's newest: in order
            Event(key: "A", t: Self.t0 + 100_000 - 61, v: 16, partition: "shard-0"),  // 61 s behind A's newest: late
            Event(key: "A", t: Self.t0 + 100_000 - 60, v: 32, partition: "shard-0"),  // exactly allowed_lateness
            Event(key: "B", t: Self.t0 + 20, v: 64, partition: "shard-0"),
        ]
        let (out, dead) = try await Self.feed(transform, events)
        #expect(dead.map(\.n) == [4])
        #expect(dead.first?.reason.hasPrefix("late: event time 1718599939.0 is 61.0s behind the newest event time 1718600000.0 of its key") == true)
        #expect(transform.rejected == ["late": 1])
        Self.expectMatches(out, Self.reference(events, accepted: [0, 1, 2, 3, 5, 6]))
        #expect(out[3]?["txn_count_1h"] == .int(1) && out[3]?["secs_since_prev_txn"] == .int(5))
        #expect(out[6]?["txn_sum_1h"] == .double(14))
    }

    // MARK: Defect B: exact sums in O(1) per event

    @Test func exactSumIsFsum() {
        // Values from CPython: math.fsum([1e-16, 1, 1e16]) == 1.0000000000000002e16 (the half-even correction),
        // math.fsum([1e16, 1.0, -1e16]) == 1.0, math.fsum([0.1, 0.2, 0.7]) == 1.0.
        func fsum(_ values: [Double]) -> Double {
            var s = ExactSum()
            for v in values { s.add(v) }
            return s.value
        }
        #expect(fsum([1e-16, 1, 1e16]) == 1.0000000000000002e16)
        #expect(fsum([1e16, 1.0, -1e16]) == 1.0)
        #expect(fsum([0.1, 0.2, 0.7]) == 1.0)
        #expect(fsum([]) == 0.0)
        var s = ExactSum()
        for v in [1e16, 0.1, 1.0, -1e16, 0.2] { s.add(v) }
        s.remove(1e16)  // 0.1 + 1.0 − 1e16 + 0.2, exactly
        s.add(1e16)
        s.remove(0.1)
        #expect(s.value == 1.2)
    }

    /// Partials beyond the inline ones spill to the heap and come back: values over the whole exponent range,
    /// added and removed at random, against CPython's loop on a plain array.
    @Test func exactSumSpillsPartialsAndComesBack() {
        func reference(_ partials: inout [Double], _ value: Double) {
            var x = value, i = 0
            for j in 0..<partials.count {
                var y = partials[j]
                if x.magnitude < y.magnitude { (x, y) = (y, x) }
                let hi = x + y
                let lo = y - (hi - x)
                if lo != 0 { partials[i] = lo; i += 1 }
                x = hi
            }
            partials.removeLast(partials.count - i)
            if x != 0 { partials.append(x) }
        }
        var rng = SplitMix64(seed: 7)
        var sum = ExactSum()
        var expected: [Double] = []
        var live: [Double] = []
        var maxPartials = 0
        for step in 0..<20_000 {
            if !live.isEmpty && (rng.next() % 3 == 0 || live.count > 40) {
                let v = live.remove(at: Int(rng.next() % UInt64(live.count)))
                sum.remove(v)
                reference(&expected, -v)
            } else {
                let exponent = Int(rng.next() % 600) - 300
                let v = Double(Int(rng.next() % 2_000_001) - 1_000_000) / 7 * pow(10.0, Double(exponent))
                live.append(v)
                sum.add(v)
                reference(&expected, v)
            }
            maxPartials = max(maxPartials, expected.count)
            #expect(sum.partials == expected, "step \(step)")
            if sum.partials != expected { return }
        }
        #expect(maxPartials > ExactSum.inlineCapacity * 2, "the values must spill the inline partials")
    }

    /// Leaving the double range sets `overflowed` (CPython raises), inline and spilled alike, and `reset` recovers.
    @Test func exactSumOverflowsAndRecovers() {
        var inline = ExactSum()
        inline.add(1.7e308)
        inline.add(1.7e308)
        #expect(inline.overflowed)
        inline.add(1)
        #expect(inline.overflowed, "stays overflowed until reset")
        inline.reset()
        inline.add(0.5)
        #expect(!inline.overflowed && inline.value == 0.5)
        var spilled = ExactSum()
        for e in stride(from: -300, through: 300, by: 60) { spilled.add(pow(10.0, Double(e))) }
        #expect(spilled.count > ExactSum.inlineCapacity)
        spilled.add(1.7e308)
        spilled.add(1.7e308)
        #expect(spilled.overflowed && spilled.count == 0)
        spilled.reset()
        spilled.add(2)
        #expect(spilled.value == 2)
    }

    /// The dense store behind the keyed state: removals in a row, of the last slot and of slots filled by a
    /// move, keep every key pointing at its own state.
    @Test func keyedStatesStayConsistentThroughRemovals() {
        var store = KeyedStates()
        var expected: [String: Double] = [:]
        var rng = SplitMix64(seed: 11)
        func state(_ t: Double) -> KeyState {
            var s = KeyState(windowCount: 1)
            s.prunedNewest = t
            return s
        }
        for step in 0..<3000 {
            let key = "k\(rng.next() % 200)"
            switch rng.next() % 4 {
            case 0:
                store[key] = nil
                expected[key] = nil
            case 1:
                let cut = Double(rng.next() % 3000)
                store.update { _, s in (s.prunedNewest ?? 0) >= cut }
                expected = expected.filter { $0.value >= cut }
            default:
                store[key] = state(Double(step))
                expected[key] = Double(step)
            }
            #expect(store.count == expected.count)
        }
        for (k, t) in expected { #expect(store[k]?.prunedNewest == t, "\(k)") }
        var seen: [String: Double] = [:]
        for k in store.keys { seen[k] = store[k]?.prunedNewest }
        #expect(seen == expected)
    }

    @Test func hotKeySumsAreExactForAdversarialValues() async throws {
        let transform = try Self.make()
        let pattern = [1e16, 1.0, -1e16, 0.1, 0.2, 3e15, -0.3, 1e-3, -7.5e15, 123.45, 1e-16, 4.5e15, 0.7]
        let n = 50_000
        // Two events a second (same-second pairs count in arrival order); the 1 h window slides, the 24 h one
        // holds everything.
        let events = (0..<n).map { i in Event(key: "hot", t: Self.t0 + Double(i / 2), v: pattern[(i * 7 + i / 13) % pattern.count]) }
        let (out, dead) = try await Self.feed(transform, events, batchSize: 500)
        #expect(dead.isEmpty)
        // The reference slides its own exact integer sums over the same definition.
        var mismatches = 0, naiveDiffers = 0
        for (length, label) in zip(Self.lengths, Self.labels) {
            var sum = ExactReference()
            var lo = 0
            for i in 0..<n {
                while lo < i && events[lo].t <= events[i].t - length {
                    sum.remove(events[lo].v)
                    lo += 1
                }
                let want = sum.value
                if out[i]?["txn_sum_\(label)"] != .double(want) || out[i]?["txn_count_\(label)"] != .int(Int64(i - lo)) {
                    mismatches += 1
                    if mismatches <= 5 { Issue.record("event \(i) \(label): expected \(want), got \(out[i]?["txn_sum_\(label)"] ?? .null)") }
                }
                if i % 1000 == 999 && events[lo..<i].reduce(0.0, { $0 + $1.v }) != want { naiveDiffers += 1 }
                sum.add(events[i].v)
            }
        }
        #expect(mismatches == 0)
        #expect(naiveDiffers > 0, "the values are meant to make a naive sum differ")
    }

    @Test func hotKeyWorkIsLinear() throws {
        let transform = try Self.make()
        let n = 200_000
        var last: [(String, JSONValue)] = []
        for i in 0..<n {
            // 80,000 s: every event stays in the 24 h window; values with long falling runs for the max deque.
            let v = Double((n - i) % 5000) + Double(i * 7919 % 100) / 100
            last = transform.update(key: "hot", time: Self.t0 + Double(i) * 0.4, value: v)
        }
        #expect(last.first { $0.0 == "txn_count_24h" }?.1 == .int(Int64(n - 1)))
        #expect(last.first { $0.0 == "txn_count_1h" }?.1 == .int(8999))
        // Each event enters and leaves each window once and is pruned and moved a bounded number of times; the
        // quadratic version visits ~n²/2 = 2·10^10 events.
        #expect(transform.workCounter < 10 * n, "work \(transform.workCounter) for \(n) events")
    }

    // MARK: Checkpoints and partitions

    /// 3,000 events of 60 users on three shards, some up to 100 s out of order within allowed_lateness.
    static func shardedEvents() -> [Event] {
        (0..<3000).map { i in
            let user = i * 13 % 60
            let t = Self.t0 + Double(i * 5) - (i % 17 == 0 ? 100 : 0)
            return Event(key: "u\(user)", t: t, v: Double(i * 7919 % 100_000) / 100, partition: "shard-\(user % 3)")
        }
    }

    @Test(arguments: [1, 3])
    func snapshotRestoreAndSplitMergeMatchAnUninterruptedRun(workers: Int) async throws {
        let fields = #""allowed_lateness": "5m", "#.appending(Self.allFields)
        let events = Self.shardedEvents()
        let whole = try Self.make(fields, workers: workers)
        let (expected, deadWhole) = try await Self.feed(whole, events)
        #expect(deadWhole.isEmpty)
        Self.expectMatches(expected, Self.reference(events, accepted: Set(events.indices)))

        let first = try Self.make(fields, workers: workers)
        _ = try await Self.feed(first, events, 0..<1500)
        let snapshot = try Self.throughText(try #require(try first.snapshot()))

        let restored = try Self.make(fields, workers: workers)
        try restored.restore(snapshot)
        let (afterRestore, dead1) = try await Self.feed(restored, events, 1500..<3000)

        let merged = try Self.make(fields, workers: workers)
        let parts = try first.split(snapshot)
        #expect(Set(parts.keys) == ["shard-0", "shard-1", "shard-2"])
        for (_, part) in parts { try merged.merge(try Self.throughText(part)) }
        let (afterMerge, dead2) = try await Self.feed(merged, events, 1500..<3000)

        #expect(dead1.isEmpty && dead2.isEmpty)
        for i in 1500..<3000 {
            #expect(afterRestore[i]?.json == expected[i]?.json, "restore: event \(i)")
            #expect(afterMerge[i]?.json == expected[i]?.json, "merge: event \(i)")
        }
    }

    // MARK: Workers (runtime.parallelism)

    /// Keys split among workers give the same records, in the same order, the same dead letters and the same
    /// snapshot as one worker; a snapshot taken with one number of workers resumes under another.
    @Test func workersGiveTheSameOutputAndStateAsOneAndRestoreUnderAnyCount() async throws {
        let fields = #""allowed_lateness": "5m", "#.appending(Self.allFields)
        var events = Self.shardedEvents()
        // Records every worker must reject the same way: late for its key, a millisecond time, no value.
        events[700] = Event(key: "u7", t: Self.t0, v: 1, partition: "shard-1")
        events[1200] = Event(key: "u11", t: Self.t0 * 1000, v: 1, partition: "shard-2")
        func run(_ transform: RollingAggregates, _ range: Range<Int>) async throws -> (records: [String], dead: [String]) {
            var records: [String] = [], dead: [String] = []
            var i = range.lowerBound
            while i < range.upperBound {
                let end = min(range.upperBound, i + 97)
                var batch = Batch(id: UInt64(i), records: (i..<end).map { Self.record(events[$0], n: $0) }, deadLetters: [],
                                  token: AckToken(batchID: UInt64(i), tracker: AckTracker()))
                if i == 0 { batch.records.insert(Record(fields: [("n", .int(-1)), ("event_created_at_ts", .int(Int64(Self.t0)))]), at: 5) }
                try await transform.process(&batch)
                records += batch.records.map { $0.json.description }
                dead += batch.deadLetters.map { "\($0.record["n"]!): \($0.reason)" }
                i = end
            }
            return (records, dead)
        }
        let one = try Self.make(fields, workers: 1)
        let expected = try await run(one, 0..<3000)
        #expect(expected.dead.count == 3, "\(expected.dead)")
        let accepted = Set(events.indices).subtracting([700, 1200])
        let (out, _) = try await Self.feed(try Self.make(fields, workers: 1), events)
        Self.expectMatches(out.filter { accepted.contains($0.key) }, Self.reference(events, accepted: accepted))
        let oneSnapshot = try Self.throughText(try #require(try one.snapshot()))
        for workers in [2, 3, 5] {
            let many = try Self.make(fields, workers: workers)
            let got = try await run(many, 0..<3000)
            #expect(got.records == expected.records, "\(workers) workers: the records or their order differ")
            #expect(got.dead == expected.dead, "\(workers) workers")
            #expect(many.keyCount == one.keyCount)
            #expect(try Self.throughText(try #require(try many.snapshot())) == oneSnapshot, "\(workers) workers: the snapshot differs")
        }
        // Halfway with 3 workers, then on with 1 or 2 from that checkpoint: as if never interrupted.
        let firstHalf = try Self.make(fields, workers: 3)
        let before = try await run(firstHalf, 0..<1500)
        let snapshot = try Self.throughText(try #require(try firstHalf.snapshot()))
        for workers in [1, 2] {
            let resumed = try Self.make(fields, workers: workers)
            try resumed.restore(snapshot)
            let after = try await run(resumed, 1500..<3000)
            #expect(before.records + after.records == expected.records, "resumed with \(workers) workers")
        }
    }

    /// A large state split among workers snapshots to the same document as one worker's: every key once, in key
    /// order, and it restores under another count to the same state.
    @Test func aLargeSnapshotIsTheSameDocumentForAnyNumberOfWorkers() async throws {
        let n = 25_003
        let events = (0..<n).map { i in Event(key: "k\((i * 7919) % n)", t: Self.t0 + Double(i), v: Double(i % 100)) }
        var snapshots: [JSONValue] = []
        for workers in [1, 3] {
            let transform = try Self.make(workers: workers)
            _ = try await Self.feed(transform, events, batchSize: 1000)
            snapshots.append(try #require(try transform.snapshot()))
        }
        #expect(snapshots[0] == snapshots[1])
        let keys = try #require(snapshots[0]["keys"]?.objectValue).map(\.0)
        #expect(keys.count == n)
        #expect(keys == keys.sorted())
        #expect(Set(keys).count == n)
        // And it restores to the same state.
        let restored = try Self.make(workers: 2)
        try restored.restore(snapshots[0])
        #expect(try restored.snapshot() == snapshots[0])
    }

    /// The state a local checkpoint gets already encoded is, byte for byte, the snapshot's tree as the checkpoint
    /// would write it: keys needing escapes and longer than an inline key, keys with and without a partition,
    /// pruned keys (their newest time only), fractional values, any number of workers.
    @Test(arguments: [1, 3])
    func theEncodedCheckpointStateIsTheSnapshotWritten(workers: Int) async throws {
        let transform = try Self.make(workers: workers)
        var events = Self.shardedEvents()
        events += ["quote\"d", "back\\slash", "tab\tkey", "ünïcødé-ключ", "a-key-longer-than-fifteen-bytes"].enumerated().map { i, k in
            Event(key: k, t: Self.t0 + 20_000 + Double(i), v: 0.1 * Double(i + 1))
        }
        // Two days on, a key's earlier events drop out of its windows: it keeps their newest time only.
        events += [Event(key: "gap", t: Self.t0 + 20_100, v: 3), Event(key: "gap", t: Self.t0 + 200_000, v: 1.25),
                   Event(key: "u0", t: Self.t0 + 200_000, v: 2.5, partition: "shard-0")]
        _ = try await Self.feed(transform, events)
        let tree = try #require(try transform.snapshot())
        let keys = try #require(tree["keys"]?.objectValue)
        #expect(keys.contains { $0.1.arrayValue?[2] != .null }, "no pruned key: the case is not covered")
        #expect(keys.contains { $0.1.arrayValue?.count == 3 } && keys.contains { $0.1.arrayValue?.count == 4 })
        guard case .encoded(let bytes) = try #require(try transform.checkpointState(encoded: true)) else {
            Issue.record("a local checkpoint's state is not encoded by the transform")
            return
        }
        var expected = JSONWriter()
        expected.write(tree)
        #expect(String(decoding: bytes, as: UTF8.self) == expected.string)
        #expect(try transform.checkpointState(encoded: false) == .value(tree))
        // And it restores to the same state.
        let restored = try Self.make(workers: 2)
        try restored.restore(try StateSnapshot.encoded(bytes).value)
        #expect(try restored.snapshot() == tree)
    }

    @Test(arguments: [1, 3])
    func dropForgetsOnlyThatPartition(workers: Int) async throws {
        let transform = try Self.make(workers: workers)
        let events = Self.shardedEvents()
        _ = try await Self.feed(transform, events, 0..<1500)
        transform.drop(partition: "shard-1")
        transform.drop(partition: "shard-9")  // holds nothing: no effect
        let snapshot = try #require(try transform.snapshot())
        let keys = try #require(snapshot["keys"]?.objectValue)
        let partitions = Set(keys.compactMap { $0.1.arrayValue?[3].stringValue })
        #expect(partitions == ["shard-0", "shard-2"])
        #expect(Set(keys.map(\.0)) == Set((0..<60).filter { $0 % 3 != 1 }.map { "u\($0)" }))
        #expect(try transform.split(snapshot)["shard-1"] == nil)
        // The dropped keys start over; the others carry on.
        let later = [Event(key: "u1", t: Self.t0 + 7600, v: 1, partition: "shard-1"), Event(key: "u0", t: Self.t0 + 7600, v: 1, partition: "shard-0")]
        let (out, _) = try await Self.feed(transform, later)
        #expect(out[0]?["secs_since_prev_txn"] == .null && out[0]?["txn_count_24h"] == .int(0))
        #expect(out[1]?["secs_since_prev_txn"] != .null && out[1]?["txn_count_24h"] != .int(0))
    }

    @Test(arguments: [1, 3])
    func inheritMovesAParentsKeysToTheChild(workers: Int) async throws {
        let parent = try Self.make(workers: workers)
        let events = Self.shardedEvents()
        _ = try await Self.feed(parent, events, 0..<1500)
        let whole = try #require(try parent.snapshot())
        let part = try #require(try parent.split(whole)["shard-0"])
        let child = try Self.make(workers: workers)
        // A key the child already holds for itself wins over the parent's.
        _ = try await Self.feed(child, [Event(key: "u0", t: Self.t0 + 7000, v: 5, partition: "shard-9")])
        try child.inherit(part, into: "shard-9")
        let snapshot = try #require(try child.snapshot())
        let keys = try #require(snapshot["keys"]?.objectValue)
        #expect(Set(keys.map(\.0)) == Set((0..<60).filter { $0 % 3 == 0 }.map { "u\($0)" }))
        #expect(Set(keys.compactMap { $0.1.arrayValue?[3].stringValue }) == ["shard-9"])
        #expect(snapshot["keys"]?["u0"]?.arrayValue?[0] == .array([.double(Self.t0 + 7000)]))
        let later = [Event(key: "u3", t: Self.t0 + 7600, v: 1, partition: "shard-9")]
        let (out, _) = try await Self.feed(child, later)
        #expect(out[0]?["secs_since_prev_txn"] != .null && out[0]?["txn_count_24h"] != .int(0))
        // The other child of the split inherits the same parent on this host afterwards: the keys the first
        // child moved on with keep their newer state, the others move to the second child.
        try child.inherit(part, into: "shard-8")
        let after = try #require(try child.snapshot())
        #expect(after["keys"]?["u3"]?.arrayValue?[3] == .string("shard-9"))
        #expect(after["keys"]?["u3"]?.arrayValue?[0].arrayValue?.last == .double(Self.t0 + 7600))
        #expect(after["keys"]?["u6"]?.arrayValue?[3] == .string("shard-8"))
    }

    @Test func oldFormatSnapshotStillRestores() async throws {
        // Written before lateness was judged per key: the partition's newest time had been poisoned by a
        // millisecond timestamp, which also sits in key "c"'s state.
        let old = try DocumentParser.parseValue(Array("""
            {"max_times": {"shard-0": 1718500000000.0},
             "keys": {"a": [[1718500000.0, 1718501000.0], [1.5, 2.25], null, "shard-0"],
                      "b": [[1718500500.0], [4.0], 1718400000.0, "shard-0"],
                      "c": [[1718500100.0, 1718500000000.0], [8.0, 16.0], null, "shard-0"]}}
            """.utf8))
        let transform = try Self.make()
        try transform.restore(old)
        let events = [
            Event(key: "a", t: 1_718_501_100, v: 1, partition: "shard-0"),
            Event(key: "b", t: 1_718_500_600, v: 1, partition: "shard-0"),
            Event(key: "c", t: 1_718_500_200, v: 1, partition: "shard-0"),
        ]
        let (out, dead) = try await Self.feed(transform, events)
        #expect(dead.isEmpty)
        #expect(out[0]?["txn_count_1h"] == .int(2) && out[0]?["txn_sum_1h"] == .double(3.75) && out[0]?["secs_since_prev_txn"] == .int(100))
        #expect(out[1]?["txn_count_24h"] == .int(1) && out[1]?["secs_since_prev_txn"] == .int(100))
        #expect(out[2]?["txn_count_24h"] == .int(1) && out[2]?["txn_sum_24h"] == .double(8) && out[2]?["secs_since_prev_txn"] == .int(100))
        // The new snapshot is in the new format and the poisoned time is gone; the single-value form of even
        // older snapshots restores too.
        let snapshot = try #require(try transform.snapshot())
        #expect(snapshot["max_times"] == nil)
        #expect(snapshot["keys"]?["c"]?.arrayValue?[0] == .array([.double(1_718_500_100), .double(1_718_500_200)]), "the millisecond time is gone")
        let older = try Self.make()
        try older.restore(.object([("max_time", .double(1_718_501_000)), ("keys", .object([("a", .array([.array([.double(1_718_501_000)]), .array([.double(2)]), .null]))]))]))
        let (out2, dead2) = try await Self.feed(older, [Event(key: "a", t: 1_718_501_010, v: 1)])
        #expect(dead2.isEmpty && out2[0]?["txn_sum_1h"] == .double(2))
    }

    /// Idle keys are judged against a watermark one record cannot drag: in a replay of year-old data, one record
    /// stamped with the current time (plausible, within max_future) leaves every other key in place.
    @Test func oneRecordStampedNowDoesNotMakeEveryKeyIdle() async throws {
        let ra = try Self.make(#""idle_timeout": "30d""#)
        let old = Date().timeIntervalSince1970 - 365 * 86400
        var events = (0..<200).map { Event(key: "u\($0)", t: old + Double($0), v: 1) }
        events.append(Event(key: "outlier", t: Date().timeIntervalSince1970, v: 1))
        _ = try await Self.feed(ra, events)
        ra.prune()
        #expect(ra.keyCount == 201, "keys forgotten because one record was a year ahead")
        // Eight keys a year ahead do move the watermark: the old keys are then idle.
        _ = try await Self.feed(ra, (0..<8).map { Event(key: "now\($0)", t: Date().timeIntervalSince1970, v: 1) })
        ra.prune()
        #expect(ra.keyCount == 9)
    }
}
