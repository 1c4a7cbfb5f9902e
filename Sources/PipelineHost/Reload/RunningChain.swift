import Synchronization

/// The part of a running pipeline a hot reload can change: the transforms in order and the sinks, each with the
/// instance that runs it. The source, the dead-letter output and the checkpointing stay for the life of the run.
struct RunningChain: Sendable {
    var spec: PipelineSpec
    var transforms: [RunningTransform]
    var sinks: [RunningSink]

    /// The transforms whose state a checkpoint of this chain must hold.
    var keyedIDs: [String] { transforms.filter { $0.transform.hasKeyedState }.map(\.id) }
}

struct RunningTransform: Sendable {
    let config: ComponentConfig
    let transform: any Transform
    /// Kept across reloads while the transform is kept, so its counts do not restart.
    let meters: PipelineTelemetry.StageMeters
    var id: String { config.id }
}

/// A sink with its input channel. `finished` opens once the sink's task has written and flushed everything of
/// its channel: a sink that replaces it (same id, often the same file or bucket prefix) starts writing only then.
struct RunningSink: Sendable {
    var spec: PipelineSpec.SinkSpec
    let sink: any Sink
    let channel: BoundedChannel<SinkItem>
    let meters: PipelineTelemetry.StageMeters
    let finished = WaitableEvent()
    var id: String { spec.config.id }
}

/// A reload's cut, sent into the stream after the last record the old chain takes. The runner applies the plan
/// once the marker has passed every old transform and the router, and reports the outcome here.
final class ReloadMarker: Sendable {
    let plan: ReloadPlan
    private let done = WaitableEvent()
    private let outcome = Mutex<Result<Void, PipelineError>?>(nil)

    init(plan: ReloadPlan) { self.plan = plan }

    func finish(_ result: Result<Void, PipelineError>) {
        let first = outcome.withLock { o -> Bool in
            guard o == nil else { return false }
            o = result
            return true
        }
        if first { done.open() }
    }

    func result() async -> Result<Void, PipelineError> {
        await done.wait()
        return outcome.withLock { $0! }
    }
}

/// Everything a reload built before the cut: the chain to run after it and the instances it replaces.
struct ReloadPlan: Sendable {
    let diff: SpecDiff
    let next: PipelineSpec
    /// The new chain's transforms: kept ones are the running instances, the rest were built and started.
    let transforms: [RunningTransform]
    /// New sink instances (added or replacing one), already started and health-checked, by id.
    let builtSinks: [String: any Sink]
    /// Replaced transforms: id → (old, new); the new one takes over the old one's state at the cut.
    let replaced: [String: (old: any Transform, new: any Transform)]
}
