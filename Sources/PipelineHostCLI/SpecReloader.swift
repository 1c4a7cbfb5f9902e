import Dispatch
import Foundation
import Logging
import PipelineHost
import BuiltinPlugins

/// Turns SIGHUP, and with `run --watch` a change of the spec file, into hot reloads of the running pipeline,
/// one at a time: the file is read and validated again; on any error every one is logged and the running spec
/// stays, otherwise the runner swaps in what changed.
final class SpecReloader: Sendable {
    let path: String
    let runner: PipelineRunner
    let logger: Logger
    private let triggers: AsyncStream<String>
    private let trigger: AsyncStream<String>.Continuation

    init(path: String, runner: PipelineRunner, logger: Logger) {
        self.path = path
        self.runner = runner
        self.logger = logger
        (triggers, trigger) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// SIGHUP asks for a reload (the conventional signal for "read your config again").
    func installSignal() -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let trigger = trigger
        source.setEventHandler { trigger.yield("SIGHUP") }
        source.resume()
        return source
    }

    /// Polls the spec file once a second and asks for a reload when its content changes and has stayed the same
    /// for one more poll (an editor's save in several writes is read once, whole).
    func watch() async {
        var loaded = Self.content(path)
        var candidate: Data?
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 1_000_000_000)
            // A file that is briefly gone (an editor's rename-into-place) is no change.
            guard let now = Self.content(path) else { continue }
            if now == loaded { candidate = nil; continue }
            if now != candidate { candidate = now; continue }
            loaded = now
            candidate = nil
            trigger.yield("file change")
        }
    }

    static func content(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// Applies the reloads asked for, in order, until cancelled.
    func run() async {
        for await reason in triggers {
            if Task.isCancelled { return }
            logger.info("reloading the spec", metadata: ["spec": "\(path)", "trigger": "\(reason)"])
            let outcome: ReloadOutcome
            do {
                let next = try PipelineSpec.load(path: path, registry: BuiltinPlugins.registry, environment: ProcessInfo.processInfo.environment)
                outcome = await runner.reload(to: next)
            } catch {
                outcome = .rejected(reasons: error.diagnostics.map(\.description))
            }
            runner.recordReload(outcome, spec: path)
        }
    }

    func finish() { trigger.finish() }
}
