import Logging

/// How a registered plugin is built from its validated config.
public enum PluginFactory: Sendable {
    case source(@Sendable (ComponentConfig, BuildContext) throws -> any Source)
    case transform(@Sendable (ComponentConfig, BuildContext) throws -> any Transform)
    case sink(@Sendable (ComponentConfig, BuildContext) throws -> any Sink)
}

public struct PluginRegistration: Sendable {
    public let descriptor: PluginDescriptor
    public let factory: PluginFactory

    public static func source<P: SourcePlugin>(_ type: P.Type) -> PluginRegistration {
        precondition(P.descriptor.kind == .source, "\(P.self) declares kind \(P.descriptor.kind)")
        return .init(descriptor: P.descriptor, factory: .source { try P(config: $0, context: $1) })
    }
    public static func transform<P: TransformPlugin>(_ type: P.Type) -> PluginRegistration {
        precondition(P.descriptor.kind == .transform, "\(P.self) declares kind \(P.descriptor.kind)")
        return .init(descriptor: P.descriptor, factory: .transform { try P(config: $0, context: $1) })
    }
    public static func sink<P: SinkPlugin>(_ type: P.Type) -> PluginRegistration {
        precondition(P.descriptor.kind == .sink, "\(P.self) declares kind \(P.descriptor.kind)")
        return .init(descriptor: P.descriptor, factory: .sink { try P(config: $0, context: $1) })
    }
}

/// The plugins a host knows, looked up by kind and name. Built once from one explicit list.
public struct PluginRegistry: Sendable {
    public let registrations: [PluginRegistration]

    public init(_ registrations: [PluginRegistration]) {
        var seen = Set<String>()
        for r in registrations {
            let key = "\(r.descriptor.kind.rawValue)/\(r.descriptor.name)"
            precondition(seen.insert(key).inserted, "plugin \(key) registered twice")
        }
        self.registrations = registrations
    }

    public func registration(kind: PluginKind, name: String) -> PluginRegistration? {
        registrations.first { $0.descriptor.kind == kind && $0.descriptor.name == name }
    }

    public func names(of kind: PluginKind) -> [String] {
        registrations.filter { $0.descriptor.kind == kind }.map(\.descriptor.name)
    }

    public func makeSource(_ config: ComponentConfig, _ context: BuildContext) throws -> any Source {
        guard case .source(let make)? = registration(kind: .source, name: config.type)?.factory else {
            throw PipelineError(.config, "no source plugin \"\(config.type)\"", at: config.path)
        }
        return try wrap(config) { try make(config, context) }
    }

    public func makeTransform(_ config: ComponentConfig, _ context: BuildContext) throws -> any Transform {
        guard case .transform(let make)? = registration(kind: .transform, name: config.type)?.factory else {
            throw PipelineError(.config, "no transform plugin \"\(config.type)\"", at: config.path)
        }
        return try wrap(config) { try make(config, context) }
    }

    public func makeSink(_ config: ComponentConfig, _ context: BuildContext) throws -> any Sink {
        guard case .sink(let make)? = registration(kind: .sink, name: config.type)?.factory else {
            throw PipelineError(.config, "no sink plugin \"\(config.type)\"", at: config.path)
        }
        return try wrap(config) { try make(config, context) }
    }

    /// Builds a transform nested in another component's config (A/B variants, fallback scorers): the value was
    /// validated as a `.component(.transform)` field, so it holds "type", an optional "id" and the fields.
    public func makeNestedTransform(_ json: JSONValue, at path: String, defaultID: String? = nil, _ context: BuildContext) throws -> any Transform {
        let type = json["type"]?.stringValue ?? ""
        guard let reg = registration(kind: .transform, name: type) else {
            throw PipelineError(.config, "no transform plugin \"\(type)\"", at: path)
        }
        let values = (json.objectValue ?? []).filter { $0.0 != "type" && $0.0 != "id" }
        // Without an id in the spec, the parent's name for it (two A/B variants' scorers of one type must not
        // share an id), else its type.
        let config = ComponentConfig(kind: .transform, type: type, id: json["id"]?.stringValue ?? defaultID ?? type, path: path,
                                     values: values, fields: reg.descriptor.fields)
        return try makeTransform(config, context)
    }

    private func wrap<T>(_ config: ComponentConfig, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as PipelineError { throw e } catch {
            throw PipelineError(.config, "cannot build \(config.kind.rawValue) \"\(config.id)\": \(error)", at: config.path, underlying: error)
        }
    }
}

/// What a plugin gets when it is built.
public struct BuildContext: Sendable {
    public var pipelineName: String
    public var logger: Logger
    public var environment: [String: String]
    public var registry: PluginRegistry
    /// What this build's plugins share (a model bundle several stages name).
    public var shared: SharedResources
    /// Workers of each keyed stage (`runtime.parallelism`).
    public var parallelism: Int

    public init(pipelineName: String, logger: Logger, environment: [String: String], registry: PluginRegistry,
                shared: SharedResources = SharedResources(), parallelism: Int = 1) {
        self.pipelineName = pipelineName
        self.parallelism = parallelism
        self.logger = logger
        self.environment = environment
        self.registry = registry
        self.shared = shared
    }

    /// The same context for another build (a hot reload): nothing read by an earlier build is reused.
    public func forNewBuild() -> BuildContext {
        var c = self
        c.shared = SharedResources()
        return c
    }
}
