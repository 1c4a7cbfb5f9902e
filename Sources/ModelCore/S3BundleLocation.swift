import PipelineHost

/// Where a versioned model bundle lives in S3: `s3://bucket/prefix/vN/`, holding manifest.json, model.json and
/// scaler.json. A missing trailing `/` is added, so `s3://b/models/v2` never also matches `models/v20/…`.
public struct S3BundleLocation: Sendable, Equatable, CustomStringConvertible {
    public let bucket: String
    /// Key prefix of the bundle's files: empty or ending in `/`.
    public let prefix: String

    /// True when `location` names an S3 bundle rather than a local directory.
    public static func isS3(_ location: String) -> Bool { location.hasPrefix("s3://") }

    public init(bucket: String, prefix: String) {
        self.bucket = bucket
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    public init(url: String) throws {
        guard Self.isS3(url) else {
            throw PipelineError(.config, "not an s3:// URL: \"\(url)\"", at: url)
        }
        let rest = url.dropFirst("s3://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let bucket = String(rest[..<slash])
        let prefix = slash < rest.endIndex ? String(rest[rest.index(after: slash)...]) : ""
        guard !bucket.isEmpty, !bucket.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) else {
            throw PipelineError(.config, "model bundle URL must look like s3://bucket/prefix/v1/", at: url)
        }
        self.init(bucket: bucket, prefix: prefix)
    }

    public func key(of file: String) -> String { prefix + file }

    public func url(of file: String) -> String { "s3://\(bucket)/\(key(of: file))" }

    public var description: String { "s3://\(bucket)/\(prefix)" }
}
