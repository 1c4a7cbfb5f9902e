/// Ranking and threshold metrics of one variant's scores against the labels, computed the way scikit-learn
/// does (`roc_auc_score`, `average_precision_score`): events with equal scores form one threshold.
public struct BinaryMetrics: Sendable {
    /// One point per distinct score, from the highest: alerting on score >= threshold.
    public struct Point: Sendable {
        public var threshold: Double
        public var alerts: Int
        public var truePositives: Int
    }

    /// Counts when alerting at one threshold.
    public struct AtThreshold: Sendable {
        public var threshold: Double
        public var alerts: Int
        public var truePositives: Int
        public var positives: Int
        public var total: Int

        public var falsePositives: Int { alerts - truePositives }
        public var precision: Double? { alerts > 0 ? Double(truePositives) / Double(alerts) : nil }
        public var recall: Double? { positives > 0 ? Double(truePositives) / Double(positives) : nil }
        public var alertRate: Double { total > 0 ? Double(alerts) / Double(total) : 0 }
    }

    public let total: Int
    public let positives: Int
    /// Distinct-score points, highest score first; the last one alerts on everything.
    public let points: [Point]
    /// Area under the ROC curve (trapezoidal, ties as one step); nil when only one class is present.
    public let rocAUC: Double?
    /// Average precision: Σ (R_k − R_{k−1}) · P_k over the distinct thresholds (scikit-learn's PR-AUC).
    public let averagePrecision: Double?

    public init(scores: [Double], labels: [Bool]) {
        precondition(scores.count == labels.count)
        total = scores.count
        positives = labels.reduce(0) { $0 + ($1 ? 1 : 0) }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points: [Point] = []
        points.reserveCapacity(min(total, 1 << 16))
        var alerts = 0, tp = 0
        var i = 0
        while i < order.count {
            let s = scores[order[i]]
            while i < order.count && scores[order[i]] == s {
                alerts += 1
                if labels[order[i]] { tp += 1 }
                i += 1
            }
            points.append(Point(threshold: s, alerts: alerts, truePositives: tp))
        }
        self.points = points
        let negatives = total - positives
        if positives > 0 && negatives > 0 {
            var auc = 0.0, prevFPR = 0.0, prevTPR = 0.0
            var ap = 0.0, prevRecall = 0.0
            for p in points {
                let tpr = Double(p.truePositives) / Double(positives)
                let fpr = Double(p.alerts - p.truePositives) / Double(negatives)
                auc += (fpr - prevFPR) * (tpr + prevTPR) / 2
                ap += (tpr - prevRecall) * Double(p.truePositives) / Double(p.alerts)
                prevFPR = fpr; prevTPR = tpr; prevRecall = tpr
            }
            rocAUC = auc
            averagePrecision = ap
        } else {
            rocAUC = nil
            averagePrecision = nil
        }
    }

    /// Counts when alerting on score >= threshold.
    public func at(_ threshold: Double) -> AtThreshold {
        // Points are in descending threshold order: the last one whose threshold is still >= the given one.
        var lo = 0, hi = points.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if points[mid].threshold >= threshold { lo = mid + 1 } else { hi = mid }
        }
        let p = lo > 0 ? points[lo - 1] : Point(threshold: threshold, alerts: 0, truePositives: 0)
        return AtThreshold(threshold: threshold, alerts: p.alerts, truePositives: p.truePositives, positives: positives, total: total)
    }

    /// The ROC curve as (false positive rate, true positive rate), from (0, 0), at most `limit` points.
    public func rocCurve(limit: Int = 400) -> [(Double, Double)] {
        let negatives = max(1, total - positives), pos = max(1, positives)
        let all = [(0.0, 0.0)] + points.map { (Double($0.alerts - $0.truePositives) / Double(negatives), Double($0.truePositives) / Double(pos)) }
        return Self.thin(all, limit: limit)
    }

    /// The precision-recall curve as (recall, precision), one point per distinct threshold, at most `limit` points.
    public func prCurve(limit: Int = 400) -> [(Double, Double)] {
        let pos = max(1, positives)
        let all = points.map { (Double($0.truePositives) / Double(pos), Double($0.truePositives) / Double($0.alerts)) }
        return Self.thin(all, limit: limit)
    }

    /// Keeps the first and last points and points at least 1/limit apart along the curve, so a plot of a
    /// million events stays small and still shows every bend.
    static func thin(_ points: [(Double, Double)], limit: Int) -> [(Double, Double)] {
        guard points.count > limit, let first = points.first, let last = points.last else { return points }
        let step = 1.0 / Double(limit)
        var out = [first]
        for p in points.dropFirst().dropLast() {
            let q = out[out.count - 1]
            if abs(p.0 - q.0) + abs(p.1 - q.1) >= step { out.append(p) }
        }
        out.append(last)
        return out
    }
}
