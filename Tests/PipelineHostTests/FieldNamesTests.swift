import Foundation
@testable import PipelineHost
import TestSupport
import Testing

@Suite struct FieldNamesTests {
    @Test func aFullTableKeepsItsNamesAndRefusesNewOnes() {
        let table = FieldNames(capacity: 3)
        let a = table.intern("transaction_value_in_cents"), b = table.intern("b"), c = table.intern("c")
        #expect(a != nil && b != nil && c != nil)
        #expect(Set([a, b, c].compactMap { $0 }).count == 3)
        #expect(table.intern("d") == nil)
        #expect(table.intern("d") == nil, "a refused name stays refused")
        #expect(table.intern("transaction_value_in_cents") == a)
        #expect(table.intern("b") == b)
        #expect(table.name(a!) == "transaction_value_in_cents")
        #expect(table.id(a!, is: "transaction_value_in_cents", length: 26))
        #expect(!table.id(a!, is: "transaction_value_in_centz", length: 26))
    }

    @Test func recordsSpeakNamesWhateverTheirIDs() {
        var r = Record(fields: [("user_id", .string("u1")), ("a_name_longer_than_fifteen_bytes", .int(1))])
        let key = FieldKey("a_name_longer_than_fifteen_bytes")
        #expect(r[key] == .int(1))
        r[key] = .int(2)
        r["added_by_a_stage"] = .double(0.5)
        r["user_id"] = nil
        #expect(r.fields.map(\.0) == ["a_name_longer_than_fifteen_bytes", "added_by_a_stage"])
        #expect(r["a_name_longer_than_fifteen_bytes"] == .int(2))
        var w = JSONWriter()
        r.write(to: &w)
        #expect(w.string == #"{"a_name_longer_than_fifteen_bytes":2,"added_by_a_stage":0.5}"#)
    }

    /// The table's bound, end to end: a host whose table holds 4 names (taken by the stages' own fields when
    /// they are built) keeps every other name in its records, and its stages that bound names the table had no
    /// room for find them by name. Its output must be the output of a host with
    /// room for all of them, byte for byte, and a repeated name must still be refused.
    @Test func aHostWhoseNameTableIsFullWritesWhatAnyOtherHostWrites() async throws {
        let dir = TestFiles.scratch("names")
        var lines: [String] = []
        for i in 0..<400 {
            let user = "u\(i % 7)"
            // Names a stream invents per record (a map at the top level), next to the usual ones.
            lines.append(#"{"transaction_id": "t\#(i)", "user_id": "\#(user)", "event_created_at_ts": \#(1_722_470_400 + i * 60), "#
                + #""transaction_value": \#(Double(i % 50) + 0.25), "extra_\#(i % 13)": \#(i), "a_nested_one": {"k": [1, "x"]}}"#)
        }
        lines.insert(#"{"user_id": "u1", "event_created_at_ts": 1722470400, "dup_\#(1)": 1, "dup_1": 2}"#, at: 100)
        TestFiles.write(lines.joined(separator: "\n") + "\n", to: dir + "/in.jsonl")
        func spec(_ out: String) -> String {
            """
            {"name": "names", "source": {"type": "file", "path": "\(dir)/in.jsonl"},
             "transforms": [
               {"type": "fields", "rename": {"transaction_id": "transaction_id_renamed"}, "drop": ["a_nested_one"]},
               {"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "time_field": "event_created_at_ts",
                "value_field": "transaction_value", "windows": [{"label": "1h", "length": "1h"}],
                "aggregates": ["count", "sum"], "since_previous_field": "secs_since_prev_txn", "idle_timeout": "3650d"}],
             "sinks": [{"type": "file", "id": "out", "path": "\(dir)/\(out)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/\(out)/dead.jsonl"},
             "checkpoint": {"dir": "\(dir)/\(out)/cp"}}
            """
        }
        for (out, capacity) in [("small", "4"), ("large", "100000")] {
            TestFiles.write(spec(out), to: dir + "/\(out).json")
            let host = try HostProcess(name: out, spec: dir + "/\(out).json", environment: ["PIPELINE_HOST_MAX_FIELD_NAMES": capacity],
                                       logPath: dir + "/\(out).log")
            #expect(await host.exit() == 0, "\(host.log)")
        }
        let small = TestFiles.lines(dir + "/small/out.jsonl"), large = TestFiles.lines(dir + "/large/out.jsonl")
        #expect(small.count == 400)
        #expect(small == large)
        // Renamed and dropped fields: each record is written afresh from its fields, local names included.
        #expect(small.last?.contains(#""extra_9":399"#) == true)
        #expect(small.last?.contains(#""transaction_id_renamed":"t399""#) == true)
        #expect(small.last?.contains("a_nested_one") == false)
        #expect(small.last?.contains(#""txn_count_1h":"#) == true)
        let dead = TestFiles.lines(dir + "/small/dead.jsonl")
        #expect(dead.count == 1)
        #expect(dead.first?.contains(#"duplicate key \"dup_1\""#) == true)
    }
}
