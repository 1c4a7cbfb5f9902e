import Foundation
@testable import PipelineHost
import Testing

@Suite struct RecordParserTests {
    let parser = RecordParser()

    func parse(_ s: String) throws(RecordParser.ParseError) -> [(String, JSONValue)]? {
        try parser.parse(Array(s.utf8))
    }

    func error(_ s: String) -> String? {
        do { _ = try parse(s); return nil } catch { return error.message }
    }

    @Test func parsesTypedFieldsInOrder() throws {
        let f = try #require(try parse(#"{"id": "t1", "n": 42, "x": 149.99, "neg": -7, "big": 12345678901234567890, "ok": true, "none": null, "tags": ["a", 1], "o": {"k": [ {"z": 0.5e1} ]}}"#))
        let r = Record(fields: f)
        #expect(f.map(\.0) == ["id", "n", "x", "neg", "big", "ok", "none", "tags", "o"])
        #expect(r["id"] == .string("t1"))
        #expect(r["n"] == .int(42))
        #expect(r["x"] == .double(149.99))
        #expect(r["neg"] == .int(-7))
        #expect(r["big"] == .double(12345678901234567168))  // the Double nearest 12345678901234567890
        #expect(r["ok"] == .bool(true))
        #expect(r["none"] == .null)
        #expect(r["tags"] == .array([.string("a"), .int(1)]))
        #expect(r["o"] == .object([("k", .array([.object([("z", .double(5))])]))]))
    }

    @Test func rejectsWhatIsNotOneObject() {
        #expect(error(#"{"a": 1"#) == "truncated JSON: the line ends inside a value")
        #expect(error("not json")?.hasPrefix("malformed JSON") == true)
        #expect(error("[1, 2]") == "a record must be a JSON object, got array")
        #expect(error("42") == "a record must be a JSON object, got integer")
        #expect(error(#"{"a": 1} {"b": 2}"#) == "more than one JSON value on the line")
        #expect(error(#"{"a": "\u00"}"#)?.hasPrefix("malformed JSON") == true)
    }

