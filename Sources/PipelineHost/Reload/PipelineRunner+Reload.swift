import Logging
import Metrics
import Synchronization

/// What a hot reload did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new spec runs: every record after the cut goes through the new chain.
    case applied(summary: String)
    /// The new spec is the running one.
    case unchanged
    /// The new spec cannot be applied without a restart, or is invalid: the old one keeps running.
    case rejected(reasons: [String])
    /// Building, starting or checking a new component failed, or a state could not be carried over: the old
    /// spec keeps running.
    case failed(reason: String)

    /// The `result` label of `pipeline_reloads_total`.
    public var result: String {
        switch self {
        case .applied: "applied"
        case .unchanged: "unchanged"
        case .rejected: "rejected"
        case .failed: "failed"
        }
    }
}

/// What a reload needs of a running pipeline.
struct Live: Sendable {
    var chain: RunningChain
    let head: BoundedChannel<StreamItem>
    let context: BuildContext
    /// The source shares its partitions with other hosts: their keyed state moves with leases, per transform.
    let sharesPartitions: Bool
    let startSink: @Sendable (RunningSink, RunningSink?) -> Void
    /// Closes a sink that left the chain once it has written everything it was given.
    let retireSink: @Sendable (RunningSink) -> Void
    let stageContext: @Sendable (String) -> StageContext
}

extension PipelineRunner {
    /// The spec running now: the one it started with, or the last one a reload applied.
    public var currentSpec: PipelineSpec { live.withLock { $0?.chain.spec } ?? spec }

    /// Counts and logs a reload's outcome (`pipeline_reloads_total{result}`, and the status document).
    public func recordReload(_ outcome: ReloadOutcome, spec file: String) {
        Counter(label: "pipeline_reloads_total", dimensions: [("pipeline", spec.name), ("result", outcome.result)]).increment()
        stats.recordReload(result: outcome.result)
        switch outcome {
        case .applied(let summary):
            logger.notice("reload applied", metadata: ["spec": "\(file)", "changes": "\(summary)"])
        case .unchanged:
            logger.info("reload: the spec is unchanged", metadata: ["spec": "\(file)"])
        case .rejected(let reasons):
            // One line per reload (each reason on its own line within it), so a log alarm counts reloads.
            logger.error("reload rejected; the running spec stays", metadata: ["spec": "\(file)", "error": "\(reasons.joined(separator: "\n"))"])
        case .failed(let reason):
            logger.error("reload failed; the running spec stays", metadata: ["spec": "\(file)", "error": "\(reason)"])
        }
    }

