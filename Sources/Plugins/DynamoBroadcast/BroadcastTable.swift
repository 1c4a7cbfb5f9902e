import PipelineHost
import Synchronization

/// The broadcast side of the join: key → the joined fields, row by row in flat arrays so a million users stay
/// small (one index of row numbers plus two arrays, instead of a dictionary per user) and a join reads one row's
/// cells from one or two cache lines. Readers take the lock once per batch; a full reload builds a new table
/// and swaps it in whole.
final class BroadcastTable: Sendable {
    /// The rows. A field of whole numbers and nulls (the demographic codes) takes 8 bytes a row in `ints`; it
    /// moves to `values` (a JSONValue each) the first time it meets anything else.
    struct Columns: Sendable {
        /// Where a field's cell is in each row: `ints[row * intWidth + i]` or `values[row * valueWidth + i]`.
        enum Place: Sendable, Equatable {
            case int(Int)
            case value(Int)
        }

        var rows = KeyIndex()
        var free: [Int32] = []
        var version: UInt64 = 0
        private(set) var places: [Place]
        private(set) var ints: [Int64] = []
        private(set) var values: [JSONValue] = []
        private(set) var intWidth: Int
        private(set) var valueWidth = 0
        private(set) var rowCount = 0

        /// Marks a null in `ints`.
        static let nullInt = Int64.min

        init(fieldCount: Int) {
            places = (0..<fieldCount).map { .int($0) }
            intWidth = fieldCount
        }

        var fieldCount: Int { places.count }

        mutating func reserve(_ rowCount: Int) {
            rows.reserveCapacity(rowCount)
            ints.reserveCapacity(rowCount * intWidth)
            values.reserveCapacity(rowCount * valueWidth)
        }

        private static func compact(_ v: JSONValue) -> Int64? {
            switch v {
            case .int(let i) where i != nullInt: return i
            case .null: return nullInt
            default: return nil
            }
        }

        static func json(_ i: Int64) -> JSONValue { i == nullInt ? .null : .int(i) }

        func cell(_ row: Int, _ field: Int) -> JSONValue {
            switch places[field] {
            case .int(let i): return Self.json(ints[row * intWidth + i])
            case .value(let i): return values[row * valueWidth + i]
            }
        }

        func row(_ row: Int) -> [JSONValue] { (0..<fieldCount).map { cell(row, $0) } }

        private mutating func set(_ row: Int, _ field: Int, _ v: JSONValue) {
            if case .int(let i) = places[field] {
                if let c = Self.compact(v) {
                    ints[row * intWidth + i] = c
                    return
                }
                generalize(field)
            }
            guard case .value(let i) = places[field] else { return }
            values[row * valueWidth + i] = v
        }

        /// Moves a field from `ints` to `values`, in every row: once per field at most.
        private mutating func generalize(_ field: Int) {
            guard case .int(let moved) = places[field] else { return }
            var newInts: [Int64] = []
            var newValues: [JSONValue] = []
            newInts.reserveCapacity(rowCount * (intWidth - 1))
            newValues.reserveCapacity(rowCount * (valueWidth + 1))
            for r in 0..<rowCount {
                for i in 0..<intWidth where i != moved { newInts.append(ints[r * intWidth + i]) }
                for i in 0..<valueWidth { newValues.append(values[r * valueWidth + i]) }
                newValues.append(Self.json(ints[r * intWidth + moved]))
            }
            for f in places.indices {
                if case .int(let i) = places[f], i > moved { places[f] = .int(i - 1) }
            }
            places[field] = .value(valueWidth)
            intWidth -= 1
            valueWidth += 1
            ints = newInts
            values = newValues
        }

        private mutating func appendRow(_ cells: [JSONValue]) {
            ints.append(contentsOf: repeatElement(Self.nullInt, count: intWidth))
            values.append(contentsOf: repeatElement(JSONValue.null, count: valueWidth))
            rowCount += 1
            for (f, v) in cells.enumerated() { set(rowCount - 1, f, v) }
        }

        mutating func upsert(_ key: String, _ cells: [JSONValue]) {
            if let row = rows[key] {
                for (f, v) in cells.enumerated() { set(Int(row), f, v) }
            } else if let row = free.popLast() {
                rows[key] = row
                for (f, v) in cells.enumerated() { set(Int(row), f, v) }
            } else {
                rows[key] = Int32(rowCount)
                appendRow(cells)
            }
        }

        mutating func remove(_ key: String) {
            guard let row = rows.removeValue(forKey: key) else { return }
            for f in places.indices { set(Int(row), f, .null) }
            free.append(row)
        }

        /// The row of each key (−1: none), with the prefetching `withJoin` describes.
        func rows(of keys: [String?]) -> [Int32] {
            let ahead = 8
            var found = [Int32](repeating: -1, count: keys.count)
            ints.withUnsafeBufferPointer { ints in
                values.withUnsafeBufferPointer { values in
                    for i in keys.indices {
                        if i + ahead < keys.count, let k = keys[i + ahead] { rows.prefetch(k) }
                        guard let k = keys[i], let row = rows[k] else { continue }
                        found[i] = row
                        if intWidth > 0 { prefetch(ints.baseAddress! + Int(row) * intWidth) }
                        if valueWidth > 0 { prefetch(values.baseAddress! + Int(row) * valueWidth) }
                    }
                }
            }
            return found
        }
    }

    let fields: [String]
    /// `fields`, bound once for writing into records.
    private let fieldList: FieldList
    private let table: Mutex<Columns>

    init(fields: [String]) {
        self.fields = fields
        fieldList = FieldList(fields)
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

    /// Runs `body` with a join function for one batch, holding the lock once: `join(i, &record)` sets the row of
    /// `keys[i]` into the record (the table's field names) and is false when the table has no such key (or
    /// `keys[i]` is nil).
    ///
    /// The batch's rows are found before `body` runs, prefetching the index a few keys ahead and each row's cells
    /// as it is found: the table of 80,000 users is far larger than the caches, and looked up one record at a
    /// time, every key's entry and every cell was a cache miss waited for in turn.
    func withJoin(keys: [String?], _ body: (_ join: (Int, inout Record) -> Bool) throws -> Void) rethrows {
        try table.withLock { t in
            let rows = t.rows(of: keys)
            let width = (int: t.intWidth, value: t.valueWidth)
            // Every array through its base pointer, taken once per batch: reading an element of an array (or of
            // a struct's array) per record retained and released it.
            try t.ints.withUnsafeBufferPointer { ints in
                try t.values.withUnsafeBufferPointer { values in
                    try t.places.withUnsafeBufferPointer { places in
                        try body { i, record in
                            let row = Int(rows[i])
                            guard row >= 0 else { return false }
                            record.set(fieldList) { f in
                                switch places[f] {
                                case .int(let c): return Columns.json(ints[row * width.int + c])
                                case .value(let c): return values.baseAddress![row * width.value + c]
                                }
                            }
                            return true
                        }
                    }
                }
            }
        }
    }

    /// The row of `key` (the table's fields in order), nil when the table has no such key. For one-off reads;
    /// a batch joins through `withJoin`, which takes the lock once.
    func row(_ key: String) -> [JSONValue]? {
        table.withLock { t in t.rows[key].map { t.row(Int($0)) } }
    }
}
