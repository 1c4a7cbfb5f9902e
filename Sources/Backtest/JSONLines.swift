import AWSCore
import Foundation
import PipelineHost

/// Calls `body` with each non-empty line of a JSONL file (gzip or not), numbered from 1.
func forEachLine(_ path: String, _ body: (Int, ArraySlice<UInt8>) throws -> Void) throws {
    try ByteReader(path: path).forEachLine(body)
}

/// A label as the training data and most labeling jobs write it: true/false, 1/0, "1"/"0", "true"/"false".
func label(_ value: JSONValue?) -> Bool? {
    switch value {
    case .bool(let b)?: return b
    case .int(let i)? where i == 0 || i == 1: return i == 1
    case .double(let d)? where d == 0 || d == 1: return d == 1
    case .string(let s)?:
        switch s.lowercased() {
        case "1", "true", "fraud", "yes": return true
        case "0", "false", "legit", "no": return false
        default: return nil
        }
    default: return nil
    }
}

/// Event time in epoch seconds: a number (seconds, or milliseconds when it is past the year 5000 in seconds),
/// or an ISO 8601 string.
func eventTime(_ value: JSONValue?) -> Double? {
    switch value {
    case .int(let i)?: return Double(i) > 1e11 ? Double(i) / 1000 : Double(i)
    case .double(let d)? where d.isFinite: return d > 1e11 ? d / 1000 : d
    case .string(let s)?: return ISO8601.parse(s)?.timeIntervalSince1970
    default: return nil
    }
}
