import Foundation
import PipelineHost
import Testing
@testable import ModelServer

/// Thousands of generated hostile requests over real sockets (issue #9): every body is answered with a 4xx and a
/// JSON error, or with 200 and scores when it is in fact valid, and the server is still up and right afterwards.
///
/// The generator is seeded (`HOSTILE_SEED` overrides the seed; a failure message names the case and its seed),
/// and every case knows whether its body is valid by construction, so the expectation is exact rather than
/// "anything but a crash".
@Suite struct HostileBodyTests {
    typealias SeededRNG = SplitMix64

    enum Expect: Sendable {
        /// 200 with this many scores (nil: a single-object reply).
        case scores(Int?)
        /// A 4xx JSON error; `status` and `kind` pinned when the case determines them.
        case refused(status: Int? = nil, kind: String? = nil)
        /// Broken HTTP framing: NIO may answer 400 without a JSON body or just close; only survival is checked.
        case framing
    }

    struct Case: Sendable {
        var name: String
        var contentType: String? = "application/json"
        var body: [UInt8]
        /// Send with `Transfer-Encoding: chunked` in pieces of these sizes (nil: Content-Length).
        var chunks: [Int]? = nil
        /// Raw bytes after the request head (framing cases), replacing body and chunks.
        var rawTail: [UInt8]? = nil
        var expect: Expect
    }

    /// Small enough that oversize bodies are cheap to send, large enough for 100k levels of nesting (200 KB).
    static let limit = 256 * 1024
    static let seed: UInt64 = ProcessInfo.processInfo.environment["HOSTILE_SEED"].flatMap { UInt64($0) } ?? 0x5EED_F00D

    static let nestingLimit = DocumentParser.maxNestingDepth

    static let fieldNames = [
        "age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code",
        "event_created_at_ts", "transaction_value", "channel_code",
    ]

    static func record(replacing: [String: String] = [:], extra: String = "") -> String {
        InvocationTests.record(extra, replacing: replacing).replacingOccurrences(of: ", ", with: ",").replacingOccurrences(of: ": ", with: ":")
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    // MARK: Generators, one per kind of hostility.

    static func randomBytes(_ rng: inout SeededRNG) -> Case {
        let n = Int.random(in: 1...2048, using: &rng)
        var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // Never a leading space, `{` or `[`: then no random body can be a valid object or `[]`.
        while [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "{"), UInt8(ascii: "[")].contains(b[0]) { b[0] = UInt8.random(in: 0...255, using: &rng) }
        return Case(name: "random bytes (\(n))", body: b, expect: .refused(status: 400))
    }

    static func truncated(_ rng: inout SeededRNG) -> Case {
        let batch = Bool.random(using: &rng)
        let whole = batch ? "[" + Array(repeating: record(), count: 3).joined(separator: ",") + "]" : record()
        let cut = Int.random(in: 0..<whole.utf8.count, using: &rng)
        return Case(name: "truncated \(batch ? "batch" : "object") at \(cut)", body: Array(bytes(whole).prefix(cut)), expect: .refused(status: 400))
    }

