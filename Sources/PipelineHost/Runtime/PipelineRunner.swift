import Foundation
import Logging
import Metrics
import Synchronization

/// What a finished run did.
public struct RunSummary: Sendable {
    public var recordsIn: Int
    public var sinkOutputs: [String: Int]
    public var deadLettered: Int
    public var checkpoints: Int
    public var seconds: Double
    public var resumedFrom: UInt64?
}

/// Runs a validated pipeline: builds its plugins, restores the last checkpoint, and moves batches from the
/// source through the transforms to the sinks over bounded channels, one task per stage, writing a
/// checkpoint whenever every sink has acknowledged everything before a barrier.
public final class PipelineRunner: Sendable {
    public let spec: PipelineSpec
    public let stats: RuntimeStats
    public let stop: StopSignal
    let registry: PluginRegistry
    let logger: Logger
    let environment: [String: String]
    let store: any CheckpointStore
    /// Transforms with keyed state that may start empty although the checkpoint has no state for them
    /// (`run --fresh-state ID`, for a transform added to the spec since the checkpoint).
    let freshState: Set<String>
    private let firstFailure = Mutex<(any Error)?>(nil)
    /// What a hot reload needs of the running pipeline; nil while it is not running.
    let live = Mutex<Live?>(nil)
    /// The reload whose marker is on its way through the chain (one at a time).
    let pendingReload = Mutex<ReloadMarker?>(nil)
    let reloading = Mutex(false)
    /// `run` has returned or thrown.
    let finished = Mutex(false)
    /// Every transform of the first chain has started: a reload waits for it (its contract check needs the
    /// transforms' loaded bundles, and its own transforms must not start alongside a table's first load).
    let transformsStarted = Mutex(false)
    /// The plugins of the last run, kept for as long as the runner: a process that exits after `run` (the CLI)
    /// then leaves their state to the kernel instead of freeing it piece by piece, which for 80,000 keys' windows
    /// and table rows took 50–70 ms on one core after the last record was out.
    private let retained = Mutex<[any Sendable]>([])

    public init(spec: PipelineSpec, registry: PluginRegistry, logger: Logger, environment: [String: String],
                store: (any CheckpointStore)? = nil, stats: RuntimeStats = RuntimeStats(), stop: StopSignal = StopSignal(),
                freshState: Set<String> = []) {
        self.spec = spec
        self.freshState = freshState
        self.registry = registry
        self.logger = logger
        self.environment = environment
        self.store = store ?? LocalCheckpointStore(directory: spec.checkpoint.directory)
        self.stats = stats
        self.stop = stop
    }

