/// The lint of the sinks' `when` conditions against what the transforms write: a condition that can never
/// match as meant (an alerts sink that compares is_alert with the string "true", tests a field a `fields` step
/// dropped, or names a scorer's field with a typo) would turn the sink off silently, so `validate` reports it.
/// A field no transform writes is left alone (it may come from the source) unless it is one edit from a field a
/// scorer writes (`is_alrt`). Only tests that must find the field to hold are checked: `exists: false`,
/// `not_equals` and anything under `not` hold on a record without it.
struct SinkConditionCheck {
    let check: DataFlowCheck

    /// What the transforms leave in a field, in order: the last one to write it (and what it holds, when known),
    /// or the one that drops it.
    enum Fate {
        case written(by: ComponentConfig, kind: FieldValueKind?)
        case dropped(by: ComponentConfig)
    }

    func problems(_ transforms: [ComponentConfig], _ sinks: [PipelineSpec.SinkSpec]) -> [(path: String, message: String)] {
        guard sinks.contains(where: { $0.when != nil }) else { return [] }
        var fate: [String: Fate] = [:]
        for t in transforms {
            guard let flow = check.flow(of: t) else { continue }
            for w in flow.writes { fate[w] = .written(by: t, kind: flow.kinds[w]) }
            for d in flow.drops { fate[d] = .dropped(by: t) }
        }
        // Near misses only of the scorers' fields, one edit away: a source field may be named anything.
        let scored = ScoreFields.all.filter { fate[$0] != nil }
        var out: [(String, String)] = []
        for sink in sinks {
            guard let when = sink.when else { continue }
            let path = sink.config.path + ".when", name = "sink \"\(sink.config.id)\""
            for test in Self.tests(when) where test.mustFind {
                switch fate[test.field] {
                case .dropped(let t)?:
                    out.append((path, "\(name) tests \"\(test.field)\", which the transform \"\(t.id)\" (\(t.path)) drops: no record reaches the sink with it"))
                case .written(let t, let kind?)?:
                    let kinds = test.values.map(FieldValueKind.init(of:))
                    // Wrong only when no value can match: `in: [true, "true"]` still matches true.
                    if !kinds.isEmpty, !kinds.contains(kind), let wrong = test.values.first(where: { FieldValueKind(of: $0) != nil }) {
                        out.append((path, "\(name) compares \"\(test.field)\" with \(Self.describe(wrong)), but the transform \"\(t.id)\" writes it as "
                                    + "\(Self.article(kind)): the condition never holds as meant" + Self.hint(wrong, kind)))
                    } else if test.numeric && kind != .number {
                        out.append((path, "\(name) compares \"\(test.field)\" as a number, but the transform \"\(t.id)\" writes it as \(Self.article(kind))"))
                    }
                case .written(_, nil)?:
                    break
                case nil:
                    if let near = scored.first(where: { Suggestions.distance(test.field.lowercased(), $0) == 1 }), case .written(let t, _)? = fate[near] {
                        out.append((path, "\(name) tests \"\(test.field)\", which no transform writes; did you mean \"\(near)\" (written by \"\(t.id)\")?"))
                    }
                }
            }
        }
        return out
    }

    /// Each field a condition tests, with the values it compares it with, whether it compares as a number, and
    /// whether the test holds only on a record that has the field (`mustFind`).
    static func tests(_ c: Condition, negated: Bool = false) -> [(field: String, values: [JSONValue], numeric: Bool, mustFind: Bool)] {
        switch c {
        case let .equals(f, v): return [(f, [v], false, !negated)]
        case let .notEquals(f, v): return [(f, [v], false, negated)]
        case let .isIn(f, vs): return [(f, vs, false, !negated)]
        case let .exists(f, want): return [(f, [], false, want != negated)]
        case let .compare(f, _, _), let .within(f, _): return [(f, [], true, !negated)]
        case let .all(cs), let .any(cs): return cs.flatMap { tests($0, negated: negated) }
        case let .not(c): return tests(c, negated: !negated)
        }
    }

    static func article(_ kind: FieldValueKind) -> String {
        switch kind {
        case .boolean: "a boolean (true or false)"
        case .number: "a number"
        case .string: "a string"
        }
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): "the string \"\(s)\""
        case .bool(let b): "the boolean \(b)"
        default: "the number \(v)"
        }
    }

    /// The value as it should have been written, where that is plain ("true" for true).
    static func hint(_ v: JSONValue, _ kind: FieldValueKind) -> String {
        guard case .string(let s) = v else { return "" }
        switch kind {
        case .boolean where s == "true" || s == "false": return "; write \(s) without quotes"
        case .number where Double(s) != nil: return "; write \(s) without quotes"
        default: return ""
        }
    }
}
