import AWSCore
import Foundation
import Logging
import ModelCore
import PipelineHost

/// `pipeline-host backtest`: labeled events → every variant's scores → the report.
///
/// Two inputs. A replay: a labeled file goes through the spec's feature stages in event-time order (the same
/// rolling features as production), then each variant (a model bundle) scores every event. A score log: what
/// a shadow or A/B run in production wrote (fraud_score, and shadow_score for the shadow), read back as is.
public struct Backtest: Sendable {
    public struct Options: Sendable {
        public var labelField = "is_fraud"
        public var idField = "transaction_id"
        /// The event-time field of a score log (a replay takes the spec's rolling aggregates' time_field).
        public var timeField = "event_created_at_ts"
        /// Optional JSONL of labels joined by `idField` (labels that arrive later, as chargebacks do).
        public var labels: String?
        public var outDir = "out/backtest"
        public var bootstrap = 1000
        public var seed: UInt64 = 1
        /// Thresholds by variant name, over what the bundle or the log says.
        public var thresholds: [String: Double] = [:]
        public init() {}
    }

    public let options: Options
    public let environment: [String: String]
    public let logger: Logger

    public init(options: Options, environment: [String: String], logger: Logger) {
        self.options = options
        self.environment = environment
        self.logger = logger
    }

    // MARK: replay

    /// Replays `input` through `spec`'s feature stages and scores it with `variants` (default: the spec's own
    /// scorers).
    public func replay(input: String, spec: PipelineSpec, registry: PluginRegistry, variants named: [BacktestVariantSpec]) async throws -> BacktestReport {
        let started = MonotonicClock.seconds()
        let replay = FeatureReplay(spec: spec, registry: registry, environment: environment, logger: logger)
        let specs = BacktestVariantSpec.uniqued(named.isEmpty ? try BacktestVariantSpec.fromSpec(replay.split.scoring) : named)
        guard !specs.isEmpty else {
            throw PipelineError(.config, "the spec has no local_model or ab_split scorer to replay; name the bundles with --bundle", at: spec.file)
        }
        var bundles: [ModelBundle] = []
        for s in specs {
            do { bundles.append(try await ModelBundle.load(s.bundle, environment: environment)) } catch {
                throw PipelineError(.config, "variant \(s.name): \(error)", at: s.origin)
            }
        }
        var accounting = InputAccounting()
        accounting.input = input
        let scratch = options.outDir + "/.replay"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let ordered = try EventTimeOrder.ensure(input, timeField: replay.timeField, scratch: scratch)
        accounting.reordered = ordered.path != input
        let deadLetter = options.outDir + "/dead-letter.jsonl"
        let (features, summary) = try await replay.run(input: ordered.path, scratch: scratch, deadLetter: deadLetter)
        accounting.linesRead = summary.recordsIn + summary.deadLettered
        accounting.deadLettered = summary.deadLettered
        if summary.deadLettered > 0 { accounting.deadLetterPath = deadLetter }

        var events = ScoredEvents(variants: zip(specs, bundles).map { s, b in
            .init(name: s.name, source: s.bundle, modelVersion: b.version,
                  threshold: options.thresholds[s.name] ?? s.threshold ?? b.alertThreshold)
        })
        let labels = try loadLabels()
        let assemblers = bundles.map { FeatureAssembler(names: $0.features) }
        var scaled = bundles.map { [Float](repeating: 0, count: $0.features.count) }
        var scores = [Double](repeating: 0, count: bundles.count)
        let parser = RecordParser()
        let timeField = replay.timeField
        try forEachLine(features) { lineNo, line in
            guard let (record, id, isFraud) = labeledEvent(line, at: "\(features):\(lineNo)", labels: labels, parser: parser, &accounting) else { return }
            for v in bundles.indices {
                do {
                    let raw = try assemblers[v].raw { record[$0] }
                    for i in raw.indices { scaled[v][i] = bundles[v].scaler.scale(raw[i], at: i) }
                    scores[v] = Double(scaled[v].withUnsafeBufferPointer { bundles[v].model.predict($0) })
                } catch {
                    accounting.unscorable += 1
                    accounting.problem("event \(id): variant \(specs[v].name): \(error)")
                    return
                }
            }
            events.ids.append(id)
            events.labels.append(isFraud)
            events.times.append(eventTime(record[timeField]))
            for v in bundles.indices { events.variants[v].scores.append(scores[v]) }
        }
        let seconds = MonotonicClock.seconds() - started
        return BacktestReport(title: "Backtest of \(spec.name)", events: events, accounting: accounting, replaySeconds: seconds,
                              bootstrap: options.bootstrap, seed: options.seed)
    }

    // MARK: score log

