import Foundation

/// AWS Signature Version 4, as pure functions.
///
/// Signing is split into the stages the AWS documentation describes (canonical request → string to sign →
/// signature) so each stage can be checked against the AWS test suite, and the time is a parameter so tests
/// are deterministic. See https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
public struct SigV4Signer: Sendable {
    /// How a service wants its canonical URI built.
    public struct PathRules: Sendable, Equatable {
        /// Remove `.`/`..` segments and empty segments (every service except S3).
        public var normalize: Bool
        /// Percent-encode the (already encoded) wire path again (every service except S3).
        public var encodeTwice: Bool

        public static let standard = PathRules(normalize: true, encodeTwice: true)
        /// S3 signs the path exactly as sent: `a//b` and `%2B` stay as they are.
        public static let s3 = PathRules(normalize: false, encodeTwice: false)
    }

    /// The value signed as the payload hash.
    public enum Payload: Sendable {
        case bytes([UInt8])
        /// A precomputed lower-case hex SHA-256.
        case hash(String)
        /// `UNSIGNED-PAYLOAD` (S3 only).
        case unsigned

        var hashValue: String {
            switch self {
            case .bytes(let b): return b.isEmpty ? Digest.emptySHA256Hex : Digest.sha256Hex(b)
            case .hash(let h): return h
            case .unsigned: return "UNSIGNED-PAYLOAD"
            }
        }
    }

    public struct CanonicalRequest: Sendable {
        public var text: String
        /// `;`-joined lower-case names, as they appear in the Authorization header.
        public var signedHeaders: String
    }

    public static let algorithm = "AWS4-HMAC-SHA256"

    /// Headers never signed: they are added or rewritten by proxies and HTTP stacks after signing.
    static let unsignedHeaders: Set<String> = ["authorization", "user-agent", "expect", "x-amzn-trace-id", "connection"]

    public var region: String
    /// The signing name (credential scope service), e.g. `kinesis`, `dynamodb`, `sagemaker`, `s3`.
    public var service: String
    public var pathRules: PathRules

    private let keyCache = SigningKeyCache()

    public init(region: String, service: String, pathRules: PathRules? = nil) {
        self.region = region
        self.service = service
        self.pathRules = pathRules ?? (service == "s3" ? .s3 : .standard)
    }

    // MARK: Stage 1: canonical request

    /// - Parameters:
    ///   - path: the path as sent on the wire (already percent-encoded once by the caller).
    ///   - query: the query string as sent on the wire, without `?`.
    public static func canonicalRequest(
        method: String, path: String, query: String, headers: [(String, String)], payloadHash: String,
        pathRules: PathRules
    ) -> CanonicalRequest {
        let (canonicalHeaders, signedHeaders) = canonicalHeaders(headers)
        let text = [
            method.uppercased(),
            canonicalURI(path, rules: pathRules),
            canonicalQuery(query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        return CanonicalRequest(text: text, signedHeaders: signedHeaders)
    }

    public static func canonicalURI(_ path: String, rules: PathRules) -> String {
        var path = path.isEmpty ? "/" : path
        if rules.normalize { path = removeDotSegments(path) }
        let bytes = Array(path.utf8)
        // S3: the wire path is already encoded once; only bytes that could never be on the wire get escaped.
        return URIEncoding.encode(bytes: bytes, keepSlash: true, keepPercent: !rules.encodeTwice)
    }

    /// RFC 3986 dot-segment removal plus collapsing of empty segments; a trailing slash is kept.
    static func removeDotSegments(_ path: String) -> String {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var out: [Substring] = []
        for segment in segments {
            switch segment {
            case "", ".": continue
            case "..": if !out.isEmpty { out.removeLast() }
            default: out.append(segment)
            }
        }
        var result = "/" + out.joined(separator: "/")
        let last = segments.last ?? ""
        if !out.isEmpty && (last.isEmpty || last == "." || last == "..") { result += "/" }
        return result
    }

    /// Names and values are decoded then re-encoded, so raw (test suite) and wire-encoded inputs both give
    /// the canonical form; pairs sort by encoded name, then value.
    public static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for piece in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring
            let value: Substring
            if let eq = piece.firstIndex(of: "=") {
                name = piece[..<eq]
                value = piece[piece.index(after: eq)...]
            } else {
                name = piece
                value = ""
            }
            pairs.append((
                URIEncoding.encode(bytes: URIEncoding.decode(name), keepSlash: false, keepPercent: false),
                URIEncoding.encode(bytes: URIEncoding.decode(value), keepSlash: false, keepPercent: false)
            ))
        }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Returns the canonical header block (each line ending in `\n`) and the signed header list.
    static func canonicalHeaders(_ headers: [(String, String)]) -> (String, String) {
        var order: [String] = []
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let key = canonicalHeaderName(name)
            if unsignedHeaders.contains(key) { continue }
            if values[key] == nil { order.append(key) }
            values[key, default: []].append(canonicalHeaderValue(value))
        }
        order.sort()
        var block = ""
        for key in order {
            block += key + ":" + (values[key] ?? []).joined(separator: ",") + "\n"
        }
        return (block, order.joined(separator: ";"))
    }