    /// Swaps the running chain for the one `next` describes, at a cut in the stream: components whose config is
    /// unchanged keep running with their state; changed and new ones are built, started and health-checked
    /// first, then take over at the cut, a changed transform with the state of the one it replaces. On any
    /// error the old spec keeps running. The source, dead-letter output, checkpointing and runtime settings
    /// need a restart to change.
    public func reload(to next: PipelineSpec) async -> ReloadOutcome {
        let busy = reloading.withLock { r -> Bool in
            if r { return true }
            r = true
            return false
        }
        if busy { return .rejected(reasons: ["another reload is in progress"]) }
        defer { reloading.withLock { $0 = false } }
        // A reload asked for while the pipeline starts (loading reference tables, say) waits until every
        // transform has started: the source may already be reading ahead, but the running transforms' contracts
        // (their bundles) are known only then.
        var current = live.withLock { $0 }
        while (current == nil || !transformsStarted.withLock({ $0 })) && !stop.isStopping && !finished.withLock({ $0 }) {
            try? await Task.sleep(nanoseconds: 20_000_000)
            current = live.withLock { $0 }
        }
        guard let live = current, !stop.isStopping else { return .failed(reason: "the pipeline is not running") }

        let diff = SpecDiff(from: live.chain.spec, to: next)
        if !diff.needsRestart.isEmpty { return .rejected(reasons: diff.needsRestart) }
        if diff.isEmpty { return .unchanged }

        // Build and start everything new before the cut, so the stream waits for none of it.
        let running = Dictionary(live.chain.transforms.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var transforms: [RunningTransform] = []
        var built: [(String, any Transform)] = []
        var replaced: [String: (old: any Transform, new: any Transform)] = [:]
        var builtSinks: [String: any Sink] = [:]
        func discard() async {
            for (_, t) in built { await t.stop() }
            for (_, s) in builtSinks { try? await s.close() }
        }
        let context = live.context.forNewBuild()
        do {
            for (config, entry) in zip(next.transforms, diff.transforms) {
                if entry.step == .keep, let r = running[config.id] {
                    transforms.append(RunningTransform(config: config, transform: r.transform, meters: r.meters))
                    continue
                }
                let t = try registry.makeTransform(config, context)
                built.append((config.id, t))
                try await t.start(live.stageContext(config.id))
                let old = running[config.id]
                if live.sharesPartitions, (t is any PartitionedState) || (entry.step == .replace && old?.transform is any PartitionedState) {
                    throw PipelineError(.spec, "it keeps per-partition state and the source shares its partitions with other hosts: changing it needs a restart",
                                        at: config.id)
                }
                if entry.step == .replace, let old {
                    replaced[config.id] = (old.transform, t)
                } else if t.hasKeyedState {
                    logger.warning("reload: a new transform with keyed state starts empty", metadata: ["transform": "\(config.id)"])
                }
                // A replaced transform goes on counting in its meters; a new one gets its own, registered with the
                // telemetry only at the cut (a failed reload leaves no stage behind on the status page).
                let meters = (entry.step == .replace ? old?.meters : nil)
                    ?? PipelineTelemetry.StageMeters(id: config.id, kind: .transform, type: config.type, queueDepth: { 0 })
                transforms.append(RunningTransform(config: config, transform: t, meters: meters))
            }
            try FieldContractCheck.check(transforms.map { ($0.config, $0.transform) }, registry: registry)
            for (spec, entry) in zip(next.sinks, diff.sinks) where entry.step != .keep {
                let sink = try registry.makeSink(spec.config, context)
                builtSinks[spec.config.id] = sink
                try await sink.start(live.stageContext(spec.config.id))
                do { try await sink.healthCheck() } catch {
                    throw PipelineError(.sink, "health check failed: \(error)", at: spec.config.id, underlying: error)
                }
            }
        } catch {
            await discard()
            return .failed(reason: "\(error)")
        }

        let marker = ReloadMarker(plan: ReloadPlan(diff: diff, next: next, transforms: transforms, builtSinks: builtSinks, replaced: replaced))
        pendingReload.withLock { $0 = marker }
        defer { pendingReload.withLock { $0 = nil } }
        do { try await live.head.send(.reload(marker)) } catch {
            await discard()
            return .failed(reason: "the pipeline is stopping")
        }
        switch await marker.result() {
        case .failure(let error):
            await discard()
            return .failed(reason: "\(error)")
        case .success:
            // The old instances are out of the stream now: stop them off the stream's path.
            for pair in replaced.values { await pair.old.stop() }
            for id in diff.removedTransforms { if let r = running[id] { await r.transform.stop() } }
            return .applied(summary: diff.summary)
        }
    }

    /// Runs one chain (the transforms and the router) over the stream from `head`, until the input ends (nil) or
    /// a reload's marker has passed all of it (the marker).
    func runChain(_ chain: RunningChain, head: BoundedChannel<StreamItem>, deadLetters: BoundedChannel<SinkItem>,
                  rejections: DeadLetterRejections, closers: Closers,
                  fail: @escaping @Sendable (any Error, String) -> Void) async throws -> ReloadMarker? {
        let capacity = spec.runtime.channelCapacity
        let links = chain.transforms.map { _ in BoundedChannel<StreamItem>(high: capacity) }
        for l in links { closers.add { l.close() } }
        func input(_ i: Int) -> BoundedChannel<StreamItem> { i == 0 ? head : links[i - 1] }
        for (i, t) in chain.transforms.enumerated() {
            let channel = input(i)
            t.meters.setQueue { channel.bufferedCount }
        }
        let taps = stats.taps
        let telemetry = stats.telemetry
        let pipeline = spec.name
        return try await withThrowingTaskGroup(of: ReloadMarker?.self) { group in
            for (i, t) in chain.transforms.enumerated() {
                let (from, to) = (input(i), links[i])
                group.addTask {
                    do {
                        try await Self.runTransform(t.transform, id: t.id, pipeline: pipeline, input: from, output: to, meters: t.meters, taps: taps)
                    } catch { fail(error, t.id); throw error }
                    return nil
                }
            }
            let last = input(chain.transforms.count)
            group.addTask {
                do {
                    return try await Self.route(input: last, sinks: chain.sinks.map(\.spec), channels: chain.sinks.map(\.channel),
                                                deadLetters: deadLetters, rejections: rejections, keyed: chain.keyedIDs,
                                                meters: chain.sinks.map(\.meters), telemetry: telemetry)
                } catch { fail(error, "router"); throw error }
            }
            var marker: ReloadMarker?
            for try await m in group { if let m { marker = m } }
            return marker
        }
    }

    /// At the cut, with the old chain drained: hands replaced transforms' state to their successors, swaps the
    /// sinks and makes the new chain the running one. Throws (and changes nothing the old chain needs) when a
    /// state does not fit its new transform.
    func apply(_ plan: ReloadPlan, to old: RunningChain) async throws -> RunningChain {
        // States that go through a snapshot first (a restore may refuse it); the in-memory hand-overs, which
        // cannot fail, only once nothing can fail any more, so a refused reload leaves the old chain whole.
        let direct = plan.replaced.filter { $0.value.new.canTakeState(from: $0.value.old) }
        for (id, pair) in plan.replaced where direct[id] == nil {
            guard let state = try pair.old.snapshot() else { continue }
            do { try pair.new.restore(state) } catch {
                throw PipelineError(.checkpoint, "the state of transform \"\(id)\" does not fit its new config (\(error)); restart with --fresh-state \(id) to start it empty",
                                    at: id, underlying: error)
            }
        }
        guard let live = live.withLock({ $0 }) else { throw PipelineError(.internal, "the pipeline is not running") }
        for pair in direct.values { pair.new.takeState(from: pair.old) }
        let telemetry = stats.telemetry
        let oldSinks = Dictionary(old.sinks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var sinks: [RunningSink] = []
        var details: [(id: String, provider: (any StatusDetailProviding)?)] = []
        for (spec, entry) in zip(plan.next.sinks, plan.diff.sinks) {
            if entry.step == .keep, var kept = oldSinks[spec.config.id] {
                kept.spec = spec
                sinks.append(kept)
                continue
            }
            guard let sink = plan.builtSinks[spec.config.id] else { continue }
            // A reload cannot change `runtime`: the running spec's capacity is the start's.
            let channel = BoundedChannel<SinkItem>(high: self.spec.runtime.channelCapacity)
            let predecessor = oldSinks[spec.config.id]
            let meters = predecessor?.meters ?? PipelineTelemetry.StageMeters(id: spec.config.id, kind: .sink, type: spec.config.type, queueDepth: { 0 })
            meters.setQueue { channel.bufferedCount }
            let s = RunningSink(spec: spec, sink: sink, channel: channel, meters: meters)
            // The predecessor writes what it was given before the cut; its successor starts after that.
            predecessor?.channel.close()
            live.startSink(s, predecessor)
            details.append((s.id, sink as? any StatusDetailProviding))
            sinks.append(s)
        }
        for id in plan.diff.removedSinks {
            guard let gone = oldSinks[id] else { continue }
            gone.channel.close()
            live.retireSink(gone)
        }
        for t in plan.transforms where !old.transforms.contains(where: { $0.transform === t.transform }) {
            details.append((t.id, t.transform as? any StatusDetailProviding))
        }
        let next = RunningChain(spec: plan.next, transforms: plan.transforms, sinks: sinks)
        telemetry.arrange(source: plan.next.source.id, stages: next.transforms.map(\.meters) + next.sinks.map(\.meters),
                          deadLetter: plan.next.deadLetter.id, details: details)
        self.live.withLock { $0?.chain = next }
        return next
    }

    /// Waits until a sink that left the chain has written everything it was given, then closes it.
    func retire(_ sink: RunningSink) async throws {
        await sink.finished.wait()
        do { try await sink.sink.close() } catch {
            throw PipelineError(.sink, "close failed: \(error)", at: sink.id, underlying: error)
        }
    }
}

/// The sinks' tasks: the first ones and those a reload starts, in one task group, so a failure of any reaches
/// the runner and the dead-letter output closes only after the last one.
final class SinkTasks: Sendable {
    private let stream: AsyncStream<(String, @Sendable () async throws -> Void)>
    private let continuation: AsyncStream<(String, @Sendable () async throws -> Void)>.Continuation

    init() { (stream, continuation) = AsyncStream.makeStream() }

    func add(_ name: String, _ body: @escaping @Sendable () async throws -> Void) { continuation.yield((name, body)) }

    /// No sink is added after this; `run` returns once the running ones finish.
    func finish() { continuation.finish() }

    func run(onFailure fail: @escaping @Sendable (any Error, String) -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for await (name, body) in stream {
                group.addTask {
                    do { try await body() } catch { fail(error, name); throw error }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// What a failure closes so that no stage waits forever; entries added after the failure are closed at once.
final class Closers: Sendable {
    private let state = Mutex<(closed: Bool, closers: [@Sendable () -> Void])>((false, []))

    func add(_ close: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.closed { return true }
            s.closers.append(close)
            return false
        }
        if now { close() }
    }

    func closeAll() {
        let all = state.withLock { s -> [@Sendable () -> Void] in
            s.closed = true
            defer { s.closers = [] }
            return s.closers
        }
        for c in all { c() }
    }
}
