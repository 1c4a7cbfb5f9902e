import FuzzSupport
import PipelineHost

// Bytes → JSON lines → RecordParser, the way FileSource feeds it: one reused parser, one line at a time
// (split at \n, without the newline). Properties per line:
//  - a parsed record, written with JSONWriter, parses again (fresh parser) to equal fields;
//  - RecordParser and DocumentParser agree: what one accepts as an object the other accepts with the same
//    value (DocumentParser alone refuses duplicate keys, records keep them);
//  - a blank line is nil, anything else a record or an error with a message;
//  - after any line, good or bad, the reused parser still parses a good line (no state leaks into the next).

// libFuzzer calls the target from one thread.
nonisolated(unsafe) let parser = RecordParser()
nonisolated(unsafe) let reparser = RecordParser()
let canary: [UInt8] = Array(#"{"canary": 1}"#.utf8)

private func isBlank(_ line: ArraySlice<UInt8>) -> Bool {
    line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
}

private func same(_ a: [(String, JSONValue)], _ b: [(String, JSONValue)]) -> Bool {
    JSONValue.object(a) == JSONValue.object(b)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    for slice in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
        let line = Array(slice)
        let outcome: Result<[(String, JSONValue)]?, RecordParser.ParseError>
        do { outcome = .success(try parser.parse(line)) } catch { outcome = .failure(error) }
        let document: Result<JSONValue, DocumentParser.SyntaxError>
        do { document = .success(try DocumentParser.parseValue(line)) } catch { document = .failure(error) }

        switch outcome {
        case .success(nil):
            check(isBlank(slice), "nil (blank) for a line that is not blank: \(preview(line))")
        case .success(let fields?):
            switch document {
            case .success(let value):
                check(value == .object(fields), "RecordParser and DocumentParser disagree on \(preview(line))")
            case .failure(let e):
                check(e.message.hasPrefix("duplicate key"),
                      "RecordParser accepted what DocumentParser refuses (\(e)): \(preview(line))")
            }
            if !JSONValue.object(fields).containsNonFinite {
                var w = JSONWriter()
                w.writeObject(fields)
                do {
                    let again = try reparser.parse(w.bytes)
                    check(again.map { same($0, fields) } ?? false, "round trip changed \(preview(line)) into \(preview(w.bytes))")
                } catch {
                    check(false, "JSONWriter output does not parse (\(error.message)): \(preview(w.bytes))")
                }
            }
            // Record's own write path: untouched records are written as their raw bytes.
            var w = JSONWriter()
            Record(fields: fields, raw: line).write(to: &w)
            check(w.bytes == line, "an untouched record is not written back byte for byte")
        case .failure(let e):
            check(!e.message.isEmpty, "empty parse error message for \(preview(line))")
            if case .success(let value) = document, case .object = value {
                check(false, "RecordParser refused (\(e.message)) an object DocumentParser accepts: \(preview(line))")
            }
        }

        do {
            let c = try parser.parse(canary)
            check(c.map { same($0, [("canary", .int(1))]) } ?? false, "the good line after \(preview(line)) parsed wrong")
        } catch {
            check(false, "the good line after \(preview(line)) was refused: \(error.message)")
        }
    }
    return 0
}
