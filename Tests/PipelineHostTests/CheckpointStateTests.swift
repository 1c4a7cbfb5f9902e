import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Synchronization
import Testing

/// A checkpoint holds the state of every keyed transform for its cut, always: after an idle spell, on a
/// graceful stop, and in a run that resumes and reads nothing. (Before the barrier had to pass every
/// transform, an idle pipeline wrote its final checkpoint before the transforms had seen the barrier: 0 keys.)
@Suite struct CheckpointStateTests {
    static func spec(_ dir: String, follow: Bool) throws -> PipelineSpec {
        let text = """
            {"name": "cp-state",
             "source": {"type": "file", "path": "\(dir)/in.jsonl", "follow": \(follow), "poll_interval": "20ms", "batch": {"max_age": "10ms"}},
             "transforms": [{"type": "rolling_aggregates", "id": "agg"}],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp", "interval": "30ms"}}
            """
        return try PipelineSpec.parse(Array(text.utf8), file: "cp-state.json", registry: BuiltinPlugins.registry, environment: [:])
    }

    static func event(_ i: Int, user: Int, ts: Int) -> String {
        #"{"transaction_id": "t\#(i)", "user_id": "u\#(user)", "event_created_at_ts": \#(ts), "transaction_value": 2.5}"#
    }

    static func checkpoint(_ dir: String) throws -> Checkpoint {
        try Checkpoint(json: DocumentParser.parseValue(Array(FileManager.default.contents(atPath: dir + "/cp/checkpoint.json")!)))
    }

    static func keyCount(_ cp: Checkpoint) -> Int { ((try? cp.states["agg"]?.value) ?? nil)?["keys"]?.objectValue?.count ?? 0 }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Follow mode, 2,000 users with two events each, left idle past several checkpoint intervals, then a stop:
    /// the final checkpoint holds every user; a run that resumes, reads nothing and stops keeps them; and a new
    /// event of a user after the restarts counts the user's two earlier events.
    @Test func idleGracefulStopsKeepEveryKey() async throws {
        let dir = TestFiles.scratch("cpstate")
        let users = 2000
        var lines: [String] = []
        for i in 0..<(2 * users) { lines.append(Self.event(i, user: i % users, ts: 1_718_000_000 + i)) }
        TestFiles.write(lines.joined(separator: "\n") + "\n", to: dir + "/in.jsonl")

        let stop = StopSignal()
        let runner = PipelineRunner(spec: try Self.spec(dir, follow: true), registry: BuiltinPlugins.registry, logger: Self.quiet,
                                    environment: [:], stop: stop)
        let run = Task { try await runner.run() }
        let deadline = Date().addingTimeInterval(60)
        while TestFiles.lines(dir + "/out.jsonl").count < 2 * users {
            try #require(Date() < deadline, "records not delivered")
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await Task.sleep(nanoseconds: 300_000_000)  // idle: ten checkpoint intervals with no input
        stop.stop()
        _ = try await run.value
        #expect(Self.keyCount(try Self.checkpoint(dir)) == users, "the final checkpoint after an idle spell holds every key")

        // Resume, read nothing, stop: the checkpoint written at the end still holds the restored state.
        let again = try await PipelineRunner(spec: try Self.spec(dir, follow: false), registry: BuiltinPlugins.registry, logger: Self.quiet,
                                             environment: [:]).run()
        #expect(again.recordsIn == 0)
        #expect(Self.keyCount(try Self.checkpoint(dir)) == users, "a run that read nothing keeps the state it restored")

        // A new event of user 7, an hour after its two events: txn_count_24h counts both.
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/in.jsonl"))
        try h.seekToEnd()
        try h.write(contentsOf: Data((Self.event(99_999, user: 7, ts: 1_718_000_000 + 2 * users + 3600) + "\n").utf8))
        try h.close()
        _ = try await PipelineRunner(spec: try Self.spec(dir, follow: false), registry: BuiltinPlugins.registry, logger: Self.quiet,
                                     environment: [:]).run()
        let last = try #require(TestFiles.lines(dir + "/out.jsonl").last)
        let record = try DocumentParser.parseValue(Array(last.utf8))
        #expect(record["transaction_id"] == .string("t99999"))
        #expect(record["txn_count_24h"] == .int(2), "user 7's two earlier events survive two graceful restarts: \(last)")
        #expect(record["txn_sum_24h"] == .double(5.0))
    }

    /// A local checkpoint takes states as values and as a transform's own bytes, and reads both back as the same
    /// documents; the file is one JSON document in the format of every earlier version.
    @Test func aLocalCheckpointStoresEncodedAndValueStatesAlike() async throws {
        let dir = TestFiles.scratch("cpencoded")
        let store = LocalCheckpointStore(directory: dir + "/cp")
        #expect(store.acceptsEncodedStates)
        let keyed: JSONValue = .object([("keys", .object([("u\"1", .array([.array([.double(1.5e9)]), .array([.double(12.25)]), .null]))]))])
        var w = JSONWriter()
        w.write(keyed)
        let saved = Checkpoint(id: 7, pipeline: "p", createdAt: 1.5, positions: ["file": .object([("offset", .int(42))])],
                               states: ["agg": .encoded(w.bytes), "table": .value(.object([("rows", .int(3))]))])
        try await store.save(saved)
        let loaded = try #require(try await store.load())
        #expect(loaded == saved)
        #expect(try loaded.states["agg"]?.value == keyed)
        let text = try String(contentsOfFile: store.path, encoding: .utf8)
        #expect(text.hasPrefix(#"{"format":1,"id":7,"pipeline":"p","created_at":1.5,"positions":{"file":{"offset":42}},"states":{"agg":{"keys":"#))
        #expect(try DocumentParser.parseValue(Array(text.utf8))["states"]?["table"] == .object([("rows", .int(3))]))
    }

    /// A checkpoint without the state of a keyed transform the spec declares is refused with an error naming
    /// the transform, unless the operator says that transform starts empty (`--fresh-state`).
    @Test func aCheckpointWithoutKeyedStateIsRefused() async throws {
        let dir = TestFiles.scratch("cpmissing")
        TestFiles.write(Self.event(1, user: 1, ts: 1_718_000_000) + "\n", to: dir + "/in.jsonl")
        try FileManager.default.createDirectory(atPath: dir + "/cp", withIntermediateDirectories: true)
        // What a run without the transform (or the old, racing checkpoint) left: a position and no state.
        let old = Checkpoint(id: 3, pipeline: "cp-state", createdAt: 0, positions: [:], states: [:])
        let store = LocalCheckpointStore(directory: dir + "/cp")
        try await store.save(old)

        let spec = try Self.spec(dir, follow: false)
        await #expect {
            _ = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: Self.quiet, environment: [:]).run()
        } throws: { error in
            let text = "\(error)"
            return text.contains("no state for transform \"agg\"") && text.contains("--fresh-state agg")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.jsonl") || TestFiles.lines(dir + "/out.jsonl").isEmpty,
                "nothing is processed with empty state")

