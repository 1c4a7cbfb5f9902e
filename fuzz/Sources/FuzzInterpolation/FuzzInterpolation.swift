import FuzzSupport
import PipelineHost

// Bytes → `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$` expansion of one spec string.
// Properties: no trap on any text; a string without `$` is returned as it is; a failure says why; and, checked
// against a small independent model of the rules, the result is what the README promises.

let environment = ["A": "x", "B_2": "$notexpanded", "EMPTY": "", "LONG": String(repeating: "y", count: 100)]

/// The rules written out plainly over the string's characters (as Swift's String compares them), as the
/// reference the real implementation must match.
private func reference(_ s: String) -> Interpolation.Outcome {
    let c = Array(s)
    var out = ""
    var i = 0
    func isName(_ n: String) -> Bool {
        guard let f = n.unicodeScalars.first, f == "_" || (f.isASCII && f.properties.isAlphabetic) else { return false }
        return n.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
    }
    func find(_ body: [Character], _ a: Character, _ b: Character) -> Int? {
        body.indices.dropLast().first { body[$0] == a && body[$0 + 1] == b }
    }
    while i < c.count {
        guard c[i] == "$" else { out.append(c[i]); i += 1; continue }
        if i + 1 < c.count && c[i + 1] == "$" { out.append("$"); i += 2; continue }
        guard i + 1 < c.count && c[i + 1] == "{" else { out.append("$"); i += 1; continue }
        guard let close = c[(i + 2)...].firstIndex(of: "}") else { return .failure("unterminated") }
        let body = Array(c[(i + 2)..<close])
        var name = String(body)
        var fallback: String?
        if let k = find(body, ":", "-") {
            name = String(body[..<k]); fallback = String(body[(k + 2)...])
        } else if let k = find(body, ":", "?") {
            name = String(body[..<k])
        }
        guard isName(name) else { return .failure("invalid reference") }
        if let v = environment[name], !v.isEmpty {
            out += v
        } else if let fallback {
            out += fallback
        } else {
            return .failure("not set")
        }
        i = close + 1
    }
    return .success(out)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInterpolation(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: inputBytes(data, size), as: UTF8.self)
    let result = Interpolation.expand(text, env: environment)
    if !text.contains("$") { check(result == .success(text), "text without $ changed: \(text.debugDescription)") }
    switch (result, reference(text)) {
    case let (.success(a), .success(b)):
        check(a == b, "expanded \(text.debugDescription) to \(a.debugDescription), expected \(b.debugDescription)")
    case let (.failure(m), .failure):
        check(!m.isEmpty, "empty failure message for \(text.debugDescription)")
    case let (a, b):
        check(false, "\(text.debugDescription): got \(a), the rules say \(b)")
    }
    return 0
}
