import BuiltinPlugins
import Foundation
import PipelineHost
import Testing

@Suite struct SpecTests {
    func parse(_ text: String, env: [String: String] = [:]) throws(SpecErrors) -> PipelineSpec {
        try PipelineSpec.parse(Array(text.utf8), file: "spec.json", registry: TestRegistry.registry, environment: env)
    }

    func errors(_ text: String, env: [String: String] = [:]) -> [SpecDiagnostic] {
        do {
            _ = try parse(text, env: env)
            Issue.record("expected the spec to be rejected")
            return []
        } catch { return error.diagnostics }
    }

    @Test func validSpecFillsDefaults() throws {
        let spec = try parse("""
            {"name": "p", "source": {"type": "file", "path": "in/*.jsonl"},
             "sinks": [{"type": "file", "path": "out.jsonl"}, {"type": "stdout", "when": {"field": "is_alert", "equals": true}}]}
            """)
        #expect(spec.name == "p")
        #expect(spec.source.id == "source")
        #expect(spec.source.bool("follow") == false)
        #expect(spec.source.nested("batch").int("max_events") == 1000)
        #expect(spec.sinks.map(\.config.id) == ["file", "stdout"])
        #expect(spec.sinks[1].when == .equals("is_alert", .bool(true)))
        #expect(spec.checkpoint.interval == 5)
        #expect(spec.checkpoint.directory == "data/p/checkpoint")
        #expect(spec.deadLetter.optionalString("path") == "data/p/dead-letter.jsonl")
        #expect(spec.admin == nil)
    }

    @Test func syntaxErrorNamesLineAndColumn() {
        let d = errors("{\n  \"name\": \"p\",\n  \"source\": {\"type\": \"file\" \"path\": \"x\"}\n}")
        #expect(d.count == 1)
        #expect(d.first?.location.line == 3)
        #expect(d.first?.message.hasPrefix("invalid JSON") == true)
    }

    /// The mistakes of a hand-edited spec, said plainly and where they are: a truncated file at its end (not at
    /// 1:1), a trailing comma in an object or an array at the bracket after it.
    @Test func truncatedFilesAndTrailingCommasAreNamed() {
        let truncated = errors("{\n  \"name\": \"p\",\n  \"source\": {\"type\": \"file\", \"path\": \"x\"}\n")
        #expect(truncated.first?.location.line == 3, "\(truncated)")
        #expect(truncated.first?.message == "invalid JSON: the document ends inside a value (a closing \", } or ] missing at the end?)", "\(truncated)")
        #expect(errors(" \n").first?.message == "invalid JSON: the document is empty")
        let object = errors("{\"name\": \"p\",\n \"sinks\": [{\"type\": \"stdout\",}]}")
        #expect(object.first?.message == "invalid JSON: a comma before } (JSON allows no trailing comma)", "\(object)")
        #expect(object.first?.location.line == 2 && object.first?.location.column == 30, "\(object)")
        let array = errors("{\"name\": \"p\", \"sinks\": [{\"type\": \"stdout\"},\n]}")
        #expect(array.first?.message == "invalid JSON: a comma before ] (JSON allows no trailing comma)", "\(array)")
        #expect(array.first?.location.line == 2, "\(array)")
    }

