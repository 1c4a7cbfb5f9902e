import PipelineHost

extension RollingAggregates {
    /// Its features count earlier events: a checkpoint without its state cannot be resumed.
    public var hasKeyedState: Bool { true }
}
