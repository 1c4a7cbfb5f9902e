import AWSCore

/// The KPL aggregation format: `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the 16-byte MD5 of the
/// protobuf bytes. Decoded by hand (a few dozen lines) rather than with a protobuf library: only three message
/// fields are read and unknown ones (tags, future fields) are skipped by wire type.
///
///     message AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2;
///                                repeated Record records = 3; }
///     message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
///                      required bytes data = 3; repeated Tag tags = 4; }
enum KPLAggregate {
    static let magic: [UInt8] = [0xF3, 0x89, 0x9A, 0xC2]
    static let digestLength = 16

    struct UserRecord: Equatable {
        var partitionKey: String
        var explicitHashKey: String?
        var data: [UInt8]
    }

    enum Outcome: Equatable {
        /// No magic prefix: an ordinary record.
        case plain
        case records([UserRecord])
        /// The magic prefix is there but the rest is not a valid aggregate (the reason says why).
        case invalid(String)
    }

    static func decode(_ bytes: [UInt8]) -> Outcome {
        guard bytes.count >= magic.count, bytes.starts(with: magic) else { return .plain }
        guard bytes.count >= magic.count + digestLength else {
            return .invalid("KPL aggregated record is \(bytes.count) bytes, too short for its MD5 trailer")
        }
        let body = bytes[magic.count..<(bytes.count - digestLength)]
        guard Digest.md5(body) == Array(bytes.suffix(digestLength)) else {
            return .invalid("KPL aggregated record: MD5 checksum mismatch (corrupted or truncated aggregate)")
        }
        do {
            return .records(try parseAggregate(Array(body)))
        } catch {
            return .invalid("KPL aggregated record: \(error.message)")
        }
    }

    struct DecodeError: Error {
        var message: String
    }

    static func parseAggregate(_ body: [UInt8]) throws(DecodeError) -> [UserRecord] {
        var reader = ProtobufReader(body)
        var partitionKeys: [String] = []
        var hashKeys: [String] = []
        var raw: [(pk: UInt64, ehk: UInt64?, data: [UInt8])] = []
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): partitionKeys.append(String(decoding: try reader.lengthDelimited(), as: UTF8.self))
            case (2, .lengthDelimited): hashKeys.append(String(decoding: try reader.lengthDelimited(), as: UTF8.self))
            case (3, .lengthDelimited):
                var inner = ProtobufReader(try reader.lengthDelimited())
                var pk: UInt64?
                var ehk: UInt64?
                var data: [UInt8]?
                while let (f, w) = try inner.nextField() {
                    switch (f, w) {
                    case (1, .varint): pk = try inner.varint()
                    case (2, .varint): ehk = try inner.varint()
                    case (3, .lengthDelimited): data = try inner.lengthDelimited()
                    default: try inner.skip(w)
                    }
                }
                guard let pk, let data else { throw DecodeError(message: "user record \(raw.count) lacks partition_key_index or data") }
                raw.append((pk, ehk, data))
            default: try reader.skip(wire)
            }
        }
        return try raw.enumerated().map { (i, r) throws(DecodeError) -> UserRecord in
            guard r.pk < partitionKeys.count else {
                throw DecodeError(message: "user record \(i) points at partition key \(r.pk) of \(partitionKeys.count)")
            }
            var hashKey: String?
            if let ehk = r.ehk {
                guard ehk < hashKeys.count else {
                    throw DecodeError(message: "user record \(i) points at explicit hash key \(ehk) of \(hashKeys.count)")
                }
                hashKey = hashKeys[Int(ehk)]
            }
            return UserRecord(partitionKey: partitionKeys[Int(r.pk)], explicitHashKey: hashKey, data: r.data)
        }
    }
}

/// Reads protobuf wire format: tags, varints, length-delimited fields; skips the fixed-width ones.
struct ProtobufReader {
    enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    private let buffer: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { buffer = bytes }

    /// The next field number and wire type, or nil at the end of the message.
    mutating func nextField() throws(KPLAggregate.DecodeError) -> (UInt64, WireType)? {
        guard offset < buffer.count else { return nil }
        let key = try varint()
        guard let wire = WireType(rawValue: key & 7), key >> 3 > 0 else {
            throw KPLAggregate.DecodeError(message: "malformed protobuf: bad field key \(key) at byte \(offset)")
        }
        return (key >> 3, wire)
    }

    mutating func varint() throws(KPLAggregate.DecodeError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < buffer.count {
            let b = buffer[offset]
            offset += 1
            value |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { break }
        }
        throw KPLAggregate.DecodeError(message: "malformed protobuf: truncated or overlong varint")
    }

    mutating func lengthDelimited() throws(KPLAggregate.DecodeError) -> [UInt8] {
        let length = try varint()
        guard length <= UInt64(buffer.count - offset) else {
            throw KPLAggregate.DecodeError(message: "malformed protobuf: field of \(length) bytes runs past the end")
        }
        let out = Array(buffer[offset..<(offset + Int(length))])
        offset += Int(length)
        return out
    }

    mutating func skip(_ wire: WireType) throws(KPLAggregate.DecodeError) {
        switch wire {
        case .varint: _ = try varint()
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed64, .fixed32:
            let width = wire == .fixed64 ? 8 : 4
            guard offset + width <= buffer.count else { throw KPLAggregate.DecodeError(message: "malformed protobuf: truncated fixed field") }
            offset += width
        case .startGroup, .endGroup:
            throw KPLAggregate.DecodeError(message: "malformed protobuf: groups are not used by the KPL format")
        }
    }
}
