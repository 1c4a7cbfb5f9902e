import AWSCore
import Foundation
import PipelineHost

/// Calls `body` with each line of a JSONL file (gzip or not), numbered from 1; empty lines are skipped.
func forEachLine(_ path: String, _ body: (Int, ArraySlice<UInt8>) throws -> Void) throws {
    let reader = try ByteReader(path: path)
    var pending: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var lineNo = 0
    while true {
        let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress!, count: $0.count) }
        if n == 0 { break }
        pending.append(contentsOf: chunk[0..<n])
        var start = 0
        while let nl = pending[start...].firstIndex(of: 0x0A) {
            lineNo += 1
            if nl > start { try body(lineNo, pending[start..<nl]) }
            start = nl + 1
        }
        pending.removeFirst(start)
    }
    if !pending.isEmpty { try body(lineNo + 1, pending[...]) }
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
