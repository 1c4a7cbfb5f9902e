@testable import PipelineHost
import Testing

@Suite struct KeyIndexTests {
    /// Keys around the inline limit (15 bytes), multi-byte UTF-8, the empty key, and keys that differ only in
    /// length (a zero byte must not make "a" and "a\0" equal).
    static let awkward = ["", "a", "a\u{0}", "u039118", "123456789012345", "1234567890123456", "12345678901234567890",
                          "é", "日本語のキー", "🙂🙂🙂🙂", "user_000000000000000000000000000000000000001"]

    @Test func agreesWithADictionaryThroughInsertsUpdatesAndRemovals() {
        var rng = SplitMix64(seed: 7)
        var index = KeyIndex()
        var reference: [String: Int32] = [:]
        // Few enough distinct keys that removals and re-insertions meet the same keys often; enough to resize
        // several times.
        let keys = Self.awkward + (0..<3000).map { i in i % 3 == 0 ? "long-user-key-\(i)-of-the-stream" : "u\(i)" }
        for step in 0..<60_000 {
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            switch rng.next() % 5 {
            case 0, 1:
                let v = Int32(step)
                index[key] = v
                reference[key] = v
            case 2:
                #expect(index.removeValue(forKey: key) == reference.removeValue(forKey: key), "\(key)")
            default:
                #expect(index[key] == reference[key], "\(key)")
            }
            #expect(index.count == reference.count)
        }
        for key in keys { #expect(index[key] == reference[key], "\(key)") }
    }

    /// Each table draws its own seeds: the same keys land in other places in another table (or another process),
    /// so a sender cannot compute keys that collide.
    @Test func tablesAreSeededApart() {
        let a = KeyIndex(), b = KeyIndex()
        let keys = (0..<64).map { "u\($0)" } + ["a_key_longer_than_fifteen_bytes"]
        let ha = keys.map { a.hash(KeyIndex.words($0), $0) }, hb = keys.map { b.hash(KeyIndex.words($0), $0) }
        #expect(ha != hb)
        #expect(Set(ha).count > 60, "the hash spreads short keys that differ in one byte")
    }

    @Test func distinguishesTheAwkwardKeys() {
        var index = KeyIndex()
        for (i, k) in Self.awkward.enumerated() { index[k] = Int32(i) }
        for (i, k) in Self.awkward.enumerated() { #expect(index[k] == Int32(i), "\(k)") }
        #expect(index["a\u{0}\u{0}"] == nil)
        #expect(index["12345678901234"] == nil)
        #expect(index.count == Self.awkward.count)
    }

    /// Removal shifts entries back instead of leaving tombstones: filling the table, emptying it and filling it
    /// again many times over must leave every key findable and nothing else.
    @Test func churnLeavesNoStaleEntries() {
        var index = KeyIndex(minimumCapacity: 64)
        for round in 0..<50 {
            let keys = (0..<48).map { "k\(round)-\($0)" }
            for (i, k) in keys.enumerated() { index[k] = Int32(i) }
            for (i, k) in keys.enumerated() { #expect(index[k] == Int32(i)) }
            for k in keys.shuffled() { #expect(index.removeValue(forKey: k) != nil) }
            #expect(index.count == 0)
            for k in keys { #expect(index[k] == nil) }
        }
    }
}
