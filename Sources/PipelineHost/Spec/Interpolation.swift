/// `${VAR}`, `${VAR:-default}` and `${VAR:?message}` in spec strings; `$$` is a literal `$`.
///
/// Runs on the parsed tree, before validation, so a missing variable is reported at the line:column of
/// the string that names it, together with every other error of the spec.
public enum Interpolation {
    public static func apply(
        to node: SpecNode, path: String, env: [String: String], file: String, into errors: inout [SpecDiagnostic]
    ) -> SpecNode {
        switch node.kind {
        case .string(let s, _) where s.contains("$"):
            switch expand(s, env: env) {
            case .success(let out):
                var n = SpecNode(.string(out, interpolated: out != s), at: node.location)
                if out != s { n.template = s }
                return n
            case .failure(let message):
                errors.append(.init(file: file, location: node.location, path: path, message: message))
                return node
            }
        case .array(let items):
            return SpecNode(.array(items.enumerated().map {
                apply(to: $1, path: "\(path)[\($0)]", env: env, file: file, into: &errors)
            }), at: node.location)
        case .object(let members):
            return SpecNode(.object(members.map { m in
                var m = m
                m.value = apply(to: m.value, path: SpecPath.child(path, m.key), env: env, file: file, into: &errors)
                return m
            }), at: node.location)
        default:
            return node
        }
    }

    public enum Outcome: Equatable { case success(String), failure(String) }

    public static func expand(_ s: String, env: [String: String]) -> Outcome {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            guard c == "$" else { out.append(c); i = s.index(after: i); continue }
            let next = s.index(after: i)
            if next < s.endIndex && s[next] == "$" { out.append("$"); i = s.index(after: next); continue }
            guard next < s.endIndex && s[next] == "{" else { out.append("$"); i = next; continue }
            guard let close = s[next...].firstIndex(of: "}") else {
                return .failure("unterminated \"${\" in \"\(s)\"")
            }
            let body = String(s[s.index(after: next)..<close])
            var name = body
            var fallback: String?
            var requiredMessage: String?
            if let r = body.range(of: ":-") {
                name = String(body[..<r.lowerBound]); fallback = String(body[r.upperBound...])
            } else if let r = body.range(of: ":?") {
                name = String(body[..<r.lowerBound]); requiredMessage = String(body[r.upperBound...])
            }
            guard isValidName(name) else {
                return .failure("\"${\(body)}\" is not a valid variable reference (use ${NAME}, ${NAME:-default} or ${NAME:?message})")
            }
            if let value = env[name], !value.isEmpty {
                out += value
            } else if let fallback {
                out += fallback
            } else if let requiredMessage {
                let detail = requiredMessage.isEmpty ? "" : ": \(requiredMessage)"
                return .failure("environment variable \(name) is not set\(detail)")
            } else {
                return .failure("environment variable \(name) is not set (give a default with ${\(name):-value})")
            }
            i = s.index(after: close)
        }
        return .success(out)
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
}

/// JSON-path text for diagnostics: `$.sinks[1].batch.max_events`.
public enum SpecPath {
    public static func child(_ path: String, _ key: String) -> String {
        let simple = !key.isEmpty && key.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        return simple ? "\(path).\(key)" : "\(path)[\"\(key)\"]"
    }
}