    public func run() async throws -> RunSummary {
        defer { finished.withLock { $0 = true } }
        let started = MonotonicClock.seconds()
        let ctx = BuildContext(pipelineName: spec.name, logger: logger, environment: environment, registry: registry,
                               parallelism: spec.runtime.parallelism ?? Self.spareCores(spec, cores: Self.availableCores()))
        let source = try registry.makeSource(spec.source, ctx)
        let transforms = try spec.transforms.map { ($0.id, try registry.makeTransform($0, ctx)) }
        let sinks = try spec.sinks.map { ($0, try registry.makeSink($0.config, ctx)) }
        let deadLetterSink = try registry.makeSink(spec.deadLetter, ctx)

        // A source that shares its partitions with other hosts keeps each partition's checkpoint with it.
        var partitioned: [String: any PartitionedState] = [:]
        for (id, t) in transforms { if let p = t as? any PartitionedState { partitioned[id] = p } }
        let store: any CheckpointStore
        var writerID: String?
        if let owning = source as? any PartitionCheckpointingSource, let shared = try owning.makeCheckpointStore(partitioned: partitioned) {
            store = shared
            writerID = Self.newWriterID()
            for (id, t) in transforms where partitioned[id] == nil && (try? t.snapshot()) != nil {
                logger.info("transform state is per host, not per partition: with a partition-checkpointing source it is not checkpointed",
                            metadata: ["transform": "\(id)"])
            }
        } else {
            store = self.store
        }
        let partitionsByID = partitioned
        let keyedPartitioned = transforms.filter { partitioned[$0.0] != nil && $0.1.hasKeyedState && !freshState.contains($0.0) }.map(\.0)
        let storeDescription = store.description
        let handover = PartitionHandover(
            restore: { partition, states, covered, checkpointed, inheriting in
                if checkpointed {
                    let present = covered ?? Set(states.keys)
                    if let missing = keyedPartitioned.first(where: { !present.contains($0) }) {
                        throw Self.missingState(missing, in: "the checkpoint of partition \(partition)", at: storeDescription)
                    }
                }
                for parent in inheriting {
                    for (id, part) in parent.states {
                        guard let t = partitionsByID[id] else { continue }
                        do { try t.inherit(part, into: partition) } catch {
                            throw PipelineError(.checkpoint, "cannot hand the state of transform \"\(id)\" from partition \(parent.partition) to \(partition): \(error)",
                                                at: storeDescription, underlying: error)
                        }
                    }
                }
                for (id, part) in states {
                    // A transform removed from the spec since: its old state has nowhere to go.
                    guard let t = partitionsByID[id] else { continue }
                    do { try t.merge(part) } catch {
                        throw PipelineError(.checkpoint, "cannot restore the state of transform \"\(id)\" for partition \(partition): \(error)",
                                            at: storeDescription, underlying: error)
                    }
                }
            },
            drop: { partition in
                for t in partitionsByID.values { t.drop(partition: partition) }
            })

        let checkpoint = try await store.load()
        if let checkpoint {
            guard checkpoint.pipeline == spec.name else {
                throw PipelineError(.checkpoint, "checkpoint belongs to pipeline \"\(checkpoint.pipeline)\", not \"\(spec.name)\"", at: store.description)
            }
            for (id, t) in transforms {
                if let state = checkpoint.states[id] {
                    do { try t.restore(try state.value) } catch {
                        throw PipelineError(.checkpoint, "cannot restore the state of transform \"\(id)\": \(error)", at: store.description, underlying: error)
                    }
                } else if t.hasKeyedState && !freshState.contains(id) {
                    throw Self.missingState(id, in: "checkpoint \(checkpoint.id)", at: store.description)
                }
            }
            logger.info("resuming from checkpoint", metadata: ["checkpoint": "\(checkpoint.id)", "store": "\(store.description)"])
        }

        let hostWriterID = writerID
        @Sendable func stageContext(_ id: String) -> StageContext {
            var l = logger
            l[metadataKey: "component"] = "\(id)"
            return StageContext(id: id, logger: l, stats: stats, writerID: hostWriterID)
        }
        for (config, sink) in sinks {
            try await sink.start(stageContext(config.config.id))
            do { try await sink.healthCheck() } catch {
                throw PipelineError(.sink, "health check failed: \(error)", at: config.config.id, underlying: error)
            }
        }
        try await deadLetterSink.start(stageContext(spec.deadLetter.id))
        let specTransforms = spec.transforms
        @Sendable func startTransforms() async throws {
            for (id, t) in transforms { try await t.start(stageContext(id)) }
            try FieldContractCheck.check(zip(specTransforms, transforms).map { ($0, $1.1) }, registry: registry)
            transformsStarted.withLock { $0 = true }
        }
        // A transform that loads reference data starts while the source reads ahead (up to `startReadAhead`
        // batches): an 80,000-row table's load, 70 ms on one core, then overlaps the first reads instead of
        // preceding them. Nothing is processed before every transform has started, so a failed start still
        // writes nothing. Not with a source that hands partition state to the transforms as it takes partitions
        // over: that must not meet a transform still starting.
        let overlapStart = transforms.contains { $0.1.loadsAtStart } && !(source is any PartitionCheckpointingSource)
        if !overlapStart { try await startTransforms() }

        let capacity = spec.runtime.channelCapacity
        let head = BoundedChannel<StreamItem>(high: capacity, startHigh: overlapStart ? Self.startReadAhead : nil)
        let deadLetterChannel = BoundedChannel<SinkItem>(high: capacity)
        let barrierChannel = BoundedChannel<Barrier>(high: 16)
        let tracker = AckTracker()
        // The telemetry's stages, in the order of the pipeline; each with the queue in front of it.
        let telemetry = stats.telemetry
        telemetry.eventTimeField.withLock { $0 = spec.metrics.eventTimeField }
        let sourceMeters = telemetry.register(id: spec.source.id, kind: .source, type: spec.source.type)
        let initial = RunningChain(
            spec: spec,
            transforms: transforms.enumerated().map { i, t in
                RunningTransform(config: spec.transforms[i], transform: t.1,
                                 meters: telemetry.register(id: t.0, kind: .transform, type: spec.transforms[i].type))
            },
            sinks: sinks.map { config, sink in
                let channel = BoundedChannel<SinkItem>(high: capacity)
                return RunningSink(spec: config, sink: sink, channel: channel,
                                   meters: telemetry.register(id: config.config.id, kind: .sink, type: config.config.type,
                                                              queueDepth: { channel.bufferedCount }))
            })
        let deadLetterMeters = telemetry.register(id: spec.deadLetter.id, kind: .deadLetter, type: spec.deadLetter.type,
                                                  queueDepth: { deadLetterChannel.bufferedCount })
        if let p = source as? any StatusDetailProviding { telemetry.addDetails(id: spec.source.id, p) }
        for (id, t) in transforms { if let p = t as? any StatusDetailProviding { telemetry.addDetails(id: id, p) } }
        for (config, sink) in sinks { if let p = sink as? any StatusDetailProviding { telemetry.addDetails(id: config.config.id, p) } }
        let emitter = BatchEmitter(
            output: head, barriers: barrierChannel, tracker: tracker, stats: stats,
            interval: spec.checkpoint.interval, firstBarrierID: (checkpoint?.id ?? 0) + 1,
            positions: checkpoint?.positions ?? [:], pipeline: spec.name, encodesStates: store.acceptsEncodedStates,
            sourceMeters: sourceMeters)
        let rejections = DeadLetterRejections(channel: deadLetterChannel, stats: stats, pipeline: spec.name)
        let sinkTasks = SinkTasks()
        // Channels and waits that a failure must end: the chain's links are new after every reload.
        let closers = Closers()

        @Sendable func closeAll() {
            closers.closeAll()
            head.close()
            deadLetterChannel.close()
            barrierChannel.close()
            tracker.abort()
            sinkTasks.finish()
        }
        @Sendable func fail(_ error: any Error, _ stage: String) {
            let first = firstFailure.withLock { f -> Bool in
                if f == nil { f = error; return true }
                return false
            }
            if first {
                logger.error("stage failed; stopping without a checkpoint past unacknowledged records", metadata: ["stage": "\(stage)", "error": "\(error)"])
                stats.setFailure("\(stage): \(error)")
            }
            stop.stop()
            closeAll()
        }
        @Sendable func startSink(_ s: RunningSink, after predecessor: RunningSink? = nil) {
            closers.add { s.channel.close() }
            sinkTasks.add(s.id) {
                if let predecessor { try await self.retire(predecessor) }
                defer { s.finished.open() }
                try await Self.runSinkWithTimer(s.sink, id: s.id, pipeline: self.spec.name, input: s.channel, stats: self.stats, meters: s.meters)
            }
        }

        let sourceContext = SourceContext(logger: stageContext(spec.source.id).logger, resumePositions: checkpoint?.positions ?? [:], emitter: emitter, stop: stop,
                                          partitions: handover, addedFields: Self.addedFieldCount(spec, registry))
        live.withLock {
            $0 = Live(chain: initial, head: head, context: ctx, sharesPartitions: writerID != nil,
                      startSink: { startSink($0, after: $1) },
                      retireSink: { old in sinkTasks.add("\(old.id) (removed by a reload)") { try await self.retire(old) } },
                      stageContext: stageContext)
        }
        if !overlapStart { stats.setReady(true) }
        await withThrowingTaskGroup(of: Void.self) { group in
            var stages = 0
            func add(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
                stages += 1
                group.addTask {
                    do { try await body() } catch { fail(error, name); throw error }
                }
            }
            add(spec.source.id) {
                try await source.run(sourceContext)
                try await emitter.barrier(isFinal: true)
                head.close()
            }
            for s in initial.sinks { startSink(s) }
            // The transforms and the router, one chain after another: a reload ends the running chain at its
            // marker and the next one takes the stream from there.
            add("chain") {
                if overlapStart {
                    do { try await startTransforms() } catch {
                        fail(error, "start")
                        throw error
                    }
                    head.settle()
                    self.stats.setReady(true)
                }
                var chain = initial
                while let marker = try await self.runChain(chain, head: head, deadLetters: deadLetterChannel, rejections: rejections,
                                                            closers: closers, fail: fail) {
                    do {
                        chain = try await self.apply(marker.plan, to: chain)
                        marker.finish(.success(()))
                    } catch {
                        marker.finish(.failure(error as? PipelineError ?? PipelineError(.internal, "\(error)")))
                    }
                }
                // The input ended: no sink gets anything more, and none is added.
                for s in chain.sinks { s.channel.close() }
                sinkTasks.finish()
            }
            // The dead-letter channel stays open until the last sink has finished: a sink may reject records
            // (delivery.reject) after the router has passed on the end of the input.
            add("sinks") {
                try await sinkTasks.run(onFailure: fail)
                deadLetterChannel.close()
            }
            add(spec.deadLetter.id) {
                try await Self.runSink(deadLetterSink, id: self.spec.deadLetter.id, pipeline: self.spec.name, input: deadLetterChannel,
                                       countsAsOutput: false, stats: self.stats, meters: deadLetterMeters)
            }
            add("checkpoint") {
                try await self.coordinateCheckpoints(barriers: barrierChannel, emitter: emitter, tracker: tracker, deadLetters: deadLetterChannel, store: store)
            }
            // The shutdown deadline: once a stop is requested, draining gets `shutdown_timeout` seconds.
            let deadline = spec.runtime.shutdownTimeout
            group.addTask {
                await self.stop.sleep(seconds: 1e9)
                if Task.isCancelled { return }
                try await Task.sleep(nanoseconds: UInt64(deadline * 1e9))
                let e = PipelineError(.shutdown, "draining did not finish within \(deadline)s; exiting without a final checkpoint (the input since the last checkpoint will be replayed)")
                fail(e, "shutdown")
                throw e
            }
            var finished = 0
            while finished < stages {
                do {
                    guard (try await group.next()) != nil else { break }
                    finished += 1
                } catch {
                    group.cancelAll()
                    break
                }
            }
            group.cancelAll()
            // Drain the remaining (cancelled) tasks without letting their secondary errors replace the first.
            while true {
                do { guard (try await group.next()) != nil else { break } } catch { continue }
            }
        }
        let final = live.withLock { l -> RunningChain? in
            defer { l = nil }
            return l?.chain
        }
        pendingReload.withLock { $0 }?.finish(.failure(PipelineError(.internal, "the pipeline stopped before the reload's cut reached the end of the chain")))
        let finalTransforms = final?.transforms.map { ($0.id, $0.transform) } ?? transforms
        let finalSinks = final?.sinks.map { ($0.spec, $0.sink) } ?? sinks
        retained.withLock { $0 = finalTransforms.map(\.1) + transforms.map(\.1) + [source] }
        stats.setReady(false)
        await store.close()
        await withTaskGroup(of: Void.self) { group in
            for (_, t) in finalTransforms { group.addTask { await t.stop() } }
        }
        if let failure = firstFailure.withLock({ $0 }) {
            for (_, sink) in finalSinks { try? await sink.close() }
            try? await deadLetterSink.close()
            throw failure
        }
        for (config, sink) in finalSinks {
            do { try await sink.close() } catch { throw PipelineError(.sink, "close failed: \(error)", at: config.config.id, underlying: error) }
        }
        try await deadLetterSink.close()
        return RunSummary(
            recordsIn: stats.recordsIn, sinkOutputs: stats.sinkOutputs, deadLettered: stats.deadLettered,
            checkpoints: stats.checkpoints, seconds: MonotonicClock.seconds() - started, resumedFrom: checkpoint?.id)
    }

