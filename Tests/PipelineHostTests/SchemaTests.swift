import BuiltinPlugins
import Foundation
import PipelineHost
import Testing
import TestSupport

@Suite struct SchemaTests {
    let schema = SpecSchema.generate(registry: BuiltinPlugins.registry)

    @Test func schemaCoversEveryPlugin() throws {
        let defs = try #require(schema["$defs"]?.objectValue)
        let names = defs.map(\.0)
        for r in BuiltinPlugins.registry.registrations {
            #expect(names.contains("\(r.descriptor.kind.rawValue).\(r.descriptor.name)"))
        }
        let fileSink = try #require(schema["$defs"]?["sink.file"])
        #expect(fileSink["required"] == .array(["type", "path"]))
        #expect(fileSink["additionalProperties"] == .bool(false))
        #expect(fileSink["properties"]?["when"]?["$ref"] == .string("#/$defs/condition"))
        #expect(fileSink["properties"]?["compression"]?["anyOf"]?.arrayValue?.first?["enum"] == .array(["none", "gzip"]))
        #expect(fileSink["properties"]?["compression"]?["default"] == .string("none"))
        #expect(schema["required"] == .array(["name", "source", "sinks"]))
        #expect(schema["properties"]?["source"]?["$ref"] == .string("#/$defs/source"))
    }

    @Test func schemaIsValidJSONText() throws {
        let text = schema.description
        let reparsed = try DocumentParser.parseValue(Array(text.utf8))
        #expect(reparsed == schema)
    }

    /// Every example in a descriptor is a valid component: docs cannot drift from validation.
    @Test func descriptorExamplesValidate() throws {
        for r in TestRegistry.registry.registrations {
            for example in r.descriptor.examples {
                let component: String
                switch r.descriptor.kind {
                case .source: component = #""source": \#(example), "sinks": [{"type": "stdout"}]"#
                case .transform: component = #""source": {"type": "generator", "count": 1}, "transforms": [\#(example)], "sinks": [{"type": "stdout"}]"#
                case .sink: component = #""source": {"type": "generator", "count": 1}, "sinks": [\#(example)]"#
                }
                do {
                    _ = try PipelineSpec.parse(Array("{\"name\": \"ex\", \(component)}".utf8), file: "example", registry: TestRegistry.registry, environment: [:])
                } catch { Issue.record("example of \(r.descriptor.name) does not validate: \(error)") }
            }
        }
    }

    /// An editor that checks specs against `pipeline-host schema` accepts every shipped spec and every plugin's
    /// examples (with `${VAR}` where a field takes one of a few values): checked by a real JSON Schema validator
    /// (Python's jsonschema, draft 2020-12, which the test setup installs).
    @Test func shippedSpecsMatchTheSchema() async throws {
        let dir = TestFiles.scratch("schema")
        TestFiles.write(schema.description, to: dir + "/schema.json")
        let pipelines = TestFiles.path("pipelines")
        let specs = try FileManager.default.contentsOfDirectory(atPath: pipelines)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".tests.json") }.sorted().map { pipelines + "/" + $0 }
        #expect(specs.count >= 4)
        let check = """
            import json, sys
            from jsonschema import Draft202012Validator
            validator = Draft202012Validator(json.load(open(sys.argv[1])))
            bad = 0
            for path in sys.argv[2:]:
                for e in validator.iter_errors(json.load(open(path))):
                    bad += 1
                    print(f"{path}: {e.json_path}: {e.message[:200]}")
            sys.exit(1 if bad else 0)
            """
        let out = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", check, dir + "/schema.json"] + specs)
        #expect(out.status == 0, "\(out.stdout)\(out.stderr)")
        // And it does refuse: a misspelt enum value and an unknown key.
        TestFiles.write(#"{"name": "x", "source": {"type": "file", "path": "p", "colour": 1}, "sinks": [{"type": "file", "path": "o", "compression": "zip"}]}"#,
                        to: dir + "/bad.json")
        let bad = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", check, dir + "/schema.json", dir + "/bad.json"])
        #expect(bad.status == 1 && bad.stdout.contains("colour") && bad.stdout.contains("compression"), "\(bad.stdout)\(bad.stderr)")
    }

    @Test func pluginDocsListFieldsAndDefaults() throws {
        let page = PluginDocs.page(BuiltinPlugins.registry.registration(kind: .sink, name: "file")!.descriptor, commonSinkFields: true)
        #expect(page.contains("compression  (one of \"none\", \"gzip\"; default \"none\")"))
        #expect(page.contains("when  (condition; optional)"))
        #expect(PluginDocs.index(BuiltinPlugins.registry).contains("SOURCES"))
    }
}
