import Foundation
import Metrics
import PipelineHost
import Synchronization

/// `rolling_aggregates` transform: Flink-style keyed state in event time. For each event, over the same key's
/// earlier events inside each window: count, exact sum, mean and max of a value field, and the seconds since
/// the key's previous event.
public final class RollingAggregates: TransformPlugin, PartitionedState {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "rolling_aggregates",
        summary: "Per-key rolling count/sum/mean/max over event-time windows, and seconds since the previous event.",
        description: """
            "Earlier" means strictly before this event: a window of W seconds holds the key's earlier events with \
            time > t − W (an event exactly W seconds earlier is out), and events of the same second count in arrival \
            order. The sum is exact: the window's values summed without rounding and rounded once to the nearest \
            double, as Python's math.fsum does; mean is that sum divided by the count. This is the definition \
            training/features.py uses, so streaming and training features agree. \
            Lateness is judged per key: an event up to allowed_lateness behind the newest event time of its own key \
            is placed in time order and gets the same answer as in-order events; one further behind goes to the \
            dead-letter output with the reason "late". So one record with a wrong time can make at most its own key's \
            later records late. \
            Event times that cannot be right go to the dead-letter output and never enter the state: negative ones, \
            ones above 1e11 (not seconds since 1970: the reason says when they look like milliseconds, microseconds \
            or nanoseconds), and ones more than max_future ahead of the wall clock. \
            A key keeps its events back to its own newest event time − allowed_lateness − the longest window; a key \
            whose newest event is more than idle_timeout older than the idle watermark of its source partition is \
            forgotten. The idle watermark is the 8th newest key time of the partition, not its newest event time, so \
            one record stamped ahead (a current time in a replay of old data) cannot make the other keys look idle. The state is part of every checkpoint. Each key's state belongs to the source \
            partition (Kinesis shard) its records came from: when hosts share a stream through leases, a shard's keys \
            move with its lease.
            """,
        fields: [
            FieldSpec("key_field", .string, .defaultValue("user_id"), doc: "Field that keys the state."),
            FieldSpec("time_field", .string, .defaultValue("event_created_at_ts"), doc: "Event time in seconds since 1970. Negative times, times above 1e11 (milliseconds and finer) and times more than max_future ahead of the wall clock are dead-lettered."),
            FieldSpec("value_field", .string, .defaultValue("transaction_value"), doc: "Numeric field aggregated."),
            FieldSpec("prefix", .string, .defaultValue("txn"), doc: "Output fields are named <prefix>_<aggregate>_<window label>."),
            FieldSpec("windows", .array(.object([
                FieldSpec("label", .string, .required, doc: "Suffix of the output fields, e.g. 1h."),
                FieldSpec("length", .duration, .required, doc: "Window length."),
            ])), .defaultValue([["label": "1h", "length": "1h"], ["label": "24h", "length": "24h"]]), doc: "The windows."),
            FieldSpec("aggregates", .array(.oneOf(["count", "sum", "mean", "max"])), .defaultValue(["count", "sum"]), doc: "Aggregates computed per window. sum is exact (math.fsum; null in the absurd case that it leaves the double range); mean is sum / count."),
            FieldSpec("since_previous_field", .string, .defaultValue("secs_since_prev_txn"), doc: "Output field for seconds since the key's previous event (null for its first); empty to skip."),
            FieldSpec("allowed_lateness", .duration, .defaultValue("0s"), doc: "How far behind the newest event time of its own key an event may arrive and still be placed in order; one further behind is dead-lettered as late."),
            FieldSpec("max_future", .duration, .defaultValue("1h"), doc: "How far ahead of the wall clock an event time may be; a later one is dead-lettered (reason \"future event time\") and never enters the state."),
            FieldSpec("idle_timeout", .duration, .defaultValue("30d"), doc: "Forget a key whose newest event is more than this older than the idle watermark of its source partition (its 8th newest key time)."),
        ],
        examples: [#"{"type": "rolling_aggregates", "key_field": "user_id", "windows": [{"label": "1h", "length": "1h"}, {"label": "24h", "length": "24h"}]}"#],
        dataFlow: { config, _ in
            // value_field too: a missing value counts as 0, so a value added only later would zero every sum silently.
            DataFlow(reads: ["key_field", "time_field", "value_field"].map { (config.string($0), $0) },
                     writes: outputNames(config).flatMap { $0 } + [config.string("since_previous_field")].filter { !$0.isEmpty })
        },
        lint: { config in config.nestedArray("windows").isEmpty ? [ConfigProblem("at least one window is needed", at: "windows")] : [] })

