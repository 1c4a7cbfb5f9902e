// Benchmark of the in-process scorer (issue 4): single-row latency and batch rows/s of scaling + the
// 100-tree model, on rows built from the parity fixture. Run through bench/scorer.sh on a release build.
import Foundation
import ModelCore
import PipelineHost

let args = CommandLine.arguments
let root = args.count > 1 ? args[1] : FileManager.default.currentDirectoryPath
let bundle = try ModelBundle(directory: root + "/models/v1")
let assembler = FeatureAssembler(names: bundle.features)
let parser = RecordParser()
let text = try String(contentsOfFile: root + "/Tests/Fixtures/xgb-parity.jsonl", encoding: .utf8)
var raws: [[Double]] = []
var marginBits: [UInt32] = []
for line in text.split(separator: "\n") {
    let row = Record(fields: try parser.parse(Array(line.utf8))!)
    raws.append(try assembler.raw { row["raw"]?[$0] })
    marginBits.append(UInt32(row["margin_bits"]!.stringValue!, radix: 16)!)
}
// The same model with the node walk that deep or categorical models take.
let modelJSON = try DocumentParser.parseValue(Array(FileManager.default.contents(atPath: root + "/models/v1/model.json")!))
let nodeWalk = try XGBoostModel(json: modelJSON, featureNames: bundle.features, completeTrees: false)
// Bit-exactness in this (release) build before any timing: xgboost's margins from the fixture.
for (name, model) in [("complete trees", bundle.model), ("node walk", nodeWalk)] {
    let wrong = zip(raws, marginBits).filter { model.margin(bundle.scaler.transform($0.0)).bitPattern != $0.1 }.count
    guard wrong == 0 else { fatalError("\(name): \(wrong) of \(raws.count) fixture margins differ from xgboost's") }
}
print("parity: \(raws.count) fixture margins bit-equal to xgboost's (complete trees: \(bundle.model.usesCompleteTrees), node walk)")
// The 320 fixture rows alone would let the branch predictor learn their paths; mix their columns into
// 65,536 distinct rows (a fixed LCG) so every prediction takes paths a stream would.
let fixtureRows = raws.count
do {
    var seed: UInt64 = 42
    let fixture = raws
    raws = (0..<65_536).map { _ in
        (0..<bundle.features.count).map { j in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return fixture[Int(seed >> 33) % fixture.count][j]
        }
    }
}
let scaled = raws.map { bundle.scaler.transform($0) }

func now() -> Double { MonotonicClock.seconds() }
var sink: Float = 0

