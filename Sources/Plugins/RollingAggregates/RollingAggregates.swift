import Foundation
import Metrics
import PipelineHost
import Synchronization

/// `rolling_aggregates` transform: Flink-style keyed state in event time. For each event, over the same key's
/// earlier events inside each window: count, sum, mean and max of a value field, and the seconds since the
/// key's previous event.
public final class RollingAggregates: TransformPlugin, PartitionedState, @unchecked Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "rolling_aggregates",
        summary: "Per-key rolling count/sum/mean/max over event-time windows, and seconds since the previous event.",
        description: """
            "Earlier" means strictly before this event: a window of W seconds holds the key's earlier events with \
            time > t − W (an event exactly W seconds earlier is out), and events of the same second count in arrival \
            order. This is the definition training/features.py uses, so streaming and training features agree. \
            Events up to allowed_lateness behind the newest time seen in their source partition (a Kinesis shard; the whole input for files) are placed in time order and get the same \
            answer as in-order events; later ones go to the dead-letter output with the reason "late". State is \
            pruned to the longest window, keys idle for idle_timeout are forgotten, and the state is part of every \
            checkpoint. Each key's state belongs to the source partition (Kinesis shard) its records came from: when \
            hosts share a stream through leases, a shard's keys move with its lease.
            """,
        fields: [
            FieldSpec("key_field", .string, .defaultValue("user_id"), doc: "Field that keys the state."),
            FieldSpec("time_field", .string, .defaultValue("event_created_at_ts"), doc: "Event time in seconds since 1970."),
            FieldSpec("value_field", .string, .defaultValue("transaction_value"), doc: "Numeric field aggregated."),
            FieldSpec("prefix", .string, .defaultValue("txn"), doc: "Output fields are named <prefix>_<aggregate>_<window label>."),
            FieldSpec("windows", .array(.object([
                FieldSpec("label", .string, .required, doc: "Suffix of the output fields, e.g. 1h."),
                FieldSpec("length", .duration, .required, doc: "Window length."),
            ])), .defaultValue([["label": "1h", "length": "1h"], ["label": "24h", "length": "24h"]]), doc: "The windows."),
            FieldSpec("aggregates", .array(.oneOf(["count", "sum", "mean", "max"])), .defaultValue(["count", "sum"]), doc: "Aggregates computed per window."),
            FieldSpec("since_previous_field", .string, .defaultValue("secs_since_prev_txn"), doc: "Output field for seconds since the key's previous event (null for its first); empty to skip."),
            FieldSpec("allowed_lateness", .duration, .defaultValue("0s"), doc: "How far behind the newest event time an event may arrive and still be placed in order."),
            FieldSpec("idle_timeout", .duration, .defaultValue("30d"), doc: "Forget a key whose newest event is this much older than the newest event time seen."),
        ],
        examples: [#"{"type": "rolling_aggregates", "key_field": "user_id", "windows": [{"label": "1h", "length": "1h"}, {"label": "24h", "length": "24h"}]}"#])

    struct Window {
        var label: String
        var length: Double
    }

    /// One key's recent events in time order (arrival order within a time), plus the newest pruned time so
    /// "seconds since previous" survives pruning.
    struct KeyState {
        var times: [Double] = []
        var values: [Double] = []
        var prunedNewest: Double?
        /// The source partition of the key's latest record (nil for unpartitioned sources such as files).
        var partition: String?
        var newest: Double { times.last ?? prunedNewest ?? -.infinity }
    }

    let keyField: String, timeField: String, valueField: String
    let windows: [Window]
    let aggregates: [String]
    let sinceField: String?
    let lateness: Double
    let idleTimeout: Double
    let longest: Double
    let outputNames: [[String]]
    private let lateCounter: Counter
    private let keysGauge: Gauge

    // Keyed state: touched by one batch at a time (maxConcurrentBatches is 1), by snapshot/restore, which the
    // runtime calls between batches, and by merge, which a source calls from its own task when it takes over a
    // partition: the lock orders merge against batches.
    private let lock = NSLock()
    private var state: [String: KeyState] = [:]
    /// The newest event time seen per source partition ("" for unpartitioned sources): lateness is judged
    /// within a partition, as a Flink watermark per Kinesis shard, because shards are read at different paces.
    private var maxTimes: [String: Double] = [:]
    private var eventsSincePrune = 0

    let id: String

    public init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        keyField = config.string("key_field")
        timeField = config.string("time_field")
        valueField = config.string("value_field")
        windows = config.nestedArray("windows").map { Window(label: $0.string("label"), length: $0.seconds("length")) }
        guard !windows.isEmpty else { throw PipelineError(.config, "at least one window is needed", at: config.path + ".windows") }
        aggregates = config.strings("aggregates")
        let since = config.string("since_previous_field")
        sinceField = since.isEmpty ? nil : since
        lateness = config.seconds("allowed_lateness")
        idleTimeout = config.seconds("idle_timeout")
        longest = windows.map(\.length).max()!
        let prefix = config.string("prefix")
        let aggs = aggregates
        outputNames = windows.map { w in aggs.map { "\(prefix)_\($0)_\(w.label)" } }
        lateCounter = Counter(label: "rolling_aggregates_late_total", dimensions: [("transform", config.id)])
        keysGauge = Gauge(label: "rolling_aggregates_keys", dimensions: [("transform", config.id)])
    }

    public func process(_ batch: inout Batch) async throws {
        lock.withLock { processLocked(&batch) }
    }

    private func processLocked(_ batch: inout Batch) {
        var late = 0
        batch.removeFailures(stage: id) { record in
            guard let key = record[keyField]?.keyText else { return "missing key field \"\(keyField)\"" }
            guard let t = record[timeField]?.doubleValue, t.isFinite else { return "missing or non-numeric event time \"\(timeField)\"" }
            var value = 0.0
            if let v = record[valueField], !v.isNull {
                guard let d = v.doubleValue, d.isFinite else { return "field \"\(valueField)\": expected a number, got \(v.typeName) \(v)" }
                value = d
            }
            var partition: String?
            if case .sequence(let p, _) = record.origin { partition = p }
            let maxTime = maxTimes[partition ?? ""] ?? -.infinity
            if t < maxTime - lateness {
                late += 1
                return "late: event time \(t) is \(maxTime - t)s behind the newest event time \(maxTime), beyond allowed_lateness \(lateness)s"
            }
            record.set(update(key: key, time: t, value: value, partition: partition))
            return nil
        }
        if late > 0 { lateCounter.increment(by: late) }
        eventsSincePrune += batch.records.count
        if eventsSincePrune > 50_000 { prune() }
    }

    /// Inserts the event into its key's state and returns the features over the events before it.
    func update(key: String, time t: Double, value: Double, partition: String? = nil) -> [(String, JSONValue)] {
        maxTimes[partition ?? "", default: -.infinity] = max(maxTimes[partition ?? "", default: -.infinity], t)
        var s = state[key] ?? KeyState()
        state[key] = nil  // take it out so the arrays are uniquely referenced while we append
        // Position after every event with time <= t: same-second events count in arrival order.
        var pos = s.times.count
        while pos > 0 && s.times[pos - 1] > t { pos -= 1 }
        var out: [(String, JSONValue)] = []
        out.reserveCapacity(windows.count * aggregates.count + 1)
        for (w, window) in windows.enumerated() {
            let lower = t - window.length
            var start = pos
            while start > 0 && s.times[start - 1] > lower { start -= 1 }
            // Oldest first, from 0.0, exactly as training/features.py sums.
            var sum = 0.0
            var maximum = -Double.infinity
            for i in start..<pos {
                sum += s.values[i]
                maximum = max(maximum, s.values[i])
            }
            let count = pos - start
            for (a, agg) in aggregates.enumerated() {
                let v: JSONValue
                switch agg {
                case "count": v = .int(Int64(count))
                case "sum": v = .double(sum)
                case "mean": v = count > 0 ? .double(sum / Double(count)) : .null
                default: v = count > 0 ? .double(maximum) : .null
                }
                out.append((outputNames[w][a], v))
            }
        }
        if let sinceField {
            let previous: Double? = pos > 0 ? s.times[pos - 1] : s.prunedNewest.flatMap { $0 <= t ? $0 : nil }
            out.append((sinceField, previous.map { Self.number(t - $0) } ?? .null))
        }
        s.times.insert(t, at: pos)
        s.values.insert(value, at: pos)
        if partition != nil { s.partition = partition }
        state[key] = s
        return out
    }

    static func number(_ d: Double) -> JSONValue {
        d == d.rounded() && abs(d) < 9e15 ? .int(Int64(d)) : .double(d)
    }

    /// Drops events no future on-time event can see, and keys idle for longer than idle_timeout.
    func prune() {
        eventsSincePrune = 0
        for key in Array(state.keys) {
            var s = state.removeValue(forKey: key)!
            let maxTime = maxTimes[s.partition ?? ""] ?? -.infinity
            let horizon = maxTime - lateness - longest
            let idleBefore = maxTime - idleTimeout
            if s.newest < idleBefore { continue }
            var drop = 0
            while drop < s.times.count && s.times[drop] <= horizon { drop += 1 }
            if drop > 0 {
                s.prunedNewest = s.times[drop - 1]
                s.times.removeFirst(drop)
                s.values.removeFirst(drop)
            }
            state[key] = s
        }
        keysGauge.record(state.count)
    }

    var keyCount: Int { state.count }

    // MARK: Checkpointed state

    public func snapshot() throws -> JSONValue? {
        lock.lock()
        defer { lock.unlock() }
        prune()
        var keys: [(String, JSONValue)] = []
        keys.reserveCapacity(state.count)
        for (k, s) in state.sorted(by: { $0.key < $1.key }) { keys.append((k, Self.encode(s))) }
        return .object([("max_times", Self.encode(maxTimes)), ("keys", .object(keys))])
    }

    public func restore(_ snapshot: JSONValue) throws {
        let (restored, times) = try Self.decode(snapshot)
        lock.lock()
        defer { lock.unlock() }
        state = restored
        maxTimes = times
    }

    public func split(_ snapshot: JSONValue) throws -> [String: JSONValue] {
        guard let keys = snapshot["keys"]?.objectValue else { throw PipelineError(.checkpoint, "rolling_aggregates state has no keys") }
        var parts: [String: [(String, JSONValue)]] = [:]
        for (k, v) in keys {
            guard let partition = v.arrayValue.flatMap({ $0.count > 3 ? $0[3].stringValue : nil }) else { continue }
            parts[partition, default: []].append((k, v))
        }
        // Each part carries its partition's newest time, so lateness is judged the same after a move.
        let times = snapshot["max_times"]
        var out: [String: JSONValue] = [:]
        for (partition, keys) in parts {
            out[partition] = .object([("max_times", .object([(partition, times?[partition] ?? .null)])), ("keys", .object(keys))])
        }
        return out
    }

    public func merge(_ part: JSONValue) throws {
        let (keys, times) = try Self.decode(part)
        lock.lock()
        defer { lock.unlock() }
        for (k, s) in keys { state[k] = s }
        for (p, t) in times { maxTimes[p] = max(maxTimes[p] ?? -.infinity, t) }
    }

    /// `[times, values, pruned newest, partition?]`.
    static func encode(_ s: KeyState) -> JSONValue {
        var parts: [JSONValue] = [.array(s.times.map { .double($0) }), .array(s.values.map { .double($0) }), s.prunedNewest.map { .double($0) } ?? .null]
        if let p = s.partition { parts.append(.string(p)) }
        return .array(parts)
    }

    static func encode(_ times: [String: Double]) -> JSONValue {
        .object(times.sorted { $0.key < $1.key }.map { ($0.key, $0.value.isFinite ? .double($0.value) : .null) })
    }

    static func decode(_ snapshot: JSONValue) throws -> ([String: KeyState], [String: Double]) {
        guard let keys = snapshot["keys"]?.objectValue else { throw PipelineError(.checkpoint, "rolling_aggregates state has no keys") }
        var restored: [String: KeyState] = [:]
        restored.reserveCapacity(keys.count)
        for (k, v) in keys {
            guard let parts = v.arrayValue, parts.count == 3 || parts.count == 4, let ts = parts[0].arrayValue, let vs = parts[1].arrayValue, ts.count == vs.count else {
                throw PipelineError(.checkpoint, "rolling_aggregates state for key \"\(k)\" is malformed")
            }
            restored[k] = KeyState(times: ts.compactMap(\.doubleValue), values: vs.compactMap(\.doubleValue), prunedNewest: parts[2].doubleValue,
                                   partition: parts.count == 4 ? parts[3].stringValue : nil)
        }
        var times: [String: Double] = [:]
        if let byPartition = snapshot["max_times"]?.objectValue {
            for (p, t) in byPartition { if let d = t.doubleValue { times[p] = d } }
        } else if let t = snapshot["max_time"]?.doubleValue {
            times[""] = t  // checkpoints written before lateness was judged per partition
        }
        return (restored, times)
    }
}
