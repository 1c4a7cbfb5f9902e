/// A problem across a component's fields (mode "file" without "path"): the key it is about, as a dotted path
/// inside the component (nil: the component as a whole), and what is wrong.
public struct ConfigProblem: Sendable, Equatable {
    public var key: String?
    public var message: String

    public init(_ message: String, at key: String? = nil) {
        self.message = message
        self.key = key
    }
}

/// A plugin's rules across its fields, as Redpanda Connect's lint rules: the problems of a config whose fields
/// each validated. `validate` (every spec parse) reports them with the others, so a spec that could not be built
/// never passes validation; the plugin's init runs the same rules (`checkLint`) for configs built without a spec.
public typealias ConfigLint = @Sendable (_ config: ComponentConfig) -> [ConfigProblem]

extension PluginDescriptor {
    /// Throws the first lint problem of `config`, located as `validate` locates it.
    public func checkLint(_ config: ComponentConfig) throws {
        guard let lint, let problem = lint(config).first else { return }
        throw PipelineError(.config, problem.message, at: problem.path(in: config.path))
    }
}

extension ConfigProblem {
    /// The problem's spec path under the component at `path`.
    public func path(in path: String) -> String {
        guard let key else { return path }
        return key.split(separator: ".").reduce(path) { SpecPath.child($0, String($1)) }
    }
}

/// Rules many plugins share.
public enum ConfigLints {
    /// Each of `keys`, when given, is not empty: `"${OUT:-}"` with OUT unset leaves "", which would fail later
    /// as a path or a name with no word of where it came from.
    public static func nonEmpty(_ keys: String...) -> ConfigLint {
        { config in
            keys.compactMap { key in
                config.optionalString(key)?.isEmpty == true ? ConfigProblem("\"\(key)\" is empty", at: key) : nil
            }
        }
    }
}
