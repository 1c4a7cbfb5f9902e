import Foundation
import BuiltinPlugins
import PipelineHost
import Synchronization

/// Test plugins: a generator source, sinks that are slow or acknowledge out of order, a failing transform.
/// They are registered only in the test registry, next to the built-in ones.

final class GeneratorSource: SourcePlugin, @unchecked Sendable {
    static let descriptor = PluginDescriptor(
        kind: .source, name: "generator", summary: "Emits numbered records (tests only).",
        fields: [
            FieldSpec("count", .int(min: 0), .required, doc: "How many records."),
            FieldSpec("batch_size", .int(min: 1), .defaultValue(10), doc: "Records per batch."),
            FieldSpec("partitions", .int(min: 1), .defaultValue(1), doc: "Round-robin partitions."),
        ])
    let count: Int
    let batchSize: Int
    let partitions: Int
    static let emitted = Atomic<Int>(0)

    init(config: ComponentConfig, context: BuildContext) throws {
        count = config.int("count")
        batchSize = config.int("batch_size")
        partitions = config.int("partitions")
    }

    func run(_ context: SourceContext) async throws {
        var next = Int(context.resumePositions["p0"]?.intValue ?? 0)
        var batchNo = 0
        while next < count && !context.isStopping {
            let end = min(count, next + batchSize)
            let records = (next..<end).map { i in
                Record(fields: [("n", .int(Int64(i))), ("even", .bool(i % 2 == 0))], origin: .sequence(partition: "p0", sequence: "\(i)"))
            }
            let partition = "p\(batchNo % partitions)"
            _ = partition
            try await context.emit(SourceBatch(records: records, positions: [("p0", .int(Int64(end)))], bytes: records.count * 10))
            Self.emitted.add(1, ordering: .relaxed)
            next = end
            batchNo += 1
        }
    }
}

/// A source whose one partition ("p0") is lost for a while, as a Kinesis lease is: batches of records
/// [lost_from, lost_to) are offered with an admit that refuses them (read under a tenure that is over), then
/// the partition is taken back (`restorePartition`) before the rest is emitted.
final class TenureSource: SourcePlugin, Sendable {
    static let descriptor = PluginDescriptor(
        kind: .source, name: "tenure", summary: "Loses and takes back its partition (tests only).",
        fields: [
            FieldSpec("count", .int(min: 0), .required, doc: "How many records."),
            FieldSpec("batch_size", .int(min: 1), .defaultValue(10), doc: "Records per batch."),
            FieldSpec("lost_from", .int(min: 0), .required, doc: "First record read under the lost tenure."),
            FieldSpec("lost_to", .int(min: 0), .required, doc: "First record after the partition is taken back."),
        ])
    let count: Int
    let batchSize: Int
    let lost: Range<Int>
    /// The records "out" (RecordingSink) held when the take-back's restore returned.
    static let outAtRestore = Atomic<Int>(-1)

    init(config: ComponentConfig, context: BuildContext) throws {
        count = config.int("count")
        batchSize = config.int("batch_size")
        lost = config.int("lost_from")..<max(config.int("lost_from"), config.int("lost_to"))
    }

    func run(_ context: SourceContext) async throws {
        var next = 0
        while next < count && !context.isStopping {
            if next == lost.upperBound {
                try await context.restorePartition("p0", states: [:], covered: nil, checkpointed: false)
                Self.outAtRestore.store(RecordingSink.records("out").count, ordering: .sequentiallyConsistent)
            }
            let end = min(count, next + batchSize, next < lost.lowerBound ? lost.lowerBound : next < lost.upperBound ? lost.upperBound : count)
            let records = (next..<end).map { i in Record(fields: [("n", .int(Int64(i)))], origin: .sequence(partition: "p0", sequence: "\(i)")) }
            let batch = SourceBatch(records: records, positions: [("p0", .int(Int64(end)))], bytes: records.count * 10)
            let held = !lost.contains(next)
            _ = try await context.emit(batch, if: { held })
            next = end
        }
    }
}

