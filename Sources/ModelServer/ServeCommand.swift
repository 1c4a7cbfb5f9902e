import ArgumentParser
import Foundation
import Logging

/// `model-server serve [--model-dir DIR] [--port N] [--host H]`, with SageMaker's defaults:
/// port from SAGEMAKER_BIND_TO_PORT, else 8080; bundle from SM_MODEL_DIR, else /opt/ml/model.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Binds the port, loads the model bundle and serves until SIGTERM (which drains in-flight requests).")

    @Option(help: "Model bundle (manifest.json, scaler.json, model.json): a directory or an S3 prefix s3://bucket/prefix/vN/. Default: $SM_MODEL_DIR, else /opt/ml/model.")
    var modelDir: String?

    @Option(help: "Port to listen on. Default: $SAGEMAKER_BIND_TO_PORT, else 8080.")
    var port: Int?

    @Option(help: "Address to bind. Default: $MODEL_SERVER_HOST, else 127.0.0.1 (the container image sets 0.0.0.0, which SageMaker needs).")
    var host: String = ProcessInfo.processInfo.environment["MODEL_SERVER_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"

    @Option(help: "Seconds a connection may stay idle, or take to send a request's head, before it is closed.")
    var idleTimeout: Double = 30

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String = ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info"

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0...65535") }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \"\(logLevel)\"") }
    }

    static func resolvedPort(_ option: Int?, environment: [String: String]) throws -> Int {
        if let option { return option }
        if let text = environment["SAGEMAKER_BIND_TO_PORT"], !text.isEmpty {
            guard let p = Int(text), (1...65535).contains(p) else {
                throw ValidationError("SAGEMAKER_BIND_TO_PORT=\"\(text)\" is not a port number")
            }
            return p
        }
        return 8080
    }

    static func resolvedModelDirectory(_ option: String?, environment: [String: String]) -> String {
        if let option { return option }
        if let dir = environment["SM_MODEL_DIR"], !dir.isEmpty { return dir }
        return "/opt/ml/model"
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "model-server")
        var server = ModelServer(
            host: host, port: try Self.resolvedPort(port, environment: env),
            modelDirectory: Self.resolvedModelDirectory(modelDir, environment: env), logger: logger)
        server.idleTimeout = idleTimeout
        logger.info("starting", metadata: ["host": "\(server.host)", "port": "\(server.port)", "model_dir": "\(server.modelDirectory)"])
        do { try await server.run() } catch {
            logger.critical("model-server stopped: \(error)")
            throw ExitCode(1)
        }
        logger.info("stopped")
    }
}
