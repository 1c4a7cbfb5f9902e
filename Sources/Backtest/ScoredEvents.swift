/// The backtest's table: one row per labeled event, with each variant's score.
public struct ScoredEvents: Sendable {
    /// One scorer being evaluated: a model bundle, a variant of the spec, or a column of a score log.
    public struct Variant: Sendable {
        public var name: String
        /// Where its scores came from (a bundle path, a spec path, a score log field), for the report.
        public var source: String
        public var modelVersion: String?
        /// The alert threshold it runs with (score >= threshold alerts).
        public var threshold: Double
        public var scores: [Double]

        public init(name: String, source: String, modelVersion: String?, threshold: Double, scores: [Double] = []) {
            self.name = name
            self.source = source
            self.modelVersion = modelVersion
            self.threshold = threshold
            self.scores = scores
        }
    }

    public var ids: [String] = []
    public var labels: [Bool] = []
    /// Event time in epoch seconds, nil when the event has none.
    public var times: [Double?] = []
    public var variants: [Variant]

    public init(variants: [Variant]) { self.variants = variants }

    public var count: Int { labels.count }
    public var positives: Int { labels.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// What happened to the input on the way to the table, for the report's first lines.
public struct InputAccounting: Sendable {
    public var input: String = ""
    public var linesRead = 0
    public var deadLettered = 0
    public var deadLetterPath: String?
    /// Events without a usable label: not in the metrics, counted here.
    public var unlabeled = 0
    /// Events a variant could not score (a feature that is not a number): not in the metrics.
    public var unscorable = 0
    public var firstProblems: [String] = []
    /// Whether the input had to be put in event-time order before the replay.
    public var reordered = false

    public init() {}

    mutating func problem(_ text: String) {
        if firstProblems.count < 5 { firstProblems.append(text) }
    }
}