    /// A record holds each name once: a repeated top-level key is an error for that line, whatever the layouts
    /// of the lines before it (the parser skips the check where the layout is one it has seen distinct).
    @Test func aRepeatedKeyIsAnErrorOnAnyLayout() throws {
        let lines: [(String, [String]?)] = [
            (#"{"a": 1, "b": 2, "c": 3}"#, ["a", "b", "c"]),
            (#"{"a": 1, "b": 2, "c": 3}"#, ["a", "b", "c"]),
            (#"{"a": 1, "b": 2, "a": 3}"#, nil),  // the layout matches up to the repeat
            (#"{"a": 1, "b": 2, "c": 3, "b": 4}"#, nil),  // past the known layout
            (#"{"a": 1, "b": 2, "c": 3}"#, ["a", "b", "c"]),
            (#"{"b": 1, "a": 2}"#, ["b", "a"]),
            (#"{"b": 1, "a": 2, "c": 0, "a": 5}"#, nil),  // after a change of layout
            (#"{"a": 1, "b": 2}"#, ["a", "b"]),
            (#"{"a": 1}"#, ["a"]),
            (#"{"a": 1, "b": 2, "a": {"a": 1, "a": 2}}"#, nil),
            (#"{"x": {"a": 1, "a": 2}, "a": 1}"#, ["x", "a"]),  // inside a nested object: not a field of the record
            (#"{"a": 1, "b": 2, "c": 3}"#, ["a", "b", "c"]),
            (#"{"a": 1, "b": 2, "c": 3, "c": 3}"#, nil),
        ]
        for (line, names) in lines {
            if let names {
                #expect(try parse(line)?.map(\.0) == names, "\(line)")
            } else {
                #expect(error(line)?.hasPrefix("duplicate key") == true, "\(line): \(String(describing: error(line)))")
            }
        }
        #expect(error(#"{"id": 1, "user_id": "u", "id": 2}"#) == #"duplicate key "id" in the record"#)
    }

    /// A key bound once reads what a lookup by name reads, on every layout, and writes through it the same way.
    @Test func aFieldKeyReadsWhatTheNameReads() throws {
        let b = FieldKey("b")
        for line in [#"{"a": 1, "b": 2}"#, #"{"b": 3, "a": 1}"#, #"{"c": 1}"#, #"{"a": 1, "c": 2, "b": 4}"#, #"{"a": 1, "b": 2}"#, #"{}"#] {
            var r = Record(fields: try #require(try parse(line)))
            #expect(r[b] == r["b"], "\(line)")
            var byName = r
            r[b] = .int(9)
            byName["b"] = .int(9)
            #expect(r.fields.map(\.0) == byName.fields.map(\.0) && r[b] == .int(9) && r["b"] == .int(9), "\(line)")
            r[b] = nil
            byName["b"] = nil
            #expect(r.fields.map(\.0) == byName.fields.map(\.0) && r[b] == nil, "\(line)")
        }
    }

    @Test func recoversAfterErrorsAndSkipsBlankLines() throws {
        #expect(error(#"{"a": "#) != nil)
        #expect(try parse("   ") == nil)
        let f = try #require(try parse(#"{"a": 2}"#))
        #expect(Record(fields: f)["a"] == .int(2))
        let g = try #require(try parse(#"{"b": "é\n"}"#))
        #expect(Record(fields: g)["b"] == .string("é\n"))
    }

    /// Doubles are written in their shortest round-trip form, byte for byte what `description` gives, through the
    /// stack-buffer formatter, in the plain writer and the staged one; every written number parses back to itself.
    @Test func doublesAreWrittenAsTheirShortestRoundTripText() throws {
        var rng = SplitMix64(seed: 18)
        var values: [Double] = [0.1, 0.3, 149.99, 1e-7, 1e21, 1.2345678901234567e-300, .leastNonzeroMagnitude, -2.2250738585072014e-308,
                                .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude, 1e16 + 2, 0.5]
        for i in 0..<50_000 {
            switch i % 4 {
            case 0: values.append(Double(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))))
            case 1: values.append(Double(bitPattern: rng.next()))
            case 2: values.append(Double(Int64(bitPattern: rng.next()) % 10_000_000) / 100)
            default: values.append(Double(rng.next() % 1_000_000) / 1_000_000 - 0.5)
            }
        }
        var plain = JSONWriter(), staged = JSONWriter()
        var mismatches = 0
        for v in values where v.isFinite && JSONWriter.wholeNumber(v) == nil {
            plain.removeAll()
            plain.writeDouble(v)
            staged.removeAll()
            _ = staged.staged(capacity: 64) { _, stage in stage.put(double: v) }
            let text = String(decoding: plain.bytes, as: UTF8.self)
            if text != v.description || staged.bytes != plain.bytes || Double(text) != v {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(v.description): wrote \(text), staged \(String(decoding: staged.bytes, as: UTF8.self))") }
            }
        }
        #expect(mismatches == 0)
    }

    /// A record's added fields with nested values (an alert's top_features) are staged as the plain writer writes
    /// them; a name or string needing an escape, anywhere in them, or a stage too small, falls back to that writer.
    @Test func nestedValuesAreStagedAsThePlainWriterWritesThem() throws {
        let reasons: JSONValue = .array([
            .object([("name", .string("hour_of_day")), ("contribution", .double(2.5564942707133014)), ("value", .int(0))]),
            .object([("name", .string("txn_sum_24h")), ("contribution", .double(-0.30702489188479376)), ("value", .null)]),
            .object([("name", .string("nested")), ("contribution", .array([.bool(true), .array([]), .object([])])), ("value", .double(1e21))]),
        ])
        let escaped: JSONValue = .array([.object([("na\"me", .string("x"))])])
        let escapedValue: JSONValue = .array([.object([("name", .string("tab\there"))])])
        let long: JSONValue = .array((0..<200).map { .double(Double($0) + 0.25) })
        for extra in [reasons, escaped, escapedValue, long, .array([]), .object([])] {
            let line = #"{"transaction_id": "t1", "user_id": "u1", "transaction_value": 12.5}"#
            var record = try #require(try RecordParser().parseRecord(Array(line.utf8), origin: .none))
            record["fraud_score"] = .double(0.75)
            record["top_features"] = extra
            var w = JSONWriter()
            record.write(to: &w)
            var expected = JSONWriter()
            expected.appendRaw(line.utf8.dropLast())
            for (name, value) in record.fields.dropFirst(3) {
                expected.append(",")
                expected.writeString(name)
                expected.append(":")
                expected.write(value)
            }
            expected.append("}")
            #expect(w.string == expected.string)
            #expect(try DocumentParser.parseValue(w.bytes)["top_features"] == extra)
        }
    }

    @Test func writerRoundTrips() throws {
        let value: JSONValue = .object([("s", .string("q\"\\\n\u{1}é")), ("d", .double(149.99)), ("i", .int(-3)), ("f", .double(2)), ("nan", .double(.nan)), ("a", .array([.null, .bool(false)]))])
        let text = value.description
        #expect(text == #"{"s":"q\"\\\n\u0001é","d":149.99,"i":-3,"f":2.0,"nan":null,"a":[null,false]}"#)
        let back = try #require(try parse(text))
        #expect(Record(fields: back)["s"] == .string("q\"\\\n\u{1}é"))
    }

    /// One writer, records of changing shapes: the cached member names (by position) never stand in for another
    /// name, whether it is a small string, a long one built afresh each time, or one that needs escaping.
    @Test func integerExtremes() {
        var w = JSONWriter()
        for v: Int64 in [.min, .max, 0, -1, 10, -10] {
            w.removeAll()
            w.writeInt(v)
            #expect(w.string == String(v))
        }
    }

    @Test func cachedMemberNamesFollowEveryChange() {
        var w = JSONWriter()
        var expected: [String] = []
        var got: [String] = []
        for i in 0..<200 {
            let long = String(repeating: "long_name_", count: 3) + String(i % 3)  // a new String each time
            let names = i % 2 == 0 ? ["a", long, "q\"\u{1}"] : [long, "a", "b"]
            var r = Record(fields: [])
            for (j, n) in names.enumerated() { r[n] = .int(Int64(j)) }
            w.removeAll()
            r.write(to: &w)
            got.append(w.string)
            expected.append("{" + names.enumerated().map { j, n in JSONValue.string(n).description + ":\(j)" }.joined(separator: ",") + "}")
        }
        #expect(got == expected)
    }

    /// A record's fields are written through a stack stage once their names are cached (from the second record
    /// of a layout on) and the slow way otherwise: both must write the same bytes, for every kind of value, and
    /// values the stage does not take (escapes, nested values, non-finite numbers, a typed vector, a long
    /// string) must fall back whole.
    @Test func stagedAndPlainWritesAreTheSame() throws {
        let values: [JSONValue] = [
            .null, .bool(true), .bool(false), .int(0), .int(-9_223_372_036_854_775_807 - 1), .int(Int64.max),
            .double(0.1), .double(-1e300), .double(.leastNonzeroMagnitude), .double(12.0), .double(1e15), .double(.infinity), .double(.nan),
            .string(""), .string("plain"), .string("quote\"and\\back"), .string("tab\tnewline\n\u{1}"), .string("é日本🙂"),
            .string(String(repeating: "long", count: 400)), .array([.int(1), .string("x")]), .object([("k", .null)]),
        ]
        let line = #"{"id": "t1", "n": 5}"#
        for (i, v) in values.enumerated() {
            var r = Record(fields: try #require(try parse(line)), raw: Array(line.utf8))
            r["added_\(i % 3)"] = .int(Int64(i))
            r["value"] = v
            if i % 4 == 0 { r.setVector("vector", [0.5, -1]) }
            var w = JSONWriter()
            Record.writeLines([r, r, r], to: &w)
            let lines = w.string.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 4 && lines[3].isEmpty)
            #expect(lines[0] == lines[1] && lines[1] == lines[2], "\(v)")
            var single = JSONWriter()
            r.write(to: &single)
            #expect(String(lines[0]) == single.string)
            let parsed = try #require(try parse(String(lines[0])))
            #expect(parsed.count == (i % 4 == 0 ? 5 : 4))
            let written = parsed.first { $0.0 == "value" }?.1
            if case .double(let d) = v, !d.isFinite {
                #expect(written == .null)
            } else {
                #expect(written == v, "\(v)")
            }
        }
    }

    /// Plain decimals skip strtod (Clinger's fast path); every one must be the double strtod gives, bit for bit,
    /// including negative zero, many fraction digits, and the limits where the fast path hands over to strtod.
    @Test func decimalsAreParsedAsStrtodParsesThem() throws {
        var rng = SplitMix64(seed: 5)
        var texts = ["0.0", "-0.0", "37.82", "0.1", "0.3", "9007199254740.993", "999999999999999.9", "123456789012345.6",
                     "0.000000000000000000001", "0.0000000000000000000001", "1.5e3", "-2E-5", "100000000000000000000.5",
                     "4503599627370495.5", "0.1000000000000000055511151231257827"]
        for _ in 0..<20_000 {
            let whole = rng.next() % 1_000_000_000
            let fraction = rng.next() % 1_000_000_000_000
            let width = Int(rng.next() % 13)
            var f = String(fraction)
            f = String(repeating: "0", count: max(0, width - f.count)) + f
            texts.append((rng.next() % 2 == 0 ? "-" : "") + "\(whole).\(f.isEmpty ? "0" : f)")
        }
        for text in texts {
            let fields = try #require(try parse(#"{"v": \#(text)}"#))
            guard case .double(let got) = fields[0].1 else {
                Issue.record("\(text) did not parse as a double: \(fields[0].1)")
                continue
            }
            let expected = strtod(text, nil)
            #expect(got.bitPattern == expected.bitPattern, "\(text): \(got) against strtod's \(expected)")
        }
    }

    @Test func untouchedRecordsKeepTheirBytes() throws {
        let line = #"{"b": 1,   "a": 2}"#
        var r = Record(fields: try #require(try parse(line)), raw: Array(line.utf8))
        var w = JSONWriter()
        r.write(to: &w)
        #expect(w.string == line)
        // Added fields follow the original bytes; the parsed ones are not serialized again.
        r["c"] = .int(3)
        w.removeAll()
        r.write(to: &w)
        #expect(w.string == #"{"b": 1,   "a": 2,"c":3}"#)
        #expect(r.payloadText == w.string)
        // A changed parsed field: the whole record is written afresh.
        r["a"] = .string("x")
        w.removeAll()
        r.write(to: &w)
        #expect(w.string == #"{"b":1,"a":"x","c":3}"#)
        // So is a removed one, and a record whose bytes were not an object is never used as a prefix.
        var bad = Record(fields: [], raw: Array("not json".utf8))
        #expect(bad.payloadText == "not json")
        bad["reason"] = .string("r")
        w.removeAll()
        bad.write(to: &w)
        #expect(w.string == #"{"reason":"r"}"#)
        var removed = Record(fields: try #require(try parse(line)), raw: Array((line + "\n").utf8))
        removed["b"] = nil
        removed["d"] = .null
        w.removeAll()
        removed.write(to: &w)
        #expect(w.string == #"{"a":2,"d":null}"#)
    }

    /// A typed vector reads as a JSON array of numbers everywhere (subscript, fields, json, written bytes) at the
    /// position of its field, keeps `raw` as an added field does, and turns into an ordinary field when set.
    @Test func aTypedVectorReadsAsJSONWhereverItIsSeen() throws {
        let line = #"{"a": 1, "b": "x"}"#
        var r = Record(fields: try #require(try parse(line)), raw: Array(line.utf8))
        r["c"] = .int(2)
        r.setVector("features", [0.5, -1.25, .nan])
        r["score"] = .double(0.75)
        #expect(r.vector("features")?.count == 3)
        #expect(r.vector("features")?[1] == -1.25)
        #expect(r["features"] == .array([.double(0.5), .double(-1.25), .double(.nan)]))
        #expect(r.fields.map(\.0) == ["a", "b", "c", "features", "score"])
        var w = JSONWriter()
        r.write(to: &w)
        #expect(w.string == #"{"a": 1, "b": "x","c":2,"features":[0.5,-1.25,null],"score":0.75}"#)

        // Removing a field before it moves it along (an added one: the original bytes still lead); removing it or
        // setting it ends the typed value.
        r["c"] = nil
        #expect(r.vector("features")?[0] == 0.5)
        #expect(r.fields.map(\.0) == ["a", "b", "features", "score"])
        w.removeAll()
        r.write(to: &w)
        #expect(w.string == #"{"a": 1, "b": "x","features":[0.5,-1.25,null],"score":0.75}"#)
        var replaced = r
        replaced["features"] = .string("gone")
        #expect(replaced.vector("features") == nil)
        #expect(replaced["features"] == .string("gone"))
        r["features"] = nil
        #expect(r.vector("features") == nil)
        #expect(r["features"] == nil)
        #expect(r.fields.map(\.0) == ["a", "b", "score"])

        // By a bound key (how feature_scaler writes and local_model reads): the same field as by name.
        let key = FieldKey("features"), other = FieldKey("score")
        r.setVector(key, [2, 3])
        #expect(r.vector(key) == [2, 3] && r.vector("features") == [2, 3])
        #expect(r.vector(other) == nil)
        #expect(r.fields.map(\.0) == ["a", "b", "score", "features"])
        r.setVector(key, [4])
        #expect(r["features"] == .array([.double(4)]) && r.fields.count == 4)
        r[key] = nil
        #expect(r.vector(key) == nil && r["features"] == nil)
    }

    /// A field held as JSON text (`setEncoded`, an explained alert's top_features) is written as a field set to
    /// its value would be, on the staged path and the plain one, reads as that value, moves along when a field
    /// before it goes, and ends when it is set, removed or encoded again.
    @Test func anEncodedFieldReadsAndWritesAsItsValue() throws {
        let reasons: JSONValue = .array([
            .object([("name", .string("hour_of_day")), ("contribution", .double(2.5564942707133014)), ("value", .int(0))]),
            .object([("name", .string("txn_sum_24h")), ("contribution", .double(-0.30702489188479376)), ("value", .null)]),
        ])
        var text = JSONWriter()
        text.write(reasons)
        let line = #"{"transaction_id": "t1", "user_id": "u1"}"#
        // "tab	here": a value needing an escape makes the record take the plain writer.
        for plain in [false, true] {
            var encoded = try #require(try RecordParser().parseRecord(Array(line.utf8), origin: .none))
            encoded["fraud_score"] = .double(0.75)
            if plain { encoded["note"] = .string("tab\there") }
            var valued = encoded
            encoded.setEncoded(FieldKey("top_features"), json: text.bytes)
            encoded["is_alert"] = .bool(true)
            valued["top_features"] = reasons
            valued["is_alert"] = .bool(true)
            var a = JSONWriter(), b = JSONWriter()
            Record.writeLines([encoded], to: &a)
            Record.writeLines([valued], to: &b)
            #expect(a.string == b.string, "plain: \(plain)")
            #expect(encoded["top_features"] == reasons)
            #expect(encoded.fields.map(\.1) == valued.fields.map(\.1))
            #expect(encoded.json == valued.json)
        }
        var r = try #require(try RecordParser().parseRecord(Array(line.utf8), origin: .none))
        r["c"] = .int(2)
        r.setEncoded(FieldKey("top_features"), json: Array("[1,2]".utf8))
        r["score"] = .double(0.5)
        r["c"] = nil
        var w = JSONWriter()
        r.write(to: &w)
        #expect(w.string == #"{"transaction_id": "t1", "user_id": "u1","top_features":[1,2],"score":0.5}"#)
        #expect(r["top_features"] == .array([.int(1), .int(2)]))
        var again = r
        again.setEncoded(FieldKey("top_features"), json: Array("[3]".utf8))
        #expect(again["top_features"] == .array([.int(3)]) && again.fields.count == 4)
        var set = r
        set["top_features"] = .string("plain")
        w.removeAll()
        set.write(to: &w)
        #expect(w.string == #"{"transaction_id": "t1", "user_id": "u1","top_features":"plain","score":0.5}"#)
        r["top_features"] = nil
        #expect(r["top_features"] == nil && r.fields.map(\.0) == ["transaction_id", "user_id", "score"])
        w.removeAll()
        r.write(to: &w)
        #expect(w.string == #"{"transaction_id": "t1", "user_id": "u1","score":0.5}"#)
    }
}
