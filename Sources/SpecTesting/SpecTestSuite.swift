import Foundation
import PipelineHost

/// A file of spec tests (`pipeline-host test FILE`): the spec under test, its environment, stand-ins for the
/// components that reach outside (a DynamoDB table given inline, a SageMaker endpoint replaced by a local bundle,
/// any transform replaced by constants), and cases: input records and what each sink and the dead-letter output
/// must hold.
///
/// ```json
/// {"spec": "local.json", "env": {"BUNDLE": "models/v1"},
///  "stand_ins": {"demographics": {"table": [{"user_id": "u1", "age": 30}]}},
///  "cases": [{"name": "...", "input": [{...}],
///             "expect": {"alerts": [{"transaction_id": "t1", "fraud_score": {"approximately": 0.9, "tolerance": 0.05}}],
///                        "scored": {"count": 2}, "dead_letter": []}}]}
/// ```
public struct SpecTestSuite: Sendable {
    public enum StandIn: Sendable {
        /// dynamo_broadcast: these items, in file mode.
        case table([JSONValue])
        /// A scorer (sagemaker): local_model on this bundle, with the scorer's threshold and variant.
        case bundle(String)
        /// Any transform: a `fields` transform that sets these fields.
        case set([(String, JSONValue)])
    }

    public struct Case: Sendable {
        public var name: String
        public var input: [JSONValue]
        /// Per sink id (and "dead_letter"): the records expected, in order, or only their count.
        public var expect: [(String, Expectation)]
    }

    public enum Expectation: Sendable {
        case records([[(String, Matcher)]])
        case count(Int)
    }

    public enum Matcher: Sendable {
        case equals(JSONValue)
        case approximately(Double, tolerance: Double)
        case exists
        case absent
        case matches(String)
    }

    public var file: String
    public var specPath: String
    public var environment: [String: String]
    public var standIns: [(String, StandIn)]
    public var cases: [Case]

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(_ path: String) throws -> SpecTestSuite {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(description: "\(path): cannot read the file") }
        let root: JSONValue
        do { root = try DocumentParser.parseValue(Array(data)) } catch {
            throw FormatError(description: "\(path):\(error)")
        }
        func fail(_ at: String, _ message: String) -> FormatError { FormatError(description: "\(path): \(at): \(message)") }
        guard let spec = root["spec"]?.stringValue else { throw fail("$.spec", "the spec under test, relative to this file") }
        let dir = (path as NSString).deletingLastPathComponent
        let specPath = spec.hasPrefix("/") ? spec : (dir.isEmpty ? spec : dir + "/" + spec)
        var env: [String: String] = [:]
        for (k, v) in root["env"]?.objectValue ?? [] {
            guard let s = v.stringValue else { throw fail("$.env.\(k)", "expected a string") }
            env[k] = s
        }
        var standIns: [(String, StandIn)] = []
        for (id, v) in root["stand_ins"]?.objectValue ?? [] {
            if let table = v["table"]?.arrayValue { standIns.append((id, .table(table))) }
            else if let bundle = v["bundle"]?.stringValue { standIns.append((id, .bundle(bundle))) }
            else if let set = v["set"]?.objectValue { standIns.append((id, .set(set))) }
            else { throw fail("$.stand_ins.\(id)", "expected {\"table\": [...]}, {\"bundle\": PATH} or {\"set\": {...}}") }
        }
        guard let items = root["cases"]?.arrayValue, !items.isEmpty else { throw fail("$.cases", "expected a non-empty array of cases") }
        var cases: [Case] = []
        for (i, c) in items.enumerated() {
            let at = "$.cases[\(i)]"
            guard let name = c["name"]?.stringValue else { throw fail(at + ".name", "every case needs a name") }
            guard let input = c["input"]?.arrayValue else { throw fail(at + ".input", "expected an array of records") }
            var expect: [(String, Expectation)] = []
            for (sink, e) in c["expect"]?.objectValue ?? [] {
                if let n = e["count"]?.intValue { expect.append((sink, .count(Int(n)))); continue }
                guard let records = e.arrayValue else { throw fail(at + ".expect.\(sink)", "expected an array of records or {\"count\": N}") }
                var parsed: [[(String, Matcher)]] = []
                for (j, r) in records.enumerated() {
                    guard let fields = r.objectValue else { throw fail(at + ".expect.\(sink)[\(j)]", "expected an object of field matchers") }
                    parsed.append(try fields.map { name, m in (name, try matcher(m, at: at + ".expect.\(sink)[\(j)].\(name)", fail)) })
                }
                expect.append((sink, .records(parsed)))
            }
            cases.append(Case(name: name, input: input, expect: expect))
        }
        return SpecTestSuite(file: path, specPath: specPath, environment: env, standIns: standIns, cases: cases)
    }

    static func matcher(_ m: JSONValue, at: String, _ fail: (String, String) -> FormatError) throws -> Matcher {
        guard let pairs = m.objectValue, pairs.count >= 1,
              let key = pairs.first?.0, ["equals", "approximately", "exists", "absent", "matches"].contains(key) else {
            return .equals(m)  // a plain value means equals
        }
        switch key {
        case "equals": return .equals(m["equals"]!)
        case "approximately":
            guard let x = m["approximately"]?.doubleValue else { throw fail(at, "approximately needs a number") }
            return .approximately(x, tolerance: m["tolerance"]?.doubleValue ?? 1e-9)
        case "exists": return .exists
        case "absent": return .absent
        default:
            guard let pattern = m["matches"]?.stringValue, (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw fail(at, "matches needs a regular expression")
            }
            return .matches(pattern)
        }
    }
}

extension SpecTestSuite.Matcher {
    /// nil when `value` matches, else what was wrong.
    func check(_ value: JSONValue?) -> String? {
        switch self {
        case .equals(let want):
            return value == want || (value?.doubleValue != nil && value?.doubleValue == want.doubleValue) ? nil
                : "expected \(want), got \(value.map { "\($0)" } ?? "no field")"
        case .approximately(let x, let tolerance):
            guard let v = value?.doubleValue else { return "expected a number near \(x), got \(value.map { "\($0)" } ?? "no field")" }
            return abs(v - x) <= tolerance ? nil : "expected \(x) ± \(tolerance), got \(v)"
        case .exists:
            return value == nil ? "expected the field, it is absent" : nil
        case .absent:
            return value.map { "expected no field, got \($0)" }
        case .matches(let pattern):
            guard let s = value?.stringValue else { return "expected a string matching /\(pattern)/, got \(value.map { "\($0)" } ?? "no field")" }
            let re = try! NSRegularExpression(pattern: pattern)
            return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil ? nil : "expected a match of /\(pattern)/, got \"\(s)\""
        }
    }
}
