import Foundation

/// A small predicate on record fields, used by a sink's `when` to route records.
///
/// Forms: `{"field": F, "equals": V}`, `not_equals`, `in: [V…]`, `exists: true|false`,
/// `gt`/`gte`/`lt`/`lte: number`, `within: duration` (a time in seconds since the epoch no older than that, by
/// the wall clock), and `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}`.
public indirect enum Condition: Sendable, Equatable {
    case equals(String, JSONValue)
    case notEquals(String, JSONValue)
    case isIn(String, [JSONValue])
    case exists(String, Bool)
    case compare(String, Comparison, Double)
    /// The field is an event time (seconds since the epoch) at most this many seconds before now: an alert
    /// sink's guard against re-sending old alerts when a new deployment replays the stream.
    case within(String, Double)
    case all([Condition])
    case any([Condition])
    case not(Condition)

    public enum Comparison: String, Sendable, CaseIterable { case gt, gte, lt, lte }

    public func matches(_ record: Record, now: Double = Date().timeIntervalSince1970) -> Bool {
        switch self {
        case let .equals(f, v): return record[f].map { $0 == v } ?? false
        case let .notEquals(f, v): return record[f].map { $0 != v } ?? true
        case let .isIn(f, vs): return record[f].map { vs.contains($0) } ?? false
        case let .exists(f, want): return (record[f].map { !$0.isNull } ?? false) == want
        case let .compare(f, op, x):
            guard let v = record[f]?.doubleValue else { return false }
            switch op {
            case .gt: return v > x
            case .gte: return v >= x
            case .lt: return v < x
            case .lte: return v <= x
            }
        case let .within(f, age):
            guard let t = record[f]?.doubleValue, t.isFinite else { return false }
            return t >= now - age
        case .all(let cs): return cs.allSatisfy { $0.matches(record, now: now) }
        case .any(let cs): return cs.contains { $0.matches(record, now: now) }
        case .not(let c): return !c.matches(record, now: now)
        }
    }

    static let operators = ["equals", "not_equals", "in", "exists", "within"] + Comparison.allCases.map(\.rawValue)
    static let combinators = ["all", "any", "not"]

    /// Parses and checks a condition node, reporting every problem with its location.
    static func parse(_ node: SpecNode, path: String, file: String, into errors: inout [SpecDiagnostic]) -> Condition? {
        func fail(_ at: SourceLocation, _ p: String, _ message: String) -> Condition? {
            errors.append(.init(file: file, location: at, path: p, message: message))
            return nil
        }
        guard let members = node.members else {
            return fail(node.location, path, "a condition must be an object, got \(node.typeName)")
        }
        if members.count == 1, let m = members.first, combinators.contains(m.key) {
            let p = SpecPath.child(path, m.key)
            if m.key == "not" {
                return parse(m.value, path: p, file: file, into: &errors).map { .not($0) }
            }
            guard let items = m.value.elements, !items.isEmpty else {
                return fail(m.value.location, p, "\"\(m.key)\" takes a non-empty array of conditions")
            }
            let parsed = items.enumerated().map { parse($1, path: "\(p)[\($0)]", file: file, into: &errors) }
            let cs = parsed.compactMap { $0 }
            guard cs.count == parsed.count else { return nil }
            return m.key == "all" ? .all(cs) : .any(cs)
        }
        guard let fieldNode = node["field"] else {
            return fail(node.location, path, "a condition needs \"field\" and one of \(operators.joined(separator: ", ")), or one of \(combinators.joined(separator: ", "))")
        }
        guard let field = fieldNode.stringValue, !field.isEmpty else {
            return fail(fieldNode.location, SpecPath.child(path, "field"), "\"field\" must be a non-empty string")
        }
        let ops = members.filter { $0.key != "field" }
        guard ops.count == 1, let op = ops.first else {
            for m in ops where !operators.contains(m.key) {
                _ = fail(m.keyLocation, SpecPath.child(path, m.key), "unknown condition operator \"\(m.key)\"" + Suggestions.didYouMean(m.key, operators + combinators))
            }
            if ops.count != 1 || ops.contains(where: { !operators.contains($0.key) }) {
                return fail(node.location, path, "a condition on a field takes exactly one operator: \(operators.joined(separator: ", "))")
            }
            return nil
        }
        let p = SpecPath.child(path, op.key)
        switch op.key {
        case "equals": return .equals(field, op.value.json)
        case "not_equals": return .notEquals(field, op.value.json)
        case "in":
            guard let items = op.value.elements else { return fail(op.value.location, p, "\"in\" takes an array of values") }
            return .isIn(field, items.map(\.json))
        case "exists":
            guard case .bool(let b) = op.value.kind else { return fail(op.value.location, p, "\"exists\" takes true or false") }
            return .exists(field, b)
        case "within":
            guard let age = Units.seconds(op.value.json), age > 0 else {
                return fail(op.value.location, p, "\"within\" takes a duration such as \"15m\" or \"1h\", got \(op.value.typeName)")
            }
            return .within(field, age)
        default:
            guard let cmp = Comparison(rawValue: op.key) else {
                return fail(op.keyLocation, p, "unknown condition operator \"\(op.key)\"" + Suggestions.didYouMean(op.key, operators + combinators))
            }
            guard let x = op.value.json.doubleValue else {
                return fail(op.value.location, p, "\"\(op.key)\" takes a number, got \(op.value.typeName)")
            }
            return .compare(field, cmp, x)
        }
    }
}
