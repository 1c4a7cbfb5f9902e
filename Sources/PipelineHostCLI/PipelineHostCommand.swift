import AdminHTTP
import ArgumentParser
import BuiltinPlugins
import Foundation
import Logging
import Metrics
import PipelineHost
import Prometheus
import Synchronization

/// Exit codes: 0 success, 1 runtime failure, 78 (EX_CONFIG) a spec that does not validate.
enum ExitCodes {
    static let specInvalid: Int32 = 78
    static let runtimeFailure: Int32 = 1
}

@main
struct PipelineHostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline-host",
        abstract: "Runs stream-processing pipelines (sources → transforms → sinks) described by a JSON spec.",
        version: HostVersion.string,
        subcommands: [RunCommand.self, ValidateCommand.self, HealthCommand.self, PluginsCommand.self, SchemaCommand.self, ScoreCommand.self, BacktestCommand.self, TestCommand.self, TapCommand.self, LambdaCommand.self])
}

enum HostVersion {
    static let string = "0.1.0"
}

struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    /// The level asked for; "warn" and "err" (what other tools take) mean warning and error.
    var level: Logger.Level? {
        let name = logLevel.lowercased()
        return Logger.Level(rawValue: ["warn": "warning", "err": "error"][name] ?? name)
    }

    /// True when the level came from the environment, not the command line.
    var fromEnvironment: Bool { ProcessInfo.processInfo.environment["LOG_LEVEL"] == logLevel }

    static var levelNames: String { Logger.Level.allCases.map(\.rawValue).joined(separator: ", ") }

    /// A misspelt `--log-level` is refused, not run at info: an operator who asked for quiet logs would get loud
    /// ones. A bad LOG_LEVEL (an empty one passed through by compose, `fatal`) only warns: the environment of a
    /// Lambda function or a task is not where a typo should stop every start.
    func validate() throws {
        guard level == nil, !fromEnvironment else { return }
        throw ValidationError("--log-level \"\(logLevel)\" is not a log level (\(Self.levelNames))"
                              + Suggestions.didYouMean(logLevel, Logger.Level.allCases.map(\.rawValue)))
    }

    func bootstrap() -> Logger {
        let level = self.level ?? .info
        LoggingSystem.bootstrap { label in
            var h = JSONLogHandler(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "pipeline-host")
        if self.level == nil { logger.warning("LOG_LEVEL \"\(logLevel)\" is not a log level (\(Self.levelNames)); logging at info") }
        return logger
    }
}

func loadSpec(_ path: String) throws -> PipelineSpec {
    do {
        return try PipelineSpec.load(path: path, registry: BuiltinPlugins.registry, environment: ProcessInfo.processInfo.environment)
    } catch {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        throw ExitCode(ExitCodes.specInvalid)
    }
}

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Checks a spec and lists every error (exit 0 when valid, 78 otherwise).", aliases: ["lint"])

    @Argument(help: "The pipeline spec (JSON).") var spec: String

    func run() async throws {
        let s = try loadSpec(spec)
        let chain = ([s.source.type] + s.transforms.map(\.type)).joined(separator: " → ")
        let sinks = s.sinks.map { $0.config.id + ($0.when == nil ? "" : " (when …)") }.joined(separator: ", ")
        print("\(spec): valid — pipeline \"\(s.name)\": \(chain) → \(sinks)")
    }
}

struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plugins", abstract: "Lists the plugins, or documents one.")

    @Argument(help: "A plugin name.") var name: String?

    func run() async throws {
        let registry = BuiltinPlugins.registry
        guard let name else {
            print(PluginDocs.index(registry), terminator: "")
            return
        }
        let matches = registry.registrations.filter { $0.descriptor.name == name }
        guard !matches.isEmpty else {
            let all = registry.registrations.map(\.descriptor.name)
            FileHandle.standardError.write(Data("no plugin \"\(name)\"\(Suggestions.didYouMean(name, all)) (plugins: \(Set(all).sorted().joined(separator: ", ")))\n".utf8))
            throw ExitCode(2)
        }
        print(matches.map { PluginDocs.page($0.descriptor, commonSinkFields: $0.descriptor.kind == .sink) }.joined(separator: "\n"), terminator: "")
    }
}

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schema", abstract: "Prints the JSON Schema of the spec format.")

    func run() async throws {
        var w = JSONWriter()
        w.write(SpecSchema.generate(registry: BuiltinPlugins.registry))
        print(w.string)
    }
}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Runs a pipeline until its input ends or SIGINT/SIGTERM.")

    @Argument(help: "The pipeline spec (JSON).") var spec: String
    @Flag(name: .long, help: "No progress line and no summary.") var quiet = false
    @Flag(name: .long, help: "At the end, print each stage's CPU per record (also with --quiet).") var profile = false
    @Option(name: .long, help: ArgumentHelp("A transform with keyed state that starts empty although the checkpoint has none for it (one added to the spec since); repeatable.", valueName: "id"))
    var freshState: [String] = []
    @Flag(name: .long, help: "Reload the spec when its file changes, as SIGHUP does: what changed is swapped in at a cut in the stream, state kept.")
    var watch = false
    @OptionGroup var log: LogOptions

    func run() async throws {
        let logger = log.bootstrap()
        let spec = try loadSpec(self.spec)
        // A misspelt id would start nothing empty and leave the run to refuse the checkpoint later.
        let transformIDs = spec.transforms.map(\.id)
        for id in freshState where !transformIDs.contains(id) {
            throw ValidationError("--fresh-state \(id): the spec has no transform \"\(id)\"" + Suggestions.didYouMean(id, transformIDs)
                                  + " (transforms: \(transformIDs.joined(separator: ", ")))")
        }
        let prometheus = PrometheusCollectorRegistry()
        // Prometheus for /metrics; the store lets the host read its plugins' metrics back (status page, CloudWatch).
        let metricsStore = MetricsStore()
        MetricsSystem.bootstrap(MultiplexMetricsHandler(factories: [PrometheusMetricsFactory(registry: prometheus), metricsStore]))

        let stats = RuntimeStats()
        let stop = StopSignal()
        let signalCount = Mutex(0)
        let signals = SignalHandlers.install { signal in
            // A second signal, or one that arrives while plugins are still starting, does not wait for a drain.
            let count = signalCount.withLock { $0 += 1; return $0 }
            if count > 1 || !stats.hasStarted {
                logger.warning("exiting without draining; the input since the last checkpoint will be replayed", metadata: ["signal": "\(signal)"])
                Foundation.exit(ExitCodes.runtimeFailure)
            }
            logger.notice("stopping: draining, flushing sinks and writing a final checkpoint (send again to exit at once)", metadata: ["signal": "\(signal)"])
            stop.stop()
        }
        defer { signals.forEach { $0.cancel() } }

        let runner = PipelineRunner(spec: spec, registry: BuiltinPlugins.registry, logger: logger,
                                    environment: ProcessInfo.processInfo.environment, stats: stats, stop: stop,
                                    freshState: Set(freshState))
        var background: [Task<Void, Never>] = []
        let reloader = SpecReloader(path: self.spec, runner: runner, logger: logger)
        let hangup = reloader.installSignal()
        defer { hangup.cancel() }
        background.append(Task { await reloader.run() })
        if watch { background.append(Task { await reloader.watch() }) }
        let adminShutdown = AdminServerShutdown()
        var adminTask: Task<Void, Never>?
        if let admin = spec.admin {
            let server = AdminServer(host: admin.host, port: admin.port, stats: stats, registry: prometheus, logger: logger,
                                     spec: spec, metricsStore: metricsStore, currentSpec: { runner.currentSpec })
            adminTask = Task {
                do {
                    try await server.run(shutdown: adminShutdown) { port in
                        logger.info("admin server listening", metadata: ["address": "\(admin.host):\(port)"])
                    }
                } catch is CancellationError {
                } catch {
                    logger.error("admin server failed", metadata: ["error": "\(error)"])
                }
            }
        }
        /// The admin server stops gracefully (its open taps ended first, or the shutdown would wait for them); a
        /// client that holds a request open does not hold the exit back more than two seconds.
        func stopAdmin() async {
            guard let adminTask else { return }
            stats.taps.finishAll()
            adminShutdown.trigger()
            // Whichever comes first: the server's end, or two seconds (then it is cancelled and not waited for).
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let once = Mutex(false)
                let finish: @Sendable () -> Void = { if once.withLock({ (was: inout Bool) in defer { was = true }; return !was }) { done.resume() } }
                Task { await adminTask.value; finish() }
                Task {
                    try? await Task.sleep(nanoseconds: 2_000_000_000)
                    adminTask.cancel()
                    finish()
                }
            }
        }
        if let cloudwatch = spec.metrics.cloudwatch {
            let emf = EMFReporter(pipeline: spec.name, settings: cloudwatch, stats: stats, metrics: metricsStore)
            background.append(Task { await emf.run() })
        }
        if !quiet {
            let reporter = StatusReporter(stats: stats, logger: logger, interval: spec.runtime.statusInterval)
            background.append(Task { await reporter.run() })
        }
        logger.info("pipeline starting", metadata: ["pipeline": "\(spec.name)", "spec": "\(self.spec)"])
        do {
            let summary = try await runner.run()
            reloader.finish()
            for t in background { t.cancel() }
            await stopAdmin()
            for t in background { await t.value }
            logger.info("pipeline finished", metadata: [
                "records_in": "\(summary.recordsIn)", "dead_lettered": "\(summary.deadLettered)",
                "checkpoints": "\(summary.checkpoints)", "seconds": "\(String(format: "%.2f", summary.seconds))",
            ])
            // A misspelt key or time field dead-letters everything, each record with a good reason, and the run
            // still ends well: say so once where the operator looks.
            if summary.recordsIn > 0 && summary.sinkOutputs.values.reduce(0, +) == 0 {
                logger.warning("every record was dead-lettered: nothing reached a sink; the dead-letter output says why (a misspelt field in the spec?)",
                               metadata: ["dead_letter": "\(spec.deadLetter.id)"])
            }
            if !quiet { print(Summary.text(spec: runner.currentSpec, summary: summary)) }
            if profile {
                print(StageProfile.text(telemetry: stats.telemetry, recordsIn: summary.recordsIn, processCPUSeconds: StageProfile.processCPUSeconds()))
            }
            // Everything is written, flushed and checkpointed: exit while the runner still holds the pipeline's
            // state, so it is not freed piece by piece first (see `PipelineRunner.retained`). exit() flushes stdout.
            withExtendedLifetime(runner) { Foundation.exit(0) }
        } catch {
            reloader.finish()
            for t in background { t.cancel() }
            await stopAdmin()
            logger.critical("pipeline failed", metadata: ["error": "\(error)"])
            throw ExitCode(ExitCodes.runtimeFailure)
        }
    }
}

enum Summary {
    static func text(spec: PipelineSpec, summary: RunSummary) -> String {
        let rate = summary.seconds > 0 ? Double(summary.recordsIn) / summary.seconds : 0
        var lines = ["pipeline \"\(spec.name)\" finished in \(String(format: "%.2f", summary.seconds))s (\(Int(rate)) records/s)"]
        if let from = summary.resumedFrom { lines.append("  resumed from checkpoint \(from)") }
        lines.append("  records in:      \(summary.recordsIn)")
        for sink in spec.sinks {
            let id = sink.config.id
            lines.append("  → \(id.padding(toLength: 14, withPad: " ", startingAt: 0)) \(summary.sinkOutputs[id] ?? 0)")
        }
        lines.append("  dead-lettered:   \(summary.deadLettered) (\(spec.deadLetter.optionalString("path") ?? spec.deadLetter.id))")
        lines.append("  checkpoints:     \(summary.checkpoints) (\(spec.checkpoint.directory))")
        return lines.joined(separator: "\n")
    }
}
