import ModelCore
import PipelineHost

/// `feature_scaler` transform: builds the model's input vector by name from record fields and scales it with
/// the bundle's StandardScaler, so scoring needs no knowledge of field names.
public final class FeatureScalerTransform: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "feature_scaler",
        summary: "Builds the model input vector from named fields (missing → NaN) and scales it with the bundle's scaler.",
        description: """
            Features are taken by name in the order of the bundle's manifest. A null or absent field is a missing \
            value (NaN), which the model routes by each split's default direction. Derived features (hour_of_day) \
            are computed from their source field when the record does not carry them. A field that is present but \
            not a number sends the record to the dead-letter output with the field's name.
            """,
        fields: [
            FieldSpec("bundle", .string, .required,
                      doc: "Model bundle (manifest.json, scaler.json, model.json): a local directory, or a versioned S3 prefix s3://bucket/prefix/vN/ read at start-up (region and credentials as the AWS plugins resolve them; endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).",
                      example: "models/v1"),
            FieldSpec("output_field", .string, .defaultValue("features"), doc: "Field that receives the scaled vector."),
        ],
        examples: [#"{"type": "feature_scaler", "bundle": "models/v1"}"#],
        // What it reads is the bundle's feature list, known only once the bundle is loaded.
        dataFlow: { config, _ in
            let output = config.string("output_field")
            return DataFlow(writes: [output], promises: ModelBundle.localFeatureContract(config.string("bundle"), field: output).map { [$0] } ?? [])
        })

    /// What scaling needs from the bundle.
    struct Scaling: Sendable {
        let scaler: FeatureScaler
        let assembler: FeatureAssembler
        let version: String
        let contract: FieldContract
    }

    let scaling: BundleSlot<Scaling>
    let output: String
    let outputKey: FieldKey

    let id: String

    public init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        let output = config.string("output_field")
        scaling = try BundleSlot(config.string("bundle"), environment: context.environment, shared: context.shared) { bundle in
            Scaling(scaler: bundle.scaler, assembler: FeatureAssembler(names: bundle.features), version: bundle.version,
                    contract: bundle.featureContract(field: output))
        }
        self.output = output
        outputKey = FieldKey(output)
    }

    public func start(_ context: StageContext) async throws {
        try await scaling.start()
    }

    public func process(_ batch: inout Batch) async throws {
        let scaling = try scaling.get()
        let scaler = scaling.scaler, assembler = scaling.assembler, output = self.outputKey
        batch.removeFailures(stage: id) { record in
            do throws(FeatureAssembler.FieldError) {
                let raw = try assembler.raw(record)
                var scaled = [Float](repeating: 0, count: raw.count)
                for i in raw.indices { scaled[i] = scaler.scale(raw[i], at: i) }
                // Typed: the scorer reads the floats as they are; the field reads as a JSON array anywhere else.
                record.setVector(output, scaled)
                return nil
            } catch {
                return "cannot build features: \(error)"
            }
        }
    }
}

extension FeatureScalerTransform: FieldContracting {
    public var promisedFields: [FieldContract] { (try? scaling.get()).map { [$0.contract] } ?? [] }
}

extension FeatureScalerTransform: StatusDetailProviding {
    public func statusDetails() -> JSONValue {
        var d: [(String, JSONValue)] = [("bundle", .string(scaling.location))]
        if let s = try? scaling.get() { d.append(("bundle_version", .string(s.version))) }
        return .object(d)
    }
}
