/// The S3 REST-XML operations the pipeline needs: objects, multipart upload and ListObjectsV2.
///
/// Addressing is virtual-hosted (`bucket.s3.<region>.amazonaws.com`) against AWS and path-style
/// (`<endpoint>/bucket/key`) when an endpoint override is configured (local S3, VPC endpoints) or the bucket
/// name has dots (TLS wildcard certificates do not cover them). Every request carries `x-amz-content-sha256`.
public struct S3Client: Sendable {
    public struct Object: Sendable {
        public var body: [UInt8]
        public var contentType: String?
        public var eTag: String?
    }

    public struct ObjectSummary: Sendable, Equatable {
        public var key: String
        public var size: Int64
        public var eTag: String?
    }

    public struct ListResult: Sendable {
        public var objects: [ObjectSummary]
        public var commonPrefixes: [String]
        public var isTruncated: Bool
        public var nextContinuationToken: String?
    }

    public struct CompletedPart: Sendable {
        public var partNumber: Int
        public var eTag: String
        public init(partNumber: Int, eTag: String) {
            self.partNumber = partNumber
            self.eTag = eTag
        }
    }

    public let client: AWSClient
    public let endpoint: Endpoint
    public let forcePathStyle: Bool
    public var timeout: Duration = .seconds(60)

    public init(client: AWSClient, endpointURL: String? = nil, forcePathStyle: Bool? = nil) throws {
        self.client = client
        endpoint = try client.endpoint(for: .s3, endpointURL: endpointURL)
        self.forcePathStyle = forcePathStyle ?? endpoint.isOverride
    }

    /// Endpoint and wire path for a bucket (and key).
    func address(bucket: String, key: String?) -> (Endpoint, String) {
        let encodedKey = key.map { "/" + URIEncoding.encode($0, keepSlash: true) } ?? ""
        if forcePathStyle || bucket.contains(".") {
            return (endpoint, "/" + URIEncoding.encode(bucket) + encodedKey)
        }
        var virtual = endpoint
        virtual.host = "\(bucket).\(endpoint.host)"
        return (virtual, encodedKey.isEmpty ? "/" : encodedKey)
    }

    private func send(
        _ method: String, bucket: String, key: String? = nil, query: [(String, String)] = [],
        headers: [(String, String)] = [], body: [UInt8] = []
    ) async throws -> HTTPResponse {
        let (endpoint, path) = address(bucket: bucket, key: key)
        let request = AWSRequest(
            service: .s3, endpoint: endpoint, method: method, path: path, query: query, headers: headers, body: body,
            timeout: timeout)
        return try await client.send(request)
    }

    private func xml(_ response: HTTPResponse, _ operation: String) throws -> XMLNode {
        let root: XMLNode
        do {
            root = try XMLReader.parse(response.body)
        } catch {
            throw AWSClientError(.invalidResponse, "S3 \(operation): \(error)")
        }
        // Some operations (CompleteMultipartUpload, CopyObject) report failure in a 200 reply.
        if root.name == "Error" {
            throw AWSError(
                code: root.string("Code") ?? "InternalError", message: root.string("Message") ?? "",
                requestID: root.string("RequestId") ?? response.header("x-amz-request-id"), statusCode: response.status)
        }
        return root
    }

    public func createBucket(_ bucket: String) async throws {
        var body: [UInt8] = []
        if client.region != "us-east-1" {
            body = Array(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(XMLEscaping.escape(client.region))</LocationConstraint></CreateBucketConfiguration>".utf8)
        }
        _ = try await send("PUT", bucket: bucket, body: body)
    }

    /// Returns the ETag.
    @discardableResult
    public func putObject(
        bucket: String, key: String, body: [UInt8], contentType: String? = nil, headers: [(String, String)] = []
    ) async throws -> String? {
        var h = headers
        if let contentType { h.append(("Content-Type", contentType)) }
        return try await send("PUT", bucket: bucket, key: key, headers: h, body: body).header("etag")
    }

    public func getObject(bucket: String, key: String) async throws -> Object {
        let r = try await send("GET", bucket: bucket, key: key)
        return Object(body: r.body, contentType: r.header("content-type"), eTag: r.header("etag"))
    }

    /// Metadata headers of an object, or nil when it does not exist.
    public func headObject(bucket: String, key: String) async throws -> [(String, String)]? {
        do {
            return try await send("HEAD", bucket: bucket, key: key).headers
        } catch let error as AWSError where error.statusCode == 404 {
            return nil
        }
    }

    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await send("DELETE", bucket: bucket, key: key)
    }

    public func createMultipartUpload(bucket: String, key: String, contentType: String? = nil) async throws -> String {
        let headers = contentType.map { [("Content-Type", $0)] } ?? []
        let r = try await send("POST", bucket: bucket, key: key, query: [("uploads", "")], headers: headers)
        guard let id = try xml(r, "CreateMultipartUpload").string("UploadId"), !id.isEmpty else {
            throw AWSClientError(.invalidResponse, "S3 CreateMultipartUpload: no UploadId")
        }
        return id
    }

    /// Uploads part `partNumber` (1…10000) and returns its ETag for `completeMultipartUpload`.
    public func uploadPart(bucket: String, key: String, uploadID: String, partNumber: Int, body: [UInt8]) async throws
        -> String
    {
        let r = try await send(
            "PUT", bucket: bucket, key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
            body: body)
        guard let eTag = r.header("etag") else { throw AWSClientError(.invalidResponse, "S3 UploadPart: no ETag") }
        return eTag
    }

    @discardableResult
    public func completeMultipartUpload(bucket: String, key: String, uploadID: String, parts: [CompletedPart])
        async throws -> String?
    {
        var body = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.partNumber < $1.partNumber }) {
            body += "<Part><PartNumber>\(part.partNumber)</PartNumber><ETag>\(XMLEscaping.escape(part.eTag))</ETag></Part>"
        }
        body += "</CompleteMultipartUpload>"
        let r = try await send(
            "POST", bucket: bucket, key: key, query: [("uploadId", uploadID)],
            headers: [("Content-Type", "application/xml")], body: Array(body.utf8))
        return try xml(r, "CompleteMultipartUpload").string("ETag")
    }

    public func abortMultipartUpload(bucket: String, key: String, uploadID: String) async throws {
        _ = try await send("DELETE", bucket: bucket, key: key, query: [("uploadId", uploadID)])
    }

    public func listObjectsV2(
        bucket: String, prefix: String? = nil, delimiter: String? = nil, continuationToken: String? = nil,
        maxKeys: Int? = nil
    ) async throws -> ListResult {
        var query: [(String, String)] = [("list-type", "2")]
        if let prefix { query.append(("prefix", prefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let maxKeys { query.append(("max-keys", String(maxKeys))) }
        let root = try xml(try await send("GET", bucket: bucket, query: query), "ListObjectsV2")
        let objects = root.children("Contents").compactMap { node -> ObjectSummary? in
            guard let key = node.string("Key") else { return nil }
            return ObjectSummary(key: key, size: Int64(node.string("Size") ?? "") ?? 0, eTag: node.string("ETag"))
        }
        return ListResult(
            objects: objects,
            commonPrefixes: root.children("CommonPrefixes").compactMap { $0.string("Prefix") },
            isTruncated: root.string("IsTruncated") == "true",
            nextContinuationToken: root.string("NextContinuationToken"))
    }
}