// Single row: scale + predict one row at a time, as the scorer does per record.
var singleRuns: [Double] = []
for _ in 0..<7 {
    let n = 300_000
    let start = now()
    for i in 0..<n {
        let raw = raws[i % raws.count]
        var x = [Float](repeating: 0, count: raw.count)
        for j in 0..<raw.count { x[j] = bundle.scaler.scale(raw[j], at: j) }
        sink += bundle.model.predict(x)
    }
    singleRuns.append((now() - start) / Double(n) * 1e6)
}
// Model only, on pre-scaled rows: the evaluator's own cost.
var modelRuns: [Double] = []
for _ in 0..<7 {
    let n = 300_000
    let start = now()
    for i in 0..<n { sink += bundle.model.predict(scaled[i % scaled.count]) }
    modelRuns.append((now() - start) / Double(n) * 1e6)
}
// A batch at a time (what local_model does: 1,000 rows, tree by tree over the batch), bit-equal to the above.
var batchPredictRuns: [Double] = []
let batchRows = scaled.prefix(1000).flatMap { $0 }
var batchEqual = true
for round in 0..<7 {
    let n = 300
    let start = now()
    for _ in 0..<n { sink += batchRows.withUnsafeBufferPointer { bundle.model.predictions(rows: $0, count: 1000) }[round] }
    batchPredictRuns.append((now() - start) / Double(n * 1000) * 1e6)
}
let batchScores = batchRows.withUnsafeBufferPointer { bundle.model.predictions(rows: $0, count: 1000) }
for i in 0..<1000 where batchScores[i].bitPattern != bundle.model.predict(scaled[i]).bitPattern { batchEqual = false }
// The node walk on the same rows (models with categorical splits or trees deeper than 10 levels).
var nodeRuns: [Double] = []
for _ in 0..<7 {
    let n = 300_000
    let start = now()
    for i in 0..<n { sink += nodeWalk.predict(scaled[i % scaled.count]) }
    nodeRuns.append((now() - start) / Double(n) * 1e6)
}
// TreeSHAP on the same rows: what each explained alert costs (issue 18).
var explainRuns: [Double] = []
var contributionSink = 0.0
for _ in 0..<5 {
    let n = 20_000
    let start = now()
    for i in 0..<n { contributionSink += bundle.model.contributions(scaled[i % scaled.count])!.bias }
    explainRuns.append((now() - start) / Double(n) * 1e6)
}
// The same, 32 records at a time: tree by tree, each tree's tables read once per batch; through every leaf loop
// this CPU runs (portable Swift, AVX2, AVX-512), in alternating rounds (the machine's speed drifts).
let kernels = XGBoostModel.ExplainKernel.allCases.filter(\.isAvailable)
var batchRuns: [XGBoostModel.ExplainKernel: [Double]] = [:]
let flat = scaled.prefix(4096).flatMap { $0 }
for round in 0..<(7 * kernels.count) {
    let kernel = kernels[round % kernels.count]
    let batches = 300, size = 32
    let start = now()
    flat.withUnsafeBufferPointer { all in
        for b in 0..<batches {
            let offset = (b * size) % (4096 - size)
            let rows = UnsafeBufferPointer(rebasing: all[offset * bundle.features.count..<(offset + size) * bundle.features.count])
            contributionSink += bundle.model.contributions(rows: rows, count: size, kernel: kernel)![0].bias
        }
    }
    batchRuns[kernel, default: []].append((now() - start) / Double(batches * size) * 1e6)
}
// Batches as the staging pipeline makes them (1,000 events at 2.14 % alerts: 21 rows, three groups of eight
// lanes, the last part empty) with the caches cold, as in a pipeline whose other stages run between two batches'
// explanations: 64 MB (twice the L3 here) are read between batches, so the tables come from memory. The fastest
// C loops.
var coldRuns: [XGBoostModel.ExplainKernel: [Double]] = [:]
var evict = [UInt64](repeating: 1, count: 1 << 23)
/// Mean µs of `passes` passes of `size` rows through `kernel`, each after 64 MB read (the caches cold); the rows of
/// pass b start at row `(b * stride) % (4096 - size)`. Only the passes are timed.
@MainActor func coldPasses(_ passes: Int, size: Int, stride: Int, kernel: XGBoostModel.ExplainKernel) -> Double {
    var elapsed = 0.0
    flat.withUnsafeBufferPointer { all in
        for b in 0..<passes {
            evict.withUnsafeMutableBufferPointer { e in for i in Swift.stride(from: 0, to: e.count, by: 8) { e[i] &+= 1 } }
            let offset = (b * stride) % (4096 - size)
            let rows = UnsafeBufferPointer(rebasing: all[offset * bundle.features.count..<(offset + size) * bundle.features.count])
            let start = now()
            contributionSink += bundle.model.contributions(rows: rows, count: size, kernel: kernel)![0].bias
            elapsed += now() - start
        }
    }
    return elapsed / Double(passes) * 1e6
}
let coldKernels = kernels.filter { $0 != .portable }
for round in 0..<(5 * coldKernels.count) {
    let kernel = coldKernels[round % coldKernels.count]
    coldRuns[kernel, default: []].append(coldPasses(100, size: 21, stride: 21, kernel: kernel) / 21)
}
// A pass by its size with the tables warm, through the eight-record AVX-512 loop and one record at a time, in
// alternating rounds: the first has a fixed part (every entry's work for one group of eight, about 90 µs for the
// shipped bundle) and a part per further group; the second a part per record. The staging pipeline's alerts come
// in bursts: most passes hold one to eight (XGBoostModel.recordPassLimit chooses between them).
let passSizes = [1, 2, 4, 8, 9, 12, 16, 32, 64]
let passKernels = [XGBoostModel.ExplainKernel.avx512, .avx512Records].filter(\.isAvailable)
var passRuns: [XGBoostModel.ExplainKernel: [Int: [Double]]] = [:]
for round in 0..<(5 * passSizes.count * passKernels.count) {
    let size = passSizes[round / passKernels.count % passSizes.count], kernel = passKernels[round % passKernels.count], passes = 300
    let start = now()
    flat.withUnsafeBufferPointer { all in
        for b in 0..<passes {
            let offset = (b * size) % (4096 - size)
            let rows = UnsafeBufferPointer(rebasing: all[offset * bundle.features.count..<(offset + size) * bundle.features.count])
            contributionSink += bundle.model.contributions(rows: rows, count: size, kernel: kernel)![0].bias
        }
    }
    passRuns[kernel, default: [:]][size, default: []].append((now() - start) / Double(passes) * 1e6)
}
// The same with the caches cold (64 MB read between passes), as in the pipeline, whose other stages run between
// two batches' explanations.
let coldPassSizes = [1, 2, 4, 6, 8, 12, 16]
var coldPassRuns: [XGBoostModel.ExplainKernel: [Int: [Double]]] = [:]
for round in 0..<(3 * coldPassSizes.count * passKernels.count) {
    let size = coldPassSizes[round / passKernels.count % coldPassSizes.count], kernel = passKernels[round % passKernels.count]
    coldPassRuns[kernel, default: [:]][size, default: []].append(coldPasses(40, size: size, stride: 97 * size, kernel: kernel))
}
// The leaf loops agree bit for bit (the tests check it in a debug build; this in the release one).
let agree = flat.withUnsafeBufferPointer { all -> Bool in
    let rows = UnsafeBufferPointer(rebasing: all[0..<(256 * bundle.features.count)])
    let results = kernels.map { bundle.model.contributions(rows: rows, count: 256, kernel: $0)! }
    return results.allSatisfy { r in zip(r, results[0]).allSatisfy { $0.features == $1.features && $0.bias == $1.bias } }
}
func median(_ a: [Double]) -> Double { a.sorted()[a.count / 2] }
print(String(format: "trees: %d, features: %d, rows: %d (mixed from %d fixture rows)", bundle.model.treeCount, bundle.features.count, raws.count, fixtureRows))
print(String(format: "scale + predict, one row at a time: median %.3f µs/row (%.0f rows/s), runs %@", median(singleRuns),
             1e6 / median(singleRuns), singleRuns.map { String(format: "%.3f", $0) }.joined(separator: " ")))
