import ArgumentParser
import BuiltinPlugins
import CGlibcCompat
import Foundation
import LambdaRuntime
import Logging
import PipelineHost

/// `pipeline-host lambda SPEC`: the AWS Lambda custom runtime (provided.al2023; see lambda/bootstrap). Runs the
/// pipeline once per invocation and reports each invocation's outcome to the Runtime API (see LambdaRuntime and
/// docs/alerting.md).
struct LambdaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lambda",
        abstract: "Serves AWS Lambda invocations (Runtime API): one pipeline run per event, e.g. SNS → Slack.")

    @Argument(help: "The pipeline spec (JSON); its source is usually lambda_sns.") var spec: String
    @OptionGroup var log: LogOptions

    func run() async throws {
        // A reference keeps the glibc 2.34 compatibility object in the binary (see Sources/CGlibcCompat).
        _ = cglibccompat_linked()
        let logger = log.bootstrap()
        let code = await LambdaHost.run(specPath: spec, registry: BuiltinPlugins.registry,
                                        environment: ProcessInfo.processInfo.environment, logger: logger)
        if code != 0 { throw ExitCode(code) }
    }
}
