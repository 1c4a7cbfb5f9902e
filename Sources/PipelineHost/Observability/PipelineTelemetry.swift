import Foundation
import Synchronization

/// What the runner measures per stage while a pipeline runs: records through, records dead-lettered, time per
/// batch, queue depth, and for sinks the end-to-end latencies. Read by the status line, the status page,
/// `/metrics` and the CloudWatch reporter. Bounded: one entry per component of the spec, never per record value.
public final class PipelineTelemetry: Sendable {
    public enum StageKind: String, Sendable { case source, transform, sink, deadLetter = "dead_letter" }

    /// One component's meters.
    public final class StageMeters: Sendable {
        public let id: String
        public let kind: StageKind
        public let type: String
        private let recordsCounter = Atomic<Int>(0)
        private let failedCounter = Atomic<Int>(0)
        private let cpuNanoseconds = Atomic<Int64>(0)
        private let cpuRecords = Atomic<Int>(0)
        /// Seconds a batch (a delivery, for sinks) spent in the stage.
        public let batchTime = LatencyHistogram()
        /// Sinks: seconds from the source emitting a record to this sink acknowledging it.
        public let arrivalToAck: LatencyHistogram
        /// Sinks: seconds from a record's event time (wall clock) to this sink acknowledging it.
        public let eventToAck: LatencyHistogram
        /// The batches waiting in front of the stage (its input channel is new after a hot reload).
        private let queueDepth: Mutex<@Sendable () -> Int>

        public init(id: String, kind: StageKind, type: String, queueDepth: @escaping @Sendable () -> Int) {
            self.id = id
            self.kind = kind
            self.type = type
            self.queueDepth = Mutex(queueDepth)
            arrivalToAck = LatencyHistogram()
            eventToAck = LatencyHistogram()
        }

        public var records: Int { recordsCounter.load(ordering: .relaxed) }
        public var failed: Int { failedCounter.load(ordering: .relaxed) }
        public var queued: Int { queueDepth.withLock { $0 }() }

        func setQueue(_ depth: @escaping @Sendable () -> Int) { queueDepth.withLock { $0 = depth } }

        /// CPU seconds of the stage's measured batches (ThreadCPUClock).
        public var cpuSeconds: Double { Double(cpuNanoseconds.load(ordering: .relaxed)) / 1e9 }
        /// CPU microseconds per record over the measured batches; nil when none was.
        public var cpuMicrosecondsPerRecord: Double? {
            let n = cpuRecords.load(ordering: .relaxed)
            return n > 0 ? Double(cpuNanoseconds.load(ordering: .relaxed)) / 1e3 / Double(n) : nil
        }

        func add(cpu nanoseconds: Int64, records: Int) {
            cpuNanoseconds.wrappingAdd(max(0, nanoseconds), ordering: .relaxed)
            cpuRecords.wrappingAdd(records, ordering: .relaxed)
        }

        func add(records n: Int) { recordsCounter.wrappingAdd(n, ordering: .relaxed) }
        func add(failed n: Int) { failedCounter.wrappingAdd(n, ordering: .relaxed) }
    }

    private let stageList = Mutex<[StageMeters]>([])
    private let reasons = Mutex<[String: Int]>([:])
    /// Over every sink: source emit → acknowledgement.
    public let endToEnd = LatencyHistogram()
    /// Over every sink: event time → acknowledgement.
    public let eventToAck = LatencyHistogram()
    /// The field holding each record's event time (seconds since 1970), when known.
    public let eventTimeField = Mutex<String?>(nil)
    /// Plugin-reported details by component id (model bundle version, A/B split, shard leases), refreshed by
    /// the status page's reader.
    let detailProviders = Mutex<[(id: String, provider: any StatusDetailProviding)]>([])

    /// At most this many distinct dead-letter reasons are counted separately; the rest count as "other".
    static let maxReasons = 64

    public init() {}

    public var stages: [StageMeters] { stageList.withLock { $0 } }

    @discardableResult
    func register(id: String, kind: StageKind, type: String, queueDepth: @escaping @Sendable () -> Int = { 0 }) -> StageMeters {
        let m = StageMeters(id: id, kind: kind, type: type, queueDepth: queueDepth)
        stageList.withLock { list in
            list.removeAll { $0.id == id }
            list.append(m)
        }
        return m
    }

    func addDetails(id: String, _ provider: any StatusDetailProviding) {
        detailProviders.withLock { $0.append((id, provider)) }
    }

    /// After a hot reload: the stages are these, in this order (meters of removed ones go), and each component
    /// reports the details of the instance that now runs it.
    func arrange(source: String, stages: [StageMeters], deadLetter: String, details: [(id: String, provider: (any StatusDetailProviding)?)]) {
        let ids = [source] + stages.map(\.id) + [deadLetter]
        stageList.withLock { list in
            let first = list.first { $0.id == source }
            let last = list.first { $0.id == deadLetter }
            list = [first].compactMap { $0 } + stages + [last].compactMap { $0 }
        }
        detailProviders.withLock { providers in
            let changed = Set(details.map(\.id))
            providers.removeAll { changed.contains($0.id) || !ids.contains($0.id) }
            for (id, p) in details { if let p { providers.append((id, p)) } }
        }
    }

    /// What each plugin that reports details says now.
    public func details() -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for (id, p) in detailProviders.withLock({ $0 }) { out[id] = p.statusDetails() }
        return out
    }

    /// Counts dead letters by stage and reason category (the reason up to its first colon, which names the kind
    /// of failure, not the record).
    func countDeadLetters(_ letters: [DeadLetter]) {
        guard !letters.isEmpty else { return }
        reasons.withLock { r in
            for l in letters {
                var key = "\(l.stage): \(Self.category(l.reason))"
                if r[key] == nil && r.count >= Self.maxReasons { key = "other" }
                r[key, default: 0] += 1
            }
        }
    }

    /// Dead letters by "stage: reason", most frequent first.
    public var deadLettersByReason: [(reason: String, count: Int)] {
        reasons.withLock { $0.map { ($0.key, $0.value) } }.sorted { $0.count != $1.count ? $0.count > $1.count : $0.reason < $1.reason }
    }

    /// The kind of a dead-letter reason: its text before the first colon, quoted values kept (they are field
    /// names of the spec), numbers dropped, at most 60 characters.
    static func category(_ reason: String) -> String {
        // "line 101: truncated JSON: …" → "truncated JSON": a leading position is not the kind.
        var out = ""
        for part in reason.split(separator: ":", omittingEmptySubsequences: true) {
            out = ""
            for ch in part where !ch.isNumber { out.append(ch) }
            out = out.trimmingCharacters(in: .whitespaces)
            if !["", "line", "record", "batch", "row"].contains(out) { break }
        }
        return out.count > 60 ? String(out.prefix(60)) + "…" : out
    }
}

/// A plugin that shows details on the status page (its model bundle version, its A/B split, its shards).
public protocol StatusDetailProviding: Sendable {
    func statusDetails() -> JSONValue
}
