import ArgumentParser
import Backtest
import BuiltinPlugins
import Foundation
import PipelineHost

/// `pipeline-host backtest`: evidence for a model rollout, from labeled history or a production score log.
struct BacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract: "Replays labeled events through a spec's feature stages and scores them with each variant; writes an HTML report and a JSON summary.",
        discussion: """
            Replay: `backtest SPEC --input LABELED.jsonl[.gz]` runs the spec's transforms before its scaler and \
            scorer (the broadcast join, the rolling aggregates) over the input in event-time order, then scores every \
            event with each variant: the bundles named with --bundle, else the spec's own scorers (a local_model, \
            or the variants and shadow of an ab_split). Score log: `backtest --score-log PATH|s3://bucket/prefix/` \
            reads what a run in production wrote (fraud_score, and shadow_score from a shadow) instead.
            Writes report.html (self-contained, opens offline), summary.json and scores.jsonl to --out. The first \
            variant is compared with each other one: alerts raised by one and not the other, and the difference in \
            recall at equal alert volume with a bootstrap 95 % interval.
            """)

    @Argument(help: "The pipeline spec whose feature stages and scorers are replayed (not used with --score-log).")
    var spec: String?
    @Option(help: "Labeled JSON lines (gzip too): the training data format, or any JSONL with the label field.")
    var input: String?
    @Option(help: ArgumentHelp("A variant to score with: [NAME=]BUNDLE[@THRESHOLD] (a directory or s3://bucket/prefix/vN/); repeatable. Default: the spec's scorers.", valueName: "variant"))
    var bundle: [String] = []
    @Option(help: "A production score log instead of a replay: a JSONL file, a directory of them, or s3://bucket/prefix/.")
    var scoreLog: String?
    @Option(help: "The label field (1/0, true/false).") var label = "is_fraud"
    @Option(help: "JSONL of labels to join by --id-field, for events that do not carry their label.") var labels: String?
    @Option(help: "The event id field (joins --labels; names events in the report).") var idField = "transaction_id"
    @Option(help: "The event-time field of a score log, for alerts per hour (a replay uses the spec's rolling aggregates' time_field).")
    var timeField = "event_created_at_ts"
    @Option(help: ArgumentHelp("A variant's alert threshold: NAME=VALUE; repeatable. Score logs: 'served' and 'shadow'.", valueName: "name=value"))
    var threshold: [String] = []
    @Option(help: "Output directory.") var out = "out/backtest"
    @Option(help: "Bootstrap resamples for the recall difference's interval.") var bootstrap = 1000
    @Option(help: "Seed of the bootstrap.") var seed: UInt64 = 1
    @OptionGroup var log: LogOptions

    func validate() throws {
        if scoreLog == nil && (spec == nil || input == nil) {
            throw ValidationError("give a SPEC and --input LABELED.jsonl to replay, or --score-log PATH")
        }
        if scoreLog != nil && (input != nil || !bundle.isEmpty) {
            throw ValidationError("--score-log reads scores that were already computed: it takes neither --input nor --bundle")
        }
        guard bootstrap >= 0 && bootstrap <= 100_000 else { throw ValidationError("--bootstrap must be from 0 to 100000") }
    }

    func run() async throws {
        var logger = log.bootstrap()
        logger.logLevel = max(logger.logLevel, .warning)  // the replay's own progress lines would drown the summary
        var options = Backtest.Options()
        options.labelField = label
        options.labels = labels
        options.idField = idField
        options.timeField = timeField
        options.outDir = out
        options.bootstrap = bootstrap
        options.seed = seed
        for t in threshold {
            let parts = t.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let v = Double(parts[1]), v >= 0, v <= 1 else {
                FileHandle.standardError.write(Data("--threshold \(t): expected NAME=VALUE with a value from 0 to 1\n".utf8))
                throw ExitCode(2)
            }
            options.thresholds[String(parts[0])] = v
        }
        let environment = ProcessInfo.processInfo.environment
        let backtest = Backtest(options: options, environment: environment, logger: logger)
        let report: BacktestReport
        do {
            if let scoreLog {
                report = try await backtest.scoreLog(scoreLog)
            } else {
                let s = try loadSpec(spec!)
                let variants = try bundle.map(BacktestVariantSpec.parse)
                report = try await backtest.replay(input: input!, spec: s, registry: BuiltinPlugins.registry, variants: variants)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("backtest: \(error)\n".utf8))
            throw ExitCode(ExitCodes.runtimeFailure)
        }
        guard report.events.count > 0 else {
            FileHandle.standardError.write(Data("backtest: no labeled events to evaluate (label field \"\(label)\"; \(report.accounting.unlabeled) events without one)\n".utf8))
            throw ExitCode(ExitCodes.runtimeFailure)
        }
        let files = try backtest.write(report)
        print(BacktestSummaryText.text(report, files: files))
    }
}

enum BacktestSummaryText {
    static func text(_ r: BacktestReport, files: [String]) -> String {
        let a = r.accounting
        var lines = [
            "backtest: \(a.linesRead) lines in \(String(format: "%.2f", r.replaySeconds))s (\(Int(r.eventsPerSecond)) events/s); " +
                "\(r.events.count) labeled events, \(r.events.positives) fraud; dead-lettered \(a.deadLettered), unlabeled \(a.unlabeled), unscorable \(a.unscorable)",
        ]
        for (v, m) in zip(r.events.variants, r.metrics) {
            let t = m.at(v.threshold)
            lines.append(String(format: "  %@ (%@): AUC %.4f  PR-AUC %.4f  at %.3f: %d alerts, precision %.3f, recall %.3f",
                                v.name, v.modelVersion ?? "?", m.rocAUC ?? .nan, m.averagePrecision ?? .nan, v.threshold,
                                t.alerts, t.precision ?? .nan, t.recall ?? .nan))
        }
        for c in r.comparisons {
            let g = c.agreement
            var line = "  \(c.b) vs \(c.a): alerts only \(c.a) \(g.onlyA), only \(c.b) \(g.onlyB), both \(g.both)"
            if let e = c.equalVolume {
                line += String(format: "; recall at %d alerts %+.1f points [%+.1f, %+.1f]", e.alerts, e.difference * 100, e.ci95.0 * 100, e.ci95.1 * 100)
            }
            lines.append(line)
        }
        lines.append("  wrote " + files.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
