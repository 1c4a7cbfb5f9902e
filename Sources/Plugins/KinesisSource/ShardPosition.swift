import PipelineHost

/// What the checkpoint holds for one shard (partition key = shard id): the sequence number of the last
/// Kinesis record emitted, as a string (`"49590338271490256608559692538361571095921575989136588898"`), or,
/// once the shard was read to its end, `{"closed": true, "sequence": <last or null>}` so that a restart neither
/// reads it again nor holds back its children.
enum ShardPosition: Sendable, Equatable {
    case after(String)
    case closed(lastSequence: String?)

    init?(_ json: JSONValue) {
        if let s = json.stringValue, !s.isEmpty {
            self = .after(s)
        } else if json["closed"]?.boolValue == true {
            self = .closed(lastSequence: json["sequence"]?.stringValue)
        } else {
            return nil
        }
    }

    var json: JSONValue {
        switch self {
        case .after(let s): return .string(s)
        case .closed(let s): return .object([("closed", .bool(true)), ("sequence", s.map(JSONValue.string) ?? .null)])
        }
    }
}

/// Where a shard iterator starts (GetShardIterator's ShardIteratorType and its argument).
enum IteratorStart: Sendable, Equatable {
    case trimHorizon
    case latest
    case atTimestamp(Double)
    case afterSequence(String)

    var parameters: [(String, JSONValue)] {
        switch self {
        case .trimHorizon: return [("ShardIteratorType", "TRIM_HORIZON")]
        case .latest: return [("ShardIteratorType", "LATEST")]
        case .atTimestamp(let t): return [("ShardIteratorType", "AT_TIMESTAMP"), ("Timestamp", .double(t))]
        case .afterSequence(let s): return [("ShardIteratorType", "AFTER_SEQUENCE_NUMBER"), ("StartingSequenceNumber", .string(s))]
        }
    }
}
