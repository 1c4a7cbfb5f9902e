import PipelineHost
import Testing

@testable import Backtest

/// The metrics against values worked out by hand (and, for the same definitions, scikit-learn: see
/// BacktestCommandTests, which runs scikit-learn on a real report).
@Suite struct BinaryMetricsTests {
    // Scores with a tie across the classes at 0.8.
    let scores = [0.9, 0.8, 0.8, 0.3, 0.1]
    let labels = [true, false, true, false, false]

    @Test func rocAUCCountsATieAsHalfAPair() {
        // Pairs (fraud, legit): 0.9 beats all three; 0.8 ties one (½) and beats two: 5.5 of 6.
        let m = BinaryMetrics(scores: scores, labels: labels)
        #expect(abs(m.rocAUC! - 5.5 / 6) < 1e-12)
    }

    @Test func averagePrecisionStepsOnceAtEachDistinctScore() {
        // At 0.9: recall ½, precision 1. At 0.8 (three alerts, two fraud): recall 1, precision ⅔.
        let m = BinaryMetrics(scores: scores, labels: labels)
        #expect(abs(m.averagePrecision! - (0.5 * 1 + 0.5 * 2.0 / 3)) < 1e-12)
    }

    @Test func countsAtAThresholdIncludeScoresEqualToIt() {
        let m = BinaryMetrics(scores: scores, labels: labels)
        #expect(m.at(0.8).alerts == 3)
        #expect(m.at(0.8).truePositives == 2)
        #expect(m.at(0.85).alerts == 1)
        #expect(m.at(0.95).alerts == 0)
        #expect(m.at(0.95).precision == nil)
        #expect(m.at(0).alerts == 5)
        #expect(m.at(0).recall == 1)
        #expect(abs(m.at(0.3).alertRate - 0.8) < 1e-12)
    }

    @Test func oneClassHasNoAUC() {
        let m = BinaryMetrics(scores: [0.1, 0.7], labels: [false, false])
        #expect(m.rocAUC == nil)
        #expect(m.averagePrecision == nil)
        #expect(m.at(0.5).alerts == 1)
    }

    @Test func curvesAreThinnedButKeepTheirEnds() {
        var rng = SplitMix64(seed: 3)
        let n = 50_000
        let labels = (0..<n).map { _ in rng.nextUnit() < 0.05 }
        let scores = labels.map { $0 ? 0.3 + 0.7 * rng.nextUnit() : 0.8 * rng.nextUnit() }
        let m = BinaryMetrics(scores: scores, labels: labels)
        let roc = m.rocCurve(limit: 200)
        #expect(roc.count <= 2 * 200 + 2)
        #expect(roc.first! == (0, 0))
        #expect(roc.last! == (1, 1))
        let pr = m.prCurve(limit: 200)
        #expect(pr.last!.0 == 1)
    }

    @Test func identicalVariantsDifferByNothing() {
        let a = ScoredEvents.Variant(name: "a", source: "", modelVersion: nil, threshold: 0.5, scores: scores)
        var b = a
        b.name = "b"
        let c = VariantComparison(a, b, labels: labels, resamples: 200, seed: 9)
        #expect(c.agreement.onlyA == 0 && c.agreement.onlyB == 0)
        #expect(c.agreement.both == 3)  // 0.9, 0.8, 0.8
        let e = try! #require(c.equalVolume)
        #expect(e.difference == 0)
        #expect(e.ci95.0 == 0 && e.ci95.1 == 0)
    }

    @Test func aBetterRankerShowsAPositiveDifferenceWithAnIntervalAboveZero() {
        var rng = SplitMix64(seed: 11)
        let n = 20_000
        let labels = (0..<n).map { _ in rng.nextUnit() < 0.03 }
        // A sees the label through heavy noise, B through light noise: at A's alert volume B catches more.
        let noisy = labels.map { ($0 ? 0.6 : 0.0) + rng.nextUnit() }
        let sharp = labels.map { ($0 ? 0.6 : 0.0) + 0.3 * rng.nextUnit() }
        let a = ScoredEvents.Variant(name: "a", source: "", modelVersion: nil, threshold: 0.9, scores: noisy)
        let b = ScoredEvents.Variant(name: "b", source: "", modelVersion: nil, threshold: 0.75, scores: sharp)
        let c = VariantComparison(a, b, labels: labels, resamples: 300, seed: 5)
        let e = try! #require(c.equalVolume)
        #expect(e.alerts == noisy.filter { $0 >= 0.9 }.count)
        #expect(e.difference > 0.1)
        #expect(e.ci95.0 > 0 && e.ci95.0 < e.difference && e.difference < e.ci95.1)
        // The same seed gives the same interval.
        let again = VariantComparison(a, b, labels: labels, resamples: 300, seed: 5).equalVolume!
        #expect(again.ci95 == e.ci95)
        #expect(c.agreement.both + c.agreement.onlyA + c.agreement.onlyB + c.agreement.neither == n)
    }

    @Test func bundleOptionsParse() throws {
        let plain = try BacktestVariantSpec.parse("models/v1")
        #expect(plain.name == "v1" && plain.bundle == "models/v1" && plain.threshold == nil)
        let named = try BacktestVariantSpec.parse("challenger=s3://bucket/models/v2/@0.3")
        #expect(named.name == "challenger" && named.bundle == "s3://bucket/models/v2/" && named.threshold == 0.3)
        #expect(throws: (any Error).self) { try BacktestVariantSpec.parse("x=models/v1@high") }
        #expect(throws: (any Error).self) { try BacktestVariantSpec.parse("x=models/v1@1.5") }
        let unique = BacktestVariantSpec.uniqued([plain, plain, named])
        #expect(unique.map(\.name) == ["v1", "v1-2", "challenger"])
    }

    @Test func labelsAndTimesAcceptTheUsualSpellings() {
        #expect(label(.int(1)) == true && label(.int(0)) == false && label(.int(2)) == nil)
        #expect(label(.bool(true)) == true && label(.string("0")) == false && label(.string("maybe")) == nil)
        #expect(label(.double(1)) == true && label(nil) == nil)
        #expect(eventTime(.int(1_722_470_417)) == 1_722_470_417)
        #expect(eventTime(.int(1_722_470_417_500)) == 1_722_470_417.5)
        #expect(eventTime(.string("2024-08-01T00:00:17Z")) == 1_722_470_417)
        #expect(eventTime(.string("yesterday")) == nil)
    }
}

