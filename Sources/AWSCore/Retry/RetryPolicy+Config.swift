import PipelineHost

extension RetryPolicy {
    /// The policy a plugin's shared `retry` field (`FieldSpec.retry`) describes: one reading for every plugin.
    public init(config: ComponentConfig, field: String = "retry") {
        let r = config.nested(field)
        self.init(maxAttempts: r.int("max_attempts"), baseBackoff: .milliseconds(Int64(r.seconds("initial_backoff") * 1000)),
                  maxBackoff: .milliseconds(Int64(r.seconds("max_backoff") * 1000)))
    }
}

extension AWSClient {
    /// A plugin's region: its `region` field, then the environment and profile (`resolveRegion`), then us-east-1.
    public static func region(config: ComponentConfig, environment: [String: String]) -> String {
        config.optionalString("region") ?? resolveRegion(environment: environment) ?? "us-east-1"
    }
}
