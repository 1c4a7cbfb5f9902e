/// What a hot reload would change, from the running spec and the new one, before anything is built: which
/// transforms and sinks keep running as they are, which are rebuilt, added or removed, and what a reload cannot
/// apply at all (those need a restart). Pure, so the rules are tested without a running pipeline.
public struct SpecDiff: Sendable, Equatable {
    public enum Step: String, Sendable, Equatable {
        /// Same type, id and config: the running instance goes on, with its state and connections.
        case keep
        /// Same id, new config: a new instance replaces the old one at the cut, taking over its state.
        case replace
        /// A new id.
        case add
    }

    /// The new spec's transforms, in order, each with what happens to it.
    public var transforms: [Entry] = []
    public var removedTransforms: [String] = []
    /// The new spec's sinks, in order.
    public var sinks: [Entry] = []
    public var removedSinks: [String] = []
    /// Sinks whose `when` changed (the router applies the new one at the cut; the sink itself may be kept).
    public var changedConditions: [String] = []
    /// What a reload cannot apply, one sentence each: the host keeps the old spec.
    public var needsRestart: [String] = []

    public struct Entry: Sendable, Equatable {
        public var id: String
        public var step: Step
        public init(id: String, step: Step) {
            self.id = id
            self.step = step
        }
    }

    /// Nothing to do: every component keeps running as it is.
    public var isEmpty: Bool {
        needsRestart.isEmpty && removedTransforms.isEmpty && removedSinks.isEmpty && changedConditions.isEmpty
            && transforms.allSatisfy { $0.step == .keep } && sinks.allSatisfy { $0.step == .keep }
            && transforms.count == oldTransformOrder.count && transforms.map(\.id) == oldTransformOrder
    }

    /// The running spec's transform ids in order: moving a kept transform is still a change of the chain.
    var oldTransformOrder: [String] = []

    public init(from old: PipelineSpec, to new: PipelineSpec) {
        oldTransformOrder = old.transforms.map(\.id)
        func restart(_ what: String) {
            needsRestart.append("\(what) changed: a reload keeps the running one; restart the host to apply it")
        }
        if old.name != new.name { restart("\"name\" (which keys the checkpoints)") }
        if !old.source.sameConfig(as: new.source) { restart("the source") }
        if !old.deadLetter.sameConfig(as: new.deadLetter) { restart("\"dead_letter\"") }
        if old.checkpoint != new.checkpoint { restart("\"checkpoint\"") }
        if old.admin != new.admin { restart("\"admin\"") }
        if old.runtime != new.runtime { restart("\"runtime\"") }
        if old.metrics != new.metrics { restart("\"metrics\"") }

        let oldTransforms = Dictionary(old.transforms.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for t in new.transforms {
            guard let was = oldTransforms[t.id] else { transforms.append(Entry(id: t.id, step: .add)); continue }
            if was.type != t.type {
                // Another plugin under the same id: its state (if any) means something else; treat it as new.
                transforms.append(Entry(id: t.id, step: .add))
                removedTransforms.append(t.id)
            } else {
                transforms.append(Entry(id: t.id, step: was.sameConfig(as: t) ? .keep : .replace))
            }
        }
        let newTransformIDs = Set(new.transforms.map(\.id))
        removedTransforms += old.transforms.map(\.id).filter { !newTransformIDs.contains($0) }

        let oldSinks = Dictionary(old.sinks.map { ($0.config.id, $0) }, uniquingKeysWith: { a, _ in a })
        for s in new.sinks {
            guard let was = oldSinks[s.config.id] else { sinks.append(Entry(id: s.config.id, step: .add)); continue }
            // `when` belongs to the routing, not to the sink: a new condition alone keeps the sink running.
            sinks.append(Entry(id: s.config.id, step: was.config.sameConfig(as: s.config, ignoring: ["when"]) ? .keep : .replace))
            if was.when != s.when { changedConditions.append(s.config.id) }
        }
        let newSinkIDs = Set(new.sinks.map(\.config.id))
        removedSinks = old.sinks.map(\.config.id).filter { !newSinkIDs.contains($0) }
    }

    /// One line for the log: "scorer replaced, alerts added, audit removed".
    public var summary: String {
        var parts: [String] = []
        for e in transforms + sinks where e.step != .keep { parts.append("\(e.id) \(e.step == .add ? "added" : "replaced")") }
        for id in removedTransforms + removedSinks where !parts.contains("\(id) added") { parts.append("\(id) removed") }
        for id in changedConditions { parts.append("\(id) condition changed") }
        if parts.isEmpty && !isEmpty { parts.append("transforms reordered") }
        return parts.isEmpty ? "no change" : parts.joined(separator: ", ")
    }
}

extension ComponentConfig {
    /// Same plugin, id and resolved values (in any order): a component built from either behaves the same.
    public func sameConfig(as other: ComponentConfig, ignoring: Set<String> = []) -> Bool {
        guard type == other.type, id == other.id else { return false }
        let mine = Dictionary(values.filter { !ignoring.contains($0.0) }, uniquingKeysWith: { a, _ in a })
        let theirs = Dictionary(other.values.filter { !ignoring.contains($0.0) }, uniquingKeysWith: { a, _ in a })
        return mine == theirs
    }
}
