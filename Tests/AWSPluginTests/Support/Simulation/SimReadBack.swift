import AWSCore
import Foundation
import PipelineHost
import TestSupport

/// S3 calls the S3Client has no method for (bucket versioning, object versions), signed by the same client.
enum SimS3 {
    struct Version: Sendable {
        var key: String
        var versionID: String
        var lastModified: String
        var isLatest: Bool
    }

    static func path(_ bucket: String, _ key: String? = nil) -> String {
        "/" + URIEncoding.encode(bucket) + (key.map { "/" + URIEncoding.encode($0, keepSlash: true) } ?? "")
    }

    static func send(_ aws: AWSFixture, _ method: String, bucket: String, key: String? = nil, query: [(String, String)] = [],
                     body: [UInt8] = []) async throws -> HTTPResponse {
        let request = AWSRequest(service: .s3, endpoint: try Endpoint(url: aws.endpoint), method: method, path: path(bucket, key),
                                 query: query, headers: body.isEmpty ? [] : [("Content-Type", "application/xml")], body: body, timeout: .seconds(60))
        return try await aws.client.send(request)
    }

    /// Every PUT of a key is kept as a version from now on.
    static func enableVersioning(_ aws: AWSFixture, bucket: String) async throws {
        let body = #"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#
        _ = try await send(aws, "PUT", bucket: bucket, query: [("versioning", "")], body: Array(body.utf8))
        let r = try await send(aws, "GET", bucket: bucket, query: [("versioning", "")])
        let status = try XMLReader.parse(r.body).string("Status")
        guard status == "Enabled" else { throw SimError.harness("bucket versioning is \(status ?? "off") after enabling it") }
    }

    /// Every version of every key (ListObjectVersions, all pages), newest first within a key.
    static func versions(_ aws: AWSFixture, bucket: String) async throws -> [Version] {
        var out: [Version] = []
        var keyMarker: String?
        var versionMarker: String?
        for _ in 0..<10_000 {
            var query: [(String, String)] = [("versions", ""), ("max-keys", "1000")]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let versionMarker { query.append(("version-id-marker", versionMarker)) }
            let root = try XMLReader.parse(try await send(aws, "GET", bucket: bucket, query: query).body)
            for v in root.children("Version") {
                guard let key = v.string("Key"), let id = v.string("VersionId") else { continue }
                out.append(Version(key: key, versionID: id, lastModified: v.string("LastModified") ?? "", isLatest: v.string("IsLatest") == "true"))
            }
            if !root.children("DeleteMarker").isEmpty { throw SimError.harness("the archive has delete markers: nothing should delete objects") }
            guard root.string("IsTruncated") == "true" else { return out }
            keyMarker = root.string("NextKeyMarker")
            versionMarker = root.string("NextVersionIdMarker")
        }
        throw SimError.harness("ListObjectVersions did not end after 10,000 pages")
    }

    static func object(_ aws: AWSFixture, bucket: String, key: String, versionID: String) async throws -> [UInt8] {
        try await send(aws, "GET", bucket: bucket, key: key, query: [("versionId", versionID)]).body
    }
}

/// The current objects of the archive (what Athena reads), fetched again only when an ETag changes.
final class SimArchiveReader: @unchecked Sendable {  // used by one task at a time
    let aws: AWSFixture
    let bucket: String
    private var cache: [String: (eTag: String?, lines: [String])] = [:]

    init(aws: AWSFixture, bucket: String) {
        self.aws = aws
        self.bucket = bucket
    }

    /// key → lines of the latest version.
    func current() async throws -> [String: [String]] {
        var seen: [String: (eTag: String?, lines: [String])] = [:]
        var token: String?
        repeat {
            let page = try await aws.s3.listObjectsV2(bucket: bucket, prefix: nil, continuationToken: token)
            for o in page.objects {
                if let c = cache[o.key], c.eTag == o.eTag, o.eTag != nil {
                    seen[o.key] = c
                } else {
                    let body = try await aws.s3.getObject(bucket: bucket, key: o.key).body
                    seen[o.key] = (o.eTag, try AWSReadBack.gunzipLines(body))
                }
            }
            token = page.isTruncated ? page.nextContinuationToken : nil
        } while token != nil
        cache = seen
        return seen.mapValues(\.lines)
    }
}

/// One entry of a dead-letter file.
struct SimDeadLetter: Sendable {
    var file: String
    var stage: String
    var reason: String
    var origin: String
    var payload: String
    /// The transaction id in the payload (parsed, or found in the text of a payload that is not JSON).
    var transactionID: String?
}

enum SimReadBack {
    /// Every entry of every dead-letter file in `dir` (one per worker id). A line cut by a kill -9 is skipped.
    static func deadLetters(dir: String) -> [SimDeadLetter] {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("dlq-") }.sorted()
        var out: [SimDeadLetter] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: dir + "/" + f) else { continue }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                guard let fields = try? RecordParser().parse(Array(line.utf8)) else { continue }
                let r = Record(fields: fields)
                let payload = r["payload"]?.stringValue ?? ""
                out.append(SimDeadLetter(
                    file: f, stage: r["stage"]?.stringValue ?? "", reason: r["reason"]?.stringValue ?? "",
                    origin: r["origin"]?.stringValue ?? "", payload: payload, transactionID: transactionID(in: payload)))
            }
        }
        return out
    }

    static func transactionID(in payload: String) -> String? {
        if let fields = try? RecordParser().parse(Array(payload.utf8)), let id = Record(fields: fields)["transaction_id"]?.stringValue {
            return id
        }
        guard let r = payload.range(of: #""transaction_id":""#) else { return nil }
        return String(payload[r.upperBound...].prefix { $0 != "\"" })
    }

    /// A line of an archive object or a message body as a record.
    static func record(_ line: String) -> Record? {
        guard let fields = try? RecordParser().parse(Array(line.utf8)) else { return nil }
        return Record(fields: fields)
    }
}
