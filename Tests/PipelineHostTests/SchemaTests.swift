import BuiltinPlugins
import PipelineHost
import Testing

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
        #expect(fileSink["properties"]?["compression"]?["enum"] == .array(["none", "gzip"]))
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

    @Test func pluginDocsListFieldsAndDefaults() throws {
        let page = PluginDocs.page(BuiltinPlugins.registry.registration(kind: .sink, name: "file")!.descriptor, commonSinkFields: true)
        #expect(page.contains("compression  (one of \"none\", \"gzip\"; default \"none\")"))
        #expect(page.contains("when  (condition; optional)"))
        #expect(PluginDocs.index(BuiltinPlugins.registry).contains("SOURCES"))
    }
}
