/// Where a record came from, for dead-letter reasons and operator messages.
public enum RecordOrigin: Sendable, Equatable, CustomStringConvertible {
    case none
    /// A line of a file (1-based line number).
    case line(file: SourceFile, line: Int64)
    /// A record of a partitioned log (Kinesis shard and sequence number, and sub-sequence for KPL).
    case sequence(partition: String, sequence: String)

    public var description: String {
        switch self {
        case .none: return "-"
        case let .line(file, line): return "\(file):\(line)"
        case let .sequence(p, s): return "\(p)@\(s)"
        }
    }
}

/// One event: named JSON fields in document order, plus the raw bytes it was parsed from.
///
/// Names are held as ids of the process's name table (`FieldID`, `FieldNames`): copying, freeing and writing a
/// record touch no name's reference count, and a stage that bound its fields when it was built (`FieldKey`)
/// finds them by comparing integers. The API speaks names; only this type and the parser see ids.
///
/// `raw` lets the parsed fields be written back byte for byte without serializing them again: a stage that
/// only adds fields (a join, features, a score) keeps it, and a sink writes the original bytes followed by the
/// added fields. A change to or removal of a parsed field clears it.
///
/// One field may hold a typed float vector (`setVector`): the scaled model input, which the scorer reads as
/// `[Float]` without a detour through JSON. It reads as a JSON array of numbers everywhere else (`record[name]`,
/// `fields`, `json`, sinks), so a stage that does not know about it sees what it saw before.
///
/// One field may hold its value as JSON text (`setEncoded`): an explained alert's `top_features`, which every sink
/// writes byte for byte, where a tree of values was built once and written once per sink. It reads as the value
/// that text holds (`record[name]`, `fields`, `json`), parsed when read.
public struct Record: Sendable {
    /// Fields in document order; the vector's field holds a placeholder null here.
    private var storage: [(FieldID, JSONValue)]
    /// Bit `id.raw % 64` is set for the id of every field the record has (and may stay set after a removal): a
    /// clear bit proves a field absent without a scan, which is what adding a field must check. The ids of one
    /// stream's names are mostly below 64, so the bits are mostly exact.
    private var idBits: UInt64 = 0
    /// Names the process's table had no room for (`FieldID(local:)` indexes here); almost always empty.
    private var localNames: [String]
    public private(set) var raw: [UInt8]?
    /// How many leading fields `raw` holds (the ones after them were added since).
    private var rawFieldCount: Int
    /// The typed vector and the position of its field in `storage`.
    private var vectorSlot: (index: Int, values: [Float])?
    /// The field held as JSON text, and its position in `storage` (which holds a placeholder null there).
    private var encodedSlot: (index: Int, json: [UInt8])?
    /// A mark a transform puts on the records it hands to nested transforms, to match their output back to its
    /// input (an A/B split: each record's place in its batch). Not a field: no sink, tap, dead letter or lookup by
    /// name sees it, and it takes no name. −1 when unset.
    public var tag: Int32 = -1
    public var origin: RecordOrigin

    public init(fields: [(String, JSONValue)], raw: [UInt8]? = nil, origin: RecordOrigin = .none) {
        storage = []
        storage.reserveCapacity(fields.count)
        localNames = []
        for (name, value) in fields {
            let id = Self.newID(name, localNames: &localNames)
            storage.append((id, value))
            idBits |= id.bit
        }
        self.raw = raw
        rawFieldCount = fields.count
        self.origin = origin
    }

    /// A parsed record (`RecordParser`): its names are ids already.
    init(ids: [(FieldID, JSONValue)], localNames: [String], raw: [UInt8]?, origin: RecordOrigin) {
        storage = ids
        // Ids only, through the base pointer: `for (id, _) in ids` copied (retained) each value too.
        idBits = ids.withUnsafeBufferPointer { buffer in
            guard let fields = buffer.baseAddress else { return 0 }
            var bits: UInt64 = 0
            for i in 0..<buffer.count { bits |= fields[i].0.bit }
            return bits
        }
        self.localNames = localNames
        self.raw = raw
        rawFieldCount = ids.count
        self.origin = origin
    }