    /// The output field names, per window then per aggregate: <prefix>_<aggregate>_<window label>.
    static func outputNames(_ config: ComponentConfig) -> [[String]] {
        let prefix = config.string("prefix"), names = config.strings("aggregates")
        return config.nestedArray("windows").map { w in names.map { "\(prefix)_\($0)_\(w.string("label"))" } }
    }

    struct Window {
        var label: String
        var length: Double
    }

    enum Aggregate {
        case count, sum, mean, max
    }

    /// Event times above this are not seconds since 1970 (year 5138): milliseconds, microseconds, nanoseconds.
    static let maxPlausibleTime = 1e11

    let keyField: String, timeField: String, valueField: String
    /// The same three, bound for lookups at the position they were last found.
    let keyKey: FieldKey, timeKey: FieldKey, valueKey: FieldKey
    let windows: [Window]
    let aggregates: [Aggregate]
    let sinceField: String?
    let lateness: Double
    let maxFuture: Double
    let idleTimeout: Double
    let longest: Double
    let shape: WindowShape
    let outputNames: [[String]]
    /// `outputNames` (window by window) then `sinceField`, bound once for writing into records.
    private let outputList: FieldList
    private let lateCounter: Counter
    /// rolling_aggregates_invalid_time_total by reason: "implausible", "future".
    let invalidTimeCounters: [String: Counter]
    private let keysGauge: Gauge

    /// The wall clock (seconds since 1970), for max_future. A closure read from a `Mutex` came back wrapped in
    /// one more reabstraction thunk at every read (5 % of Flink's job's CPU by its end), so it is a constant.
    private static func clock() -> Double { Date().timeIntervalSince1970 }

    /// The workers' keys (`runtime.parallelism`): worker i holds the keys `workers.shard(of:)` gives i, and a
    /// batch's records are processed by their keys' workers at once.
    let workers: KeyShards
    /// Touched by one batch at a time (maxConcurrentBatches is 1), by snapshot/restore, which the runtime calls
    /// between batches, and by merge/drop, which a source calls from its own task when it takes over or gives up
    /// a partition: the lock orders those against batches.
    private let state: Mutex<State>

    private struct State {
        var shards: [KeyedStates]
        /// Per worker: the window statistics of its current event.
        var scratches: [[WindowStats]]
        var eventsSincePrune = 0
        /// Elementary steps of the state updates (events visited), for the complexity test.
        var workCounter = 0
        /// Dead-lettered records by kind ("late", "implausible", "future"), mirroring the counters, for tests.
        var rejected: [String: Int] = [:]

        var keyCount: Int { shards.reduce(0) { $0 + $1.count } }

        /// Puts each key in the state of its worker.
        mutating func distribute(_ keys: [String: KeyState], _ workers: KeyShards) {
            for (k, s) in keys { shards[workers.shard(of: k)][k] = s }
        }
    }

    var workCounter: Int { state.withLock { $0.workCounter } }
    var rejected: [String: Int] { state.withLock { $0.rejected } }

    let id: String

