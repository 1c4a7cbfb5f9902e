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
        get {
            for (k, v) in fields where k == name { return v }
            return nil
        }
        set {
            raw = nil
            if let i = fields.firstIndex(where: { $0.0 == name }) {
                if let newValue { fields[i].1 = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((name, newValue))
            }
        }
    }

    /// Sets many fields at once (one pass over existing fields per name).
    public mutating func set(_ updates: [(String, JSONValue)]) {
        for (k, v) in updates { self[k] = v }
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
