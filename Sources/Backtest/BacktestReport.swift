import Foundation
import PipelineHost

/// The evaluated backtest: every variant's metrics, the comparisons of the first variant with each other one,
/// and what happened to the input. Renders as a JSON summary and as a self-contained HTML page.
public struct BacktestReport: Sendable {
    public let title: String
    public let events: ScoredEvents
    public let accounting: InputAccounting
    public let metrics: [BinaryMetrics]
    public let comparisons: [VariantComparison]
    /// Alerts per hour, for the summary and the page alike.
    public let timeline: Timeline
    /// Wall-clock seconds of the replay and scoring (the evaluation excluded), for events/s.
    public let replaySeconds: Double
    public let generatedAt: Date

    /// Thresholds of the per-threshold table: every hundredth.
    static let grid = (0...100).map { Double($0) / 100 }

    public init(title: String, events: ScoredEvents, accounting: InputAccounting, replaySeconds: Double,
                bootstrap: Int = 1000, seed: UInt64 = 1, generatedAt: Date = Date()) {
        self.title = title
        self.events = events
        self.accounting = accounting
        self.replaySeconds = replaySeconds
        self.generatedAt = generatedAt
        metrics = events.variants.map { BinaryMetrics(scores: $0.scores, labels: events.labels) }
        if let first = events.variants.first {
            comparisons = events.variants.dropFirst().map {
                VariantComparison(first, $0, labels: events.labels, resamples: bootstrap, seed: seed)
            }
        } else {
            comparisons = []
        }
        timeline = Self.timeline(events)
    }

    public var eventsPerSecond: Double { replaySeconds > 0 ? Double(accounting.linesRead) / replaySeconds : 0 }

    /// Alerts per hour of event time for each variant, and fraud events per hour.
    public struct Timeline: Sendable {
        public var hours: [Double] = []  // epoch seconds of each hour's start
        public var alerts: [[Int]] = []  // [variant][hour]
        public var fraud: [Int] = []
        public var events: [Int] = []
    }

    static func timeline(_ events: ScoredEvents) -> Timeline {
        var t = Timeline()
        let stamps = events.times.compactMap { $0 }
        guard let lo = stamps.min(), let hi = stamps.max() else { return t }
        let first = (lo / 3600).rounded(.down), last = (hi / 3600).rounded(.down)
        let n = Int(last - first) + 1
        guard n <= 24 * 366 else { return t }  // more than a year of hours is no longer a readable line
        t.hours = (0..<n).map { (first + Double($0)) * 3600 }
        t.alerts = Array(repeating: Array(repeating: 0, count: n), count: events.variants.count)
        t.fraud = Array(repeating: 0, count: n)
        t.events = Array(repeating: 0, count: n)
        for i in 0..<events.count {
            guard let ts = events.times[i] else { continue }
            let h = Int((ts / 3600).rounded(.down) - first)
            t.events[h] += 1
            if events.labels[i] { t.fraud[h] += 1 }
            for (v, variant) in events.variants.enumerated() where variant.scores[i] >= variant.threshold {
                t.alerts[v][h] += 1
            }
        }
        return t
    }

    /// Score histograms of one variant: bin edges, and the share of fraud and of legitimate events per bin.
    public func distribution(_ v: Int, bins: Int = 40) -> (edges: [Double], fraud: [Double], legit: [Double]) {
        let scores = events.variants[v].scores
        let lo = min(0, scores.min() ?? 0), hi = max(1, scores.max() ?? 1)
        let edges = (0...bins).map { lo + (hi - lo) * Double($0) / Double(bins) }
        var fraud = [Double](repeating: 0, count: bins), legit = fraud
        for (i, s) in scores.enumerated() {
            let b = min(bins - 1, max(0, Int((s - lo) / (hi - lo) * Double(bins))))
            if events.labels[i] { fraud[b] += 1 } else { legit[b] += 1 }
        }
        let f = max(1, fraud.reduce(0, +)), l = max(1, legit.reduce(0, +))
        return (edges, fraud.map { $0 / f }, legit.map { $0 / l })
    }
}

extension BacktestReport {
    private static func opt(_ v: Double?) -> JSONValue { v.map { .double($0) } ?? .null }

