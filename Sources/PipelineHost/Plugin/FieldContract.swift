/// What a field means beyond its name, where a wrong meaning would not fail but silently give wrong results: a
/// scaled feature vector is only right for a model that expects those features, in that order, scaled the same
/// way. A transform that writes such a field promises a contract; one that reads it requires one.
public struct FieldContract: Sendable, Equatable {
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
    static func mismatch(_ required: FieldContract, writer: ComponentConfig, _ promised: FieldContract) -> String {
        """
        reads "\(required.field)" as \(required.summary), but \(writer.type) "\(writer.id)" (\(writer.path)) writes it as \
        \(promised.summary); their features or scaling differ, so the scores would be silently wrong. Name the same bundle \
        in both, or bundles with the same features and scaler
        """
    }

    /// Every contract a transform requires must be the one promised by the last transform before it that
    /// promised one for the field. An error names both stages.
    static func check(_ transforms: [(config: ComponentConfig, transform: any Transform)]) throws {
        var known: [String: (config: ComponentConfig, contract: FieldContract)] = [:]
        for (config, t) in transforms {
            let contracts = t as? any FieldContracting
            for required in contracts?.requiredFields ?? [] {
                guard let promised = known[required.field], promised.contract.identity != required.identity else { continue }
                throw PipelineError(.config, mismatch(required, writer: promised.config, promised.contract), at: config.path)
            }
            for promised in contracts?.promisedFields ?? [] { known[promised.field] = (config, promised) }
        }
    }
}
