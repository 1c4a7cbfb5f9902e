import PipelineHost
import Synchronization

/// The broadcast side of the join: key → the joined fields, in columns so a million users stay small
/// (one dictionary of row numbers plus one array per field, instead of a dictionary per user).
/// Readers take the lock once per batch; a full reload builds a new table and swaps it in whole.
final class BroadcastTable: Sendable {
    struct Columns: Sendable {
        var rows: [String: Int32] = [:]
        var columns: [[JSONValue]]
        var free: [Int32] = []
        var version: UInt64 = 0

        init(fieldCount: Int) { columns = Array(repeating: [], count: fieldCount) }

        mutating func upsert(_ key: String, _ values: [JSONValue]) {
            if let row = rows[key] {
                for (c, v) in values.enumerated() { columns[c][Int(row)] = v }
            } else if let row = free.popLast() {
                rows[key] = row
                for (c, v) in values.enumerated() { columns[c][Int(row)] = v }
            } else {
                rows[key] = Int32(columns.first?.count ?? 0)
                for (c, v) in values.enumerated() { columns[c].append(v) }
            }
        }

        mutating func remove(_ key: String) {
            guard let row = rows.removeValue(forKey: key) else { return }
            for c in columns.indices { columns[c][Int(row)] = .null }
            free.append(row)
        }
    }

    let fields: [String]
    private let table: Mutex<Columns>

    init(fields: [String]) {
        self.fields = fields
        table = Mutex(Columns(fieldCount: fields.count))
    }

    var count: Int { table.withLock { $0.rows.count } }
    var version: UInt64 { table.withLock { $0.version } }

    /// Replaces the whole table (initial load, or a reload after the stream lost data).
    func replace(with new: Columns) {
        var new = new
        table.withLock { t in
            new.version = t.version + 1
            t = new
        }
    }

    /// Applies stream changes in order.
    func apply(_ changes: [(key: String, values: [JSONValue]?)]) {
        table.withLock { t in
            for (key, values) in changes {
                if let values { t.upsert(key, values) } else { t.remove(key) }
            }
            t.version += 1
        }
    }

    /// Runs `body` with a lookup function, holding the lock once for a whole batch.
    func withLookup<R>(_ body: (_ lookup: (String) -> [JSONValue]?) throws -> R) rethrows -> R {
        try table.withLock { t in
            try body { key in
                guard let row = t.rows[key] else { return nil }
                return t.columns.map { $0[Int(row)] }
            }
        }
    }
}
