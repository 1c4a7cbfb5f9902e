import Foundation
import PipelineHost

/// Turns Kinesis records into pipeline records: base64 → (KPL de-aggregation) → one JSON object each.
/// Whatever cannot be turned into a record becomes a dead letter with the shard, sequence number and reason.
/// One per shard reader (it holds a parser), never shared between tasks.
final class KinesisRecordDecoder {
    let shardID: String
    let deaggregate: Bool
    private let parser: RecordParser

    init(shardID: String, deaggregate: Bool, addedFields: Int = 0) {
        self.shardID = shardID
        self.deaggregate = deaggregate
        parser = RecordParser(addedFields: addedFields)
    }

    /// Appends what `record` holds; returns the number of payload bytes.
    @discardableResult
    func decode(_ record: KinesisRecord, into records: inout [Record], deadLetters: inout [DeadLetter]) -> Int {
        let sequence = record.sequenceNumber
        guard let data = Data(base64Encoded: record.data) else {
            let bad = Record(fields: [], raw: Array(record.data.utf8), origin: .sequence(partition: shardID, sequence: sequence))
            deadLetters.append(DeadLetter(record: bad, reason: "\(shardID)@\(sequence): Data is not valid base64", stage: "source"))
            return record.data.utf8.count
        }
        let bytes = [UInt8](data)
        if deaggregate {
            switch KPLAggregate.decode(bytes) {
            case .plain: break
            case .records(let users):
                // User record i of an aggregate gets sub-sequence number i, as KCL numbers them.
                for (i, user) in users.enumerated() {
                    parse(user.data, sequence: "\(sequence):\(i)", into: &records, deadLetters: &deadLetters)
                }
                return bytes.count
            case .invalid(let reason):
                let bad = Record(fields: [], raw: bytes, origin: .sequence(partition: shardID, sequence: sequence))
                deadLetters.append(DeadLetter(record: bad, reason: "\(shardID)@\(sequence): \(reason)", stage: "source"))
                return bytes.count
            }
        }
        parse(bytes, sequence: sequence, into: &records, deadLetters: &deadLetters)
        return bytes.count
    }

    private func parse(_ payload: [UInt8], sequence: String, into records: inout [Record], deadLetters: inout [DeadLetter]) {
        // Producers often end each record with a newline; the record's raw bytes must not carry it, or sinks
        // that append their own would write blank lines.
        var end = payload.count
        while end > 0, payload[end - 1] == 0x0A || payload[end - 1] == 0x0D || payload[end - 1] == 0x20 { end -= 1 }
        let raw = end == payload.count ? payload : Array(payload[0..<end])
        let origin = RecordOrigin.sequence(partition: shardID, sequence: sequence)
        do throws(RecordParser.ParseError) {
            if let record = try parser.parseRecord(raw, origin: origin) {
                records.append(record)
            } else {
                deadLetters.append(DeadLetter(record: Record(fields: [], raw: raw, origin: origin),
                                              reason: "\(shardID)@\(sequence): empty record", stage: "source"))
            }
        } catch {
            deadLetters.append(DeadLetter(record: Record(fields: [], raw: raw, origin: origin),
                                          reason: "\(shardID)@\(sequence): \(error.message)", stage: "source"))
        }
    }
}
