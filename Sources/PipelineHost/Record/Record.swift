/// Where a record came from, for dead-letter reasons and operator messages.
public enum RecordOrigin: Sendable, Equatable, CustomStringConvertible {
    case none
    /// A line of a file (1-based line number).
    case line(file: String, line: Int64)
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
/// `raw` lets the parsed fields be written back byte for byte without serializing them again: a stage that
/// only adds fields (a join, features, a score) keeps it, and a sink writes the original bytes followed by the
/// added fields. A change to or removal of a parsed field clears it.
///
/// One field may hold a typed float vector (`setVector`): the scaled model input, which the scorer reads as
/// `[Float]` without a detour through JSON. It reads as a JSON array of numbers everywhere else (`record[name]`,
/// `fields`, `json`, sinks), so a stage that does not know about it sees what it saw before.
public struct Record: Sendable {
    /// Fields in document order; the vector's field holds a placeholder null here.
    private var storage: [(String, JSONValue)]
    public private(set) var raw: [UInt8]?
    /// How many leading fields `raw` holds (the ones after them were added since).
    private var rawFieldCount: Int
    /// The typed vector and the position of its field in `storage`.
    private var vectorSlot: (index: Int, values: [Float])?
    public var origin: RecordOrigin

    public init(fields: [(String, JSONValue)], raw: [UInt8]? = nil, origin: RecordOrigin = .none) {
        storage = fields
        self.raw = raw
        rawFieldCount = fields.count
        self.origin = origin
    }

    /// The fields in document order, the vector as a JSON array.
    public var fields: [(String, JSONValue)] {
        guard let slot = vectorSlot else { return storage }
        var f = storage
        f[slot.index].1 = Self.json(slot.values)
        return f
    }

    public var fieldCount: Int { storage.count }

    public subscript(name: String) -> JSONValue? {
        get {
            guard let i = index(of: name) else { return nil }
            if let slot = vectorSlot, slot.index == i { return Self.json(slot.values) }
            return storage[i].1
        }
        set { assign(name, newValue) }
    }

    /// `record[key.name]`, found at the key's remembered position when the record has the usual layout.
    public subscript(key: FieldKey) -> JSONValue? {
        get {
            guard let i = index(of: key) else { return nil }
            if let slot = vectorSlot, slot.index == i { return Self.json(slot.values) }
            return storage[i].1
        }
        set { assign(key.name, newValue, at: index(of: key)) }
    }

    /// The typed vector in field `name`, when the field holds one.
    public func vector(_ name: String) -> [Float]? {
        guard let slot = vectorSlot, storage[slot.index].0 == name else { return nil }
        return slot.values
    }

    /// Sets field `name` to a float vector kept typed (one per record: a second replaces the first as JSON).
    public mutating func setVector(_ name: String, _ values: [Float]) {
        if let slot = vectorSlot { storage[slot.index].1 = Self.json(slot.values) }
        vectorSlot = nil
        assign(name, .null)
        vectorSlot = (index(of: name)!, values)
    }

    static func json(_ values: [Float]) -> JSONValue { .array(values.map { .double(Double($0)) }) }

    /// Position of a field. Lengths are compared first: field names mostly differ in length, and a length is
    /// read without touching the string's bytes (String `==` on unequal strings takes a slow path).
    @inline(__always)
    func index(of name: String) -> Int? {
        let length = name.utf8.count
        return storage.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i].0.utf8.count == length && buffer[i].0 == name { return i }
            return nil
        }
    }

    /// Position of `key`'s field: where the key last found it, when the name there matches, else by a scan.
    @inline(__always)
    func index(of key: FieldKey) -> Int? {
        let hint = key.hint
        let hit = storage.withUnsafeBufferPointer { buffer in hint >= 0 && hint < buffer.count && buffer[hint].0 == key.name }
        if hit { return hint }
        guard let i = index(of: key.name) else { return nil }
        key.remember(i)
        return i
    }

    private mutating func assign(_ name: String, _ value: JSONValue?) {
        assign(name, value, at: index(of: name))
    }

    /// Sets, adds (nil: removes) one field, found at `found` (nil: the record has none). The one place fields
    /// change, so `raw` and the vector stay right.
    private mutating func assign(_ name: String, _ value: JSONValue?, at found: Int?) {
        guard let i = found else {
            if let value { storage.append((name, value)) }
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
        for (k, v) in updates { assign(k, v) }
    }

    /// `set` for names and values in two arrays of the same length (a joined row), without pairing them first.
    public mutating func set(names: [String], values: [JSONValue]) {
        storage.reserveCapacity(storage.count + names.count)
        for j in 0..<min(names.count, values.count) { assign(names[j], values[j]) }
    }

    public var json: JSONValue { .object(fields) }

    /// The bytes a sink writes: the original when unchanged; the original followed by the added fields when
    /// fields were only added; else fresh JSON.
    public func write(to writer: inout JSONWriter) {
        guard let raw else { return writeFields(from: 0, to: &writer, first: true) }
        if rawFieldCount == storage.count { return writer.appendRaw(raw) }
        // The original object up to its closing brace. A record with no parsed fields (or raw bytes that do not
        // end in one) is written afresh.
        var end = raw.count
        while end > 0, raw[end - 1] == 0x20 || raw[end - 1] == 0x0A || raw[end - 1] == 0x0D || raw[end - 1] == 0x09 { end -= 1 }
        guard rawFieldCount > 0, end > 0, raw[end - 1] == UInt8(ascii: "}") else { return writeFields(from: 0, to: &writer, first: true) }
        raw.withUnsafeBufferPointer { writer.appendRaw(UnsafeBufferPointer(rebasing: $0[0..<(end - 1)])) }
        writeFields(from: rawFieldCount, to: &writer, first: false)
    }

    /// Writes `storage[start...]` as object members and closes the object; `first`: also opens it.
    private func writeFields(from start: Int, to writer: inout JSONWriter, first: Bool) {
        if first { writer.bytes.append(UInt8(ascii: "{")) }
        let vectorIndex = vectorSlot?.index ?? -1
        // Through the buffer: iterating the array would retain and release every name and value.
        storage.withUnsafeBufferPointer { buffer in
            for i in start..<buffer.count {
                if !(first && i == start) { writer.bytes.append(UInt8(ascii: ",")) }
                writer.writeMemberName(buffer[i].0, slot: i)
                if i == vectorIndex {
                    writer.bytes.append(UInt8(ascii: "["))
                    for (j, v) in vectorSlot!.values.enumerated() {
                        if j > 0 { writer.bytes.append(UInt8(ascii: ",")) }
                        writer.write(.double(Double(v)))
                    }
                    writer.bytes.append(UInt8(ascii: "]"))
                } else {
                    writer.write(buffer[i].1)
                }
            }
        }
        writer.bytes.append(UInt8(ascii: "}"))
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
