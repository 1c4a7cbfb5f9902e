import Foundation
import Logging
@testable import PipelineHost
import Synchronization
import Testing

/// In-process runs of the runtime with test plugins. Serialized: the test plugins keep static counters.
@Suite(.serialized) struct RuntimeTests {
    let dir = TestFiles.scratch("runtime")

    func run(_ body: String, env: [String: String] = [:], interval: String = "0s", stop: StopSignal = StopSignal()) async throws -> RunSummary {
        let text = #"{"name": "t", "checkpoint": {"dir": "\#(dir)/cp", "interval": "\#(interval)"}, "dead_letter": {"type": "file", "path": "\#(dir)/dlq.jsonl"}, \#(body)}"#
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: env)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        return try await PipelineRunner(spec: spec, registry: TestRegistry.registry, logger: logger, environment: env, stop: stop).run()
    }

    func checkpoint() throws -> Checkpoint {
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/cp/checkpoint.json"), "no checkpoint written")
        return try Checkpoint(json: DocumentParser.parseValue(Array(bytes)))
    }

    /// A channel with a start allowance takes that much without waiting; settled, a sender waits at the normal high
    /// mark until the consumer has drained it to the low one.
    @Test func aChannelTakesItsStartAllowanceThenSettlesToItsMarks() async throws {
        let channel = BoundedChannel<Int>(high: 2, startHigh: 6)
        for i in 0..<4 { try await channel.send(i) }  // above `high`, below `startHigh`: none waits
        channel.settle()
        final class Flag: Sendable {
            let value = Atomic<Bool>(false)
            var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
        }
        let sent = Flag()
        let sender = Task {
            try await channel.send(4)
            sent.value.store(true, ordering: .sequentiallyConsistent)
        }
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(!sent.isSet, "a send past the settled high mark did not wait")
        #expect(await channel.receive() == 0)
        #expect(await channel.receive() == 1)
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(!sent.isSet, "the sender resumed above the low mark")
        #expect(await channel.receive() == 2)  // down to 1, the low mark: the sender's element goes in
        try await sender.value
        #expect(sent.isSet)
        #expect(await channel.receive() == 3)
        #expect(await channel.receive() == 4)
    }

    /// A transform that takes its time to start (a reference table loading) does not hold up the source: it reads
    /// ahead meanwhile, `PipelineRunner.startReadAhead` batches and no more, and the output is whole and in order.
    @Test func theSourceReadsAheadWhileATransformStarts() async throws {
        RecordingSink.reset()
        // The start takes 400 ms and, on a machine too loaded to read half the allowance meanwhile, until it has.
        let summary = try await run("""
            "source": {"type": "generator", "count": 20000, "batch_size": 100},
            "transforms": [{"type": "spin", "micros_per_batch": 0, "start_millis": 400, "start_until_records": \(PipelineRunner.startReadAhead * 50)}],
            "sinks": [{"type": "recording", "id": "all"}]
            """, interval: "1h")
        let atStart = SpinTransform.recordsInAtStart.load(ordering: .relaxed)
        let ahead = PipelineRunner.startReadAhead * 100
        #expect(atStart >= ahead / 2, "read ahead \(atStart) records while the transform started")
        #expect(atStart <= ahead + 2 * 100, "read ahead \(atStart) records: more than the start allowance")
        #expect(summary.recordsIn == 20000)
        #expect(RecordingSink.records("all").map { $0["n"]?.intValue } == (0..<20000).map { Int64($0) })
    }

    /// A transform that fails to start while the source reads ahead: the run fails with its error, and nothing
    /// read ahead reaches a sink or the dead-letter output.
    @Test func aFailedStartWhileTheSourceReadsAheadWritesNothing() async throws {
        RecordingSink.reset()
        let dlq = dir + "/dlq.jsonl"
        try? FileManager.default.removeItem(atPath: dlq)
        await #expect {
            _ = try await run("""
                "source": {"type": "generator", "count": 20000, "batch_size": 100},
                "transforms": [{"type": "flaky", "fail_every": 3}, {"type": "spin", "id": "table", "micros_per_batch": 0, "start_millis": 200, "start_fails": true}],
                "sinks": [{"type": "recording", "id": "all"}]
                """, interval: "1h")
        } throws: { error in
            "\(error)".contains("the reference table is unreadable (test)")
        }
        #expect(SpinTransform.recordsInAtStart.load(ordering: .relaxed) > 0, "the source did not read ahead")
        #expect(RecordingSink.records("all").isEmpty)
        #expect(TestFiles.lines(dlq).isEmpty, "dead letters of records read ahead were written")
    }

    /// A reload asked for while the transforms start waits until they have: its own transforms do not start
    /// alongside the first ones (two table loads at once), and it applies at a cut once the stream runs.
    @Test func aReloadDuringAReadAheadStartWaitsForTheTransforms() async throws {
        RecordingSink.reset()
        SpinTransform.mostStartsAtOnce.store(0, ordering: .sequentiallyConsistent)
        func spec(_ micros: Int) throws -> PipelineSpec {
            let text = #"{"name": "t", "checkpoint": {"dir": "\#(dir)/cp-reload", "interval": "1h"}, "dead_letter": {"type": "file", "path": "\#(dir)/dlq.jsonl"}, "source": {"type": "generator", "count": 100000, "batch_size": 100}, "transforms": [{"type": "spin", "id": "table", "micros_per_batch": \#(micros), "start_millis": 300}], "sinks": [{"type": "recording", "id": "all", "delay": "2ms"}]}"#
            return try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: [:])
        }
        try? FileManager.default.removeItem(atPath: dir + "/cp-reload")
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let runner = PipelineRunner(spec: try spec(0), registry: TestRegistry.registry, logger: logger, environment: [:])
        let running = Task { try await runner.run() }
        // The reload is asked for while the first transform is still starting (its start takes 300 ms), not after.
        let deadline = ContinuousClock.now + .seconds(30)
        while SpinTransform.startsRunning.load(ordering: .sequentiallyConsistent) == 0 {
            try #require(ContinuousClock.now < deadline, "the transform never started")
            try await Task.sleep(for: .milliseconds(1))
        }
        let outcome = await runner.reload(to: try spec(1))
        guard case .applied = outcome else {
            Issue.record("reload: \(outcome)")
            running.cancel()
            return
        }
        let summary = try await running.value
        #expect(SpinTransform.mostStartsAtOnce.load(ordering: .sequentiallyConsistent) == 1, "the reload's transform started alongside the first")
        #expect(summary.recordsIn == 100000)
        #expect(RecordingSink.records("all").map { $0["n"]?.intValue } == (0..<100000).map { Int64($0) })
    }

    /// A runner on `spec(0)`'s pipeline, running, and a reload to `spec(1)` once 20,000 records are out.
    func reloadMidStream(_ spec: (Int) throws -> PipelineSpec) async throws -> (outcome: ReloadOutcome, summary: RunSummary) {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let runner = PipelineRunner(spec: try spec(0), registry: TestRegistry.registry, logger: logger, environment: [:])
        let running = Task { try await runner.run() }
        let deadline = ContinuousClock.now + .seconds(60)
        while RecordingSink.records("all").count < 20_000 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let outcome = await runner.reload(to: try spec(1))
        return (outcome, try await running.value)
    }

    /// A replaced sink writes what it got before the cut before its successor writes anything: the old one is
    /// slow (5 ms a delivery, a queue of them at the cut), the new one fast, and both append to the same list.
    @Test func aReplacedSinkFinishesBeforeItsSuccessorWrites() async throws {
        RecordingSink.reset()
        let (outcome, summary) = try await reloadMidStream { phase in
            let delay = phase == 0 ? "5ms" : "0s"
            let text = #"{"name": "t", "checkpoint": {"dir": "\#(dir)/cp-sink-swap", "interval": "1h"}, "dead_letter": {"type": "file", "path": "\#(dir)/dlq.jsonl"}, "source": {"type": "generator", "count": 100000, "batch_size": 100}, "sinks": [{"type": "recording", "id": "all", "delay": "\#(delay)"}]}"#
            return try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: [:])
        }
        guard case .applied = outcome else {
            Issue.record("reload: \(outcome)")
            return
        }
        #expect(summary.recordsIn == 100000)
        let ns = RecordingSink.records("all").map { $0["n"]?.intValue }
        #expect(ns.count == 100000)
        let wrong = ns.indices.first { ns[$0] != Int64($0) }
        #expect(wrong == nil, "records out of order or repeated across the sink swap, from position \(wrong ?? 0): \(ns[(wrong ?? 0)...].prefix(5))")
    }

    /// A changed transform whose state does not fit its new config fails the reload, and the old chain runs on
    /// with its state: every record passes it once, in order, and the final checkpoint holds its count.
    @Test func aStateThatDoesNotFitFailsTheReloadAndTheOldChainRunsOn() async throws {
        RecordingSink.reset()
        try? FileManager.default.removeItem(atPath: dir + "/cp-refuse")
        let (outcome, summary) = try await reloadMidStream { phase in
            let refuse = phase == 1 ? #", "refuse_state": true"# : ""
            let text = #"{"name": "t", "checkpoint": {"dir": "\#(dir)/cp-refuse", "interval": "1h"}, "dead_letter": {"type": "file", "path": "\#(dir)/dlq.jsonl"}, "source": {"type": "generator", "count": 100000, "batch_size": 100}, "transforms": [{"type": "flaky", "fail_every": 1000000\#(refuse)}], "sinks": [{"type": "recording", "id": "all", "delay": "2ms"}]}"#
            return try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: TestRegistry.registry, environment: [:])
        }
        guard case .failed(let reason) = outcome else {
            Issue.record("the reload was not refused: \(outcome)")
            return
        }
        #expect(reason.contains("does not fit its new config"), "\(reason)")
        #expect(summary.recordsIn == 100000)
        let ns = RecordingSink.records("all").map { $0["n"]?.intValue }
        let wrong = ns.indices.first { ns[$0] != Int64($0) }
        #expect(ns.count == 100000 && wrong == nil, "\(ns.count) records, out of order from position \(wrong ?? 0)")
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/cp-refuse/checkpoint.json"))
        #expect(try Checkpoint(json: DocumentParser.parseValue(Array(bytes))).states["flaky"]?.value == .int(100000))
    }

    /// A partition lost and taken back (a Kinesis lease stolen, then won again): batches offered while it is lost
    /// never reach a sink nor a checkpoint, and the take-back's restore returns only once every record emitted for
    /// the partition before has passed the pipeline (the sink is slow: without the wait most would not have).
    @Test func batchesOfALostPartitionAreDroppedAndTheTakeBackWaitsForEarlierRecords() async throws {
        RecordingSink.reset()
        TenureSource.outAtRestore.store(-1, ordering: .sequentiallyConsistent)
        try? FileManager.default.removeItem(atPath: dir + "/cp")
        let summary = try await run("""
            "source": {"type": "tenure", "count": 200, "batch_size": 10, "lost_from": 100, "lost_to": 150},
            "sinks": [{"type": "recording", "id": "out", "delay": "20ms"}]
            """, interval: "50ms")
        let ns = RecordingSink.records("out").compactMap { $0["n"]?.intValue }
        #expect(ns == (0..<100).map { Int64($0) } + (150..<200).map { Int64($0) })
        #expect(summary.recordsIn == 150)
        #expect(TenureSource.outAtRestore.load(ordering: .sequentiallyConsistent) == 100, "the restore returned before the earlier records were out")
        #expect(try checkpoint().positions["p0"] == .int(200))

        // Lost for good: the refused batches' positions never reach a checkpoint either.
        RecordingSink.reset()
        try? FileManager.default.removeItem(atPath: dir + "/cp")
        let lost = try await run("""
            "source": {"type": "tenure", "count": 150, "batch_size": 10, "lost_from": 100, "lost_to": 150},
            "sinks": [{"type": "recording", "id": "out"}]
            """, interval: "50ms")
        #expect(lost.recordsIn == 100)
        #expect(RecordingSink.records("out").compactMap { $0["n"]?.intValue } == (0..<100).map { Int64($0) })
        #expect(try checkpoint().positions["p0"] == .int(100), "a checkpoint covers batches refused under a lost tenure")
    }

    @Test func routesByConditionAndDeadLettersFailures() async throws {
        RecordingSink.reset()
        let summary = try await run("""
            "source": {"type": "generator", "count": 1000, "batch_size": 7},
            "transforms": [{"type": "flaky", "fail_every": 10}],
            "sinks": [{"type": "recording", "id": "all"},
                      {"type": "recording", "id": "even", "when": {"field": "even", "equals": true}}]
            """)
        let all = RecordingSink.records("all")
        let even = RecordingSink.records("even")
        #expect(all.count == 900)
        #expect(even.count == 500)
        #expect(all.allSatisfy { $0["seen"] == .bool(true) })
        #expect(summary.recordsIn == 1000)
        #expect(summary.deadLettered == 100)
        #expect(summary.sinkOutputs == ["all": 900, "even": 500])
        let dlq = TestFiles.lines(dir + "/dlq.jsonl")
        #expect(dlq.count == 100)
        let first = try #require(try RecordParser().parse(Array(dlq[0].utf8)))
        let entry = Record(fields: first)
        #expect(entry["stage"] == .string("flaky"))
        #expect(entry["reason"] == .string("n % 10 is 9"))
        #expect(entry["payload"] == .string(#"{"n":9,"even":false}"#))
        #expect(entry["origin"] == .string("p0@9"))
        let cp = try checkpoint()
        #expect(cp.positions["p0"] == .int(1000))
        #expect(try cp.states["flaky"]?.value == .int(1000))
    }

    @Test func aThrowingTransformDeadLettersItsBatchAndTheRunGoesOn() async throws {
        RecordingSink.reset()
        let summary = try await run("""
            "source": {"type": "generator", "count": 100, "batch_size": 10},
            "transforms": [{"type": "flaky", "fail_every": 50, "mode": "throw"}],
            "sinks": [{"type": "recording", "id": "all"}]
            """)
        // Batches [40,50) and [90,100) hold an n with n % 50 == 49 and fail whole.
        #expect(RecordingSink.records("all").count == 80)
        #expect(summary.deadLettered == 20)
        let reasons = Set(TestFiles.lines(dir + "/dlq.jsonl").map { line in Record(fields: try! RecordParser().parse(Array(line.utf8))!)["reason"]?.stringValue ?? "" })
        #expect(reasons == ["transform failed: transform error: boom"])
    }

    @Test func sinkRejectionsReachTheDeadLetterOutput() async throws {
        RecordingSink.reset()
        let summary = try await run("""
            "source": {"type": "generator", "count": 50, "batch_size": 10},
            "sinks": [{"type": "recording", "id": "picky", "reject_field": "even"}]
            """)
        #expect(summary.deadLettered == 25)
        let lines = TestFiles.lines(dir + "/dlq.jsonl")
        #expect(lines.count == 25)
        #expect(lines.allSatisfy { $0.contains(#""stage":"picky""#) && $0.contains("rejected by test sink") })
        #expect(try checkpoint().positions["p0"] == .int(50))
    }

    @Test func outOfOrderAcknowledgementsStillCheckpointEverything() async throws {
        RecordingSink.reset()
        _ = try await run("""
            "source": {"type": "generator", "count": 500, "batch_size": 5},
            "sinks": [{"type": "recording", "id": "held", "reverse_acks": true}, {"type": "recording", "id": "fast"}]
            """, interval: "10s")
        #expect(RecordingSink.maxHeld.load(ordering: .relaxed) > 1)
        #expect(RecordingSink.records("held").count == 500)
        #expect(try checkpoint().positions["p0"] == .int(500))
    }

    @Test func keyedWorkersDefaultToTheCoresLeftAfterOnePerStage() throws {
        func spec(_ runtime: String) throws -> PipelineSpec {
            let text = #"{"name": "w", "source": {"type": "generator", "count": 1}, "transforms": [{"type": "flaky", "id": "a"}, {"type": "flaky", "id": "b"}], "sinks": [{"type": "recording"}]\#(runtime)}"#
            return try PipelineSpec.parse(Array(text.utf8), file: "w.json", registry: TestRegistry.registry, environment: [:])
        }
        let auto = try spec("")
        #expect(auto.runtime.parallelism == nil)
        // Source, two transforms, router, one sink, dead-letter output: six stages.
        #expect(PipelineRunner.spareCores(auto, cores: 2) == 1)
        #expect(PipelineRunner.spareCores(auto, cores: 6) == 1)
        #expect(PipelineRunner.spareCores(auto, cores: 8) == 3)
        #expect(PipelineRunner.spareCores(auto, cores: 500) == 64)
        // Workers, A/B variants and lease owners hash keys with FNV-1a: the published test vectors.
        #expect(FNV1a.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a.hash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(FNV1a.hash("foobar") == 0x8594_4171_f739_67e8)
        // A container's CPU quota caps the count; "max" is no quota.
        #expect(PipelineRunner.availableCores(cpuMax: "200000 100000\n", online: 96) == 2)
        #expect(PipelineRunner.availableCores(cpuMax: "150000 100000", online: 96) == 2)
        #expect(PipelineRunner.availableCores(cpuMax: "max 100000\n", online: 96) == 96)
        #expect(PipelineRunner.availableCores(cpuMax: nil, online: 8) == 8)
        #expect(PipelineRunner.availableCores(cpuMax: "800000 100000", online: 4) == 4)
        #expect(try spec(#", "runtime": {"parallelism": 3}"#).runtime.parallelism == 3)
        let error = #expect(throws: (any Error).self) { try spec(#", "runtime": {"parallelism": 0}"#) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("runtime.parallelism"))
    }

    @Test func aSinksBatchTimerDoesNotHoldTheShutdownBack() async throws {
        RecordingSink.reset()
        // The timer ticks every 30 s; it must end with its sink, not sleep out its period.
        let started = MonotonicClock.seconds()
        _ = try await run("""
            "source": {"type": "generator", "count": 100, "batch_size": 10},
            "sinks": [{"type": "recording", "id": "timed", "batch_timer": "60s"}]
            """)
        #expect(RecordingSink.records("timed").count == 100)
        #expect(MonotonicClock.seconds() - started < 10, "the run took \(MonotonicClock.seconds() - started) s")
    }

    @Test func ackTrackerNeverCompletesPastAnUnacknowledgedBatch() async throws {
        let tracker = AckTracker()
        for id in 1...3 { tracker.register(UInt64(id)) }
        let done = Mutex(false)
        let waiter = Task {
            await tracker.waitUntilComplete(upTo: 3)
            done.withLock { $0 = true }
        }
        tracker.complete(3)
        tracker.complete(2)
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(done.withLock { $0 } == false, "batch 1 is still unacknowledged")
        tracker.complete(1)
        await waiter.value
        #expect(done.withLock { $0 })
    }

    @Test func slowSinkBoundsWhatIsInFlight() async throws {
        RecordingSink.reset()
        GeneratorSource.emitted.store(0, ordering: .relaxed)
        let delivered = Atomic<Int>(0)
        let maxGap = Atomic<Int>(0)
        // Sample the gap between batches emitted and batches delivered while the slow sink works.
        let sampler = Task {
            while !Task.isCancelled {
                let gap = GeneratorSource.emitted.load(ordering: .relaxed) - RecordingSink.records("slow").count / 10
                _ = maxGap.fetchMax(gap)
                try? await Task.sleep(nanoseconds: 1_000_000)
            }
        }
        _ = delivered
        _ = try await run("""
            "source": {"type": "generator", "count": 3000, "batch_size": 10},
            "transforms": [{"type": "flaky", "fail_every": 1000000}],
            "sinks": [{"type": "recording", "id": "slow", "delay": "2ms"}],
            "runtime": {"channel_capacity": 2}
            """)
        sampler.cancel()
        #expect(RecordingSink.records("slow").count == 3000)
        // Three channels of two batches plus one batch in the hands of each stage.
        #expect(maxGap.load(ordering: .relaxed) <= 10, "in flight: \(maxGap.load(ordering: .relaxed)) batches of 300")
    }

    @Test func concurrentTransformKeepsOrder() async throws {
        RecordingSink.reset()
        _ = try await run("""
            "source": {"type": "generator", "count": 2000, "batch_size": 10},
            "transforms": [{"type": "flaky", "fail_every": 1000000, "concurrency": 8}],
            "sinks": [{"type": "recording", "id": "ordered"}]
            """)
        let ns = RecordingSink.records("ordered").map { $0["n"]!.intValue! }
        #expect(ns.count == 2000)
        #expect(ns == ns.sorted(), "records left the concurrent transform out of order")
    }

    @Test func restartResumesFromCheckpointWithState() async throws {
        RecordingSink.reset()
        _ = try await run(#""source": {"type": "generator", "count": 100}, "transforms": [{"type": "flaky", "fail_every": 1000}], "sinks": [{"type": "recording", "id": "out"}]"#)
        #expect(RecordingSink.records("out").count == 100)
        let second = try await run(#""source": {"type": "generator", "count": 150}, "transforms": [{"type": "flaky", "fail_every": 1000}], "sinks": [{"type": "recording", "id": "out"}]"#)
        #expect(second.resumedFrom != nil)
        #expect(RecordingSink.records("out").count == 150)
        #expect(RecordingSink.records("out").suffix(50).first?["n"] == .int(100))
        #expect(try checkpoint().states["flaky"]?.value == .int(150))
    }

    @Test func stopRequestDrainsAndCheckpoints() async throws {
        RecordingSink.reset()
        let stop = StopSignal()
        let task = Task {
            try await run(#""source": {"type": "generator", "count": 100000000, "batch_size": 100}, "sinks": [{"type": "recording", "id": "out", "delay": "1ms"}]"#, stop: stop)
        }
        // Stopped once something is delivered (200 ms in, or later on a loaded machine).
        try await Task.sleep(nanoseconds: 200_000_000)
        let deadline = ContinuousClock.now + .seconds(30)
        while RecordingSink.records("out").isEmpty && ContinuousClock.now < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        stop.stop()
        let summary = try await task.value
        let out = RecordingSink.records("out").count
        #expect(out > 0 && out < 100_000_000)
        // Everything read was delivered and the final checkpoint sits exactly after it.
        #expect(summary.recordsIn == out)
        #expect(try checkpoint().positions["p0"] == .int(Int64(out)))
    }
}