    private static func row(_ a: BinaryMetrics.AtThreshold) -> JSONValue {
        .object([("threshold", .double(a.threshold)), ("alerts", .int(Int64(a.alerts))),
                 ("alert_rate", .double(a.alertRate)), ("true_positives", .int(Int64(a.truePositives))),
                 ("false_positives", .int(Int64(a.falsePositives))), ("precision", opt(a.precision)), ("recall", opt(a.recall))])
    }

    /// The machine-readable summary (summary.json).
    public var summary: JSONValue {
        var input: [(String, JSONValue)] = [
            ("path", .string(accounting.input)), ("lines_read", .int(Int64(accounting.linesRead))),
            ("events", .int(Int64(events.count))), ("fraud", .int(Int64(events.positives))),
            ("dead_lettered", .int(Int64(accounting.deadLettered))), ("unlabeled", .int(Int64(accounting.unlabeled))),
            ("unscorable", .int(Int64(accounting.unscorable))), ("reordered_by_event_time", .bool(accounting.reordered)),
        ]
        if let d = accounting.deadLetterPath { input.append(("dead_letter_path", .string(d))) }
        if !accounting.firstProblems.isEmpty { input.append(("first_problems", .array(accounting.firstProblems.map { .string($0) }))) }
        let variants: [JSONValue] = zip(events.variants, metrics).map { v, m in
            .object([
                ("name", .string(v.name)), ("source", .string(v.source)), ("model_version", v.modelVersion.map { .string($0) } ?? .null),
                ("threshold", .double(v.threshold)), ("auc", Self.opt(m.rocAUC)), ("pr_auc", Self.opt(m.averagePrecision)),
                ("at_threshold", Self.row(m.at(v.threshold))),
                ("thresholds", .array(Self.grid.map { Self.row(m.at($0)) })),
                ("roc", .array(m.rocCurve().map { .array([.double($0.0), .double($0.1)]) })),
                ("pr", .array(m.prCurve().map { .array([.double($0.0), .double($0.1)]) })),
            ])
        }
        let comparisons: [JSONValue] = comparisons.map { c in
            let g = c.agreement
            var pairs: [(String, JSONValue)] = [
                ("a", .string(c.a)), ("b", .string(c.b)),
                ("agreement", .object([
                    ("both", .int(Int64(g.both))), ("only_a", .int(Int64(g.onlyA))), ("only_b", .int(Int64(g.onlyB))),
                    ("neither", .int(Int64(g.neither))),
                    ("fraud_both", .int(Int64(g.fraudBoth))), ("fraud_only_a", .int(Int64(g.fraudOnlyA))),
                    ("fraud_only_b", .int(Int64(g.fraudOnlyB))), ("fraud_neither", .int(Int64(g.fraudNeither))),
                ])),
            ]
            if let e = c.equalVolume {
                pairs.append(("equal_volume", .object([
                    ("alerts", .int(Int64(e.alerts))), ("recall_a", .double(e.recallA)), ("recall_b", .double(e.recallB)),
                    ("difference", .double(e.difference)), ("ci95", .array([.double(e.ci95.0), .double(e.ci95.1)])),
                    ("resamples", .int(Int64(e.resamples))), ("seed", .int(Int64(bitPattern: e.seed))),
                ])))
            }
            return .object(pairs)
        }
        let t = timeline
        return .object([
            ("title", .string(title)), ("generated_at", .string(ISO8601DateFormatter().string(from: generatedAt))),
            ("input", .object(input)),
            ("replay", .object([("seconds", .double(replaySeconds)), ("events_per_second", .double(eventsPerSecond))])),
            ("variants", .array(variants)), ("comparisons", .array(comparisons)),
            ("alerts_per_hour", .object([
                ("hour_start", .array(t.hours.map { .int(Int64($0)) })),
                ("events", .array(t.events.map { .int(Int64($0)) })),
                ("fraud", .array(t.fraud.map { .int(Int64($0)) })),
                ("alerts", .object(zip(events.variants, t.alerts).map { ($0.name, .array($1.map { .int(Int64($0)) })) })),
            ])),
        ])
    }
}
