import ArgumentParser
import BuiltinPlugins
import Foundation
import Logging
import PipelineHost
import SpecTesting

/// `pipeline-host test`: unit tests for specs, in JSON next to them (`docs/operating.md`).
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Runs spec tests: input records per case through the spec (stand-ins for what reaches outside), expectations per output.",
        discussion: """
            Each FILE names a spec, its environment, stand-ins (a table for dynamo_broadcast, a bundle for a \
            sagemaker scorer, constant fields for any transform) and cases of input records with what each sink and \
            dead_letter must hold: records in order with field matchers (a value, or equals / approximately with \
            tolerance / exists / absent / matches), or {"count": N}. Sources are replaced by the case's records and \
            sinks captured, so nothing leaves the machine. Exit 0 when every case passes, 1 otherwise, 2 for a test \
            file or spec that cannot be read.
            """)

    @Argument(help: "Spec test files (JSON).") var files: [String]

    func run() async throws {
        var logger = Logger(label: "spec-test")
        logger.logLevel = .critical
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .critical
            return h
        }
        let runner = SpecTestRunner(registry: BuiltinPlugins.registry, environment: ProcessInfo.processInfo.environment, logger: logger)
        var passed = 0, failed = 0
        for file in files {
            let suite: SpecTestSuite
            let results: [SpecTestRunner.CaseResult]
            do {
                suite = try SpecTestSuite.load(file)
                results = try await runner.run(suite)
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(2)
            }
            print("\(file) (\(suite.specPath))")
            for r in results {
                if r.passed {
                    passed += 1
                    print("  ✓ \(r.name)")
                } else {
                    failed += 1
                    print("  ✗ \(r.name)")
                    for f in r.failures { print("      " + f) }
                }
            }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}
