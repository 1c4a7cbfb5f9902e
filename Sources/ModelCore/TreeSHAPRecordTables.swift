import CTreeSHAP

/// What the one-record AVX-512 pass (`ctreeshap_records_avx512`) needs beside `TreeSHAPTables`: each tree's
/// numeric splits in blocks of sixteen, so that a record's decisions at a tree are one 64-bit word, and per entry
/// that word's bits on its path (the side it lies on, the splits on each of its features), so that its pattern
/// is one test of the word. nil for a model the pass cannot take: more than 16 features (its lanes are features),
/// a categorical split, more than 64 splits in a tree, or an entry with more than 6 distinct features (its table
/// would not fit four registers); those take the eight-record loops.
struct TreeSHAPRecordTables: Sendable {
    /// Per tree, its blocks of splits: [blockStart[t], blockStart[t + 1]).
    let blockStart: [Int32]
    /// Per split, 16 per block (padding: threshold NaN, which no value is less than, and feature 0).
    let thresholds: [Float]
    let splitFeatures: [Int32]
    /// Per block: bit i set where lane i's missing values go left.
    let defaultLeft: [UInt16]
    /// Per entry: bit j set where the entry lies left of its tree's split j.
    let sides: [UInt64]
    /// Per entry, 8 words: word k has bit j set where split j of its path is on the entry's k-th feature.
    let featureSplits: [UInt64]
    /// Per entry, 16 bytes: byte f is the position among the entry's features of feature f.
    let lane: [UInt8]
    /// Per entry: bit f set where the entry has feature f.
    let laneMask: [UInt16]

    /// From the tables' parts: each tree's numeric splits in order (split j of tree t is
    /// `numericSplits[numericStart[t] + j]`), and per entry its path (`splits`, as TreeSHAPTables holds them) and
    /// its features.
    init?(featureCount: Int, hasCategorical: Bool, numericSplits: [ctreeshap_split], numericStart: [Int32],
          treeNodeStart: [Int32], treeLeafStart: [Int32], splits: [UInt32], splitStart: [Int32], features: [Int32],
          featureStart: [Int32]) {
        guard featureCount <= 16, !hasCategorical else { return nil }
        var blockStart: [Int32] = [0], thresholds: [Float] = [], splitFeatures: [Int32] = [], defaultLeft: [UInt16] = []
        let entries = featureStart.count - 1
        var sides = [UInt64](repeating: 0, count: entries), featureSplits = [UInt64](repeating: 0, count: 8 * entries)
        var lane = [UInt8](repeating: 0, count: 16 * entries), laneMask = [UInt16](repeating: 0, count: entries)
        for tree in 0..<(treeLeafStart.count - 1) {
            let mine = numericSplits[Int(numericStart[tree])..<Int(numericStart[tree + 1])]
            guard mine.count <= 64 else { return nil }
            // Split j of the tree by its node (relative to the tree's first).
            var index = [Int](repeating: -1, count: Int(treeNodeStart[tree + 1] - treeNodeStart[tree]))
            for (j, split) in mine.enumerated() {
                index[Int(split.node & 0x7FFF_FFFF)] = j
                if j % 16 == 0 { defaultLeft.append(0) }
                thresholds.append(split.threshold)
                splitFeatures.append(split.feature)
                if split.node >> 31 != 0 { defaultLeft[defaultLeft.count - 1] |= 1 << (j % 16) }
            }
            while thresholds.count % 16 != 0 {
                thresholds.append(.nan)
                splitFeatures.append(0)
            }
            blockStart.append(Int32(thresholds.count / 16))
            for l in Int(treeLeafStart[tree])..<Int(treeLeafStart[tree + 1]) {
                let f0 = Int(featureStart[l]), d = Int(featureStart[l + 1]) - f0
                guard d <= 6 else { return nil }
                for s in splits[Int(splitStart[l])..<Int(splitStart[l + 1])] {
                    let j = index[Int(s >> 5)], slot = Int((s >> 1) & 0xF)
                    guard j >= 0, slot < d else { return nil }
                    sides[l] |= UInt64(s & 1) << j
                    featureSplits[8 * l + slot] |= 1 << j
                }
                for k in 0..<d {
                    let feature = Int(features[f0 + k])
                    lane[16 * l + feature] = UInt8(k)
                    laneMask[l] |= 1 << feature
                }
            }
        }
        self.blockStart = blockStart
        self.thresholds = thresholds
        self.splitFeatures = splitFeatures
        self.defaultLeft = defaultLeft
        self.sides = sides
        self.featureSplits = featureSplits
        self.lane = lane
        self.laneMask = laneMask
    }

    /// Runs `body` with the C view of these tables (valid only inside it).
    func withC<R>(trees: Int, treeLeafStart: [Int32], _ body: (UnsafePointer<ctreeshap_record_tables>) -> R) -> R {
        blockStart.withUnsafeBufferPointer { blockStart in
        thresholds.withUnsafeBufferPointer { thresholds in
        splitFeatures.withUnsafeBufferPointer { splitFeatures in
        defaultLeft.withUnsafeBufferPointer { defaultLeft in
        sides.withUnsafeBufferPointer { sides in
        featureSplits.withUnsafeBufferPointer { featureSplits in
        lane.withUnsafeBufferPointer { lane in
        laneMask.withUnsafeBufferPointer { laneMask in
        treeLeafStart.withUnsafeBufferPointer { treeLeafStart in
            var c = ctreeshap_record_tables(blockStart: blockStart.baseAddress, thresholds: thresholds.baseAddress,
                                            splitFeatures: splitFeatures.baseAddress, defaultLeft: defaultLeft.baseAddress,
                                            sides: sides.baseAddress, featureSplits: featureSplits.baseAddress, lane: lane.baseAddress,
                                            laneMask: laneMask.baseAddress, treeLeafStart: treeLeafStart.baseAddress, trees: Int32(trees))
            return body(&c)
        }}}}}}}}}
    }
}
