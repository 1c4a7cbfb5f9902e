import Foundation
import PipelineHost
import Testing

/// Inputs that fuzzing (fuzz/, docs/fuzzing.md) and the model server's hostile-body test found wrong, kept as
/// regression cases: each must get a clear error (or parse correctly), quickly, without taking the process down.
@Suite struct ParserFuzzRegressionTests {
    func recordError(_ parser: RecordParser, _ line: String) -> String? {
        do { _ = try parser.parse(Array(line.utf8)); return nil } catch { return error.message }
    }

    /// Found by fuzz-record: a token after the object stayed in yajl's lexer buffer, so the line was accepted and
    /// the next, valid line was refused ("a record must be a JSON object, got string").
    @Test(arguments: [#"{"a": 1}": "#, #"{"a":1}2"#, #"{"a":1}"x"#, #"{"a":1}tr"#, #"{"a":1}-"#, #"{}"0000"#])
    func tokenAfterTheObjectIsAnErrorForThatLineOnly(_ line: String) throws {
        let parser = RecordParser()
        let message = try #require(recordError(parser, line), "\(line) was accepted")
        #expect(!message.isEmpty)
        let next = try #require(try parser.parse(Array(#"{"b": 2}"#.utf8)))
        #expect(JSONValue.object(next) == ["b": 2])
    }

    /// Found by fuzz-record (RecordParser and DocumentParser disagreed): yajl's final flush dropped an
    /// unterminated string after the value, so `{"a": 1}"}` was a valid spec or checkpoint document.
    @Test func unterminatedStringAfterTheDocumentIsTrailingGarbage() throws {
        for text in [#"{"a": 1}"}"#, "{\"a\": 1}\n\"", #"[1] "abc"#, #"7 ""#] {
            #expect(throws: DocumentParser.SyntaxError.self, "\(text)") { try DocumentParser.parse(text) }
            do { _ = try DocumentParser.parse(text) } catch { #expect(error.message == "trailing garbage", "\(text)") }
        }
        // Whitespace after the value is fine, and so is a document that is a bare scalar.
        #expect(try DocumentParser.parseValue(Array("{\"a\": 1}\n\t \r\n".utf8)) == ["a": 1])
        #expect(try DocumentParser.parseValue(Array("12".utf8)) == 12)
        #expect(try DocumentParser.parseValue(Array(" \"s\" ".utf8)) == "s")
        #expect(recordError(RecordParser(), #"{"a": 1}"}"#) != nil)
    }

    static let limit = DocumentParser.maxNestingDepth

    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    /// Found by the hostile-body test: 100k levels of nesting overflowed the stack (SIGSEGV) when the value was
    /// converted, compared or freed. Both parsers now refuse nesting past the limit.
    @Test func deepNestingIsRefusedNotACrash() throws {
        let parser = RecordParser()
        #expect(recordError(parser, #"{"a": "# + Self.nested(100_000) + "}") == "nesting deeper than \(Self.limit) levels")
        #expect(recordError(parser, String(repeating: #"{"a":"#, count: 100_000)) == "nesting deeper than \(Self.limit) levels")
        // Exactly at the limit (the record itself is level 1) still parses; one more level does not.
        #expect(recordError(parser, #"{"a": "# + Self.nested(Self.limit - 1) + "}") == nil)
        #expect(recordError(parser, #"{"a": "# + Self.nested(Self.limit) + "}") == "nesting deeper than \(Self.limit) levels")

        // The error points at the container that goes one level too deep.
        let cases = [(Self.nested(100_000), Self.limit + 1), (String(repeating: "[", count: 100_000), Self.limit + 1),
                     (String(repeating: #"{"a":"#, count: 100_000), 5 * Self.limit + 1)]
        for (text, column) in cases {
            #expect(throws: DocumentParser.SyntaxError.self) { try DocumentParser.parseValue(Array(text.utf8)) }
            do { _ = try DocumentParser.parseValue(Array(text.utf8)) } catch {
                #expect(error.message == "nesting deeper than \(Self.limit) levels")
                #expect(error.location == SourceLocation(line: 1, column: column))
            }
        }
        let atLimit = try DocumentParser.parseValue(Array(Self.nested(Self.limit).utf8))
        var depth = 0
        var v = atLimit
        while case .array(let items) = v { depth += 1; v = items.first ?? .null }
        #expect(depth == Self.limit)
    }

    /// Found by the hostile-body test: appending to an array or object inside a frame enum copied it every time,
    /// and duplicate keys were found by a scan, so large containers took quadratic time (an 80k-element array:
    /// minutes). These sizes took minutes before and take well under a second now, even in a debug build.
    @Test func largeContainersParseInLinearTime() throws {
        let n = 200_000
        let start = ContinuousClock.now
        let array = try DocumentParser.parseValue(Array(("[" + Array(repeating: "0", count: n).joined(separator: ",") + "]").utf8))
        #expect(array.arrayValue?.count == n)
        let object = try DocumentParser.parseValue(Array(("{" + (0..<n).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}").utf8))
        #expect(object.objectValue?.count == n)
        #expect(object["k\(n - 1)"] == .int(Int64(n - 1)))
        let record = try #require(try RecordParser().parse(Array((#"{"a": ["# + Array(repeating: "1", count: n).joined(separator: ",") + "]}").utf8)))
        #expect(record.first?.1.arrayValue?.count == n)
        #expect(ContinuousClock.now - start < .seconds(20))
    }

    /// Found while writing fuzz-checkpoint: a negative id in a damaged checkpoint file trapped in UInt64(id)
    /// instead of being refused; the store then could not even report which file was bad.
    @Test func negativeCheckpointIdIsRefused() throws {
        let value = try DocumentParser.parseValue(Array(#"{"format":1,"id":-3,"pipeline":"p","positions":{},"states":{}}"#.utf8))
        #expect(throws: PipelineError.self) { try Checkpoint(json: value) }
        do { _ = try Checkpoint(json: value) } catch let error as PipelineError {
            #expect(error.code == .checkpoint)
            #expect(error.message == "checkpoint id -3 is negative")
        }
        let ok = try Checkpoint(json: DocumentParser.parseValue(Array(#"{"format":1,"id":0,"pipeline":"p","positions":{},"states":{}}"#.utf8)))
        #expect(ok.id == 0)
    }

    /// The duplicate-key check moved to a set: it must still name the key and where it stands.
    @Test func duplicateKeysAreStillReported() {
        #expect(throws: DocumentParser.SyntaxError.self) { try DocumentParser.parse("{\"a\": 1,\n \"b\": {\"a\": 2}, \"a\": 3}") }
        do { _ = try DocumentParser.parse("{\"a\": 1,\n \"b\": {\"a\": 2}, \"a\": 3}") } catch {
            #expect(error.message == "duplicate key \"a\"")
            #expect(error.location == SourceLocation(line: 2, column: 17))
        }
        // The same key in sibling objects is not a duplicate.
        #expect((try? DocumentParser.parse(#"[{"a": 1}, {"a": 2}]"#)) != nil)
    }
}
