import PipelineHost

/// Two variants on the same events: where their alerts differ, and whether the challenger catches more fraud
/// when both raise the same number of alerts (with a bootstrap confidence interval).
public struct VariantComparison: Sendable {
    /// Alerts of each at its own threshold.
    public struct Agreement: Sendable {
        public var both = 0, onlyA = 0, onlyB = 0, neither = 0
        /// The same, counting only fraud events.
        public var fraudBoth = 0, fraudOnlyA = 0, fraudOnlyB = 0, fraudNeither = 0
    }

    /// Recall of each when both alert on their `alerts` highest-scored events.
    public struct EqualVolume: Sendable {
        public var alerts: Int
        public var recallA: Double
        public var recallB: Double
        public var difference: Double { recallB - recallA }
        /// 2.5 % and 97.5 % percentiles of the difference over the bootstrap resamples.
        public var ci95: (Double, Double)
        public var resamples: Int
        public var seed: UInt64
    }

    public let a: String
    public let b: String
    public let agreement: Agreement
    public let equalVolume: EqualVolume?

    /// `volume`: the number of alerts both get; by default A's alerts at its own threshold.
    public init(_ va: ScoredEvents.Variant, _ vb: ScoredEvents.Variant, labels: [Bool], volume: Int? = nil,
                resamples: Int = 1000, seed: UInt64 = 1) {
        a = va.name
        b = vb.name
        let n = labels.count
        var g = Agreement()
        var alertsA = 0
        for i in 0..<n {
            let x = va.scores[i] >= va.threshold, y = vb.scores[i] >= vb.threshold
            if x { alertsA += 1 }
            switch (x, y) {
            case (true, true): g.both += 1; if labels[i] { g.fraudBoth += 1 }
            case (true, false): g.onlyA += 1; if labels[i] { g.fraudOnlyA += 1 }
            case (false, true): g.onlyB += 1; if labels[i] { g.fraudOnlyB += 1 }
            case (false, false): g.neither += 1; if labels[i] { g.fraudNeither += 1 }
            }
        }
        agreement = g
        let k = volume ?? alertsA
        let positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard k > 0, positives > 0, n > 0 else { equalVolume = nil; return }
        // Each variant's events by descending score; equal scores keep event order, so the cut is deterministic.
        let orderA = Self.ranking(va.scores), orderB = Self.ranking(vb.scores)
        let ones = [UInt32](repeating: 1, count: n)
        let (ra, rb) = (Self.recall(orderA, ones, labels, rate: Double(k) / Double(n)),
                        Self.recall(orderB, ones, labels, rate: Double(k) / Double(n)))
        // Bootstrap: resample the events with replacement (as multiplicities), keep the alert rate, recompute
        // both recalls on the resample.
        var rng = SplitMix64(seed: seed)
        var diffs: [Double] = []
        diffs.reserveCapacity(resamples)
        var weights = [UInt32](repeating: 0, count: n)
        for _ in 0..<resamples {
            for i in 0..<n { weights[i] = 0 }
            for _ in 0..<n { weights[Int(rng.next() % UInt64(n))] += 1 }
            let rate = Double(k) / Double(n)
            diffs.append(Self.recall(orderB, weights, labels, rate: rate) - Self.recall(orderA, weights, labels, rate: rate))
        }
        diffs.sort()
        func percentile(_ q: Double) -> Double {
            guard !diffs.isEmpty else { return rb - ra }
            let pos = q * Double(diffs.count - 1)
            let lo = Int(pos), hi = min(lo + 1, diffs.count - 1)
            return diffs[lo] + (diffs[hi] - diffs[lo]) * (pos - Double(lo))
        }
        equalVolume = EqualVolume(alerts: k, recallA: ra, recallB: rb, ci95: (percentile(0.025), percentile(0.975)),
                                  resamples: resamples, seed: seed)
    }

    static func ranking(_ scores: [Double]) -> [Int] {
        scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    }

    /// Recall of the top `rate` share of the (weighted) events in `order`.
    static func recall(_ order: [Int], _ weights: [UInt32], _ labels: [Bool], rate: Double) -> Double {
        var total = 0, positives = 0
        for i in 0..<labels.count {
            total += Int(weights[i])
            if labels[i] { positives += Int(weights[i]) }
        }
        guard positives > 0 else { return 0 }
        let budget = Int((rate * Double(total)).rounded())
        var taken = 0, caught = 0
        for i in order where taken < budget {
            let w = min(Int(weights[i]), budget - taken)
            taken += w
            if labels[i] { caught += w }
        }
        return Double(caught) / Double(positives)
    }
}
