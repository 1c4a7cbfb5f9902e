import ArgumentParser

/// `model-server`: the fraud model's SageMaker inference container. SageMaker starts it as
/// `docker run IMAGE serve`; `serve` is also the default subcommand.
@main
struct ModelServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-server",
        abstract: "Serves the fraud model over the SageMaker inference container contract (/ping, /invocations).",
        subcommands: [ServeCommand.self],
        defaultSubcommand: ServeCommand.self)
}
