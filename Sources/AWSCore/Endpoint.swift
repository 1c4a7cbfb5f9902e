import Foundation

/// A resolved service endpoint: where requests go, and whether the user overrode the AWS default.
public struct Endpoint: Sendable, Equatable {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// Path prefix of the endpoint URL (no trailing slash); usually empty.
    public var basePath: String
    /// True for `endpointURL` / `AWS_ENDPOINT_URL*` endpoints (local stacks, VPC endpoints): S3 then uses
    /// path-style addressing.
    public var isOverride: Bool

    public init(scheme: String = "https", host: String, port: Int? = nil, basePath: String = "", isOverride: Bool = false) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
        self.isOverride = isOverride
    }

    public init(url: String, isOverride: Bool = true) throws {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parts.host, !host.isEmpty
        else {
            throw AWSClientError(.invalidConfiguration, "endpoint URL '\(url)' must be http(s)://host[:port][/path]")
        }
        var base = parts.percentEncodedPath
        while base.hasSuffix("/") { base.removeLast() }
        self.init(scheme: scheme, host: host, port: parts.port, basePath: base, isOverride: isOverride)
    }

    /// The Host header value: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        guard let port, !(scheme == "https" && port == 443), !(scheme == "http" && port == 80) else { return h }
        return "\(h):\(port)"
    }

    /// - Parameters:
    ///   - path: wire path (percent-encoded), starting with `/`.
    ///   - query: encoded query without `?`.
    public func url(path: String, query: String) -> String {
        "\(scheme)://\(hostHeader)\(basePath)\(path)" + (query.isEmpty ? "" : "?" + query)
    }

    /// Explicit `endpointURL` > `AWS_ENDPOINT_URL_<SERVICE>` > `AWS_ENDPOINT_URL` > the AWS default.
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` disables the two environment variables.
    public static func resolve(
        service: AWSService, region: String, endpointURL: String? = nil, environment: [String: String]
    ) throws -> Endpoint {
        if let endpointURL, !endpointURL.isEmpty { return try Endpoint(url: endpointURL) }
        if environment["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]?.lowercased() != "true" {
            for key in [service.endpointEnvironmentVariable, "AWS_ENDPOINT_URL"] {
                if let value = environment[key], !value.isEmpty { return try Endpoint(url: value) }
            }
        }
        if let global = service.globalEndpoint { return Endpoint(host: global.host) }
        guard !region.isEmpty, region.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw AWSClientError(.invalidConfiguration, "invalid region '\(region)'")
        }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return Endpoint(host: "\(service.endpointPrefix).\(region).\(suffix)")
    }
}