/// Records what it got; acknowledges after `delay` seconds, optionally in reverse order of arrival.
final class RecordingSink: SinkPlugin, @unchecked Sendable {
    static let descriptor = PluginDescriptor(
        kind: .sink, name: "recording", summary: "Keeps records in memory (tests only).",
        fields: [
            FieldSpec("delay", .duration, .defaultValue("0s"), doc: "Time to wait before acknowledging each delivery."),
            FieldSpec("reverse_acks", .bool, .defaultValue(false), doc: "Hold deliveries and acknowledge them newest first at flush."),
            FieldSpec("reject_field", .string, doc: "Reject records whose field of this name is true."),
            FieldSpec("batch_timer", .duration, doc: "Declare a batch timer of this max age (the runner ticks flushDue)."),
        ])
    static let store = Mutex<[String: [Record]]>([:])
    static let maxHeld = Atomic<Int>(0)
    let id: String
    let delay: Double
    let reverse: Bool
    let rejectField: String?
    let batchMaxAge: Double?
    private var held: [Delivery] = []

    init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        delay = config.seconds("delay")
        reverse = config.bool("reverse_acks")
        rejectField = config.optionalString("reject_field")
        batchMaxAge = config["batch_timer"] == nil ? nil : config.seconds("batch_timer")
    }

    static func records(_ id: String) -> [Record] { store.withLock { $0[id] ?? [] } }
    static func reset() {
        store.withLock { $0 = [:] }
        maxHeld.store(0, ordering: .relaxed)
    }

    func write(_ delivery: Delivery) async throws {
        if delay > 0 { try await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
        if let rejectField {
            let bad = delivery.records.indices.filter { delivery.records[$0][rejectField] == .bool(true) }
            try await delivery.reject(bad, reason: "rejected by test sink")
        }
        Self.store.withLock { $0[id, default: []].append(contentsOf: delivery.records) }
        if reverse {
            held.append(delivery)
            _ = Self.maxHeld.fetchMax(held.count)
        } else {
            delivery.acknowledge()
        }
    }

    func flush() async throws {
        for d in held.reversed() { d.acknowledge() }
        held = []
    }
}

extension Atomic where Value == Int {
    func fetchMax(_ v: Int) -> Int {
        var cur = load(ordering: .relaxed)
        while cur < v {
            let (exchanged, original) = compareExchange(expected: cur, desired: v, ordering: .relaxed)
            if exchanged { return v }
            cur = original
        }
        return cur
    }
}

/// Fails on records whose `n` is divisible by `fail_every`, by dead-lettering them or by throwing.
final class FlakyTransform: TransformPlugin, @unchecked Sendable {
    static let descriptor = PluginDescriptor(
        kind: .transform, name: "flaky", summary: "Fails some records (tests only).",
        fields: [
            FieldSpec("fail_every", .int(min: 1), .defaultValue(10), doc: "Fail records with n % fail_every == fail_every - 1."),
            FieldSpec("mode", .oneOf(["dead_letter", "throw"]), .defaultValue("dead_letter"), doc: "How to fail."),
            FieldSpec("concurrency", .int(min: 1), .defaultValue(1), doc: "Batches in flight."),
            FieldSpec("refuse_state", .bool, .defaultValue(false), doc: "restore() throws: a state that does not fit."),
        ])
    let every: Int64
    let throwing: Bool
    let concurrency: Int
    let refusesState: Bool
    private let seen = Mutex<Int64>(0)

    init(config: ComponentConfig, context: BuildContext) throws {
        every = Int64(config.int("fail_every"))
        throwing = config.string("mode") == "throw"
        concurrency = config.int("concurrency")
        refusesState = config.bool("refuse_state")
    }

    var maxConcurrentBatches: Int { concurrency }

