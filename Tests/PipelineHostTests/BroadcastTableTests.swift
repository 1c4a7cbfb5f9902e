@testable import DynamoBroadcast
import PipelineHost
import Testing

@Suite struct BroadcastTableTests {
    /// The table against a plain dictionary of rows, through upserts, removals (whose rows are reused),
    /// fields that turn general (a string, a float, an object among whole numbers) and joins.
    @Test func agreesWithADictionaryOfRows() {
        let fields = ["age", "location", "score", "tenure_months"]
        var columns = BroadcastTable.Columns(fieldCount: fields.count)
        var reference: [String: [JSONValue]] = [:]
        var rng = SplitMix64(seed: 11)
        func value(_ field: Int, _ step: Int) -> JSONValue {
            switch (field, step % 97) {
            case (1, 50): return .string("NY-\(step)")  // field 1 turns general halfway
            case (2, 13): return .double(0.5)
            case (2, 14): return .object([("nested", .int(1))])
            case (_, 3): return .null
            default: return .int(Int64(step % 1000) - 500)
            }
        }
        for step in 0..<20_000 {
            let key = "u\(rng.next() % 500)"
            if rng.next() % 5 == 0 {
                columns.remove(key)
                reference[key] = nil
            } else {
                let row = fields.indices.map { value($0, step) }
                columns.upsert(key, row)
                reference[key] = row
            }
        }
        #expect(columns.places[1] != .int(1), "a string must have moved field 1 to the general cells")
        #expect(columns.rows.count == reference.count)
        let table = BroadcastTable(fields: fields)
        table.replace(with: columns)
        let keys: [String?] = (0..<520).map { "u\($0)" } + [nil]
        for key in keys.compactMap({ $0 }) { #expect(table.row(key) == reference[key], "\(key)") }
        // The join writes exactly the reference row into each record, and nothing for unknown keys.
        var records = keys.map { k in Record(fields: [("user_id", k.map { .string($0) } ?? .null), ("age", .int(-1))]) }
        var joined: [Bool] = []
        table.withJoin(keys: keys) { join in
            for i in records.indices { joined.append(join(i, &records[i])) }
        }
        for (i, key) in keys.enumerated() {
            let expected = key.flatMap { reference[$0] }
            #expect(joined[i] == (expected != nil))
            guard let expected else { continue }
            for (f, name) in fields.enumerated() { #expect(records[i][name] == expected[f], "\(key!).\(name)") }
            #expect(records[i].fieldCount == 1 + fields.count, "age is set in place, not repeated")
        }
    }
}

/// The reference file of `mode: file`: rows by key with the configured fields (absent ones null), a later line
/// for a key replacing the earlier, and a bad line failing the load with its line number and what is wrong.
@Suite struct BroadcastFileTests {
    /// A file of several read chunks: a later row of a key wins, the last line needs no line break, and a bad line
    /// is named by its number in the whole file, wherever the chunks end.
    @Test func aLargeFileLoadsInFileOrderAndNamesTheBadLineAcrossChunks() throws {
        let dir = TestFiles.scratch("broadcast-large")
        let path = dir + "/users.jsonl"
        let n = 90_000  // about 9 MB: several read chunks
        var text = ""
        text.reserveCapacity(n * 100)
        for i in 0..<n { text += #"{"user_id": "u\#(i % 20_000)", "age": \#(i), "location": "somewhere-\#(i % 7)", "pad": "0123456789abcdef"}"# + "\n" }
        TestFiles.write(String(text.dropLast()), to: path)  // no line break after the last line
        let columns = try DynamoBroadcast.loadFile(path, key: "user_id", fields: ["age", "location"])
        let keys = (0..<20_000).map { "u\($0)" }
        let rows = columns.rows(of: keys)
        for k in [0, 5, 9_999, 19_999] {
            let last = (0..<n).last { $0 % 20_000 == k }!
            #expect(columns.row(Int(rows[k])) == [.int(Int64(last)), .string("somewhere-\(last % 7)")], "u\(k)")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for bad in [1, 45_001, 61_234, n] {
            var broken = lines
            broken[bad - 1] = #"{"user_id": "u1", "age": }"#
            TestFiles.write(broken.joined(separator: "\n"), to: path)
            do {
                _ = try DynamoBroadcast.loadFile(path, key: "user_id", fields: ["age"])
                Issue.record("a bad line \(bad) loaded")
            } catch {
                #expect("\(error)".contains("line \(bad): "), "\(error)")
            }
        }
        lines.removeAll()
    }

    @Test func loadsRowsAndNamesTheBadLine() throws {
        let dir = TestFiles.scratch("broadcast-file")
        let good = dir + "/users.jsonl"
        TestFiles.write("""
            {"user_id": "u1", "age": 31, "location": 4, "other": "x"}
            {"user_id": "u2", "age": 40}

            {"user_id": "u1", "age": 32, "location": 5}
            {"user_id": 17, "age": 50, "location": "far"}
            """, to: good)
        let columns = try DynamoBroadcast.loadFile(good, key: "user_id", fields: ["age", "location"])
        let rows = columns.rows(of: ["u1", "u2", "17", "u3", nil])
        #expect(rows[3] == -1 && rows[4] == -1)
        #expect(columns.row(Int(rows[0])) == [.int(32), .int(5)])
        #expect(columns.row(Int(rows[1])) == [.int(40), .null])
        #expect(columns.row(Int(rows[2])) == [.int(50), .string("far")])

        for (text, message) in [
            (#"{"user_id": "u1", "age": 1}\#n{"user_id": "u2", "age": }"#, "line 2: "),
            (#"{"user_id": "u1", "age": 1}\#n{"user_id": "u2"}\#n{"age": 3}"#, #"line 3: item has no "user_id""#),
        ] {
            let bad = dir + "/bad.jsonl"
            TestFiles.write(text + "\n", to: bad)
            do {
                _ = try DynamoBroadcast.loadFile(bad, key: "user_id", fields: ["age"])
                Issue.record("\(text) loaded")
            } catch {
                #expect("\(error)".contains(message) && "\(error)".contains(bad), "\(error)")
            }
        }
    }
}
