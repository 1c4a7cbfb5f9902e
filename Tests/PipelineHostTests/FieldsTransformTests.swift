import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing
import TestSupport

@testable import Fields

/// The `fields` transform: each step on its own, its config errors, the data-flow lint, and a pipeline whose
/// input has another schema, mapped by `fields` alone, scoring exactly as the staging pipeline does.
@Suite struct FieldsTransformTests {
    static func run(_ transforms: String, input: [String], dir: String) async throws -> (RunSummary, [Record], [String]) {
        TestFiles.write(input.joined(separator: "\n") + "\n", to: dir + "/in.jsonl")
        let text = """
            {"name": "fields", "source": {"type": "file", "path": "\(dir)/in.jsonl"}, "transforms": [\(transforms)],
             "sinks": [{"type": "file", "path": "\(dir)/out.jsonl"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "fields.json", registry: BuiltinPlugins.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let summary = try await PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger, environment: [:]).run()
        let parser = RecordParser()
        let out = try TestFiles.lines(dir + "/out.jsonl").map { Record(fields: try #require(try parser.parse(Array($0.utf8)))) }
        return (summary, out, TestFiles.lines(dir + "/dlq.jsonl"))
    }

    @Test func eachStepInItsOrder() async throws {
        let dir = TestFiles.scratch("fields")
        let (summary, out, dlq) = try await Self.run("""
            {"type": "fields", "rename": {"amt": "amount", "missing_one": "never"}, "copy": {"amount": "amount_copy"},
             "derive": [{"field": "hour", "from": "ts", "fn": "hour_of_day"}, {"field": "size", "from": "amount", "fn": "abs"},
                        {"field": "log_amount", "from": "amount", "fn": "log1p"}, {"field": "nothing", "from": "absent", "fn": "abs"}],
             "set": {"source_system": "pos", "version": 2, "tags": ["a"]}, "drop": ["debug", "amt"]}
            """, input: [
                #"{"id": 1, "amt": -0.5, "ts": 1722470417, "debug": "x"}"#,
                #"{"id": 2, "amt": 0, "ts": 1722556799}"#,
            ], dir: dir)
        #expect(summary.deadLettered == 0, "\(dlq)")
        try #require(out.count == 2)
        let a = out[0]
        #expect(a["amount"] == .double(-0.5))
        #expect(a["amt"] == nil)
        #expect(a["never"] == nil, "a rename of an absent field does nothing")
        #expect(a["amount_copy"] == .double(-0.5), "copy runs after rename")
        #expect(a["hour"] == .int(0))
        #expect(a["size"] == .double(0.5))
        #expect(a["log_amount"] == .double(Foundation.log1p(-0.5)))
        #expect(out[1]["hour"] == .int(23))
        #expect(out[1]["size"] == .int(0))
        #expect(out[1]["log_amount"] == .double(0))
        #expect(a["nothing"] == .null, "an absent source derives null")
        #expect(a["source_system"] == .string("pos") && a["version"] == .int(2) && a["tags"] == .array([.string("a")]))
        #expect(a["debug"] == nil)
    }

    @Test func aBadDerivationIsDeadLetteredWithItsReasonOrNulled() async throws {
        let dir = TestFiles.scratch("fields-bad")
        let input = [#"{"id": 1, "amount": -3}"#, #"{"id": 2, "amount": "lots"}"#, #"{"id": 3, "amount": 9}"#]
        let (summary, out, dlq) = try await Self.run(#"{"type": "fields", "derive": [{"field": "l", "from": "amount", "fn": "log1p"}]}"#,
                                                     input: input, dir: dir)
        #expect(summary.deadLettered == 2)
        #expect(out.map { $0["id"] } == [.int(3)])
        #expect(dlq.contains { $0.contains("fields: derive l = log1p(amount): -3.0 is outside log1p's domain (> -1)") }, "\(dlq)")
        #expect(dlq.contains { $0.contains(#"fields: derive l = log1p(amount): \"\"lots\"\" is not a finite number"#) }, "\(dlq)")
        let dir2 = TestFiles.scratch("fields-null")
        let (s2, out2, _) = try await Self.run(#"{"type": "fields", "on_error": "null", "derive": [{"field": "l", "from": "amount", "fn": "log1p"}]}"#,
                                               input: input, dir: dir2)
        #expect(s2.deadLettered == 0)
        #expect(out2.map { $0["l"] } == [.null, .null, .double(Foundation.log1p(9))])
    }

    @Test func mappingsThatCannotMeanWhatTheySayAreRefused() async throws {
        for (config, message) in [
            (#"{"type": "fields", "rename": {"a": "x", "b": "x"}}"#, #"both "a" and "b" are renamed to "x""#),
            (#"{"type": "fields", "set": {"x": 1}, "drop": ["x"]}"#, #""x" is set and then dropped"#),
            (#"{"type": "fields", "derive": [{"field": "x", "from": "a", "fn": "abs"}], "drop": ["x"]}"#, #""x" is derived and then dropped"#),
        ] {
            await #expect { _ = try await Self.run(config, input: ["{}"], dir: TestFiles.scratch("fields-config")) } throws: { error in
                "\(error)".contains(message) && "\(error)".contains("$.transforms[0]")
            }
        }
        // The validator knows the plugin: an unknown function is a spec error that names the allowed ones.
        let bad = #"{"name": "x", "source": {"type": "file", "path": "x"}, "transforms": [{"type": "fields", "derive": [{"field": "a", "from": "b", "fn": "sqrt"}]}], "sinks": [{"type": "stdout"}]}"#
        #expect { _ = try PipelineSpec.parse(Array(bad.utf8), file: "s.json", registry: BuiltinPlugins.registry, environment: [:]) } throws: { error in
            "\(error)".contains("$.transforms[0].derive[0].fn") && "\(error)".contains("hour_of_day")
        }
        // The data-flow lint sees what it reads and writes: reading a field only a later `fields` writes is an error.
        let order = #"{"name": "x", "source": {"type": "file", "path": "x"}, "transforms": [{"type": "rolling_aggregates", "key_field": "user_id", "time_field": "ts", "value_field": "amount"}, {"type": "fields", "rename": {"amt": "amount"}}], "sinks": [{"type": "stdout"}]}"#
        #expect { _ = try PipelineSpec.parse(Array(order.utf8), file: "s.json", registry: BuiltinPlugins.registry, environment: [:]) } throws: { error in
            "\(error)".contains("reads \"amount\", which only the later transform")
        }
    }

    /// Another input schema (other names, an extra field), mapped by `fields` alone: every score equals the
    /// staging chain's on the original events.
    @Test func anotherSchemaIsASpecChange() async throws {
        let sample = try AWSReadBack.gunzipLines(Array(try #require(FileManager.default.contents(atPath: TestFiles.path("samples/transactions.jsonl.gz")))))
            .prefix(3000).filter { !$0.contains("bad-") && $0.hasPrefix("{\"transaction_id\"") }
        let parser = RecordParser()
        var renamed: [String] = []
        for line in sample {
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            var w = JSONWriter()
            w.write(.object([("id", r["transaction_id"]!), ("uid", r["user_id"]!), ("ts", r["event_created_at_ts"]!),
                             ("amount", r["transaction_value"]!), ("channel", r["channel_code"]!), ("debug", .string("x"))]))
            renamed.append(w.string)
        }
        let chain = """
            {"type": "dynamo_broadcast", "mode": "file", "path": "\(TestFiles.path("samples/user_demographics.jsonl"))",
             "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"], "on_missing": "missing"},
            {"type": "rolling_aggregates", "key_field": "user_id", "time_field": "event_created_at_ts", "value_field": "transaction_value", "allowed_lateness": "5m"},
            {"type": "feature_scaler", "bundle": "\(TestFiles.path("models/v1"))"},
            {"type": "local_model", "bundle": "\(TestFiles.path("models/v1"))"}
            """
        let (_, original, _) = try await Self.run(chain, input: Array(sample), dir: TestFiles.scratch("schema-a"))
        let mapping = #"{"type": "fields", "rename": {"id": "transaction_id", "uid": "user_id", "ts": "event_created_at_ts", "amount": "transaction_value", "channel": "channel_code"}, "drop": ["debug"]}"#
        let (_, mapped, dlq) = try await Self.run(mapping + "," + chain, input: renamed, dir: TestFiles.scratch("schema-b"))
        #expect(dlq.isEmpty)
        #expect(mapped.count == original.count && original.count > 2900)
        var byID: [String: JSONValue] = [:]
        for r in original { byID[r["transaction_id"]!.stringValue!] = r["fraud_score"] }
        let differing = mapped.filter { byID[$0["transaction_id"]?.stringValue ?? ""] != $0["fraud_score"] }
        #expect(differing.isEmpty, "\(differing.count) scores differ")
        #expect(mapped.allSatisfy { $0["debug"] == nil && $0["uid"] == nil })
        #expect(mapped.contains { $0["is_alert"] == .bool(true) })
    }
}