    /// How many batches the source may read ahead while the transforms start (then `runtime.channel_capacity`):
    /// with batches of 1,000 records, enough for the 70 ms of an 80,000-row table's load at a microsecond per
    /// record, about 25 MB. Batches, not records: a source with larger batches reads that many more.
    static let startReadAhead = 64

    /// A checkpoint that lacks the state of a transform with keyed state: never a silent fresh start.
    static func missingState(_ id: String, in checkpoint: String, at store: String) -> PipelineError {
        PipelineError(.checkpoint, """
            \(checkpoint) has no state for transform "\(id)", which keeps keyed state: resuming would start its \
            features from zero. If "\(id)" is new in the spec, start it empty with --fresh-state \(id)
            """, at: store)
    }

    /// The default of `runtime.parallelism`: one worker (on the keyed stage's own core) plus one for each core
    /// left over after one per stage task (source, transforms, router, sinks, dead-letter output), at most 64 (the
    /// spec's limit). Each stage already keeps a core busy when the pipeline is loaded, so a keyed stage's second
    /// worker only pays where a core is left over: on 2 cores it made Flink's job slower (docs/benchmarks.md).
    static func spareCores(_ spec: PipelineSpec, cores: Int) -> Int {
        let stages = 1 + spec.transforms.count + 1 + spec.sinks.count + 1
        return min(64, max(1, cores - stages + 1))
    }

