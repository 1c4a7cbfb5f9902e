import Foundation
import Logging
import PipelineHost
import Testing

/// The descriptors' examples validate and build; config errors the schema cannot express (the descriptors' lint
/// rules) are caught by validation, before anything is built.
@Suite struct DescriptorTests {
    func build(_ component: String) throws {
        let text = #"{"name": "ex", "dead_letter": {"type": "file", "path": "/tmp/dlq.jsonl"}, \#(component)}"#
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "example", registry: TestRegistry.registry, environment: TestRegistry.environment)
        let context = BuildContext(pipelineName: "ex", logger: Logger(label: "t"), environment: TestRegistry.environment, registry: TestRegistry.registry)
        _ = try TestRegistry.registry.makeSource(spec.source, context)
        for s in spec.sinks { _ = try TestRegistry.registry.makeSink(s.config, context) }
    }

    @Test func examplesValidateAndBuild() throws {
        for r in TestRegistry.registry.registrations where ["kinesis", "s3", "sns"].contains(r.descriptor.name) {
            #expect(!r.descriptor.examples.isEmpty)
            for example in r.descriptor.examples {
                let component = r.descriptor.kind == .source
                    ? #""source": \#(example), "sinks": [{"type": "file", "path": "/tmp/out.jsonl"}]"#
                    : #""source": {"type": "file", "path": "/tmp/in.jsonl"}, "sinks": [\#(example)]"#
                #expect(throws: Never.self, "\(r.descriptor.name): \(example)") { try build(component) }
            }
        }
    }

    @Test func inconsistentSettingsAreConfigErrors() {
        let sink = #""source": {"type": "file", "path": "/tmp/in.jsonl"}, "sinks": "#
        let cases = [
            #""source": {"type": "kinesis", "stream_name": "s", "start_position": "AT_TIMESTAMP"}, "sinks": [{"type": "file", "path": "/tmp/o"}]"#,
            #""source": {"type": "kinesis", "stream_name": "s", "start_position": "AT_TIMESTAMP", "start_timestamp": "yesterday"}, "sinks": [{"type": "file", "path": "/tmp/o"}]"#,
            sink + #"[{"type": "sns", "topic_arn": "arn:aws:sns:us-east-1:1:t.fifo"}]"#,
            sink + #"[{"type": "s3", "bucket": "b", "multipart_threshold": "1MiB"}]"#,
        ]
        for c in cases {
            #expect("\(c)") { try build(c) } throws: { error in
                (error as? SpecErrors)?.diagnostics.count == 1
            }
        }
    }
}