    /// The id for a name the record does not have yet: the table's, or a new local one when the table is full.
    private static func newID(_ name: String, localNames: inout [String]) -> FieldID {
        if let id = FieldNames.shared.intern(name) { return id }
        if let i = localNames.firstIndex(of: name) { return FieldID(local: i) }
        localNames.append(name)
        return FieldID(local: localNames.count - 1)
    }

    private func name(of id: FieldID) -> String {
        id.isLocal ? localNames[id.index] : FieldNames.shared.name(id)
    }

    /// The fields in document order, the vector as a JSON array.
    public var fields: [(String, JSONValue)] {
        var f: [(String, JSONValue)] = []
        f.reserveCapacity(storage.count)
        for (id, value) in storage { f.append((name(of: id), value)) }
        if let slot = vectorSlot { f[slot.index].1 = Self.json(slot.values) }
        if let slot = encodedSlot { f[slot.index].1 = Self.parsed(slot.json) }
        return f
    }

    public var fieldCount: Int { storage.count }

    public subscript(name: String) -> JSONValue? {
        get {
            guard let i = index(of: name) else { return nil }
            return value(at: i)
        }
        set { assign(newValue, at: index(of: name)) { Self.newID(name, localNames: &$0) } }
    }

    /// `record[key.name]`, found by id at the key's remembered position when the record has the usual layout.
    public subscript(key: FieldKey) -> JSONValue? {
        get {
            guard let i = index(of: key) else { return nil }
            return value(at: i)
        }
        set {
            assign(newValue, at: index(of: key)) { localNames in
                key.id ?? Self.newID(key.name, localNames: &localNames)
            }
        }
    }

    /// `key`'s field of each record, as a key's text (`JSONValue.keyText`), in order: nil where a record has none.
    /// For a keyed stage that looks up a whole batch's keys before it changes the records.
    public static func keyTexts(_ key: FieldKey, in records: [Record]) -> [String?] {
        var out: [String?] = []
        out.reserveCapacity(records.count)
        forEachValue(key, in: records) { out.append($0?.keyText) }
        return out
    }

