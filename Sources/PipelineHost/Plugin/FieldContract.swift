/// What a field means beyond its name, where a wrong meaning would not fail but silently give wrong results: a
/// scaled feature vector is only right for a model that expects those features, in that order, scaled the same
/// way. A transform that writes such a field promises a contract; one that reads it requires one.
public struct FieldContract: Sendable {
    public var field: String
    /// Equal identities mean the same thing (for a feature vector: the feature names and the scaler's values).
    public var identity: String
    /// For the error: where the meaning comes from ("bundle models/v1, version v1: 15 features").
    public var summary: String

    public init(field: String, identity: String, summary: String) {
        self.field = field
        self.identity = identity
        self.summary = summary
    }
}

/// A transform with field contracts (read once it has started: an S3 bundle is known only then).
public protocol FieldContracting {
    /// The contracts of the fields it writes.
    var promisedFields: [FieldContract] { get }
    /// The contracts of the fields it reads.
    var requiredFields: [FieldContract] { get }
}

extension FieldContracting {
    public var promisedFields: [FieldContract] { [] }
    public var requiredFields: [FieldContract] { [] }
}

enum FieldContractCheck {
    /// One transform as the check sees it: the fields it writes, what it promises of some of them, and what it
    /// requires of fields it reads, each with the config key it follows from ("" for the component itself).
    struct Step {
        var config: ComponentConfig
        var writes: [String]
        var promises: [FieldContract]
        var requires: [(contract: FieldContract, key: String)]
    }

    /// Every contract a transform requires must be the one promised by the last transform before it that
    /// wrote the field (a writer without a promise ends what is known of it). One problem per mismatch, at the
    /// requiring key, naming both stages. The spec's lint runs it on what the config tells (local bundles), the
    /// runner once the bundles are loaded (S3 ones and files changed since, too).
    static func problems(_ steps: [Step]) -> [(path: String, message: String)] {
        var promised: [String: (config: ComponentConfig, contract: FieldContract)] = [:]
        var out: [(path: String, message: String)] = []
        for step in steps {
            for (required, key) in step.requires {
                guard let p = promised[required.field], p.contract.identity != required.identity else { continue }
                out.append((key.isEmpty ? step.config.path : step.config.path + "." + key, mismatch(required, writer: p.config, p.contract)))
            }
            for w in step.writes { promised[w] = nil }
            for p in step.promises { promised[p.field] = (step.config, p) }
        }
        return out
    }

    static func mismatch(_ required: FieldContract, writer: ComponentConfig, _ promised: FieldContract) -> String {
        """
        reads "\(required.field)" as \(required.summary), but \(writer.type) "\(writer.id)" (\(writer.path)) writes it as \
        \(promised.summary); their features or scaling differ, so the scores would be silently wrong. Name the same bundle \
        in both, or bundles with the same features and scaler
        """
    }

    /// The runner's check of built and started transforms: their contracts as loaded, the fields they write as
    /// their specs declare. Throws the first problem.
    static func check(_ transforms: [(config: ComponentConfig, transform: any Transform)], registry: PluginRegistry) throws {
        let flows = DataFlowCheck(registry: registry)
        let steps = transforms.map { config, t in
            let contracts = t as? any FieldContracting
            return Step(config: config, writes: flows.flow(of: config)?.writes ?? [], promises: contracts?.promisedFields ?? [],
                        requires: (contracts?.requiredFields ?? []).map { ($0, "") })
        }
        if let first = problems(steps).first { throw PipelineError(.config, first.message, at: first.path) }
    }
}