    static func deepNesting(_ rng: inout SeededRNG) -> Case {
        let depth = [100_000, 100_000, 50_000, 10_000, 1_000, Int.random(in: 2...5_000, using: &rng)].randomElement(using: &rng)!
        let open = String(repeating: "[", count: depth), close = String(repeating: "]", count: depth)
        // Five bytes a level: capped so the body stays under the size limit (else it is refused as too large).
        let objectDepth = min(depth, 40_000)
        let objects = String(repeating: #"{"a":"#, count: objectDepth) + "1" + String(repeating: "}", count: objectDepth)
        let shapes: [(String, String)] = [
            ("array as a field", record(replacing: ["age": open + close])),
            ("top-level arrays", open + close),
            ("unclosed arrays", open),
            ("objects in objects", objects),
            ("deep extra field", record(extra: #","extra":"# + open + close)),
            ("deep batch element", "[" + record() + "," + open + close + "]"),
        ]
        let (shape, body) = shapes.randomElement(using: &rng)!
        // Only an unused field nested within the parsers' depth limit is valid (the record is level 1).
        let valid = shape == "deep extra field" && depth + 1 <= nestingLimit
        return Case(name: "nesting \(depth) deep: \(shape)", body: bytes(body), expect: valid ? .scores(nil) : .refused(status: 400))
    }

    static func hugeNumber(_ rng: inout SeededRNG) -> Case {
        let field = fieldNames.randomElement(using: &rng)!
        let digits = Int.random(in: 1...400, using: &rng)
        let big = "9" + String((0..<digits).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        // Finite doubles are scored (the trees compare them like any value); past Double's range they are
        // infinite and refused as non-finite.
        let options: [(String, Bool)] = [
            (big, digits < 308), ("-" + big, digits < 308), ("1e999", false), ("-1e400", false), ("1e-400", true),
            ("-0", true), ("9223372036854775808", true), ("-9223372036854775809", true), ("1.7976931348623157e308", true),
            ("0.\(String(repeating: "0", count: digits))1", true),
        ]
        let (value, valid) = options.randomElement(using: &rng)!
        let single = Bool.random(using: &rng)
        let rec = record(replacing: [field: value])
        let body = single ? rec : "[" + record() + "," + rec + "]"
        let name = "huge number \(value.prefix(12))…(\(value.count)) in \(field)\(single ? "" : " of a batch")"
        return Case(name: name, body: bytes(body),
                    expect: valid ? .scores(single ? nil : 2) : .refused(status: 400, kind: "non_finite"))
    }

    static func nonJSONNumber(_ rng: inout SeededRNG) -> Case {
        let field = fieldNames.randomElement(using: &rng)!
        let literal = ["NaN", "-NaN", "Infinity", "-Infinity", "inf", "nan", "+1", "01", "1.", ".5", "0x10", "1e", "--1", "1_000"].randomElement(using: &rng)!
        return Case(name: "literal \(literal) in \(field)", body: bytes(record(replacing: [field: literal])), expect: .refused(status: 400, kind: "malformed_json"))
    }

    static func wrongType(_ rng: inout SeededRNG) -> Case {
        let field = fieldNames.randomElement(using: &rng)!
        let (value, kind) = [
            ("\"35\"", "wrong_type"), ("\"NaN\"", "wrong_type"), ("\"Infinity\"", "wrong_type"), ("true", "wrong_type"),
            ("false", "wrong_type"), ("{}", "wrong_type"), ("[]", "wrong_type"), ("[1]", "wrong_type"),
            ("{\"value\":1}", "wrong_type"), ("null", "null_field"), ("\"\"", "wrong_type"),
        ].randomElement(using: &rng)!
        if Int.random(in: 0..<4, using: &rng) == 0 {
            let top = ["42", "\"record\"", "true", "null", "-1e999", "[1,2,3]", "[null]", "[[]]", "[\"a\"]", "[" + record() + ",7]"].randomElement(using: &rng)!
            return Case(name: "top-level \(top.prefix(20))", body: bytes(top), expect: .refused(status: 400))
        }
        return Case(name: "\(value) in \(field)", body: bytes(record(replacing: [field: value])), expect: .refused(status: 400, kind: kind))
    }

    static func hugeArray(_ rng: inout SeededRNG) -> Case {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0:
            let n = Int.random(in: 100...1_000, using: &rng)
            return Case(name: "batch of \(n) records", body: bytes("[" + Array(repeating: record(), count: n).joined(separator: ",") + "]"), expect: .scores(n))
        case 1:
            let n = Int.random(in: 10_000...100_000, using: &rng)
            return Case(name: "array of \(n) numbers", body: bytes("[" + Array(repeating: "0", count: n).joined(separator: ",") + "]"),
                        expect: .refused(status: 400, kind: "not_an_object"))
        case 2:
            let n = Int.random(in: 10_000...60_000, using: &rng)
            return Case(name: "array of \(n) empty objects", body: bytes("[" + Array(repeating: "{}", count: n).joined(separator: ",") + "]"),
                        expect: .refused(status: 400, kind: "missing_field"))
        case 3:
            let n = Int.random(in: 10_000...100_000, using: &rng)
            let extra = #","extra":["# + Array(repeating: "1", count: n).joined(separator: ",") + "]"
            return Case(name: "record with an extra array of \(n)", body: bytes(record(extra: extra)), expect: .scores(nil))
        default:
            // Many distinct fields: unknown fields are ignored, so this is valid; it must not take quadratic time.
            let n = Int.random(in: 5_000...15_000, using: &rng)  // at most ~200 KB: under the limit
            let extra = (0..<n).map { #","f\#($0)":\#($0)"# }.joined()
            return Case(name: "record with \(n) extra fields", body: bytes(record(extra: extra)), expect: .scores(nil))
        }
    }

    static func invalidUTF8(_ rng: inout SeededRNG) -> Case {
        let bad: [[UInt8]] = [[0xFF], [0xFE, 0xFF], [0xC3, 0x28], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]]
        let b = bad.randomElement(using: &rng)!
        let field = fieldNames.randomElement(using: &rng)!
        let text = bytes(record(replacing: [field: "\"X\""]))
        let i = text.firstIndex(of: UInt8(ascii: "X"))!
        if Bool.random(using: &rng) {
            // In a value where a number belongs: refused whether or not the parser checks UTF-8.
            return Case(name: "bytes \(b) in the value of \(field)", body: Array(text[..<i]) + b + Array(text[(i + 1)...]), expect: .refused(status: 400))
        }
        // In the name of a required field: that field is then missing, or the JSON is malformed.
        var body = bytes(record(replacing: [field: "<absent>"]))
        body.removeLast()
        body += bytes(#","#) + [UInt8(ascii: "\"")] + Array(field.utf8.prefix(2)) + b + Array(field.utf8.dropFirst(2)) + bytes(#"":1}"#)
        return Case(name: "bytes \(b) in the name \(field)", body: body, expect: .refused(status: 400))
    }

    static func contentType(_ rng: inout SeededRNG) -> Case {
        let valid = bytes(record())
        switch Int.random(in: 0..<4, using: &rng) {
        case 0:
            let t = ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                     "application/jsonx", "json", "", "application/", "text/csv/json", "image/png", "application/json-seq",
                     "x-\(UInt32.random(in: 0...UInt32.max, using: &rng))/json"].randomElement(using: &rng)!
            return Case(name: "content type \(t.debugDescription)", contentType: t, body: valid, expect: .refused(status: 415, kind: "unsupported_media_type"))
        case 1:
            // Parameters are ignored (as documented): a UTF-8 JSON body is served whatever charset it claims.
            let t = ["application/json; charset=utf-8", "application/json;charset=UTF-16", "Application/JSON; charset=latin1",
                     "application/vnd.api+json", "application/json; q=0", "application/json;;;"].randomElement(using: &rng)!
            return Case(name: "content type \(t.debugDescription) with a UTF-8 body", contentType: t, body: valid, expect: .scores(nil))
        case 2:
            // What the charset says, really: UTF-16 and UTF-32 bytes are not JSON the server reads.
            let text = record()
            let utf16le: [UInt8] = [0xFF, 0xFE] + text.utf16.flatMap { (u: UInt16) -> [UInt8] in [UInt8(u & 0xFF), UInt8(u >> 8)] }
            let utf16be: [UInt8] = text.utf16.flatMap { (u: UInt16) -> [UInt8] in [UInt8(u >> 8), UInt8(u & 0xFF)] }
            let utf32le: [UInt8] = text.unicodeScalars.flatMap { (s: Unicode.Scalar) -> [UInt8] in (0..<4).map { UInt8((s.value >> (8 * UInt32($0))) & 0xFF) } }
            let encodings: [(String, [UInt8])] = [("utf-16le+bom", utf16le), ("utf-16be", utf16be), ("utf-32le", utf32le)]
            let (name, encoded) = encodings.randomElement(using: &rng)!
            return Case(name: "\(name) body", contentType: "application/json; charset=\(name.prefix(6))", body: encoded, expect: .refused(status: 400))
        default:
            // JSON sent as CSV, CSV sent as JSON.
            if Bool.random(using: &rng) {
                return Case(name: "JSON body labelled text/csv", contentType: "text/csv", body: valid, expect: .refused(status: 400))
            }
            let csv = Array(repeating: "0.5", count: 15).joined(separator: ",")
            return Case(name: "CSV body labelled JSON", body: bytes(csv), expect: .refused(status: 400))
        }
    }

    static func csv(_ rng: inout SeededRNG) -> Case {
        let rows = Int.random(in: 1...50, using: &rng)
        var lines = (0..<rows).map { _ in (0..<15).map { _ in String(Double.random(in: -5...5, using: &rng)) }.joined(separator: ",") }
        guard Bool.random(using: &rng) else {
            return Case(name: "csv: \(rows) valid rows", contentType: "text/csv", body: bytes(lines.joined(separator: "\n")), expect: .scores(rows))
        }
        let row = Int.random(in: 0..<rows, using: &rng)
        let damage = ["", "1,2", "nan," + String(repeating: "0,", count: 13) + "0", String(repeating: "0,", count: 15) + "0",
                      "1e999" + String(repeating: ",0", count: 14), "\u{FF}" + String(repeating: ",0", count: 14), "0x1p3" + String(repeating: ",0", count: 14) + ",0",
                      String(repeating: "9", count: 400) + String(repeating: ",0", count: 14)].randomElement(using: &rng)!
        // An emptied line is skipped, which would make the body valid: keep at least one bad value then.
        lines[row] = damage.isEmpty ? "abc" : damage
        return Case(name: "csv: row \(row) of \(rows) damaged (\(lines[row].prefix(12)))", contentType: "text/csv", body: bytes(lines.joined(separator: "\r\n")),
                    expect: .refused(status: 400))
    }

    static func oversize(_ rng: inout SeededRNG) -> Case {
        let n = limit + Int.random(in: 1...(3 * limit), using: &rng)
        // A valid JSON array of records, refused for its size alone.
        let one = record()
        let body = bytes("[" + Array(repeating: one, count: n / (one.utf8.count + 1) + 1).joined(separator: ",") + "]")
        let chunked = Bool.random(using: &rng)
        return Case(name: "\(body.count) bytes\(chunked ? ", chunked" : "")", body: body,
                    chunks: chunked ? [Int.random(in: 1_000...100_000, using: &rng)] : nil, expect: .refused(status: 413, kind: "body_too_large"))
    }

    static func chunked(_ rng: inout SeededRNG) -> Case {
        var inner = truncated(&rng)
        if Bool.random(using: &rng) { inner = Case(name: "valid record", body: bytes(record()), expect: .scores(nil)) }
        if inner.body.isEmpty { inner = Case(name: "valid batch", body: bytes("[" + record() + "]"), expect: .scores(1)) }
        let sizes = (0..<8).map { _ in Int.random(in: 1...64, using: &rng) }
        inner.name = "chunked (\(sizes.prefix(3))…) " + inner.name
        inner.chunks = sizes
        return inner
    }

    static func framing(_ rng: inout SeededRNG) -> Case {
        let tails: [(String, [UInt8])] = [
            ("chunk size not hex", bytes("zz\r\n{}\r\n0\r\n\r\n")),
            ("chunk longer than announced", bytes("2\r\n{\"age\":1}\r\n0\r\n\r\n")),
            ("chunk size overflows", bytes("ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n")),
            ("negative chunk size", bytes("-5\r\n{}\r\n0\r\n\r\n")),
            ("missing final chunk", bytes("2\r\n{}\r\n")),
        ]
        let (name, tail) = tails.randomElement(using: &rng)!
        return Case(name: "framing: \(name)", body: [], rawTail: tail, expect: .framing)
    }

    /// The mix: weights add to 100; cheap kinds dominate, so thousands of cases stay within seconds.
    static func generate(count: Int, seed: UInt64) -> [Case] {
        var rng = SeededRNG(seed: seed)
        let kinds: [(Int, (inout SeededRNG) -> Case)] = [
            (22, randomBytes), (14, truncated), (3, deepNesting), (10, hugeNumber), (8, nonJSONNumber), (12, wrongType),
            (2, hugeArray), (7, invalidUTF8), (8, contentType), (8, csv), (1, oversize), (4, chunked), (1, framing),
        ]
        var cases: [Case] = []
        // Every kind at least once, whatever the seed; then the weighted mix.
        for (_, make) in kinds { cases.append(make(&rng)) }
        while cases.count < count {
            var pick = Int.random(in: 0..<100, using: &rng)
            for (weight, make) in kinds {
                if pick < weight { cases.append(make(&rng)); break }
                pick -= weight
            }
        }
        // The heaviest bodies once each at the sizes the issue names.
        var fixed = SeededRNG(seed: seed ^ 1)
        cases.append(Case(name: "nesting 100000 deep: array as a field", body: bytes(record(replacing: ["age": String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)])), expect: .refused(status: 400)))
        cases.append(Case(name: "nesting 100000 deep: top-level arrays", body: bytes(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)), expect: .refused(status: 400)))
        cases.append(oversize(&fixed))
        return cases
    }

    static func request(_ c: Case, port: Int) -> [UInt8] {
        var head = "POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if let t = c.contentType { head += "Content-Type: \(t)\r\n" }
        if c.rawTail != nil || c.chunks != nil {
            head += "Transfer-Encoding: chunked\r\n\r\n"
        } else {
            head += "Content-Length: \(c.body.count)\r\n\r\n"
        }
        var out = bytes(head)
        if let tail = c.rawTail { return out + tail }
        guard let sizes = c.chunks else { return out + c.body }
        var i = 0, k = 0
        while i < c.body.count {
            let n = min(sizes[k % sizes.count], c.body.count - i)
            out += bytes(String(n, radix: 16) + "\r\n") + c.body[i..<i + n] + bytes("\r\n")
            i += n
            k += 1
        }
        return out + bytes("0\r\n\r\n")
    }

    /// What is wrong with a reply, or nil when it is what the case expects.
    static func problem(_ c: Case, _ reply: HTTPReply) -> String? {
        switch c.expect {
        case .framing:
            return (400..<500).contains(reply.status) ? nil : "status \(reply.status) for broken framing"
        case .scores(let n):
            guard reply.status == 200 else { return "status \(reply.status) for a valid body: \(reply.text.prefix(300))" }
            let s = scores(reply)
            if let n {
                // A CSV request is answered in CSV (one score a line) unless Accept asks otherwise.
                let isJSON = reply.header("content-type") == "application/json"
                guard s.count == n, !isJSON || reply.jsonArray?.count == n else { return "expected \(n) scores, got \(s.count): \(reply.text.prefix(200))" }
            } else {
                guard reply.json?["model_version"] as? String == "v1", s.count == 1 else { return "not a score reply: \(reply.text.prefix(300))" }
            }
            return s.allSatisfy { $0.isFinite && (0...1).contains($0) } ? nil : "score out of [0, 1]: \(s.prefix(5))"
        case .refused(let status, let kind):
            guard (400..<500).contains(reply.status) else { return "status \(reply.status), expected a 4xx: \(reply.text.prefix(300))" }
            if let status, reply.status != status { return "status \(reply.status), expected \(status): \(reply.text.prefix(300))" }
            guard reply.header("content-type") == "application/json", let json = reply.json else {
                return "not a JSON error body (\(reply.header("content-type") ?? "no content type")): \(reply.text.prefix(300))"
            }
            guard let message = json["error"] as? String, !message.isEmpty, let k = json["kind"] as? String else {
                return "JSON error without error and kind: \(reply.text.prefix(300))"
            }
            if let kind, k != kind { return "kind \(k), expected \(kind): \(reply.text.prefix(300))" }
            return nil
        }
    }

    @Test func hostileBodiesGetJSONErrorsAndTheServerStaysUp() async throws {
        let count = ProcessInfo.processInfo.environment["HOSTILE_COUNT"].flatMap { Int($0) } ?? 3_000
        let cases = Self.generate(count: count, seed: Self.seed)
        try await withServer(maxBodyBytes: Self.limit) { port, _ in
            let started = ContinuousClock.now
            // A few connections at a time, as concurrent clients would; each case on its own connection.
            let workers = 4
            let results = try await withThrowingTaskGroup(of: ([String], [(Duration, String)]).self) { group in
                for w in 0..<workers {
                    group.addTask {
                        try await RawHTTP.onThread {
                            var failures: [String] = []
                            var timings: [(Duration, String)] = []
                            for i in stride(from: w, to: cases.count, by: workers) {
                                let c = cases[i]
                                let bytes = Self.request(c, port: port)
                                let t0 = ContinuousClock.now
                                defer { timings.append((ContinuousClock.now - t0, "#\(i) \(c.name)")) }
                                do {
                                    let reply = try RawHTTP.exchange(port: port, bytes, halfClose: c.rawTail != nil)
                                    if let p = Self.problem(c, reply) { failures.append("#\(i) \(c.name): \(p)") }
                                } catch {
                                    // A closed connection is an answer only to broken framing.
                                    if case .framing = c.expect { continue }
                                    failures.append("#\(i) \(c.name): \(error)")
                                }
                            }
                            return (failures, timings)
                        }
                    }
                }
                return try await group.reduce(into: ([String](), [(Duration, String)]())) { $0.0 += $1.0; $0.1 += $1.1 }
            }
            let (failures, timings) = results
            let elapsed = ContinuousClock.now - started
            print("hostile bodies: \(cases.count) requests in \(elapsed), seed \(Self.seed), \(failures.count) failures")
            // The slowest cases, so a body that takes quadratic time shows up here before it becomes a timeout.
            for (d, name) in timings.sorted(by: { $0.0 > $1.0 }).prefix(5) { print("  slowest: \(d) \(name)") }
            #expect(failures.isEmpty, "seed \(Self.seed): \(failures.count) of \(cases.count) cases failed:\n\(failures.prefix(20).joined(separator: "\n"))")

            // Still up, still ready, still scoring exactly as before.
            let ping = try await RawHTTP.get(port: port, "/ping")
            #expect(ping.status == 200)
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.text == #"{"fraud_score":0.263380229473114,"model_version":"v1"}"#)
        }
    }

    /// The generator itself: reproducible, and covering every kind with both outcomes.
    @Test func generatorIsReproducibleAndMixed() {
        let a = Self.generate(count: 500, seed: 42), b = Self.generate(count: 500, seed: 42)
        #expect(a.map(\.body) == b.map(\.body))
        #expect(a.contains { if case .scores = $0.expect { return true } else { return false } })
        #expect(a.contains { if case .refused = $0.expect { return true } else { return false } })
        #expect(a.contains { $0.chunks != nil })
        #expect(a.contains { $0.body.count >= 200_000 })
    }
}