    /// Reads a score log (local files, a directory, or s3://bucket/prefix/): the served score (fraud_score) and,
    /// when present, the shadow's (shadow_score) of every event.
    public func scoreLog(_ location: String) async throws -> BacktestReport {
        let started = MonotonicClock.seconds()
        let files = try await ScoreLogFiles.resolve(location, scratch: options.outDir + "/.score-log", environment: environment)
        defer { try? FileManager.default.removeItem(atPath: options.outDir + "/.score-log") }
        var accounting = InputAccounting()
        accounting.input = location
        let labels = try loadLabels()
        var rows: [(id: String, label: Bool, time: Double?, served: Double, shadow: Double?)] = []
        var minAlert = Double.infinity
        var versions: Set<String> = [], shadowVersions: Set<String> = []
        let parser = RecordParser()
        for file in files {
            try forEachLine(file) { lineNo, line in
                accounting.linesRead += 1
                guard let (r, id, isFraud) = labeledEvent(line, at: "\(file):\(lineNo)", labels: labels, parser: parser, &accounting) else { return }
                guard let served = r[ScoreFields.score]?.doubleValue else {
                    accounting.unscorable += 1
                    accounting.problem("\(file):\(lineNo): no fraud_score")
                    return
                }
                if r[ScoreFields.isAlert]?.boolValue == true { minAlert = min(minAlert, served) }
                if let v = r[ScoreFields.modelVersion]?.stringValue { versions.insert(v) }
                if let v = r[ScoreFields.shadowModelVersion]?.stringValue { shadowVersions.insert(v) }
                rows.append((id, isFraud, eventTime(r[options.timeField]), served, r[ScoreFields.shadowScore]?.doubleValue))
            }
        }
        let withShadow = rows.contains { $0.shadow != nil }
        if withShadow {
            // Both variants are compared on the same events: those without a shadow score are left out, counted.
            let before = rows.count
            rows.removeAll { $0.shadow == nil }
            if before > rows.count {
                accounting.unscorable += before - rows.count
                accounting.problem("\(before - rows.count) events have no shadow_score (logged before the shadow started?): left out")
            }
        }
        // The served threshold: what the log's alerts imply (the lowest score that alerted) unless given.
        let servedThreshold = options.thresholds["served"] ?? (minAlert.isFinite ? minAlert : 0.5)
        var served = ScoredEvents.Variant(name: "served", source: "\(location) fraud_score",
                                          modelVersion: versions.sorted().joined(separator: ", "), threshold: servedThreshold)
        served.scores = rows.map(\.served)
        var events = ScoredEvents(variants: [served])
        if withShadow {
            var shadow = ScoredEvents.Variant(name: "shadow", source: "\(location) shadow_score",
                                              modelVersion: shadowVersions.sorted().joined(separator: ", "),
                                              threshold: options.thresholds["shadow"] ?? servedThreshold)
            shadow.scores = rows.map { $0.shadow! }
            events.variants.append(shadow)
        }
        events.ids = rows.map(\.id)
        events.labels = rows.map(\.label)
        events.times = rows.map(\.time)
        return BacktestReport(title: "Score log \(location)", events: events, accounting: accounting,
                              replaySeconds: MonotonicClock.seconds() - started, bootstrap: options.bootstrap, seed: options.seed)
    }

    /// A line as an event with its id and label, or nil, counted: not a JSON object (unscorable), or without a
    /// usable label in the line or in `labels` (unlabeled). `at` names the line; it is the id of an event without one.
    func labeledEvent(_ line: ArraySlice<UInt8>, at: String, labels: [String: Bool]?, parser: RecordParser,
                      _ accounting: inout InputAccounting) -> (Record, String, Bool)? {
        guard let fields = try? parser.parse(Array(line)) else {
            accounting.unscorable += 1
            accounting.problem("\(at): not a JSON object")
            return nil
        }
        let record = Record(fields: fields)
        let id = record[options.idField].map { $0.stringValue ?? $0.description } ?? at
        guard let isFraud = label(record[options.labelField]) ?? labels?[id] else {
            accounting.unlabeled += 1
            return nil
        }
        return (record, id, isFraud)
    }

    // MARK: output

    func loadLabels() throws -> [String: Bool]? {
        guard let path = options.labels else { return nil }
        var out: [String: Bool] = [:]
        let parser = RecordParser()
        try forEachLine(path) { lineNo, line in
            guard let fields = try? parser.parse(Array(line)) else {
                throw PipelineError(.io, "line \(lineNo) is not a JSON object", at: path)
            }
            let r = Record(fields: fields)
            guard let id = r[options.idField].map({ $0.stringValue ?? $0.description }), let l = label(r[options.labelField]) else {
                throw PipelineError(.io, "line \(lineNo) needs \(options.idField) and a 0/1 \(options.labelField)", at: path)
            }
            out[id] = l
        }
        return out
    }

    /// Writes report.html, summary.json and scores.jsonl (every event's label and scores, for checks elsewhere).
    public func write(_ report: BacktestReport) throws -> [String] {
        let dir = options.outDir
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var w = JSONWriter(capacity: 1 << 20)
        w.write(report.summary)
        w.append("\n")
        try Data(w.bytes).write(to: URL(fileURLWithPath: dir + "/summary.json"))
        try Data(report.html.utf8).write(to: URL(fileURLWithPath: dir + "/report.html"))
        w.removeAll()
        let e = report.events
        for i in 0..<e.count {
            var pairs: [(String, JSONValue)] = [("id", .string(e.ids[i])), ("label", .int(e.labels[i] ? 1 : 0))]
            if let t = e.times[i] { pairs.append(("event_time", .double(t))) }
            for v in e.variants { pairs.append((v.name, .double(v.scores[i]))) }
            w.write(.object(pairs))
            w.append("\n")
        }
        try Data(w.bytes).write(to: URL(fileURLWithPath: dir + "/scores.jsonl"))
        return ["report.html", "summary.json", "scores.jsonl"].map { dir + "/" + $0 }
    }
}
