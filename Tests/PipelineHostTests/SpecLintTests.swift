import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import Testing
import TestSupport

/// Rules across a plugin's fields (`PluginDescriptor.lint`) and the sinks' conditions against what the
/// transforms write: `validate` (every spec parse) finds them, at the key they are about, so a spec that could not
/// be built, or whose alert sink could never match, never passes validation.
@Suite struct SpecLintTests {
    static func errors(source: String = #"{"type": "file", "path": "x"}"#, transforms: [String] = [],
                       sinks: [String] = [#"{"type": "stdout"}"#]) -> [SpecDiagnostic] {
        let text = #"{"name": "p", "source": \#(source), "transforms": [\#(transforms.joined(separator: ","))], "sinks": [\#(sinks.joined(separator: ","))]}"#
        do {
            _ = try PipelineSpec.parse(Array(text.utf8), file: "spec.json", registry: BuiltinPlugins.registry, environment: [:])
            return []
        } catch { return error.diagnostics }
    }

    /// Each plugin's cross-field rules, one broken config at a time: exactly one error, at the key, saying what.
    @Test func crossFieldRulesAreValidationErrors() {
        let bundle = TestFiles.path("models/v1")
        let scorer = #"{"type": "local_model", "bundle": "\#(bundle)"}"#
        let cases: [(transforms: [String], sinks: [String], source: String?, path: String, message: String)] = [
            ([#"{"type": "dynamo_broadcast", "mode": "file", "fields": ["age"]}"#], [], nil,
             "$.transforms[0].path", #"mode "file" needs "path""#),
            ([#"{"type": "dynamo_broadcast", "mode": "dynamodb", "fields": ["age"]}"#], [], nil,
             "$.transforms[0].table", #"mode "dynamodb" needs "table""#),
            ([#"{"type": "rolling_aggregates", "windows": []}"#], [], nil, "$.transforms[0].windows", "at least one window is needed"),
            ([#"{"type": "ab_split", "variants": [{"name": "a", "weight": 0, "scorer": \#(scorer)}]}"#], [], nil,
             "$.transforms[0].variants", "variant weights add up to 0"),
            ([#"{"type": "fields", "rename": {"a": "x", "b": "x"}}"#], [], nil, "$.transforms[0].rename", #"both "a" and "b" are renamed to "x""#),
            ([#"{"type": "fields", "set": {"x": 1}, "drop": ["x"]}"#], [], nil, "$.transforms[0].drop", #""x" is set and then dropped"#),
            ([], [#"{"type": "slack", "mode": "chat_post_message", "token_env": "T"}"#], nil, "$.sinks[0].channel", "mode chat_post_message needs a \"channel\""),
            ([], [#"{"type": "slack", "webhook_url_env": "W", "token_env": "T"}"#], nil, "$.sinks[0]",
             "give exactly one of webhook_url_env, token_env, secret_arn (got webhook_url_env, token_env)"),
            ([], [#"{"type": "slack", "token_env": "T"}"#], nil, "$.sinks[0].token_env", "mode webhook reads a webhook URL"),
            ([], [#"{"type": "sns", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:alerts.fifo"}"#], nil,
             "$.sinks[0].message_group_id_field", "a FIFO topic needs message_group_id_field"),
            ([], [#"{"type": "sns", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:a", "message_attributes": {\#((1...11).map { #""a\#($0)": "f""# }.joined(separator: ","))}}"#], nil,
             "$.sinks[0].message_attributes", "SNS allows at most 10 message attributes, 11 are configured"),
            ([], [#"{"type": "s3", "bucket": "b", "multipart_threshold": "1MiB"}"#], nil,
             "$.sinks[0].multipart_threshold", "multipart_threshold must be at least 5MiB"),
            ([], [], #"{"type": "kinesis", "stream_name": "s", "start_position": "AT_TIMESTAMP"}"#,
             "$.source.start_timestamp", "start_position AT_TIMESTAMP needs start_timestamp"),
            ([], [], #"{"type": "kinesis", "stream_name": "s", "start_position": "AT_TIMESTAMP", "start_timestamp": "last tuesday"}"#,
             "$.source.start_timestamp", #"start_timestamp "last tuesday" is neither ISO-8601 nor seconds since the epoch"#),
            ([], [], #"{"type": "kinesis", "stream_name": "s", "stop_at_end": true, "leases": {"table": "l"}}"#,
             "$.source.stop_at_end", "stop_at_end cannot be combined with leases"),
            ([], [], #"{"type": "kinesis", "stream_name": "s", "leases": {"table": "l", "worker_id": ""}}"#,
             "$.source.leases.worker_id", "worker_id is empty"),
        ]
        for c in cases {
            let found = Self.errors(source: c.source ?? #"{"type": "file", "path": "x"}"#, transforms: c.transforms,
                                    sinks: c.sinks.isEmpty ? [#"{"type": "stdout"}"#] : c.sinks)
            #expect(found.count == 1, "\(c.path): \(found)")
            #expect(found.first?.path == c.path, "\(found)")
            #expect(found.first?.message.contains(c.message) == true, "\(c.path): \(found.map(\.message))")
            // With a line and column in the spec, like every other error.
            #expect(found.first?.location.line == 1, "\(found)")
        }
        // The same configs made whole pass.
        #expect(Self.errors(transforms: [#"{"type": "dynamo_broadcast", "mode": "file", "path": "u.jsonl", "fields": ["age"]}"#]).isEmpty)
        #expect(Self.errors(source: #"{"type": "kinesis", "stream_name": "s", "start_position": "AT_TIMESTAMP", "start_timestamp": "2024-05-17T09:00:00Z"}"#).isEmpty)
        #expect(Self.errors(sinks: [#"{"type": "slack", "mode": "chat_post_message", "channel": "C1", "token_env": "T"}"#]).isEmpty)
    }

    /// Every plugin with rules refuses a broken config at build too, when it did not come through a spec: a valid
    /// component's config with one value changed, built through the registry.
    @Test func everyPluginsInitRunsItsRules() throws {
        let registry = BuiltinPlugins.registry
        let context = BuildContext(pipelineName: "p", logger: Logger(label: "t"), environment: [:], registry: registry)
        let bundle = TestFiles.path("models/v1")
        let scorer = #"{"type": "local_model", "bundle": "\#(bundle)"}"#
        // (kind, a valid component, the key to change, the broken value, the message)
        let cases: [(PluginKind, String, String, JSONValue, String)] = [
            (.transform, #"{"type": "dynamo_broadcast", "mode": "file", "path": "u.jsonl", "fields": ["age"]}"#, "mode", "dynamodb", #"mode "dynamodb" needs "table""#),
            (.transform, #"{"type": "rolling_aggregates"}"#, "windows", .array([]), "at least one window is needed"),
            (.transform, #"{"type": "ab_split", "variants": [{"name": "a", "weight": 1, "scorer": \#(scorer)}]}"#, "variants",
             .array([.object([("name", "a"), ("weight", .double(0)), ("scorer", .object([("type", "local_model"), ("bundle", .string(bundle))]))])]),
             "variant weights add up to 0"),
            (.transform, #"{"type": "fields"}"#, "rename", .object([("a", "x"), ("b", "x")]), #"both "a" and "b" are renamed to "x""#),
            (.sink, #"{"type": "slack", "webhook_url_env": "W"}"#, "token_env", "T", "give exactly one of webhook_url_env, token_env, secret_arn"),
            (.sink, #"{"type": "sns", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:a.fifo", "message_group_id_field": "user_id"}"#,
             "message_group_id_field", .null, "a FIFO topic needs message_group_id_field"),
            (.sink, #"{"type": "s3", "bucket": "b"}"#, "multipart_threshold", .int(1024), "multipart_threshold must be at least 5MiB"),
            (.sink, #"{"type": "file", "path": "o.jsonl"}"#, "path", "", #""path" is empty"#),
            (.source, #"{"type": "kinesis", "stream_name": "s"}"#, "start_position", "AT_TIMESTAMP", "start_position AT_TIMESTAMP needs start_timestamp"),
            (.source, #"{"type": "file", "path": "x"}"#, "path", "", #""path" is empty"#),
        ]
        for (kind, component, key, value, message) in cases {
            let text: String
            switch kind {
            case .source: text = #"{"name": "p", "source": \#(component), "sinks": [{"type": "stdout"}]}"#
            case .transform: text = #"{"name": "p", "source": {"type": "file", "path": "x"}, "transforms": [\#(component)], "sinks": [{"type": "stdout"}]}"#
            case .sink: text = #"{"name": "p", "source": {"type": "file", "path": "x"}, "sinks": [\#(component)]}"#
            }
            let spec = try PipelineSpec.parse(Array(text.utf8), file: "spec.json", registry: registry, environment: [:])
            let valid = kind == .source ? spec.source : kind == .transform ? spec.transforms[0] : spec.sinks[0].config
            let values = valid.values.filter { $0.0 != key } + (value == .null ? [] : [(key, value)])
            let fields = (registry.registration(kind: kind, name: valid.type)?.descriptor.fields ?? []) + (kind == .sink ? PipelineSpec.sinkCommonFields : [])
            let broken = ComponentConfig(kind: kind, type: valid.type, id: valid.id, path: valid.path, values: values, fields: fields)
            #expect("\(valid.type).\(key)") {
                switch kind {
                case .source: _ = try registry.makeSource(broken, context)
                case .transform: _ = try registry.makeTransform(broken, context)
                case .sink: _ = try registry.makeSink(broken, context)
                }
            } throws: { error in
                error is PipelineError && "\(error)".contains(message) && "\(error)".contains(valid.path)
            }
        }
    }

    /// Sink conditions that cannot match as meant, against the scorer's declared fields.
    @Test func sinkConditionsThatCannotMatchAreErrors() {
        let bundle = TestFiles.path("models/v1")
        let scorer = #"{"type": "local_model", "id": "scorer", "bundle": "\#(bundle)"}"#
        let scaler = #"{"type": "feature_scaler", "bundle": "\#(bundle)"}"#
        func alerts(_ when: String, after extra: [String] = []) -> [SpecDiagnostic] {
            Self.errors(transforms: [scaler, scorer] + extra, sinks: [#"{"type": "stdout"}"#, #"{"type": "stdout", "id": "alerts", "when": \#(when)}"#])
        }
        let typo = alerts(#"{"field": "is_alrt", "equals": true}"#)
        #expect(typo.map(\.path) == ["$.sinks[1].when"], "\(typo)")
        #expect(typo.first?.message == #"sink "alerts" tests "is_alrt", which no transform writes; did you mean "is_alert" (written by "scorer")?"#)
        let quoted = alerts(#"{"field": "is_alert", "equals": "true"}"#)
        #expect(quoted.first?.message == #"sink "alerts" compares "is_alert" with the string "true", but the transform "scorer" writes it as a boolean (true or false): the condition never holds as meant; write true without quotes"#, "\(quoted)")
        let dropped = alerts(#"{"field": "is_alert", "equals": true}"#, after: [#"{"type": "fields", "id": "tidy", "drop": ["is_alert"]}"#])
        #expect(dropped.first?.message == #"sink "alerts" tests "is_alert", which the transform "tidy" ($.transforms[2]) drops: no record reaches the sink with it"#, "\(dropped)")
        let nested = alerts(#"{"all": [{"field": "is_alert", "equals": true}, {"any": [{"field": "fraud_score", "in": ["high"]}]}]}"#)
        #expect(nested.first?.message.contains(#"compares "fraud_score" with the string "high""#) == true, "\(nested)")
        let numeric = alerts(#"{"field": "model_version", "gt": 2}"#)
        #expect(numeric.first?.message == #"sink "alerts" compares "model_version" as a number, but the transform "scorer" writes it as a string"#, "\(numeric)")
        // What is right passes: the alert flag, a score threshold, a field from the source, one a later `fields`
        // sets to a string (its kind follows the last writer).
        #expect(alerts(#"{"field": "is_alert", "equals": true}"#).isEmpty)
        #expect(alerts(#"{"field": "fraud_score", "gte": 0.9}"#).isEmpty)
        #expect(alerts(#"{"field": "channel_code", "in": [1, 2]}"#).isEmpty)
        #expect(alerts(#"{"field": "is_alert", "equals": "yes"}"#, after: [#"{"type": "fields", "set": {"is_alert": "yes"}}"#]).isEmpty)
        // Tests that hold on a record without the field, or with a value of another kind, are left alone: they
        // match, and may be meant; so is an `in` with one value of the right kind, and a source field near a
        // scorer's name but more than one edit from it.
        let tidy = [#"{"type": "fields", "id": "tidy", "drop": ["debug"]}"#]
        #expect(alerts(#"{"field": "debug", "exists": false}"#, after: tidy).isEmpty)
        #expect(alerts(#"{"not": {"field": "debug", "equals": 1}}"#, after: tidy).isEmpty)
        #expect(alerts(#"{"field": "is_alert", "not_equals": "no"}"#).isEmpty)
        #expect(alerts(#"{"field": "is_alert", "in": [true, "true"]}"#).isEmpty)
        #expect(alerts(#"{"field": "is_alarm", "equals": true}"#).isEmpty)
        #expect(alerts(#"{"field": "fraud", "equals": 1}"#).isEmpty)
    }
}
