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
public struct Record: Sendable {
    public private(set) var fields: [(String, JSONValue)]
    public private(set) var raw: [UInt8]?
    /// How many leading `fields` `raw` holds (the ones after them were added since).
    private var rawFieldCount: Int
    public var origin: RecordOrigin

    public init(fields: [(String, JSONValue)], raw: [UInt8]? = nil, origin: RecordOrigin = .none) {
        self.fields = fields
        self.raw = raw
        rawFieldCount = fields.count
        self.origin = origin
    }

    /// Called before a change to field `i`: a parsed field that changes no longer matches `raw`.
    @inline(__always)
    private mutating func willChange(_ i: Int) {
        if i < rawFieldCount { raw = nil }
    }

    public subscript(name: String) -> JSONValue? {
        get { index(of: name).map { fields[$0].1 } }
        set {
            if let i = index(of: name) {
                willChange(i)
                if let newValue { fields[i].1 = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((name, newValue))
            }
        }
    }

    /// Position of a field. Lengths are compared first: field names mostly differ in length, and a length is
    /// read without touching the string's bytes (String `==` on unequal strings takes a slow path).
    @inline(__always)
    func index(of name: String) -> Int? {
        let length = name.utf8.count
        return fields.withUnsafeBufferPointer { buffer in
            for i in buffer.indices where buffer[i].0.utf8.count == length && buffer[i].0 == name { return i }
            return nil
        }
    }

    /// Makes room for this many fields, for a stage about to add several.
    public mutating func reserveCapacity(_ count: Int) { fields.reserveCapacity(count) }

    /// Sets many fields at once: room for all of them is made once, and each is appended unless the record
    /// has it already.
    public mutating func set(_ updates: [(String, JSONValue)]) {
        fields.reserveCapacity(fields.count + updates.count)
        for (k, v) in updates {
            if let i = index(of: k) {
                willChange(i)
                fields[i].1 = v
            } else {
                fields.append((k, v))
            }
        }
    }

    /// `set` for names and values in two arrays of the same length (a joined row), without pairing them first.
    public mutating func set(names: [String], values: [JSONValue]) {
        fields.reserveCapacity(fields.count + names.count)
        for j in 0..<min(names.count, values.count) {
            if let i = index(of: names[j]) {
                willChange(i)
                fields[i].1 = values[j]
            } else {
                fields.append((names[j], values[j]))
            }
        }
    }

    public var json: JSONValue { .object(fields) }

    /// The bytes a sink writes: the original when unchanged; the original followed by the added fields when
    /// fields were only added; else fresh JSON.
    public func write(to writer: inout JSONWriter) {
        guard let raw else { return writer.writeObject(fields) }
        if rawFieldCount == fields.count { return writer.appendRaw(raw) }
        // The original object up to its closing brace. A record with no parsed fields (or raw bytes that do not
        // end in one) is written afresh.
        var end = raw.count
        while end > 0, raw[end - 1] == 0x20 || raw[end - 1] == 0x0A || raw[end - 1] == 0x0D || raw[end - 1] == 0x09 { end -= 1 }
        guard rawFieldCount > 0, end > 0, raw[end - 1] == UInt8(ascii: "}") else { return writer.writeObject(fields) }
        raw.withUnsafeBufferPointer { writer.appendRaw(UnsafeBufferPointer(rebasing: $0[0..<(end - 1)])) }
        fields.withUnsafeBufferPointer { buffer in
            for i in rawFieldCount..<buffer.count {
                writer.bytes.append(UInt8(ascii: ","))
                writer.writeString(buffer[i].0)
                writer.bytes.append(UInt8(ascii: ":"))
                writer.write(buffer[i].1)
            }
        }
        writer.bytes.append(UInt8(ascii: "}"))
    }

    /// The record as text, for dead-letter entries: the original payload when unchanged (also when it was not
    /// JSON), else what `write` writes.
    public var payloadText: String {
        if let raw, rawFieldCount == fields.count { return String(decoding: raw, as: UTF8.self) }
        var w = JSONWriter(capacity: 256)
        write(to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}
