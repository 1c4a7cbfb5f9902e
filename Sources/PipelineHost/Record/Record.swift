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
/// `raw` lets an untouched record be written back byte for byte without serializing it again, and
/// is what a dead-letter entry shows as the original payload. Any field change clears it.
public struct Record: Sendable {
    public private(set) var fields: [(String, JSONValue)]
    public private(set) var raw: [UInt8]?
    public var origin: RecordOrigin

    public init(fields: [(String, JSONValue)], raw: [UInt8]? = nil, origin: RecordOrigin = .none) {
        self.fields = fields
        self.raw = raw
        self.origin = origin
    }

    public subscript(name: String) -> JSONValue? {
        get { index(of: name).map { fields[$0].1 } }
        set {
            raw = nil
            if let i = index(of: name) {
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
        raw = nil
        fields.reserveCapacity(fields.count + updates.count)
        for (k, v) in updates {
            if let i = index(of: k) { fields[i].1 = v } else { fields.append((k, v)) }
        }
    }

    /// `set` for names and values in two arrays of the same length (a joined row), without pairing them first.
    public mutating func set(names: [String], values: [JSONValue]) {
        raw = nil
        fields.reserveCapacity(fields.count + names.count)
        for j in 0..<min(names.count, values.count) {
            if let i = index(of: names[j]) { fields[i].1 = values[j] } else { fields.append((names[j], values[j])) }
        }
    }

    public var json: JSONValue { .object(fields) }

    /// The bytes a sink writes: the original when unchanged, else fresh JSON.
    public func write(to writer: inout JSONWriter) {
        if let raw { writer.appendRaw(raw) } else { writer.writeObject(fields) }
    }

    /// The original payload as text, for dead-letter entries.
    public var payloadText: String {
        if let raw { return String(decoding: raw, as: UTF8.self) }
        return JSONValue.object(fields).description
    }
}