    /// The finite numbers in `key`'s field of each record that has one, in order (event times for the latency
    /// meters).
    static func finiteNumbers(_ key: FieldKey, in records: [Record]) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(records.count)
        forEachValue(key, in: records) { v in
            if let t = v?.doubleValue, t.isFinite { out.append(t) }
        }
        return out
    }

    /// Calls `body` with `key`'s field of each record in order (nil where it has none; the typed vector counts as
    /// none). Reads each record in place, through stored properties: a method called on a record read through
    /// a pointer copied it, a retain and release of each of its arrays.
    private static func forEachValue(_ key: FieldKey, in records: [Record], _ body: (borrowing JSONValue?) -> Void) {
        records.withUnsafeBufferPointer { buffer in
            guard let records = buffer.baseAddress else { return }
            for r in 0..<buffer.count {
                let i = key.id.map { records[r].idBits & $0.bit == 0 ? nil : position(of: $0, key: key, in: records[r].storage) }
                    ?? position(of: key.name, in: records[r].storage, localNames: records[r].localNames)
                guard let i, records[r].vectorSlot?.index != i, records[r].encodedSlot?.index != i else {
                    body(nil)
                    continue
                }
                body(records[r].storage[i].1)
            }
        }
    }

    @inline(__always)
    private func value(at i: Int) -> JSONValue {
        if let slot = vectorSlot, slot.index == i { return Self.json(slot.values) }
        if let slot = encodedSlot, slot.index == i { return Self.parsed(slot.json) }
        return storage[i].1
    }

    /// Sets `key`'s field to the value `json` holds, kept as that text (one per record: a second replaces the
    /// first as a value). `json` must be one JSON value, as JSONWriter writes it (the caller's promise: the sinks
    /// write it as it is).
    public mutating func setEncoded(_ key: FieldKey, json: [UInt8]) {
        if let slot = encodedSlot { storage[slot.index].1 = Self.parsed(slot.json) }
        encodedSlot = nil
        self[key] = .null
        encodedSlot = (index(of: key)!, json)
    }

    /// The value of JSON text this process wrote (null if it is not JSON, which `setEncoded` rules out).
    static func parsed(_ json: [UInt8]) -> JSONValue { (try? DocumentParser.parseValue(json)) ?? .null }

    /// The typed vector in field `name`, when the field holds one.
    public func vector(_ name: String) -> [Float]? {
        guard let slot = vectorSlot, Self.id(storage[slot.index].0, is: name, length: name.utf8.count, localNames: localNames) else { return nil }
        return slot.values
    }

    /// The typed vector in `key`'s field, when the field holds one.
    public func vector(_ key: FieldKey) -> [Float]? {
        guard let id = key.id else { return vector(key.name) }
        guard let slot = vectorSlot, storage[slot.index].0 == id else { return nil }
        return slot.values
    }

    /// Sets field `name` to a float vector kept typed (one per record: a second replaces the first as JSON).
    public mutating func setVector(_ name: String, _ values: [Float]) { setVector(FieldKey(name), values) }

    /// `setVector` for a bound key.
    public mutating func setVector(_ key: FieldKey, _ values: [Float]) {
        if let slot = vectorSlot { storage[slot.index].1 = Self.json(slot.values) }
        vectorSlot = nil
        self[key] = .null
        vectorSlot = (index(of: key)!, values)
    }

    static func json(_ values: [Float]) -> JSONValue { .array(values.map { .double(Double($0)) }) }

    /// Position of a field by name: the names are compared through the table without copying them, lengths
    /// first (field names mostly differ in length, and a length is read without touching the bytes).
    @inline(__always)
    func index(of name: String) -> Int? { Self.position(of: name, in: storage, localNames: localNames) }

    /// Position of `key`'s field: where the key last found it when the id there matches, else by a scan of ids.
    @inline(__always)
    func index(of key: FieldKey) -> Int? {
        guard let id = key.id else { return index(of: key.name) }
        guard idBits & id.bit != 0 else { return nil }
        return Self.position(of: id, key: key, in: storage)
    }

    // The scans are static and take the storage as an argument: a closure in an instance method that used any
    // other property captured the whole record, and the compiler copied it (retaining all its arrays) on every
    // lookup. The fields are read through the base pointer: an element read through the buffer's subscript is
    // a copy of its value too.

    @inline(__always)
    private static func position(of name: String, in storage: [(FieldID, JSONValue)], localNames: [String]) -> Int? {
        let length = name.utf8.count
        let table = FieldNames.shared
        return storage.withUnsafeBufferPointer { buffer in
            guard let fields = buffer.baseAddress else { return nil }
            for i in 0..<buffer.count where id(fields[i].0, is: name, length: length, localNames: localNames, table: table) { return i }
            return nil
        }
    }

    /// Whether a field id of a record with `localNames` is `name` (of `length` UTF-8 bytes).
    @inline(__always)
    private static func id(_ id: FieldID, is name: String, length: Int, localNames: [String],
                           table: FieldNames = .shared) -> Bool {
        id.isLocal ? localNames[id.index] == name : table.id(id, is: name, length: length)
    }

    @inline(__always)
    private static func position(of id: FieldID, in storage: [(FieldID, JSONValue)]) -> Int? {
        storage.withUnsafeBufferPointer { buffer in
            guard let fields = buffer.baseAddress else { return nil }
            for i in 0..<buffer.count where fields[i].0 == id { return i }
            return nil
        }
    }

    /// `position(of: id)`, trying where `key` last found it first.
    @inline(__always)
    private static func position(of id: FieldID, key: FieldKey, in storage: [(FieldID, JSONValue)]) -> Int? {
        let hint = key.hint
        let hit = storage.withUnsafeBufferPointer { buffer in hint >= 0 && hint < buffer.count && buffer.baseAddress![hint].0 == id }
        if hit { return hint }
        guard let i = position(of: id, in: storage) else { return nil }
        key.remember(i)
        return i
    }

    /// Sets, adds (nil: removes) one field, found at `found` (nil: the record has none; `newID` gives the name's
    /// id to append it under). The one place fields change, so `raw` and the vector stay right.
    @inline(__always)
    private mutating func assign(_ value: JSONValue?, at found: Int?, newID: (inout [String]) -> FieldID) {
        guard let i = found else {
            if let value {
                let id = newID(&localNames)
                storage.append((id, value))
                idBits |= id.bit
            }
            return
        }
        // A parsed field that changes no longer matches `raw`.
        if i < rawFieldCount { raw = nil }
        if let slot = vectorSlot {
            if slot.index == i {
                vectorSlot = nil
            } else if value == nil && slot.index > i {
                vectorSlot = (slot.index - 1, slot.values)
            }
        }
        if let slot = encodedSlot {
            if slot.index == i {
                encodedSlot = nil
            } else if value == nil && slot.index > i {
                encodedSlot = (slot.index - 1, slot.json)
            }
        }
        if let value {
            storage[i].1 = value
        } else {
            storage.remove(at: i)
            if i < rawFieldCount { rawFieldCount -= 1 }
        }
    }

    /// Makes room for this many fields, for a stage about to add several.
    public mutating func reserveCapacity(_ count: Int) { storage.reserveCapacity(count) }

    /// Sets many fields at once: room for all of them is made once, and each is appended unless the record
    /// has it already.
    public mutating func set(_ updates: [(String, JSONValue)]) {
        storage.reserveCapacity(storage.count + updates.count)
        for (k, v) in updates { self[k] = v }
    }

    /// `set` for names and values in two arrays of the same length (a joined row), without pairing them first.
    public mutating func set(names: [String], values: [JSONValue]) {
        storage.reserveCapacity(storage.count + names.count)
        for j in 0..<min(names.count, values.count) { self[names[j]] = values[j] }
    }

    /// Sets field `list.names[j]` to `value(j)` for every position j of the list, in order; fields the record
    /// lacks are appended.
    public mutating func set(_ list: FieldList, _ value: (Int) -> JSONValue) {
        guard let ids = list.ids else {
            for j in list.names.indices { self[list.names[j]] = value(j) }
            return
        }
        storage.reserveCapacity(storage.count + ids.count)
        for j in 0..<ids.count {
            let id = ids[j]
            let v = value(j)
            if idBits & id.bit != 0, let i = Self.position(of: id, in: storage) {
                assign(v, at: i) { _ in id }
            } else {
                storage.append((id, v))
                idBits |= id.bit
            }
        }
    }

    public var json: JSONValue { .object(fields) }

    /// The bytes a sink writes: the original when unchanged; the original followed by the added fields when
    /// fields were only added; else fresh JSON.
    public func write(to writer: inout JSONWriter) {
        withUnsafePointer(to: self) { Self.write($0, to: &writer) }
    }

    /// Writes each record followed by a newline: a delivery as JSON lines.
    public static func writeLines(_ records: [Record], to writer: inout JSONWriter) {
        records.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for i in 0..<buffer.count {
                write(base + i, to: &writer)
                writer.bytes.append(0x0A)
            }
        }
    }

    // Writing reads the record through a pointer: a method called on a record read out of an array (even
    // through a buffer pointer) copied it first, a retain and release of each of its arrays per record written.

    private static func write(_ r: UnsafePointer<Record>, to writer: inout JSONWriter) {
        guard let raw = r.pointee.raw else { return writeFields(r, from: 0, to: &writer, first: true) }
        let parsed = r.pointee.rawFieldCount
        if parsed == r.pointee.storage.count { return writer.appendRaw(raw) }
        // The original object up to its closing brace. A record with no parsed fields (or raw bytes that do not
        // end in one) is written afresh.
        var end = raw.count
        while end > 0, raw[end - 1] == 0x20 || raw[end - 1] == 0x0A || raw[end - 1] == 0x0D || raw[end - 1] == 0x09 { end -= 1 }
        guard parsed > 0, end > 0, raw[end - 1] == UInt8(ascii: "}") else { return writeFields(r, from: 0, to: &writer, first: true) }
        raw.withUnsafeBufferPointer { writer.appendRaw(UnsafeBufferPointer(rebasing: $0[0..<(end - 1)])) }
        writeFields(r, from: parsed, to: &writer, first: false)
    }

    /// Writes `storage[start...]` as object members and closes the object; `first`: also opens it.
    private static func writeFields(_ r: UnsafePointer<Record>, from start: Int, to writer: inout JSONWriter, first: Bool) {
        // Mostly: numbers and short strings under names the writer has cached, staged and appended at once.
        if r.pointee.vectorSlot == nil,
           writer.staged(capacity: 1024, { w, stage in stageFields(r, from: start, first: first, writer: &w, stage: &stage) }) {
            return
        }
        if first { writer.bytes.append(UInt8(ascii: "{")) }
        let vectorIndex = r.pointee.vectorSlot?.index ?? -1, encodedIndex = r.pointee.encodedSlot?.index ?? -1
        // Through the base pointer: iterating the array, or reading the buffer's elements, copies each value.
        r.pointee.storage.withUnsafeBufferPointer { buffer in
            guard let fields = buffer.baseAddress else { return }
            for i in start..<buffer.count {
                if !(first && i == start) { writer.bytes.append(UInt8(ascii: ",")) }
                let id = fields[i].0
                if id.isLocal {
                    writer.writeString(r.pointee.localNames[id.index])
                    writer.bytes.append(UInt8(ascii: ":"))
                } else {
                    writer.writeMemberName(id, slot: i)
                }
                if i == encodedIndex {
                    writer.appendRaw(r.pointee.encodedSlot!.json)
                } else if i == vectorIndex {
                    writer.bytes.append(UInt8(ascii: "["))
                    for (j, v) in r.pointee.vectorSlot!.values.enumerated() {
                        if j > 0 { writer.bytes.append(UInt8(ascii: ",")) }
                        writer.write(.double(Double(v)))
                    }
                    writer.bytes.append(UInt8(ascii: "]"))
                } else {
                    writer.write(fields[i].1)
                }
            }
        }
        writer.bytes.append(UInt8(ascii: "}"))
    }

    /// `writeFields` into a stage; false (the caller writes the slow way) when a name is not cached or local, a
    /// string or name in a value needs an escape, or the stage is full.
    private static func stageFields(_ r: UnsafePointer<Record>, from start: Int, first: Bool, writer: inout JSONWriter,
                                    stage: inout JSONWriter.StagedBytes) -> Bool {
        if first { guard stage.put(UInt8(ascii: "{")) else { return false } }
        let encodedIndex = r.pointee.encodedSlot?.index ?? -1
        let done = r.pointee.storage.withUnsafeBufferPointer { buffer -> Bool in
            guard let fields = buffer.baseAddress else { return true }
            for i in start..<buffer.count {
                if !(first && i == start) { guard stage.put(UInt8(ascii: ",")) else { return false } }
                let id = fields[i].0
                guard !id.isLocal, writer.putMemberName(id, slot: i, into: &stage) else { return false }
                if i == encodedIndex {
                    guard r.pointee.encodedSlot!.json.withUnsafeBufferPointer({ stage.put($0) }) else { return false }
                } else {
                    guard stage.put(value: fields[i].1) else { return false }
                }
            }
            return true
        }
        return done && stage.put(UInt8(ascii: "}"))
    }

    /// The record as text, for dead-letter entries: the original payload when unchanged (also when it was not
    /// JSON), else what `write` writes.
    public var payloadText: String {
        if let raw, rawFieldCount == storage.count { return String(decoding: raw, as: UTF8.self) }
        var w = JSONWriter(capacity: 256)
        write(to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
