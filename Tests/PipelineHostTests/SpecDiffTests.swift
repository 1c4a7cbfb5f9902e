import BuiltinPlugins
import PipelineHost
import Testing

/// What a hot reload keeps, rebuilds, adds and removes, and what it refuses (decided before anything is built).
@Suite struct SpecDiffTests {
    static func spec(name: String = "p", source: String = "in.jsonl", transforms: String, sinks: String) throws -> PipelineSpec {
        let text = """
            {"name": "\(name)", "source": {"type": "file", "path": "\(source)"}, "transforms": [\(transforms)], "sinks": [\(sinks)],
             "dead_letter": {"type": "file", "path": "dlq.jsonl"}}
            """
        return try PipelineSpec.parse(Array(text.utf8), file: "t.json", registry: BuiltinPlugins.registry, environment: [:])
    }

    static let rolling = #"{"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id"}"#
    static let fields = #"{"type": "fields", "id": "map", "set": {"a": 1}}"#
    static let out = #"{"type": "file", "id": "out", "path": "out.jsonl"}"#

    @Test func unchangedConfigIsKeptChangedReplacedNewAddedOldRemoved() throws {
        let old = try Self.spec(transforms: Self.rolling + ", " + Self.fields, sinks: Self.out)
        #expect(SpecDiff(from: old, to: old).isEmpty)
        #expect(SpecDiff(from: old, to: old).summary == "no change")

        let new = try Self.spec(
            transforms: #"{"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "allowed_lateness": "1m"}, {"type": "passthrough", "id": "extra"}"#,
            sinks: #"{"type": "file", "id": "out", "path": "out.jsonl", "when": {"field": "x", "exists": true}}, {"type": "file", "id": "more", "path": "more.jsonl"}"#)
        let d = SpecDiff(from: old, to: new)
        #expect(d.needsRestart.isEmpty)
        #expect(d.transforms == [.init(id: "rolling", step: .replace), .init(id: "extra", step: .add)])
        #expect(d.removedTransforms == ["map"])
        #expect(d.sinks == [.init(id: "out", step: .keep), .init(id: "more", step: .add)])
        #expect(d.changedConditions == ["out"])
        #expect(!d.isEmpty)
        #expect(d.summary == "rolling replaced, extra added, more added, map removed, out condition changed")
    }

    @Test func reorderingIsAChange() throws {
        let old = try Self.spec(transforms: Self.rolling + ", " + Self.fields, sinks: Self.out)
        let new = try Self.spec(transforms: Self.fields + ", " + Self.rolling, sinks: Self.out)
        let d = SpecDiff(from: old, to: new)
        #expect(!d.isEmpty)
        #expect(d.summary == "transforms reordered")
    }

    @Test func sourceNameAndDeadLetterChangesNeedARestart() throws {
        let old = try Self.spec(transforms: Self.rolling, sinks: Self.out)
        let d = SpecDiff(from: old, to: try Self.spec(name: "q", source: "other.jsonl", transforms: Self.rolling, sinks: Self.out))
        // The name, the source, and the checkpoint directory (its default is named after the pipeline).
        #expect(d.needsRestart.count == 3)
        #expect(d.needsRestart.allSatisfy { $0.contains("restart the host to apply it") })
        #expect(d.needsRestart.contains { $0.hasPrefix("the source changed") })
    }

    @Test func anotherPluginUnderTheSameIDIsNewNotACarriedState() throws {
        let old = try Self.spec(transforms: Self.rolling, sinks: Self.out)
        let new = try Self.spec(transforms: #"{"type": "passthrough", "id": "rolling"}"#, sinks: Self.out)
        let d = SpecDiff(from: old, to: new)
        #expect(d.transforms == [.init(id: "rolling", step: .add)])
        #expect(d.removedTransforms == ["rolling"])
    }
}