    /// The cores this process may use: the CPUs it may run on, capped by a cgroup v2 CPU quota (`cpu.max`, a
    /// container's CPU limit), which the CPU count does not show: a 2-CPU pod on a 96-core node has 2.
    static func availableCores(cpuMax: String? = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8),
                               online: Int = ProcessInfo.processInfo.activeProcessorCount) -> Int {
        let parts = (cpuMax ?? "").split(whereSeparator: \.isWhitespace)
        guard parts.count == 2, let quota = Double(parts[0]), let period = Double(parts[1]), quota > 0, period > 0 else { return online }
        return max(1, min(online, Int((quota / period).rounded(.up))))
    }

    /// Eight random base-36 characters: distinct across the lives of every host sharing a stream.
    static func newWriterID() -> String {
        let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var rng = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in digits[Int(rng.next() % 36)] })
    }

    // MARK: Stages

    static func runTransform(_ t: any Transform, id: String, pipeline: String, input: BoundedChannel<StreamItem>, output: BoundedChannel<StreamItem>,
                             meters: PipelineTelemetry.StageMeters? = nil, taps: TapHub? = nil) async throws {
        let width = max(1, t.maxConcurrentBatches)
        let processed = Counter(label: "pipeline_transform_records_total", dimensions: [("pipeline", pipeline), ("transform", id)])
        let failed = Counter(label: "pipeline_dead_letter_total", dimensions: [("pipeline", pipeline), ("stage", id)])
        @Sendable func process(_ batch: consuming Batch) async -> Batch {
            // The batch is changed in place: keeping the original for the error path would make every record's
            // first change copy its fields. A failed batch goes to the dead-letter output as the transform left it.
            var b = batch
            let before = b.deadLetters.count
            let started = MonotonicClock.seconds()
            let records = b.records.count
            let cpu = ThreadCPUClock.start()
            defer {
                ThreadCPUClock.finish(cpu, stage: meters, records: records)
                meters?.batchTime.record(seconds: MonotonicClock.seconds() - started)
            }
            do {
                try await t.process(&b)
            } catch {
                let records = b.records
                b.records = []
                for r in records { b.deadLetter(r, reason: "transform failed: \(error)", stage: id) }
            }
            processed.increment(by: b.records.count)
            meters?.add(records: b.records.count)
            taps?.offer(stage: id, b.records)
            if b.deadLetters.count > before {
                failed.increment(by: b.deadLetters.count - before)
                meters?.add(failed: b.deadLetters.count - before)
            }
            return b
        }
        if width == 1 {
            while let item = await input.receive() {
                // `consume`: the item must not keep a second reference to the records the transform changes.
                switch consume item {
                case .batch(let batch): try await output.send(.batch(await process(consume batch)))
                case .barrier(let barrier):
                    try barrier.recordState(of: t, id: id)
                    try await output.send(.barrier(barrier))
                case .reload(let marker):
                    // This chain ends here; the next one reads the input from the record after the marker.
                    try await output.send(.reload(marker))
                    return
                }
            }
        } else {
            // Ordered async I/O: up to `width` batches in flight, results emitted in arrival order.
            var inFlight: [Task<Batch, Never>] = []
            while let item = await input.receive() {
                switch consume item {
                case .batch(let batch):
                    // Through a box the task empties, not a capture: a captured batch stays referenced by the
                    // closure while the transform changes it, so every record's first change would copy it.
                    let handoff = BatchHandoff(consume batch)
                    inFlight.append(Task { await process(handoff.take()) })
                    if inFlight.count >= width { try await output.send(.batch(await inFlight.removeFirst().value)) }
                case .barrier(let barrier):
                    while !inFlight.isEmpty { try await output.send(.batch(await inFlight.removeFirst().value)) }
                    try barrier.recordState(of: t, id: id)
                    try await output.send(.barrier(barrier))
                case .reload(let marker):
                    while !inFlight.isEmpty { try await output.send(.batch(await inFlight.removeFirst().value)) }
                    try await output.send(.reload(marker))
                    return
                }
            }
            while !inFlight.isEmpty { try await output.send(.batch(await inFlight.removeFirst().value)) }
        }
        output.close()
    }

    /// Hands each batch's records to the sinks whose `when` they match. Returns at the end of the input (nil;
    /// the caller closes the sinks' channels) or at a reload's marker (the marker; the next chain routes on).
    static func route(input: BoundedChannel<StreamItem>, sinks: [PipelineSpec.SinkSpec], channels: [BoundedChannel<SinkItem>],
                      deadLetters: BoundedChannel<SinkItem>, rejections: DeadLetterRejections, keyed: [String] = [],
                      meters: [PipelineTelemetry.StageMeters] = [], telemetry: PipelineTelemetry? = nil) async throws -> ReloadMarker? {
        let timeField = telemetry?.eventTimeField.withLock { $0 }.map(FieldKey.init)
        func eventTimes(_ records: [Record]) -> [Double] {
            guard let timeField else { return [] }
            return Record.finiteNumbers(timeField, in: records)
        }
        while let item = await input.receive() {
            switch item {
            case .batch(let batch):
                // Read once per batch: sinks that take every record share them.
                var allTimes: [Double]?
                for (i, sink) in sinks.enumerated() {
                    let now = Date().timeIntervalSince1970
                    let records = sink.when.map { w in batch.records.filter { w.matches($0, now: now) } } ?? batch.records
                    if records.isEmpty { continue }
                    var latency: DeliveryLatency?
                    if let telemetry, i < meters.count {
                        let times: [Double]
                        if sink.when == nil {
                            if allTimes == nil { allTimes = eventTimes(batch.records) }
                            times = allTimes!
                        } else {
                            times = eventTimes(records)
                        }
                        latency = DeliveryLatency(meters: meters[i], telemetry: telemetry, arrival: batch.arrival, eventTimes: times)
                    }
                    try await channels[i].send(.delivery(Delivery(batchID: batch.id, records: records, sinkID: sink.config.id, token: batch.token,
                                                                  rejections: rejections, latency: latency)))
                }
                if !batch.deadLetters.isEmpty {
                    try await rejections.send(batch.deadLetters, token: batch.token, batchID: batch.id, immediate: false)
                }
                batch.token.release()
            case .barrier(let barrier):
                // Every transform has added its snapshot: the checkpoint may be written once the batches
                // before the barrier are acknowledged too.
                barrier.passedTransforms(keyed: keyed)
                for c in channels { try await c.send(.barrier(barrier)) }
                try await deadLetters.send(.barrier(barrier))
            case .reload(let marker):
                return marker
            }
        }
        return nil
    }

    /// `countsAsOutput` false (the dead-letter output): its records are not the pipeline's output, and it has no
    /// `pipeline_records_out_total` series (one stuck at 0 misled; dead letters are `pipeline_dead_letter_total`).
    static func runSink(_ sink: any Sink, id: String, pipeline: String, input: BoundedChannel<SinkItem>, countsAsOutput: Bool, stats: RuntimeStats,
                        meters: PipelineTelemetry.StageMeters? = nil) async throws {
        let written = countsAsOutput ? Counter(label: "pipeline_records_out_total", dimensions: [("pipeline", pipeline), ("sink", id)]) : nil
        while let item = await input.receive() {
            switch item {
            case .delivery(let d):
                stats.taps.offer(stage: id, d.records)
                let started = MonotonicClock.seconds()
                let cpu = ThreadCPUClock.start()
                try await sink.write(d)
                ThreadCPUClock.finish(cpu, stage: meters, records: d.records.count)
                meters?.batchTime.record(seconds: MonotonicClock.seconds() - started)
                meters?.add(records: d.records.count)
                if countsAsOutput { stats.addOut(sink: id, d.records.count) }
                written?.increment(by: d.records.count)
            case .rejection(let d):
                stats.taps.offer(stage: id, d.records)
                try await sink.write(d)
                try await sink.flush()
            case .barrier:
                try await sink.flush()
            case .tick:
                try await sink.flushDue()
            }
        }
        try await sink.flush()
    }

    /// Runs a sink with its batch timer (when it has one) as a child task, cancelled the moment the sink
    /// finishes: a timer that slept out its period would hold the shutdown back by up to half `batch.max_age`.
    static func runSinkWithTimer(_ sink: any Sink, id: String, pipeline: String, input: BoundedChannel<SinkItem>, stats: RuntimeStats,
                                 meters: PipelineTelemetry.StageMeters?) async throws {
        guard let age = sink.batchMaxAge, age > 0 else {
            try await runSink(sink, id: id, pipeline: pipeline, input: input, countsAsOutput: true, stats: stats, meters: meters)
            return
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await runBatchTimer(maxAge: age, channel: input) }
            try await runSink(sink, id: id, pipeline: pipeline, input: input, countsAsOutput: true, stats: stats, meters: meters)
            group.cancelAll()
        }
    }

    /// Ticks an idle sink's channel every half `batchMaxAge` until the channel closes or the task is cancelled,
    /// so a partial batch does not wait for the next delivery or checkpoint (a lone alert in a quiet minute).
    static func runBatchTimer(maxAge: Double, channel: BoundedChannel<SinkItem>) async {
        let period = max(0.005, maxAge / 2)
        while !Task.isCancelled && !channel.isClosed {
            do { try await Task.sleep(nanoseconds: UInt64(period * 1e9)) } catch { return }
            channel.offerIfIdle(.tick)
        }
    }

    /// Writes a checkpoint for each barrier once every batch before it is acknowledged by every sink and the
    /// barrier itself has passed every transform (so its snapshots are all there).
    func coordinateCheckpoints(barriers: BoundedChannel<Barrier>, emitter: BatchEmitter, tracker: AckTracker, deadLetters: BoundedChannel<SinkItem>,
                               store: any CheckpointStore) async throws {
        let written = Counter(label: "pipeline_checkpoints_total", dimensions: [("pipeline", spec.name)])
        let lag = Gauge(label: "pipeline_checkpoint_duration_seconds", dimensions: [("pipeline", spec.name)])
        while let barrier = await barriers.receive() {
            let start = MonotonicClock.seconds()
            await tracker.waitUntilComplete(upTo: barrier.upTo)
            if stop.isStopping, firstFailure.withLock({ $0 != nil }) { return }
            if tracker.isAborted { return }
            let states = barrier.states
            // A checkpoint without the state of a keyed transform would resume it empty: never write one.
            if let missing = barrier.keyedTransforms.first(where: { states[$0] == nil }) {
                throw PipelineError(.checkpoint, "checkpoint \(barrier.id) lacks the state of transform \"\(missing)\"; not written", at: store.description)
            }
            let cp = Checkpoint(id: barrier.id, pipeline: spec.name, createdAt: MonotonicClock.wallSeconds(),
                                positions: barrier.positions, states: states)
            let result: CheckpointSaveResult
            do { result = try await store.save(cp) } catch {
                throw PipelineError(.checkpoint, "cannot write checkpoint \(cp.id): \(error)", at: store.description, underlying: error)
            }
            if case .deferred(let partitions) = result {
                logger.debug("checkpoint left partitions for the next one", metadata: ["checkpoint": "\(cp.id)", "partitions": "\(partitions)"])
                emitter.requestBarrier()
            }
            stats.checkpointWritten(at: cp.createdAt)
            written.increment()
            lag.record(MonotonicClock.seconds() - start)
            logger.debug("checkpoint written", metadata: ["checkpoint": "\(cp.id)", "up_to_batch": "\(barrier.upTo)"])
            if barrier.isFinal { return }
        }
    }

    /// How many distinct fields the transforms add, from their declared data flow (the one `validate` checks):
    /// sources size each record for them when they parse it, so no stage has to grow it.
    static func addedFieldCount(_ spec: PipelineSpec, _ registry: PluginRegistry) -> Int {
        let check = DataFlowCheck(registry: registry)
        return Set(spec.transforms.flatMap { check.flow(of: $0)?.writes ?? [] }).count
    }
}