    /// A word cut short is suggested in full: "eq" is "equals", not "in" (two edits away).
    @Test func aShortenedWordIsSuggestedInFull() {
        let d = errors(#"{"name": "p", "source": {"type": "file", "path": "x"}, "sinks": [{"type": "stdout", "when": {"field": "a", "eq": 1}}]}"#)
        #expect(d.first?.message.contains(#"unknown condition operator "eq"; did you mean "equals"?"#) == true, "\(d)")
        let plugin = errors(#"{"name": "p", "source": {"type": "kin"}, "sinks": [{"type": "stdout"}]}"#)
        #expect(plugin.first?.message.contains(#"did you mean "kinesis"?"#) == true, "\(plugin)")
    }

    @Test func everyErrorIsReportedWithPathAndPosition() {
        let text = """
            {
              "name": "p",
              "sorce": {"type": "file"},
              "transforms": [{"type": "flakey"}],
              "sinks": [
                {"type": "file", "path": 42, "compresion": "gzip"},
                {"type": "recording", "delay": "soon"}
              ],
              "checkpoint": {"interval": "5s", "dirr": "x"}
            }
            """
        let d = errors(text)
        let byPath = Dictionary(d.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["$.sorce"]?.message.contains("did you mean \"source\"") == true)
        #expect(byPath["$.sorce"]?.location == SourceLocation(line: 3, column: 3))
        #expect(byPath["$.source"]?.message.contains("missing required key") == true)
        #expect(byPath["$.transforms[0].type"]?.message.contains("did you mean \"flaky\"") == true)
        #expect(byPath["$.transforms[0].type"]?.location == SourceLocation(line: 4, column: 27))
        #expect(byPath["$.sinks[0].path"]?.message == "expected a string, got integer 42")
        #expect(byPath["$.sinks[0].path"]?.location == SourceLocation(line: 6, column: 30))
        #expect(byPath["$.sinks[0].compresion"]?.message.contains("did you mean \"compression\"") == true)
        #expect(byPath["$.sinks[1].delay"]?.message.contains("expected a duration") == true)
        #expect(byPath["$.checkpoint.dirr"]?.message.contains("did you mean \"dir\"") == true)
        #expect(d.count == 7)
        // Rendered as file:line:column: path: message, in document order.
        #expect(SpecErrors(d).description.contains("spec.json:3:3: $.sorce: unknown key \"sorce\""))
    }

    @Test func wrongKindOfPluginIsExplained() {
        let d = errors(#"{"name": "p", "source": {"type": "stdout"}, "sinks": [{"type": "stdout"}]}"#)
        #expect(d.first?.message.contains("\"stdout\" is a sink plugin, not a source plugin") == true)
    }

    @Test func rangesEnumsAndConditions() {
        let d = errors("""
            {"name": "p", "source": {"type": "generator", "count": -1},
             "sinks": [{"type": "file", "path": "o", "compression": "zip", "when": {"field": "x", "greater": 3}}],
             "runtime": {"channel_capacity": 0}}
            """)
        let messages = d.map(\.message)
        #expect(messages.contains("must be at least 0, got -1"))
        #expect(messages.contains { $0.contains("\"zip\" is not one of \"none\", \"gzip\"") })
        #expect(messages.contains { $0.contains("unknown condition operator \"greater\"") })
        #expect(messages.contains("must be at least 1, got 0"))
    }

    @Test func duplicateIdsAreRejected() {
        let d = errors(#"{"name": "p", "source": {"type": "generator", "count": 1}, "sinks": [{"type": "stdout"}, {"type": "stdout"}]}"#)
        #expect(d.count == 1)
        #expect(d.first?.path == "$.sinks[1]")
        #expect(d.first?.message.contains("id \"stdout\" is already used by $.sinks[0]") == true)
    }

    /// Ids a spec gives nested components (A/B variants' scorers, a shadow) are checked too: against each other and
    /// against the top-level ones. Without one, a nested scorer is named by its split and needs none.
    @Test func duplicateNestedIdsAreRejected() throws {
        let bundle = TestFiles.path("models/v1")
        func split(_ a: String, _ b: String, shadow: String = "") -> String {
            #"{"name": "p", "source": {"type": "generator", "count": 1}, "transforms": [{"type": "local_model", "bundle": "\#(bundle)"}, {"type": "ab_split", "id": "ab", "variants": [{"name": "a", "weight": 1, "scorer": {"type": "local_model", \#(a) "bundle": "\#(bundle)"}}, {"name": "b", "weight": 1, "scorer": {"type": "local_model", \#(b) "bundle": "\#(bundle)"}}]\#(shadow)}], "sinks": [{"type": "stdout"}]}"#
        }
        let twice = errors(split(#""id": "scorer","#, #""id": "scorer","#))
        #expect(twice.map(\.path) == ["$.transforms[1].variants[1].scorer"], "\(twice)")
        #expect(twice.first?.message.contains("id \"scorer\" is already used by $.transforms[1].variants[0].scorer") == true)
        let topLevel = errors(split(#""id": "local_model","#, ""))
        #expect(topLevel.map(\.path) == ["$.transforms[1].variants[0].scorer"], "\(topLevel)")
        let shadow = errors(split("", "", shadow: #", "shadow": {"type": "local_model", "id": "ab", "bundle": "\#(bundle)"}"#))
        #expect(shadow.map(\.path) == ["$.transforms[1].shadow"], "\(shadow)")
        _ = try parse(split("", ""))
        _ = try parse(split(#""id": "champion","#, #""id": "challenger","#))
    }

    /// The data-flow lint: a transform that reads a field only a later transform writes is an error at the key that
    /// names the field, nested components included; the same stages in the right order pass.
    @Test func aFieldReadBeforeTheStageThatWritesItIsAnError() throws {
        func spec(_ transforms: String) -> String {
            #"{"name": "p", "source": {"type": "generator", "count": 1}, "transforms": [\#(transforms)], "sinks": [{"type": "stdout"}]}"#
        }
        let scaler = #"{"type": "feature_scaler", "id": "scale", "bundle": "models/v1"}"#
        let scorer = #"{"type": "local_model", "id": "score", "bundle": "models/v1"}"#
        let join = #"{"type": "dynamo_broadcast", "id": "join", "mode": "file", "path": "u.jsonl", "key_field": "account", "fields": ["account", "age"]}"#
        let rolling = #"{"type": "rolling_aggregates", "id": "rolling", "key_field": "account", "windows": [{"label": "1h", "length": "1h"}]}"#
        let ab = #"{"type": "ab_split", "id": "ab", "variants": [{"name": "a", "weight": 1, "scorer": \#(scorer)}], "shadow": {"type": "local_model", "bundle": "models/v1", "input_field": "scaled"}}"#

        let d = errors(spec([scorer, scaler].joined(separator: ",")))
        #expect(d.count == 1)
        #expect(d.first?.path == "$.transforms[0].input_field")
        #expect(d.first?.message == #"transform "score" reads "features", which only the later transform "scale" ($.transforms[1]) writes: every record would fail here; put "scale" before "score""#)
        #expect(d.first?.location.line == 1)

        // Nested scorers are checked at their own keys; a field nobody writes (the source may have it) is not.
        let nested = errors(spec([ab, scaler, #"{"type": "feature_scaler", "id": "scale2", "bundle": "models/v1", "output_field": "scaled"}"#].joined(separator: ",")))
        #expect(nested.map(\.path) == ["$.transforms[0].variants[0].scorer.input_field", "$.transforms[0].shadow.input_field"])
        // A rolling stage keyed on a field only a later join adds is an error; a join that only overwrites a field
        // it reads itself (its key among its fields) proves nothing about where the field comes from.
        let segmentJoin = #"{"type": "dynamo_broadcast", "id": "seg", "mode": "file", "path": "u.jsonl", "fields": ["segment"]}"#
        let bySegment = #"{"type": "rolling_aggregates", "id": "rolling", "key_field": "segment", "windows": [{"label": "1h", "length": "1h"}]}"#
        #expect(errors(spec([bySegment, segmentJoin].joined(separator: ","))).map(\.path) == ["$.transforms[0].key_field"])
        _ = try parse(spec([rolling, join].joined(separator: ",")))
        // The value field counts too: a missing value is 0, so adding it later would zero every sum silently.
        let valueLater = #"{"type": "dynamo_broadcast", "id": "v", "mode": "file", "path": "u.jsonl", "fields": ["transaction_value"]}"#
        #expect(errors(spec([rolling, valueLater].joined(separator: ","))).map(\.path) == ["$.transforms[0].value_field"])

        _ = try parse(spec([scaler, scorer].joined(separator: ",")))
        _ = try parse(spec([join, rolling, scaler, ab].joined(separator: ",")))
        _ = try parse(spec(#"{"type": "local_model", "bundle": "models/v1"}"#))  // "features" from the source
    }

    /// A value that came from `${VAR}` is never printed in an error (it may be a secret put in the wrong variable):
    /// the error names the template instead.
    @Test func errorsNameTheVariableNotItsValue() {
        let secret = "https://hooks.slack.com/services/T0/B0/SeCrEt"
        let text = #"""
            {"name": "p", "source": {"type": "file", "path": "x", "follow": "${A}"},
             "transforms": [{"type": "${B}"}],
             "sinks": [{"type": "file", "path": "o", "compression": "${C}", "rotate_age": "${D}"}],
             "runtime": {"channel_capacity": "${E}"}}
            """#
        let env = ["A": secret, "B": secret, "C": secret, "D": secret, "E": "0"]
        let d = errors(text, env: env)
        for e in d { #expect(!e.message.contains("SeCrEt"), "leak at \(e.path): \(e.message)") }
        func message(_ path: String) -> String { d.first { $0.path == path }?.message ?? "no error at \(path): \(d)" }
        #expect(message("$.source.follow") == #"expected true or false, got string (the value of "${A}")"#)
        #expect(message("$.transforms[0].type").hasPrefix(#"unknown transform plugin the value of "${B}""#))
        #expect(message("$.sinks[0].compression").hasPrefix(#"the value of "${C}" is not one of"#))
        #expect(message("$.sinks[0].rotate_age").contains(#"(the value of "${D}")"#))
        #expect(message("$.runtime.channel_capacity") == #"must be at least 1, got the value of "${E}""#)
        let admin = errors(#"{"name": "p", "source": {"type": "file", "path": "x"}, "sinks": [{"type": "stdout"}], "admin": {"address": "${F}"}}"#, env: ["F": secret])
        #expect(admin.map(\.message) == [#"expected host:port, got the value of "${F}""#])
    }

    /// `within`: an event time no older than the duration by the wall clock (alert sinks use it so that a new
    /// deployment replaying the stream from TRIM_HORIZON does not re-send old alerts).
    @Test func withinMatchesRecentEventTimesOnly() throws {
        let spec = try parse(#"{"name": "p", "source": {"type": "generator", "count": 1}, "sinks": [{"type": "stdout", "when": {"field": "t", "within": "15m"}}]}"#)
        let when = try #require(spec.sinks.first?.when)
        let now = 1_800_000_000.0
        func record(_ t: JSONValue?) -> Record { Record(fields: t.map { [("t", $0)] } ?? []) }
        #expect(when.matches(record(.double(now - 899)), now: now))
        #expect(when.matches(record(.int(Int64(now) + 60)), now: now), "a time ahead of the clock is recent")
        #expect(!when.matches(record(.double(now - 901)), now: now))
        #expect(!when.matches(record(nil), now: now) && !when.matches(record(.string("yesterday")), now: now))
        let d = errors(#"{"name": "p", "source": {"type": "generator", "count": 1}, "sinks": [{"type": "stdout", "when": {"field": "t", "within": true}}]}"#)
        #expect(d.map(\.path) == ["$.sinks[0].when.within"])
        #expect(d.first?.message.contains("takes a duration") == true)
    }

    @Test func environmentInterpolation() throws {
        let text = """
            {"name": "${NAME}", "source": {"type": "file", "path": "${DIR:-/data}/in.jsonl", "follow": "${FOLLOW}"},
             "sinks": [{"type": "file", "path": "$${literal}", "batch": 1}],
             "runtime": {"channel_capacity": "${CAP}"}}
            """
        // `batch` is not a field of the file sink: that error must still be reported with the interpolation ones.
        let d = errors(text, env: ["NAME": "x"])
        #expect(d.contains { $0.path == "$.source.follow" && $0.message.contains("environment variable FOLLOW is not set") })
        #expect(d.contains { $0.path == "$.runtime.channel_capacity" && $0.message.contains("CAP is not set") })
        #expect(d.contains { $0.path == "$.sinks[0].batch" })

        let ok = """
            {"name": "${NAME}", "source": {"type": "file", "path": "${DIR:-/data}/in.jsonl", "follow": "${FOLLOW}"},
             "sinks": [{"type": "file", "path": "$${literal}"}], "runtime": {"channel_capacity": "${CAP}"}}
            """
        let spec = try parse(ok, env: ["NAME": "x", "FOLLOW": "true", "CAP": "16"])
        #expect(spec.name == "x")
        #expect(spec.source.string("path") == "/data/in.jsonl")
        #expect(spec.source.bool("follow"))
        #expect(spec.runtime.channelCapacity == 16)
        #expect(spec.sinks[0].config.string("path") == "${literal}")
    }

    @Test func requiredVariableMessage() {
        #expect(Interpolation.expand("${TOKEN:?set it in the task definition}", env: [:]) == .failure("environment variable TOKEN is not set: set it in the task definition"))
        #expect(Interpolation.expand("a${X}b", env: ["X": "1"]) == .success("a1b"))
        #expect(Interpolation.expand("${X", env: [:]) == .failure("unterminated \"${\" in \"${X\""))
        #expect(Interpolation.expand("${1X}", env: [:]).isFailure)
    }

    @Test func shippedSpecsValidate() throws {
        let dir = TestFiles.path("pipelines")
        // Specs, not their test files (`*.tests.json`, run by SpecTestCommandTests).
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".json") && !$0.hasSuffix(".tests.json") }
        #expect(!files.isEmpty)
        for f in files {
            do {
                _ = try PipelineSpec.load(path: dir + "/" + f, registry: BuiltinPlugins.registry, environment: [
                    "SCORED_BUCKET": "bucket", "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
                    "LEASE_TABLE": "fraud-scoring-leases", "LEASE_STATE_BUCKET": "checkpoints",
                    // As the Lambda module sets it: lambda-slack.json names no secret of its own.
                    "SLACK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf",
                ])
            } catch { Issue.record("\(f): \(error)") }
        }
    }
}

extension Interpolation.Outcome {
    var isFailure: Bool { if case .failure = self { return true } else { return false } }
}
