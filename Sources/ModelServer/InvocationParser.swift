import Foundation
import PipelineHost

/// Turns a request body into records: a JSON object, a JSON array of objects, or CSV rows of scaled features.
///
/// A single object (the hot path) goes through the pipeline's `RecordParser` (yajl, one handle per parser);
/// an array goes through `DocumentParser`, which also reports duplicate keys and the line:column of an error.
final class InvocationParser {
    enum JSONPayload {
        case object([(String, JSONValue)])
        case array([JSONValue])
    }

    private let records = RecordParser()

    init() {}

    func parseJSON(_ body: UnsafeRawBufferPointer) throws(InvocationError) -> JSONPayload {
        var i = 0
        while i < body.count, Self.isSpace(body[i]) { i += 1 }
        guard i < body.count else { throw InvocationError(.emptyBody, "the request body is empty") }
        switch body[i] {
        case UInt8(ascii: "{"):
            let fields: [(String, JSONValue)]?
            do { fields = try records.parse(body) } catch {
                if let key = error.duplicateKey { throw InvocationError(.duplicateField, "the field appears more than once", field: key) }
                throw InvocationError(.malformedJSON, error.message)
            }
            guard let fields else { throw InvocationError(.emptyBody, "the request body is empty") }
            return .object(fields)
        case UInt8(ascii: "["):
            let value: JSONValue
            do { value = try DocumentParser.parseValue(Array(body)) } catch {
                throw InvocationError(.malformedJSON, "malformed JSON at \(error.location): \(error.message)")
            }
            guard case .array(let items) = value else { throw InvocationError(.malformedJSON, "expected a JSON array") }
            for (n, item) in items.enumerated() {
                guard case .object = item else {
                    throw InvocationError(.notAnObject, "a record must be a JSON object, got \(item.typeName)", index: n)
                }
            }
            return .array(items)
        default:
            // Let yajl say what is wrong with it when it is not JSON at all.
            do { _ = try DocumentParser.parseValue(Array(body)) } catch {
                throw InvocationError(.malformedJSON, "malformed JSON at \(error.location): \(error.message)")
            }
            throw InvocationError(.notAnObject, "the body must be a JSON object or an array of objects")
        }
    }

    /// CSV rows of already scaled features in the model's feature order, as the built-in XGBoost container
    /// reads them: no header, `\n` or `\r\n` between rows, an empty field is a missing value (NaN), blank
    /// lines are skipped. Returns the values row after row (`featureNames.count` per row).
    static func parseCSV(_ body: UnsafeRawBufferPointer, featureNames: [String]) throws(InvocationError) -> [Float] {
        let width = featureNames.count
        var out: [Float] = []
        out.reserveCapacity(width * 4)
        var row = 0
        var line = 0
        var start = 0
        let n = body.count
        while start < n {
            var end = start
            while end < n, body[end] != 0x0A { end += 1 }
            line += 1
            var stop = end
            if stop > start, body[stop - 1] == 0x0D { stop -= 1 }
            var blank = true
            for k in start..<stop where !isSpace(body[k]) { blank = false; break }
            if !blank {
                var col = 0
                var fieldStart = start
                while true {
                    var fieldEnd = fieldStart
                    while fieldEnd < stop, body[fieldEnd] != UInt8(ascii: ",") { fieldEnd += 1 }
                    guard col < width else {
                        throw InvocationError(.malformedCSV, "line \(line) has more than \(width) values; the model takes \(width) features", index: row)
                    }
                    out.append(try value(body, fieldStart, fieldEnd, name: featureNames[col], line: line, row: row))
                    col += 1
                    if fieldEnd >= stop { break }
                    fieldStart = fieldEnd + 1
                }
                guard col == width else {
                    throw InvocationError(.malformedCSV, "line \(line) has \(col) values; the model takes \(width) features", index: row)
                }
                row += 1
            }
            start = end + 1
        }
        guard row > 0 else { throw InvocationError(.emptyBody, "the request body has no CSV rows") }
        return out
    }

    private static func value(_ body: UnsafeRawBufferPointer, _ from: Int, _ to: Int, name: String, line: Int, row: Int) throws(InvocationError) -> Float {
        var a = from, b = to
        while a < b, isSpace(body[a]) { a += 1 }
        while b > a, isSpace(body[b - 1]) { b -= 1 }
        if a == b { return .nan }
        let count = b - a
        let parsed: Double? = withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buf in
            for k in 0..<count { buf[k] = CChar(bitPattern: body[a + k]) }
            buf[count] = 0
            var end: UnsafeMutablePointer<CChar>?
            let d = strtod(buf.baseAddress!, &end)
            return end == buf.baseAddress! + count ? d : nil
        }
        var text: String { String(decoding: UnsafeRawBufferPointer(rebasing: body[a..<b]), as: UTF8.self) }
        guard let d = parsed else {
            throw InvocationError(.malformedCSV, "line \(line): \"\(text)\" is not a number", field: name, index: row)
        }
        guard d.isFinite, Float(d).isFinite else {
            throw InvocationError(.nonFinite, "line \(line): \"\(text)\" is not a finite number", field: name, index: row)
        }
        return Float(d)
    }

    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
}