/// Sends failed records to the dead-letter stage; each entry holds the batch until it is durable there.
final class DeadLetterRejections: RejectionSink, Sendable {
    let channel: BoundedChannel<SinkItem>
    let stats: RuntimeStats
    let pipeline: String

    init(channel: BoundedChannel<SinkItem>, stats: RuntimeStats, pipeline: String) {
        self.channel = channel
        self.stats = stats
        self.pipeline = pipeline
    }

    func send(_ letters: [DeadLetter], token: AckToken, batchID: UInt64, immediate: Bool) async throws {
        let now = MonotonicClock.wallSeconds()
        let entries = letters.map { $0.entry(pipeline: pipeline, time: now) }
        // The dead-letter sink itself has nowhere to reject to: a rejection there stops the pipeline.
        let d = Delivery(batchID: batchID, records: entries, sinkID: "dead_letter", token: token, rejections: nil)
        stats.addDeadLettered(letters.count)
        stats.telemetry.countDeadLetters(letters)
        try await channel.send(immediate ? .rejection(d) : .delivery(d))
    }

    func reject(_ letters: [DeadLetter], token: AckToken, batchID: UInt64) async throws {
        try await send(letters, token: token, batchID: batchID, immediate: true)
    }
}

/// Counts running stages down; `decrement()` is true for the last one.
final class Countdown: Sendable {
    private let remaining: Mutex<Int>
    init(_ count: Int) { remaining = Mutex(count) }
    func decrement() -> Bool { remaining.withLock { $0 -= 1; return $0 == 0 } }
}

/// Moves one batch into a task: the task takes it out, so no reference to its records stays behind.
private final class BatchHandoff: Sendable {
    private let slot: Mutex<Batch?>
    init(_ batch: consuming Batch) { slot = Mutex(Optional(batch)) }
    func take() -> Batch { slot.withLock { $0.take()! } }
}
