/// A transform's state as a checkpoint carries it: one JSON document, as a value or already encoded.
///
/// A transform with large keyed state may write its document itself (`Transform.checkpointState(encoded:)`) when
/// the store only writes the checkpoint out: rolling aggregates' 80,000 keys would otherwise become a tree of
/// some 400,000 small values to build, encode and free, which cost three times the encoding alone and, at the end
/// of a file, run on one core after everything else has finished.
public enum StateSnapshot: Sendable {
    case value(JSONValue)
    /// The bytes of one complete JSON document.
    case encoded([UInt8])

    /// The document as a value (parsed when it is encoded).
    public var value: JSONValue {
        get throws {
            switch self {
            case .value(let v): return v
            case .encoded(let bytes): return try DocumentParser.parseValue(bytes)
            }
        }
    }

    public func write(into writer: inout JSONWriter) {
        switch self {
        case .value(let v): writer.write(v)
        case .encoded(let bytes): writer.appendRaw(bytes)
        }
    }
}

extension StateSnapshot: Equatable {
    /// Equal when they hold the same document, whatever the form.
    public static func == (lhs: StateSnapshot, rhs: StateSnapshot) -> Bool {
        if case let (.encoded(a), .encoded(b)) = (lhs, rhs), a == b { return true }
        guard let l = try? lhs.value, let r = try? rhs.value else { return false }
        return l == r
    }
}
