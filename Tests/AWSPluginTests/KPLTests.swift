import AWSCore
import Foundation
import PipelineHost
import Testing

@testable import KinesisSource

/// Builds KPL aggregates by hand, as the KPL writes them.
enum KPLBuilder {
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        return out + [UInt8(v)]
    }

    static func bytesField(_ number: UInt64, _ bytes: [UInt8]) -> [UInt8] { varint(number << 3 | 2) + varint(UInt64(bytes.count)) + bytes }
    static func varintField(_ number: UInt64, _ value: UInt64) -> [UInt8] { varint(number << 3) + varint(value) }

    /// `records`: (partition key index, explicit hash key index, data).
    static func aggregate(keys: [String], hashKeys: [String] = [], records: [(UInt64, UInt64?, String)], corruptDigest: Bool = false) -> [UInt8] {
        var body: [UInt8] = []
        for k in keys { body += bytesField(1, Array(k.utf8)) }
        for h in hashKeys { body += bytesField(2, Array(h.utf8)) }
        for (pk, ehk, data) in records {
            var r = varintField(1, pk)
            if let ehk { r += varintField(2, ehk) }
            r += bytesField(3, Array(data.utf8))
            r += bytesField(4, bytesField(1, Array("tag".utf8)))  // a Tag, skipped by the reader
            body += bytesField(3, r)
        }
        var digest = Digest.md5(body)
        if corruptDigest { digest[0] ^= 0xFF }
        return KPLAggregate.magic + body + digest
    }
}

@Suite struct KPLTests {
    func decode(_ bytes: [UInt8], deaggregate: Bool = true) -> ([Record], [DeadLetter]) {
        let decoder = KinesisRecordDecoder(shardID: "shardId-7", deaggregate: deaggregate)
        var records: [Record] = []
        var letters: [DeadLetter] = []
        decoder.decode(KinesisRecord(sequenceNumber: "42", data: Data(bytes).base64EncodedString(), partitionKey: "agg"),
                       into: &records, deadLetters: &letters)
        return (records, letters)
    }

    @Test func anAggregateSplitsIntoItsUserRecords() throws {
        let bytes = KPLBuilder.aggregate(
            keys: ["card-1", "card-2"], hashKeys: ["170141183460469231731687303715884105728"],
            records: [(0, nil, #"{"n":1}"#), (1, 0, #"{"n":2}"#), (0, nil, #"{"n":3}"# + "\n")])
        guard case .records(let users) = KPLAggregate.decode(bytes) else { Issue.record("not decoded"); return }
        #expect(users.map(\.partitionKey) == ["card-1", "card-2", "card-1"])
        #expect(users[1].explicitHashKey == "170141183460469231731687303715884105728")

        let (records, letters) = decode(bytes)
        #expect(letters.isEmpty)
        #expect(records.map { $0["n"] } == [.int(1), .int(2), .int(3)])
        #expect(records.map(\.origin) == (0..<3).map { .sequence(partition: "shardId-7", sequence: "42:\($0)") })
        #expect(records[2].payloadText == #"{"n":3}"#, "the trailing newline is not part of the record")
    }

    @Test func aBadChecksumGoesToTheDeadLetterOutput() {
        let bytes = KPLBuilder.aggregate(keys: ["k"], records: [(0, nil, #"{"n":1}"#)], corruptDigest: true)
        let (records, letters) = decode(bytes)
        #expect(records.isEmpty)
        #expect(letters.count == 1)
        #expect(letters.first?.reason.contains("MD5 checksum mismatch") == true)
        #expect(letters.first?.reason.hasPrefix("shardId-7@42") == true)
        #expect(letters.first?.record.origin == .sequence(partition: "shardId-7", sequence: "42"))
    }

    @Test func malformedAggregatesAreDeadLetteredNotCrashed() {
        // Index past the key table, truncated varint, length past the end, and a too-short aggregate.
        let badIndex = KPLBuilder.aggregate(keys: ["k"], records: [(5, nil, "{}")])
        var truncated = Array(KPLBuilder.bytesField(1, Array("k".utf8))) + [0x18, 0xFF]
        truncated = KPLAggregate.magic + truncated + Digest.md5(truncated)
        var overlong = [UInt8](KPLBuilder.varint(1 << 3 | 2)) + KPLBuilder.varint(1000) + [1, 2]
        overlong = KPLAggregate.magic + overlong + Digest.md5(overlong)
        for bytes in [badIndex, truncated, overlong, KPLAggregate.magic + [1, 2]] {
            let (records, letters) = decode(bytes)
            #expect(records.isEmpty)
            #expect(letters.count == 1)
            #expect(letters.first?.reason.contains("KPL aggregated record") == true, "\(letters.first?.reason ?? "")")
        }
        for _ in 0..<200 {
            let random = KPLAggregate.magic + (0..<Int.random(in: 16...64)).map { _ in UInt8.random(in: 0...255) }
            _ = decode(random)  // must not crash
        }
    }

    @Test func withoutDeaggregationAnAggregateIsNotJSON() {
        let bytes = KPLBuilder.aggregate(keys: ["k"], records: [(0, nil, #"{"n":1}"#)])
        let (records, letters) = decode(bytes, deaggregate: false)
        #expect(records.isEmpty)
        #expect(letters.count == 1)
    }

    @Test func plainRecordsAndInvalidBase64() {
        let (records, _) = decode(Array(#"{"a":1}"#.utf8))
        #expect(records.count == 1)
        let decoder = KinesisRecordDecoder(shardID: "s", deaggregate: true)
        var r: [Record] = []
        var l: [DeadLetter] = []
        decoder.decode(KinesisRecord(sequenceNumber: "1", data: "%%%not base64", partitionKey: "k"), into: &r, deadLetters: &l)
        #expect(r.isEmpty)
        #expect(l.first?.reason.contains("base64") == true)
    }
}