        let summary = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: Self.quiet, environment: [:],
                                               freshState: ["agg"]).run()
        #expect(summary.recordsIn == 1)
        #expect(Self.keyCount(try Self.checkpoint(dir)) == 1)
    }

    /// A store that could not write a partition's position (a Kinesis lease past its local deadline) gets another
    /// checkpoint at the next interval although no record comes. Before, barriers came only after new batches:
    /// a closed shard whose SHARD_END missed its one checkpoint stayed unended (its children never started) while
    /// the host idled.
    @Test func aDeferredCheckpointIsRetriedWithoutNewRecords() async throws {
        let dir = TestFiles.scratch("cpdeferred")
        TestFiles.write((0..<10).map { Self.event($0, user: $0, ts: 1_718_000_000 + $0) }.joined(separator: "\n") + "\n", to: dir + "/in.jsonl")
        let store = DeferringStore(deferFull: 2, keys: 10)
        let stop = StopSignal()
        let runner = PipelineRunner(spec: try Self.spec(dir, follow: true), registry: BuiltinPlugins.registry, logger: Self.quiet,
                                    environment: [:], store: store, stop: stop)
        let run = Task { try await runner.run() }
        defer { stop.stop() }
        let deadline = Date().addingTimeInterval(30)
        while store.saved.withLock({ $0.filter { !$0.deferred }.isEmpty }) {
            try #require(Date() < deadline, "no checkpoint stored after the deferred ones; saves: \(store.saved.withLock { $0.count })")
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        // Stored before the stop: by a barrier the deferral asked for, since no record came after the last batch.
        stop.stop()
        _ = try await run.value
        let saves = store.saved.withLock { $0 }
        let stored = try #require(saves.first { !$0.deferred })
        #expect(saves.filter { $0.deferred && Self.keyCount($0.checkpoint) == 10 }.count == 2)
        #expect(Self.keyCount(stored.checkpoint) == 10)
    }
}

/// Defers every save (as a lease store does for a lapsed lease) until it has deferred `deferFull` that hold
/// all `keys` keys, that is after the last record: only barriers without new batches can follow.
final class DeferringStore: CheckpointStore {
    let deferFull: Int
    let keys: Int
    let saved = Mutex<[(checkpoint: Checkpoint, deferred: Bool)]>([])
    init(deferFull: Int, keys: Int) {
        self.deferFull = deferFull
        self.keys = keys
    }
    var description: String { "deferring test store" }
    func load() async throws -> Checkpoint? { nil }
    func save(_ checkpoint: Checkpoint) async throws -> CheckpointSaveResult {
        let deferred = saved.withLock { s in
            let full = s.filter { $0.deferred && CheckpointStateTests.keyCount($0.checkpoint) == keys }.count
            let deferring = full < deferFull
            s.append((checkpoint, deferring))
            return deferring
        }
        return deferred ? .deferred(partitions: Array(checkpoint.positions.keys)) : .complete
    }
}
