import AWSCore
import PipelineHost

/// Reads a model bundle from an S3 prefix (GetObject of manifest.json, model.json and scaler.json, fetched
/// concurrently). Errors name the object's s3:// URL and the AWS error code; a missing file says which one.
public struct S3BundleLoader: Sendable {
    public let s3: S3Client

    public init(s3: S3Client) {
        self.s3 = s3
    }

    /// Loads with a client of its own, resolved as the AWS plugins do: region from `region`, AWS_REGION,
    /// AWS_DEFAULT_REGION, the profile, else us-east-1; endpoint from `endpointURL`, AWS_ENDPOINT_URL_S3,
    /// AWS_ENDPOINT_URL, else AWS's; credentials from the default chain.
    public static func load(
        _ location: S3BundleLocation, environment: [String: String], region: String? = nil, endpointURL: String? = nil
    ) async throws -> ModelBundle {
        let client = AWSClient(
            region: region ?? AWSClient.resolveRegion(environment: environment) ?? "us-east-1", environment: environment)
        defer { client.shutdown() }
        let s3: S3Client
        do { s3 = try S3Client(client: client, endpointURL: endpointURL) } catch {
            throw PipelineError(.config, "cannot reach the model bundle: \(error)", at: location.description, underlying: error)
        }
        return try await S3BundleLoader(s3: s3).load(location)
    }

    public func load(_ location: S3BundleLocation) async throws -> ModelBundle {
        async let manifest = fetch("manifest.json", from: location)
        async let model = fetch("model.json", from: location)
        async let scaler = fetch("scaler.json", from: location)
        // Awaited in this order so that the error reported is deterministic (the manifest's first).
        let m = try await manifest, x = try await model, s = try await scaler
        return try ModelBundle(manifest: m, model: x, scaler: s, location: location.description)
    }

    func fetch(_ file: String, from location: S3BundleLocation) async throws -> JSONValue {
        let url = location.url(of: file)
        let object: S3Client.Object
        do {
            object = try await s3.getObject(bucket: location.bucket, key: location.key(of: file))
        } catch let error as AWSError where error.code == "NoSuchKey" {
            throw PipelineError(.config, "model bundle file \(file) is missing from \(location) (NoSuchKey)", at: url, underlying: error)
        } catch {
            // AWSError and HTTP errors describe the reply or the transport only, never the signed request.
            throw PipelineError(.config, "cannot read model bundle file \(file): \(error)", at: url, underlying: error)
        }
        do { return try DocumentParser.parseValue(object.body) } catch {
            throw PipelineError(.config, "invalid JSON: \(error)", at: url, underlying: error)
        }
    }
}