    /// Lower case, surrounding whitespace removed. Header names are ASCII tokens: done on bytes, which is most of
    /// the signing time saved over Foundation's trimming (signing runs once per request and retry).
    static func canonicalHeaderName(_ name: String) -> String {
        var bytes = Array(name.utf8)
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return name.lowercased().trimmingCharacters(in: .whitespaces) }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes.removeLast() }
        let start = bytes.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? bytes.endIndex
        return String(decoding: bytes[start...].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Trims and collapses runs of whitespace to one space (on UTF-8 bytes: the whitespace is ASCII, and
    /// multi-byte sequences never contain ASCII bytes).
    static func canonicalHeaderValue(_ value: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for b in value.utf8 {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Stage 2: string to sign

    public func credentialScope(_ date: AMZDate) -> String {
        "\(date.dateStamp)/\(region)/\(service)/aws4_request"
    }

    public func stringToSign(canonicalRequest: String, date: AMZDate) -> String {
        [
            Self.algorithm, date.timestamp, credentialScope(date), Digest.sha256Hex(Array(canonicalRequest.utf8)),
        ].joined(separator: "\n")
    }

    // MARK: Stage 3: signature

    public func signingKey(secretAccessKey: String, date: AMZDate) -> [UInt8] {
        let kDate = HMAC.sha256(key: Array(("AWS4" + secretAccessKey).utf8), data: Array(date.dateStamp.utf8))
        let kRegion = HMAC.sha256(key: kDate, data: Array(region.utf8))
        let kService = HMAC.sha256(key: kRegion, data: Array(service.utf8))
        return HMAC.sha256(key: kService, data: Array("aws4_request".utf8))
    }

    public func signature(stringToSign: String, secretAccessKey: String, date: AMZDate) -> String {
        Hex.encode(HMAC.sha256(key: signingKey(secretAccessKey: secretAccessKey, date: date), data: Array(stringToSign.utf8)))
    }

    public func authorizationHeader(accessKeyID: String, signedHeaders: String, signature: String, date: AMZDate) -> String {
        "\(Self.algorithm) Credential=\(accessKeyID)/\(credentialScope(date)), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    // MARK: All stages

    /// Signs a request and returns its headers with `host`, `x-amz-date`, `x-amz-security-token` (when the
    /// credentials have one), `x-amz-content-sha256` (S3, or when `contentSHA256Header` is set) and
    /// `Authorization` added. Existing copies of those headers are replaced.
    ///
    /// - Parameters:
    ///   - host: `host[:port]` exactly as the Host header will be sent.
    ///   - path: wire path (percent-encoded once); query: wire query without `?`.
    public func sign(
        method: String, host: String, path: String, query: String, headers: [(String, String)],
        payload: Payload, credentials: Credentials, date: Date = Date(), contentSHA256Header: Bool? = nil
    ) -> [(String, String)] {
        let amzDate = AMZDate(date)
        let payloadHash = payload.hashValue
        let replaced: Set<String> = ["authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]
        var out = headers.filter { !replaced.contains($0.0.lowercased()) }
        if !out.contains(where: { $0.0.lowercased() == "host" }) { out.append(("host", host)) }
        out.append(("x-amz-date", amzDate.timestamp))
        if let token = credentials.sessionToken { out.append(("x-amz-security-token", token)) }
        if contentSHA256Header ?? (service == "s3") { out.append(("x-amz-content-sha256", payloadHash)) }
        let creq = Self.canonicalRequest(
            method: method, path: path, query: query, headers: out, payloadHash: payloadHash, pathRules: pathRules)
        let sts = stringToSign(canonicalRequest: creq.text, date: amzDate)
        let key = keyCache.key(scope: credentialScope(amzDate), secret: credentials.secretAccessKey) {
            signingKey(secretAccessKey: credentials.secretAccessKey, date: amzDate)
        }
        let sig = Hex.encode(HMAC.sha256(key: key, data: Array(sts.utf8)))
        out.append((
            "Authorization",
            authorizationHeader(accessKeyID: credentials.accessKeyID, signedHeaders: creq.signedHeaders, signature: sig, date: amzDate)
        ))
        return out
    }
}
