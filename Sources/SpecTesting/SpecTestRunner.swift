import Foundation
import Logging
import PipelineHost

/// Runs a `SpecTestSuite`: each case through the real runtime, with the spec's source replaced by the case's
/// records, every sink (its `when` kept) and the dead-letter output captured to files, the stand-ins in place of
/// what reaches outside, and fresh state. Compares what each output holds with the case's expectations.
public struct SpecTestRunner: Sendable {
    public struct CaseResult: Sendable {
        public var name: String
        public var failures: [String]
        public var passed: Bool { failures.isEmpty }
    }

    public let registry: PluginRegistry
    public let environment: [String: String]
    public let logger: Logger

    public init(registry: PluginRegistry, environment: [String: String], logger: Logger) {
        self.registry = registry
        self.environment = environment
        self.logger = logger
    }

    /// The spec as the suite sees it (its env over the process's); throws the spec's own errors.
    public func spec(of suite: SpecTestSuite) throws -> PipelineSpec {
        var env = environment
        for (k, v) in suite.environment { env[k] = v }
        return try PipelineSpec.load(path: suite.specPath, registry: registry, environment: env)
    }

    public func run(_ suite: SpecTestSuite) async throws -> [CaseResult] {
        let spec = try spec(of: suite)
        let ids = Set(spec.transforms.map(\.id))
        for (id, _) in suite.standIns where !ids.contains(id) {
            throw SpecTestSuite.FormatError(description: "\(suite.file): stand-in for \"\(id)\", which is not a transform of \(suite.specPath) (transforms: \(spec.transforms.map(\.id).joined(separator: ", ")))")
        }
        var results: [CaseResult] = []
        for c in suite.cases {
            results.append(try await run(c, spec: spec, suite: suite))
        }
        return results
    }

    func run(_ c: SpecTestSuite.Case, spec: PipelineSpec, suite: SpecTestSuite) async throws -> CaseResult {
        let dir = NSTemporaryDirectory() + "spec-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func writeLines(_ values: [JSONValue], to path: String) throws {
            var w = JSONWriter(capacity: 4096)
            for v in values { w.write(v); w.append("\n") }
            try Data(w.bytes).write(to: URL(fileURLWithPath: path))
        }
        try writeLines(c.input, to: dir + "/input.jsonl")

        var transforms: [JSONValue] = []
        for t in spec.transforms {
            guard let standIn = suite.standIns.first(where: { $0.0 == t.id })?.1 else {
                transforms.append(t.json)
                continue
            }
            switch standIn {
            case .table(let items):
                let path = dir + "/table-\(t.id).jsonl"
                try writeLines(items, to: path)
                let kept = t.values.filter { ["key_field", "table_key", "fields", "on_missing", "defaults"].contains($0.0) }
                transforms.append(.object([("type", .string(t.type)), ("id", .string(t.id)), ("mode", "file"), ("path", .string(path))] + kept))
            case .bundle(let bundle):
                var fields: [(String, JSONValue)] = [("type", "local_model"), ("id", .string(t.id)), ("bundle", .string(bundle))]
                for key in ["threshold", "variant", "input_field", "keep_features", "explain_top"] {
                    if let v = t.values.first(where: { $0.0 == key })?.1, !v.isNull { fields.append((key, v)) }
                }
                transforms.append(.object(fields))
            case .set(let values):
                transforms.append(.object([("type", "fields"), ("id", .string(t.id)), ("set", .object(values))]))
            }
        }
        let sinks: [JSONValue] = spec.sinks.map { s in
            var fields: [(String, JSONValue)] = [("type", "file"), ("id", .string(s.config.id)), ("path", .string(dir + "/sink-\(s.config.id).jsonl"))]
            if let when = s.config.values.first(where: { $0.0 == "when" })?.1, !when.isNull { fields.append(("when", when)) }
            return .object(fields)
        }
        let replaced: JSONValue = .object([
            ("name", .string(spec.name)),
            ("source", .object([("type", "file"), ("id", .string(spec.source.id)), ("path", .string(dir + "/input.jsonl"))])),
            ("transforms", .array(transforms)),
            ("sinks", .array(sinks)),
            ("dead_letter", .object([("type", "file"), ("path", .string(dir + "/dead_letter.jsonl"))])),
            ("checkpoint", .object([("dir", .string(dir + "/checkpoint")), ("interval", "1h")])),
        ])
        var w = JSONWriter()
        w.write(replaced)
        let testSpec: PipelineSpec
        do {
            testSpec = try PipelineSpec.parse(w.bytes, file: "\(suite.specPath) (case \"\(c.name)\")", registry: registry, environment: [:])
        } catch {
            return CaseResult(name: c.name, failures: ["the spec with its stand-ins does not validate: \(error)"])
        }
        do {
            _ = try await PipelineRunner(spec: testSpec, registry: registry, logger: logger, environment: environment).run()
        } catch {
            return CaseResult(name: c.name, failures: ["the pipeline failed: \(error)"])
        }
        var failures: [String] = []
        let outputs = Set(spec.sinks.map(\.config.id) + ["dead_letter"])
        for (sink, expectation) in c.expect {
            guard outputs.contains(sink) else {
                failures.append("\(sink): no such output (outputs: \(outputs.sorted().joined(separator: ", ")))")
                continue
            }
            let got = Self.records(dir + "/" + (sink == "dead_letter" ? "dead_letter.jsonl" : "sink-\(sink).jsonl"))
            switch expectation {
            case .count(let n):
                if got.count != n { failures.append("\(sink): expected \(n) records, got \(got.count)" + Self.sample(got)) }
            case .records(let expected):
                if got.count != expected.count {
                    failures.append("\(sink): expected \(expected.count) records, got \(got.count)" + Self.sample(got))
                }
                for (i, (want, record)) in zip(expected, got).enumerated() {
                    for (field, matcher) in want {
                        if let problem = matcher.check(Self.lookup(record, field)) {
                            failures.append("\(sink)[\(i)].\(field): \(problem)\n      record: \(Self.text(record))")
                        }
                    }
                }
            }
        }
        return CaseResult(name: c.name, failures: failures)
    }

    static func records(_ path: String) -> [JSONValue] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { try? DocumentParser.parseValue(Array($0.utf8)) }
    }

    /// A field, or a dotted path into nested objects (`top_features.0.name` indexes arrays).
    static func lookup(_ record: JSONValue, _ path: String) -> JSONValue? {
        if let direct = record[path] { return direct }
        var current: JSONValue? = record
        for part in path.split(separator: ".") {
            if let i = Int(part), let items = current?.arrayValue { current = i < items.count ? items[i] : nil }
            else { current = current?[String(part)] }
        }
        return current
    }

    static func text(_ v: JSONValue) -> String {
        var w = JSONWriter()
        w.write(v)
        let s = w.string
        return s.count > 400 ? String(s.prefix(400)) + "…" : s
    }

    static func sample(_ got: [JSONValue]) -> String {
        got.prefix(3).map { "\n      got: " + text($0) }.joined()
    }
}