print(String(format: "predict only (pre-scaled rows):     median %.3f µs/row (%.0f rows/s)", median(modelRuns), 1e6 / median(modelRuns)))
print(String(format: "predict, batches of 1000 rows:       median %.3f µs/row (%.0f rows/s), bit-equal to one at a time: %@",
             median(batchPredictRuns), 1e6 / median(batchPredictRuns), batchEqual ? "yes" : "NO"))
print(String(format: "predict only, node walk:            median %.3f µs/row (%.0f rows/s)", median(nodeRuns), 1e6 / median(nodeRuns)))
print(String(format: "TreeSHAP contributions (explain):    median %.1f µs/row (%.0f rows/s), per-leaf tables: %@", median(explainRuns),
             1e6 / median(explainRuns), bundle.model.explainsWithTables ? "yes" : "no"))
for kernel in kernels {
    let runs = batchRuns[kernel]!
    print(String(format: "TreeSHAP, batches of 32 rows, %@:%@ median %.1f µs/row (%.0f rows/s), fastest of 7 %.1f", kernel.rawValue,
                 String(repeating: " ", count: max(0, 13 - kernel.rawValue.count)), median(runs), 1e6 / median(runs), runs.min()!))
}
for kernel in coldKernels {
    print(String(format: "TreeSHAP, batches of 21, caches cold, %@:%@ median %.1f µs/row (64 MB read between batches)", kernel.rawValue,
                 String(repeating: " ", count: max(0, 13 - kernel.rawValue.count)), median(coldRuns[kernel]!)))
}
for kernel in passKernels {
    print("TreeSHAP, one pass by its rows (warm, \(kernel.rawValue)), median µs per pass: " +
          passSizes.map { String(format: "%d rows %.0f", $0, median(passRuns[kernel]![$0]!)) }.joined(separator: ", "))
}
for kernel in passKernels {
    print("TreeSHAP, one pass by its rows (caches cold, \(kernel.rawValue)), median µs per pass: " +
          coldPassSizes.map { String(format: "%d rows %.0f", $0, median(coldPassRuns[kernel]![$0]!)) }.joined(separator: ", "))
}
print("TreeSHAP, leaf loops \(kernels.map(\.rawValue).joined(separator: ", ")) bit-equal on 256 rows: \(agree ? "yes" : "NO")")
if sink == 42 || contributionSink == 42 { print("") }  // keeps the results alive
