import PipelineHost
import Synchronization

/// The broadcast side of the join: key → the joined fields, in columns so a million users stay small
/// (one dictionary of row numbers plus one array per field, instead of a dictionary per user).
/// Readers take the lock once per batch; a full reload builds a new table and swaps it in whole.
final class BroadcastTable: Sendable {
    /// One field's values. Whole numbers (the demographic codes) take 8 bytes a row instead of 16; a column
    /// turns general the first time it meets anything else.
    enum Column: Sendable {
        case ints([Int64])
        case values([JSONValue])

        /// Marks a null in an integer column.
        static let nullInt = Int64.min

        var count: Int {
            switch self {
            case .ints(let a): return a.count
            case .values(let a): return a.count
            }
        }

        subscript(row: Int) -> JSONValue {
            switch self {
            case .ints(let a): return a[row] == Self.nullInt ? .null : .int(a[row])
            case .values(let a): return a[row]
            }
        }

        private static func compact(_ v: JSONValue) -> Int64? {
            switch v {
            case .int(let i) where i != nullInt: return i
            case .null: return nullInt
            default: return nil
            }
        }

        private mutating func generalize() {
            if case .ints(let a) = self { self = .values(a.map { $0 == Self.nullInt ? .null : .int($0) }) }
        }

        mutating func set(_ row: Int, _ v: JSONValue) {
            if case .ints(var a) = self, let c = Self.compact(v) {
                self = .values([])  // drop our reference so `a` is uniquely owned while we write
                a[row] = c
                self = .ints(a)
                return
            }
            generalize()
            if case .values(var a) = self {
                self = .values([])
                a[row] = v
                self = .values(a)
            }
        }

        mutating func append(_ v: JSONValue) {
            if case .ints(var a) = self, let c = Self.compact(v) {
                self = .values([])
                a.append(c)
                self = .ints(a)
                return
            }
            generalize()
            if case .values(var a) = self {
                self = .values([])
                a.append(v)
                self = .values(a)
            }
        }

        mutating func reserve(_ n: Int) {
            switch self {
            case .ints(var a):
                self = .values([])
                a.reserveCapacity(n)
                self = .ints(a)
            case .values(var a):
                self = .values([])
                a.reserveCapacity(n)
                self = .values(a)
            }
        }
    }

    struct Columns: Sendable {
        var rows = KeyIndex()
        var columns: [Column]
        var free: [Int32] = []
        var version: UInt64 = 0

        init(fieldCount: Int) { columns = Array(repeating: .ints([]), count: fieldCount) }

        mutating func reserve(_ rowCount: Int) {
            rows.reserveCapacity(rowCount)
            for c in columns.indices { columns[c].reserve(rowCount) }
        }

        mutating func upsert(_ key: String, _ values: [JSONValue]) {
            if let row = rows[key] {
                for (c, v) in values.enumerated() { columns[c].set(Int(row), v) }
            } else if let row = free.popLast() {
                rows[key] = row
                for (c, v) in values.enumerated() { columns[c].set(Int(row), v) }
            } else {
                rows[key] = Int32(columns.first?.count ?? 0)
                for (c, v) in values.enumerated() { columns[c].append(v) }
            }
        }

        mutating func remove(_ key: String) {
            guard let row = rows.removeValue(forKey: key) else { return }
            for c in columns.indices { columns[c].set(Int(row), .null) }
            free.append(row)
        }
    }

    let fields: [String]
    /// `fields`, bound once for writing into records.
    private let fieldKeys: [FieldKey]
    private let table: Mutex<Columns>

    init(fields: [String]) {
        self.fields = fields
        fieldKeys = fields.map(FieldKey.init)
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

    /// Runs `body` with a join function, holding the lock once for a whole batch: `join(key, &record)` sets the
    /// key's row into the record (the table's field names) and is false when the table has no such key.
    func withJoin<R>(_ body: (_ join: (String, inout Record) -> Bool) throws -> R) rethrows -> R {
        try table.withLock { t in
            try body { key, record in
                guard let row = t.rows[key] else { return false }
                record.reserveCapacity(record.fieldCount + fields.count)
                for c in t.columns.indices { record[fieldKeys[c]] = t.columns[c][Int(row)] }
                return true
            }
        }
    }

    /// The row of `key` (the table's fields in order), nil when the table has no such key. For one-off reads;
    /// a batch joins through `withJoin`, which takes the lock once.
    func row(_ key: String) -> [JSONValue]? {
        table.withLock { t in t.rows[key].map { row in t.columns.map { $0[Int(row)] } } }
    }
}