    func process(_ batch: inout Batch) async throws {
        if concurrency > 1 { try await Task.sleep(nanoseconds: UInt64.random(in: 0...2_000_000)) }
        if throwing, batch.records.contains(where: { ($0["n"]?.intValue ?? 0) % every == every - 1 }) {
            throw PipelineError(.transform, "boom")
        }
        seen.withLock { $0 += Int64(batch.records.count) }
        batch.removeFailures(stage: "flaky") { r in
            (r["n"]?.intValue ?? 0) % every == every - 1 ? "n % \(every) is \(every - 1)" : nil
        }
        for i in batch.records.indices { batch.records[i]["seen"] = .bool(true) }
    }

    func snapshot() throws -> JSONValue? { .int(seen.withLock { $0 }) }
    func restore(_ state: JSONValue) throws {
        if refusesState { throw PipelineError(.checkpoint, "this config keeps another kind of state (test)") }
        seen.withLock { $0 = state.intValue ?? 0 }
    }
}

enum TestRegistry {
    static let registry = PluginRegistry(BuiltinPlugins.all + [
        .source(GeneratorSource.self), .source(TenureSource.self), .sink(RecordingSink.self), .transform(FlakyTransform.self),
        .transform(SpinTransform.self),
    ])
}

/// Burns a fixed amount of its thread's CPU per batch, without suspending (the stage CPU meters' test); may take
/// its time to start, as a transform loading a reference table does.
final class SpinTransform: TransformPlugin, Sendable {
    static let descriptor = PluginDescriptor(
        kind: .transform, name: "spin", summary: "Burns CPU per batch (tests only).",
        fields: [FieldSpec("micros_per_batch", .int(min: 0), .defaultValue(1000), doc: "Thread CPU microseconds per batch."),
                 FieldSpec("start_millis", .int(min: 0), .defaultValue(0), doc: "How long start() takes."),
                 FieldSpec("start_fails", .bool, .defaultValue(false), doc: "start() throws once it has taken its time."),
                 FieldSpec("start_until_records", .int(min: 0), .defaultValue(0),
                           doc: "After start_millis, start() also waits (up to 10 s) until the pipeline has read this many records.")])
    let nanoseconds: Int64
    let startMillis: Int
    let startFails: Bool
    let startUntilRecords: Int
    /// The pipeline's records in when the last slow start() returned.
    static let recordsInAtStart = Atomic<Int>(-1)
    /// Slow starts running now, and the most ever at once.
    static let startsRunning = Atomic<Int>(0)
    static let mostStartsAtOnce = Atomic<Int>(0)

    init(config: ComponentConfig, context: BuildContext) throws {
        nanoseconds = Int64(config.int("micros_per_batch")) * 1000
        startMillis = config.int("start_millis")
        startFails = config.bool("start_fails")
        startUntilRecords = config.int("start_until_records")
    }

    var loadsAtStart: Bool { startMillis > 0 }

    func start(_ context: StageContext) async throws {
        guard startMillis > 0 else { return }  // other suites' spin stages must not touch the readings
        let running = Self.startsRunning.add(1, ordering: .sequentiallyConsistent).newValue
        _ = Self.mostStartsAtOnce.fetchMax(running)
        defer { Self.startsRunning.subtract(1, ordering: .sequentiallyConsistent) }
        try await Task.sleep(nanoseconds: UInt64(startMillis) * 1_000_000)
        let deadline = ContinuousClock.now + .seconds(10)
        while context.stats.recordsIn < startUntilRecords && ContinuousClock.now < deadline {
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        Self.recordsInAtStart.store(context.stats.recordsIn, ordering: .relaxed)
        if startFails { throw PipelineError(.config, "the reference table is unreadable (test)", at: context.id) }
    }

    func process(_ batch: inout Batch) async throws {
        func cpu() -> Int64 {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        }
        let start = cpu()
        while cpu() - start < nanoseconds {}
    }
}
