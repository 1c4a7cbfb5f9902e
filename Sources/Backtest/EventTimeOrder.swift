import Foundation
import PipelineHost

/// Puts a file's events in event-time order for the replay, as production sees them (a stream in time order):
/// rolling features over an unordered file would drop events as late. A file already in order is used as is;
/// otherwise a stable sort (equal times keep file order) goes to a scratch file. Lines that are not JSON keep
/// the time of the line before them, so they reach the dead-letter output near where they were.
enum EventTimeOrder {
    static func ensure(_ input: String, timeField: String, scratch: String) throws -> (path: String, lines: Int) {
        let parser = RecordParser()
        var times: [Double] = []
        var sorted = true
        var last = -Double.infinity
        try forEachLine(input) { _, line in
            var t = last
            if let fields = try? parser.parse(Array(line)), let v = eventTime(Record(fields: fields)[timeField]) { t = v }
            if t < last { sorted = false }
            last = max(last, t)
            times.append(t)
        }
        if sorted { return (input, times.count) }
        let order = times.indices.sorted { times[$0] != times[$1] ? times[$0] < times[$1] : $0 < $1 }
        // A second read, only for a file out of order: keeping every line through the first pass would hold the
        // whole input in memory for the usual, ordered case too.
        var lines: [[UInt8]] = []
        lines.reserveCapacity(times.count)
        try forEachLine(input) { _, line in lines.append(Array(line)) }
        var out: [UInt8] = []
        for i in order {
            out.append(contentsOf: lines[i])
            out.append(0x0A)
        }
        let path = scratch + "/input-by-event-time.jsonl"
        try Data(out).write(to: URL(fileURLWithPath: path))
        return (path, times.count)
    }
}