    public init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        keyField = config.string("key_field")
        timeField = config.string("time_field")
        valueField = config.string("value_field")
        (keyKey, timeKey, valueKey) = (FieldKey(keyField), FieldKey(timeField), FieldKey(valueField))
        windows = config.nestedArray("windows").map { Window(label: $0.string("label"), length: $0.seconds("length")) }
        try Self.descriptor.checkLint(config)
        let names = config.strings("aggregates")
        aggregates = names.map { name -> Aggregate in
            switch name {
            case "count": return .count
            case "sum": return .sum
            case "mean": return .mean
            default: return .max
            }
        }
        let since = config.string("since_previous_field")
        sinceField = since.isEmpty ? nil : since
        lateness = config.seconds("allowed_lateness")
        maxFuture = config.seconds("max_future")
        idleTimeout = config.seconds("idle_timeout")
        longest = windows.map(\.length).max()!
        shape = WindowShape(lengths: windows.map(\.length), trackMax: aggregates.contains(.max), keep: lateness + longest)
        outputNames = Self.outputNames(config)
        outputList = FieldList(outputNames.flatMap { $0 } + (sinceField.map { [$0] } ?? []))
        lateCounter = Counter(label: "rolling_aggregates_late_total", dimensions: [("transform", config.id)])
        invalidTimeCounters = Dictionary(uniqueKeysWithValues: ["implausible", "future"].map {
            ($0, Counter(label: "rolling_aggregates_invalid_time_total", dimensions: [("transform", config.id), ("reason", $0)]))
        })
        keysGauge = Gauge(label: "rolling_aggregates_keys", dimensions: [("transform", config.id)])
        workers = KeyShards(count: max(1, context.parallelism))
        state = Mutex(State(shards: Array(repeating: KeyedStates(), count: workers.count), scratches: Array(repeating: [], count: workers.count)))
    }

    public func process(_ batch: inout Batch) async throws {
        let latest = Self.clock() + maxFuture
        state.withLock { process(&batch, state: &$0, latest: latest) }
    }

    /// What one event's step reads besides its record and its key's state.
    private struct StepContext: Sendable {
        let shape: WindowShape
        let lateness: Double
        let list: FieldList
        let aggregates: [Aggregate]
        let windowCount: Int
        /// The latest plausible event time: the wall clock plus max_future.
        let latest: Double
        let maxFuture: Double
        let keyField: String, timeField: String, valueField: String
        let timeKey: FieldKey, valueKey: FieldKey
    }

    /// What a worker counted in one batch.
    private struct Counts {
        var late = 0, implausible = 0, future = 0, work = 0
    }

    private func process(_ batch: inout Batch, state: inout State, latest: Double) {
        let keys = Record.keyTexts(keyKey, in: batch.records)
        let c = StepContext(shape: shape, lateness: lateness, list: outputList, aggregates: aggregates, windowCount: windows.count,
                            latest: latest, maxFuture: maxFuture, keyField: keyField, timeField: timeField,
                            valueField: valueField, timeKey: timeKey, valueKey: valueKey)
        // The batch works on locals, put back after it, so that the buffers below are taken of two variables.
        var shards: [KeyedStates] = []
        var scratches: [[WindowStats]] = []
        swap(&shards, &state.shards)
        swap(&scratches, &state.scratches)
        var counts = [Counts](repeating: Counts(), count: workers.count)
        if workers.count == 1 {
            // Plain locals in the loop: an array element passed inout checks its array's uniqueness every time.
            var states = KeyedStates(), stats: [WindowStats] = [], tally = Counts()
            swap(&states, &shards[0])
            swap(&stats, &scratches[0])
            states.prefetch(keys)
            var position = 0
            batch.removeFailures(stage: id) { record in
                defer { position += 1 }
                return Self.step(&record, key: keys[position], states: &states, stats: &stats, counts: &tally, c)
            }
            swap(&states, &shards[0])
            swap(&stats, &scratches[0])
            counts[0] = tally
        } else {
            let positions = workers.positions(keys)
            var reasons = [String?](repeating: nil, count: keys.count)
            batch.records.withUnsafeMutableBufferPointer { records in
                shards.withUnsafeMutableBufferPointer { shards in
                    scratches.withUnsafeMutableBufferPointer { scratches in
                        counts.withUnsafeMutableBufferPointer { counts in
                            reasons.withUnsafeMutableBufferPointer { reasons in
                                // Disjoint parts of each buffer per worker: its own state, scratch and counts, and
                                // the records (and their reasons) of its keys.
                                let shared = (records: DisjointBuffer(records), shards: DisjointBuffer(shards), scratches: DisjointBuffer(scratches),
                                              counts: DisjointBuffer(counts), reasons: DisjointBuffer(reasons))
                                workers.forEach { w in
                                    let mine = positions[w]
                                    shared.shards[w].prefetch(mine.map { keys[$0] })
                                    for i in mine {
                                        shared.reasons[i] = Self.step(&shared.records[i], key: keys[i], states: &shared.shards[w],
                                                                      stats: &shared.scratches[w], counts: &shared.counts[w], c)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if reasons.contains(where: { $0 != nil }) {
                var position = 0
                batch.removeFailures(stage: id) { _ in
                    defer { position += 1 }
                    return reasons[position]
                }
            }
        }
        swap(&shards, &state.shards)
        swap(&scratches, &state.scratches)
        var total = Counts()
        for w in counts {
            total.late += w.late
            total.implausible += w.implausible
            total.future += w.future
            total.work += w.work
        }
        state.workCounter += total.work
        if total.late > 0 {
            lateCounter.increment(by: total.late)
            state.rejected["late", default: 0] += total.late
        }
        if total.implausible > 0 {
            invalidTimeCounters["implausible"]!.increment(by: total.implausible)
            state.rejected["implausible", default: 0] += total.implausible
        }
        if total.future > 0 {
            invalidTimeCounters["future"]!.increment(by: total.future)
            state.rejected["future", default: 0] += total.future
        }
        state.eventsSincePrune += batch.records.count
        if state.eventsSincePrune > max(50_000, 2 * state.keyCount) { prune(&state) }
    }

    /// One event: checks its key, time and value, updates its key's state and writes its features; the reason
    /// when it goes to the dead-letter output instead.
    @inline(__always)
    private static func step(_ record: inout Record, key: String?, states: inout KeyedStates, stats: inout [WindowStats],
                             counts: inout Counts, _ c: StepContext) -> String? {
        guard let key else { return "missing key field \"\(c.keyField)\"" }
        guard let t = record[c.timeKey]?.doubleValue, t.isFinite else { return "missing or non-numeric event time \"\(c.timeField)\"" }
        var value = 0.0
        if let v = record[c.valueKey], !v.isNull {
            guard let d = v.doubleValue, d.isFinite else { return "field \"\(c.valueField)\": expected a number, got \(v.typeName) \(v)" }
            value = d
        }
        if let reason = implausibility(of: t, field: c.timeField) {
            counts.implausible += 1
            return reason
        }
        if t > c.latest {
            counts.future += 1
            return "future event time: \"\(c.timeField)\" = \(text(t)) is \(text(t - (c.latest - c.maxFuture)))s ahead of the wall clock, beyond max_future \(text(c.maxFuture))s"
        }
        var partition: String?
        if case .sequence(let p, _) = record.origin { partition = p }
        let (windowCount, shape, lateness) = (c.windowCount, c.shape, c.lateness)
        // One index access per event: the lateness check and the update share it.
        guard let previous = states.withState(key, make: { KeyState(windowCount: windowCount) }, { s -> Double?? in
            let newest = s.newest
            if t < newest - lateness { return nil }
            if partition != nil { s.partition = partition }
            return .some(s.insert(time: t, value: value, shape: shape, stats: &stats, work: &counts.work))
        }) else {
            counts.late += 1
            let newest = states[key]?.newest ?? t
            return "late: event time \(t) is \(newest - t)s behind the newest event time \(newest) of its key, beyond allowed_lateness \(lateness)s"
        }
        writeFeatures(time: t, previous: previous, stats: stats, aggregates: c.aggregates, list: c.list, into: &record)
        return nil
    }

    /// Why `t` cannot be seconds since 1970, or nil when it can.
    static func implausibility(of t: Double, field: String) -> String? {
        let what: String
        if t < 0 {
            what = "is negative"
        } else if t <= maxPlausibleTime {
            return nil
        } else if t <= 1e14 {
            what = "looks like milliseconds"
        } else if t <= 1e17 {
            what = "looks like microseconds"
        } else if t <= 1e20 {
            what = "looks like nanoseconds"
        } else {
            what = "is too large"
        }
        return "invalid event time: \"\(field)\" = \(text(t)) \(what), not seconds since 1970"
    }

    /// Integral numbers without ".0".
    static func text(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : "\(d)"
    }

    /// Inserts the event into its key's state and returns the features over the events before it. The caller
    /// has checked the event time (plausible, not in the future, not late for its key).
    func update(key: String, time t: Double, value: Double, partition: String? = nil) -> [(String, JSONValue)] {
        let (w, count, shape) = (workers.shard(of: key), windows.count, shape)
        var stats: [WindowStats] = []
        let previous = state.withLock { state in
            state.shards[w].withState(key, make: { KeyState(windowCount: count) }) { s -> Double? in
                if partition != nil { s.partition = partition }
                return s.insert(time: t, value: value, shape: shape, stats: &stats, work: &state.workCounter)
            }
        }
        var record = Record(fields: [])
        Self.writeFeatures(time: t, previous: previous, stats: stats, aggregates: aggregates, list: outputList, into: &record)
        return record.fields
    }

    /// Sets the features in `stats` (filled by `KeyState.insert`) and the seconds since `previous` on the record,
    /// as the fields of `list`: each window's aggregates, then the seconds since the previous event.
    private static func writeFeatures(time t: Double, previous: Double?, stats: [WindowStats], aggregates: [Aggregate],
                                      list: FieldList, into record: inout Record) {
        let perWindow = aggregates.count, windowed = stats.count * perWindow
        record.set(list) { j in
            guard j < windowed else { return previous.map { Self.number(t - $0) } ?? .null }
            let window = stats[j / perWindow]
            switch aggregates[j % perWindow] {
            case .count: return .int(Int64(window.count))
            case .sum: return window.sum.map { .double($0) } ?? .null
            case .mean: return window.count > 0 ? window.sum.map { .double($0 / Double(window.count)) } ?? .null : .null
            case .max: return window.count > 0 ? .double(window.max) : .null
            }
        }
    }

    static func number(_ d: Double) -> JSONValue {
        d == d.rounded() && abs(d) < 9e15 ? .int(Int64(d)) : .double(d)
    }

    /// Keys that must be ahead for a partition's idle watermark to move: one bad record moves only its own key.
    static let idleWatermarkRank = 8

    /// The idle watermark of each partition: the `idleWatermarkRank`-th newest key time in it (−∞ with fewer
    /// keys). Using the newest event time instead let one record stamped ahead make every other key look idle.
    /// A short list, not a dictionary: a stream has few partitions, and a linear search over them is cheaper per
    /// key than hashing the partition name.
    private static func partitionWatermarks(_ shards: [KeyedStates]) -> [(partition: String?, watermark: Double)] {
        let k = Self.idleWatermarkRank
        var top: [(partition: String?, times: [Double])] = []  // the k newest key times of each partition, ascending
        for shard in shards { shard.forEachNewest { t, p in
            var slot = top.firstIndex { $0.partition == p } ?? -1
            if slot < 0 {
                top.append((p, []))
                slot = top.count - 1
            }
            if top[slot].times.count == k {
                guard t > top[slot].times[0] else { return }
                top[slot].times.removeFirst()
            }
            top[slot].times.insert(t, at: top[slot].times.firstIndex { $0 > t } ?? top[slot].times.count)
        } }
        return top.map { ($0.partition, $0.times.count == k ? $0.times[0] : -.infinity) }
    }

    /// Forgets keys whose newest event is more than idle_timeout older than the idle watermark of their
    /// partition, and compacts the kept events. (Each key prunes its own old events as it is updated.)
    /// Called every `max(50,000, 2 × keys)` events, so its O(keys) pass costs O(1) per event.
    func prune() {
        state.withLock { prune(&$0) }
    }

    private func prune(_ state: inout State) {
        state.eventsSincePrune = 0
        let watermarks = Self.partitionWatermarks(state.shards)
        var work = 0
        let idleTimeout = idleTimeout
        for w in state.shards.indices {
            state.shards[w].update { _, s in
                let watermark = watermarks.first { $0.partition == s.partition }?.watermark ?? -.infinity
                if s.newest < watermark - idleTimeout { return false }
                if s.head > 0 && s.head * 2 >= s.times.count { s.compact(work: &work) }
                return true
            }
        }
        state.workCounter += work
        keysGauge.record(state.keyCount)
    }

    var keyCount: Int { state.withLock { $0.keyCount } }

    // MARK: Partitions

    /// Forgets every key whose state belongs to `partition` (its latest record came from it). Keys of
    /// unpartitioned records are never dropped.
    public func drop(partition: String) {
        state.withLock { state in
            for w in state.shards.indices { state.shards[w].update { _, s in s.partition != partition } }
            keysGauge.record(state.keyCount)
        }
    }

    // MARK: Checkpointed state
    //
    // {"keys": {key: [times, values, pruned newest | null, partition?]}}
    //
    // A key's newest time is its last time (or its pruned newest), so lateness needs nothing more, and the idle
    // watermark of a partition is derived from its keys. Snapshots of earlier versions also carry `max_times`
    // (or `max_time`): the newest time seen per partition, which one bad record could have pushed years ahead.
    // It is ignored, and event times that fail today's checks are dropped from the restored keys, so an old
    // snapshot poisoned by such a record heals on restore.

    public func snapshot() throws -> JSONValue? {
        let shards = prunedShards()
        let order = Self.keysInOrder(shards, workers)
        // Encoded in as many contiguous runs of the key order as there are workers, at once.
        let runs = workers.count
        var parts = [[(String, JSONValue)]](repeating: [], count: runs)
        parts.withUnsafeMutableBufferPointer { parts in
            let out = DisjointBuffer(parts)
            workers.forEach { r in
                let run = order[order.count * r / runs..<order.count * (r + 1) / runs]
                out[r] = run.map { (shards[$0.worker].keys[$0.index], Self.encode(shards[$0.worker].states[$0.index])) }
            }
        }
        return .object([("keys", .object(parts.flatMap { $0 }))])
    }

    /// For a store that writes states out as they are, the same document as `snapshot()`, written directly: the
    /// tree would hold four values per key and cost three times the encoding (measured on 80,000 keys), and at the
    /// end of a file the final checkpoint runs on one core after every other stage has finished.
    public func checkpointState(encoded: Bool) throws -> StateSnapshot? {
        guard encoded else { return try snapshot().map(StateSnapshot.value) }
        let shards = prunedShards()
        var w = JSONWriter(capacity: 64 + shards.reduce(0) { $0 + $1.count } * 48)
        w.append("{\"keys\":{")
        for (n, key) in Self.keysInOrder(shards, workers).enumerated() {
            if n > 0 { w.append(",") }
            w.writeString(shards[key.worker].keys[key.index])
            w.append(":")
            Self.write(shards[key.worker].states[key.index], into: &w)
        }
        w.append("}}")
        return .encoded(w.bytes)
    }

    /// The workers' states, pruned, for a snapshot.
    private func prunedShards() -> [KeyedStates] {
        state.withLock { state in
            prune(&state)
            return state.shards
        }
    }

    /// Every key as (worker, position) in key order: the same document whatever the number of workers. Each
    /// worker's keys are sorted at once, then the lists are merged (the workers' keys are disjoint).
    static func keysInOrder(_ shards: [KeyedStates], _ workers: KeyShards) -> [(worker: Int, index: Int)] {
        var orders = [[Int]](repeating: [], count: shards.count)
        orders.withUnsafeMutableBufferPointer { orders in
            let out = DisjointBuffer(orders)
            workers.forEach { w in
                let keys = shards[w].keys
                out[w] = keys.indices.sorted { keys[$0] < keys[$1] }
            }
        }
        if shards.count == 1 { return orders[0].map { (0, $0) } }
        var merged: [(worker: Int, index: Int)] = []
        merged.reserveCapacity(orders.reduce(0) { $0 + $1.count })
        var next = [Int](repeating: 0, count: orders.count)
        while true {
            var best = -1
            for w in orders.indices where next[w] < orders[w].count {
                if best < 0 || shards[w].keys[orders[w][next[w]]] < shards[best].keys[orders[best][next[best]]] { best = w }
            }
            if best < 0 { return merged }
            merged.append((best, orders[best][next[best]]))
            next[best] += 1
        }
    }

    /// `encode(s)`'s bytes without the tree.
    static func write(_ s: KeyState, into w: inout JSONWriter) {
        func list(_ xs: ArraySlice<Double>, _ w: inout JSONWriter) {
            w.append("[")
            xs.withUnsafeBufferPointer { xs in
                for i in xs.indices {
                    if i > 0 { w.append(",") }
                    w.writeDouble(xs[i])
                }
            }
            w.append("]")
        }
        w.append("[")
        list(s.liveTimes, &w)
        w.append(",")
        list(s.liveValues, &w)
        w.append(",")
        if let p = s.prunedNewest { w.writeDouble(p) } else { w.append("null") }
        if let p = s.partition {
            w.append(",")
            w.writeString(p)
        }
        w.append("]")
    }

    /// A hot reload's hand-over without the JSON round trip: the keys move as they are when the predecessor
    /// kept the same keys, times, values and windows (a new allowed_lateness, say, applies from the next prune).
    public func canTakeState(from predecessor: any Transform) -> Bool {
        guard let old = predecessor as? RollingAggregates else { return false }
        return old.keyField == keyField && old.timeField == timeField && old.valueField == valueField
            && old.shape.lengths == shape.lengths && old.shape.trackMax == shape.trackMax
    }

    public func takeState(from predecessor: any Transform) {
        guard let old = predecessor as? RollingAggregates else { return }
        let moved = old.state.withLock { state -> [KeyedStates] in
            defer { state.shards = Array(repeating: KeyedStates(), count: state.shards.count) }
            return state.shards
        }
        let workers = workers
        state.withLock { state in
            if moved.count == state.shards.count {
                state.shards = moved
            } else {
                // Another number of workers: each key to its worker now.
                state.shards = Array(repeating: KeyedStates(), count: workers.count)
                for m in moved { for (k, s) in zip(m.keys, m.states) { state.shards[workers.shard(of: k)][k] = s } }
            }
            keysGauge.record(state.keyCount)
        }
    }

    public func restore(_ snapshot: JSONValue) throws {
        let restored = try decode(snapshot)
        let workers = workers
        state.withLock { state in
            state.shards = Array(repeating: KeyedStates(), count: workers.count)
            state.distribute(restored, workers)
            keysGauge.record(state.keyCount)
        }
    }

    public func split(_ snapshot: JSONValue) throws -> [String: JSONValue] {
        guard let keys = snapshot["keys"]?.objectValue else { throw PipelineError(.checkpoint, "rolling_aggregates state has no keys") }
        var parts: [String: [(String, JSONValue)]] = [:]
        for (k, v) in keys {
            guard let partition = v.arrayValue.flatMap({ $0.count > 3 ? $0[3].stringValue : nil }) else { continue }
            parts[partition, default: []].append((k, v))
        }
        return parts.mapValues { .object([("keys", .object($0))]) }
    }

    public func merge(_ part: JSONValue) throws {
        let keys = try decode(part)
        let workers = workers
        state.withLock { state in
            state.distribute(keys, workers)
            keysGauge.record(state.keyCount)
        }
    }

    /// A parent partition's part with every key moved to `partition` (a child shard after a reshard). Keys this
    /// transform already holds for `partition` win, and so does any key it holds with events newer than the
    /// parent's: when both children of a split inherit the same parent on this host, the second inherit must
    /// not reset the keys the first child has moved on with (the transform cannot tell which child a key
    /// belongs to; a key's records retag it).
    public func inherit(_ part: JSONValue, into partition: String) throws {
        let keys = try decode(part)
        let workers = workers
        state.withLock { state in
            for (k, var inherited) in keys {
                let w = workers.shard(of: k)
                if var held = state.shards[w][k] {
                    if held.partition == partition { continue }
                    if held.newest > inherited.newest {
                        // Fresher than the parent's final state. When it is this host's own state of the parent, it
                        // moves to the child like the stored one would have.
                        if held.partition != nil && held.partition == inherited.partition {
                            held.partition = partition
                            state.shards[w][k] = held
                        }
                        continue
                    }
                }
                inherited.partition = partition
                state.shards[w][k] = inherited
            }
            keysGauge.record(state.keyCount)
        }
    }

    /// `[times, values, pruned newest, partition?]`.
    static func encode(_ s: KeyState) -> JSONValue {
        var parts: [JSONValue] = [.array(s.liveTimes.map { .double($0) }), .array(s.liveValues.map { .double($0) }),
                                  s.prunedNewest.map { .double($0) } ?? .null]
        if let p = s.partition { parts.append(.string(p)) }
        return .array(parts)
    }

    /// The keys of a snapshot (or part), with their cursors rebuilt.
    func decode(_ snapshot: JSONValue) throws -> [String: KeyState] {
        guard let keys = snapshot["keys"]?.objectValue else { throw PipelineError(.checkpoint, "rolling_aggregates state has no keys") }
        let latest = Self.clock() + maxFuture
        func valid(_ t: Double) -> Bool { t.isFinite && t >= 0 && t <= Self.maxPlausibleTime && t <= latest }
        var restored: [String: KeyState] = [:]
        restored.reserveCapacity(keys.count)
        var work = 0
        for (k, v) in keys {
            guard let parts = v.arrayValue, parts.count == 3 || parts.count == 4, let ts = parts[0].arrayValue, let vs = parts[1].arrayValue,
                  ts.count == vs.count
            else {
                throw PipelineError(.checkpoint, "rolling_aggregates state for key \"\(k)\" is malformed")
            }
            var s = KeyState(windowCount: windows.count)
            s.times.reserveCapacity(ts.count)
            s.values.reserveCapacity(vs.count)
            for (t, value) in zip(ts, vs) {
                guard let t = t.doubleValue, let value = value.doubleValue else {
                    throw PipelineError(.checkpoint, "rolling_aggregates state for key \"\(k)\" is malformed")
                }
                guard valid(t), value.isFinite else { continue }  // a record that today's checks reject
                s.times.append(t)
                s.values.append(value)
            }
            if let p = parts[2].doubleValue, valid(p) { s.prunedNewest = p }
            if parts.count == 4 { s.partition = parts[3].stringValue }
            if !zip(s.times, s.times.dropFirst()).allSatisfy({ $0 <= $1 }) {
                let order = s.times.indices.sorted { (s.times[$0], $0) < (s.times[$1], $1) }
                s.times = order.map { s.times[$0] }
                s.values = order.map { s.values[$0] }
            }
            if s.times.isEmpty && s.prunedNewest == nil { continue }
            s.prune(keep: shape.keep, work: &work)
            s.rebuild(shape: shape, work: &work)
            restored[k] = s
        }
        return restored
    }
}
