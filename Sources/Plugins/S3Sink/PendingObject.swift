import AWSCore
import PipelineHost

/// One object being filled: gzip JSON lines of one time partition and one source partition, compressed as
/// records arrive; once it is over the multipart threshold its full parts are uploaded as they fill.
/// Lives in the sink's driver only.
final class PendingObject: SinkBatch {
    let key: String
    let firstOrigin: RecordOrigin
    private(set) var lastOrigin: RecordOrigin
    private(set) var count = 0
    /// Uncompressed bytes, as `batch.max_bytes` counts them.
    private(set) var bytes = 0
    private var text = JSONWriter(capacity: 64 * 1024)
    private(set) var compressed: [UInt8] = []
    private let gzip = GzipWriter()
    private(set) var uploadID: String?
    private(set) var parts: [S3Client.CompletedPart] = []

    init(key: String, first: RecordOrigin) {
        self.key = key
        firstOrigin = first
        lastOrigin = first
    }

    func append(_ record: Record) throws {
        let before = text.bytes.count
        record.write(to: &text)
        text.append("\n")
        bytes += text.bytes.count - before
        count += 1
        lastOrigin = record.origin
        if text.bytes.count >= 256 * 1024 { try compress() }
    }

    private func compress() throws {
        try gzip.compress(text.bytes, into: &compressed)
        text.removeAll()
    }

    /// The next part when `threshold` compressed bytes are waiting (S3 wants parts of 5 MiB or more, but the last).
    func readyPart(threshold: Int) throws -> S3Part? {
        try compress()
        guard compressed.count >= threshold else { return nil }
        return S3Part(key: key, uploadID: uploadID, number: parts.count + 1, body: compressed)
    }

    func partSent(_ receipt: S3PartReceipt) {
        uploadID = receipt.uploadID
        parts.append(receipt.part)
        compressed.removeAll(keepingCapacity: true)
    }

    /// Ends the gzip stream: the request that uploads the rest.
    func finish() throws -> S3Upload {
        try compress()
        try gzip.finishMember(into: &compressed)
        return S3Upload(key: key, body: compressed, uploadID: uploadID, parts: parts, metadata: metadata)
    }

    /// Where the object's records came from, as object metadata (escaped to header-safe text).
    var metadata: [(String, String)] {
        [("x-amz-meta-records", String(count)),
         ("x-amz-meta-first-origin", ObjectNaming.token(firstOrigin.description)),
         ("x-amz-meta-last-origin", ObjectNaming.token(lastOrigin.description))]
    }
}

/// The rest of an object: a PutObject, or the last part and the completion of a multipart upload.
struct S3Upload: Sendable {
    var key: String
    var body: [UInt8]
    var uploadID: String?
    var parts: [S3Client.CompletedPart]
    var metadata: [(String, String)]
}

/// A full part of an object still filling; the multipart upload starts with the first.
struct S3Part: Sendable {
    var key: String
    var uploadID: String?
    var number: Int
    var body: [UInt8]
}

struct S3PartReceipt: Sendable {
    var uploadID: String
    var part: S3Client.CompletedPart
}

/// Uploads the driver's requests.
struct S3ObjectSender: SinkSender {
    let s3: S3Client
    let bucket: String

    func send(_ upload: S3Upload) async throws -> [(position: Int, reason: String)] {
        if let uploadID = upload.uploadID {
            let number = upload.parts.count + 1
            do {
                let eTag = try await s3.uploadPart(bucket: bucket, key: upload.key, uploadID: uploadID, partNumber: number, body: upload.body)
                try await s3.completeMultipartUpload(bucket: bucket, key: upload.key, uploadID: uploadID,
                                                     parts: upload.parts + [.init(partNumber: number, eTag: eTag)])
            } catch {
                try? await s3.abortMultipartUpload(bucket: bucket, key: upload.key, uploadID: uploadID)
                throw error
            }
        } else {
            try await s3.putObject(bucket: bucket, key: upload.key, body: upload.body, contentType: "application/gzip", headers: upload.metadata)
        }
        return []
    }

    func send(part: S3Part) async throws -> S3PartReceipt {
        let uploadID: String
        if let id = part.uploadID { uploadID = id } else {
            uploadID = try await s3.createMultipartUpload(bucket: bucket, key: part.key, contentType: "application/gzip")
        }
        let eTag = try await s3.uploadPart(bucket: bucket, key: part.key, uploadID: uploadID, partNumber: part.number, body: part.body)
        return S3PartReceipt(uploadID: uploadID, part: .init(partNumber: part.number, eTag: eTag))
    }
}
