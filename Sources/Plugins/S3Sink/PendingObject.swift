import AWSCore
import PipelineHost

/// One object being filled: gzip JSON lines of one time partition and one source partition, compressed as
/// records arrive; once it is over the multipart threshold its full parts are uploaded as they fill.
/// Used by the sink's task only.
final class PendingObject {
    let key: String
    let firstOrigin: RecordOrigin
    let openedAt: Double
    /// Order of opening in the sink (openedAt is shared by every object a delivery opens): the oldest is closed first.
    var sequence = 0
    private(set) var lastOrigin: RecordOrigin
    private(set) var records = 0
    private(set) var rawBytes = 0
    /// Deliveries with records in this object (each once), acknowledged when it is uploaded.
    private(set) var deliveries: [Delivery] = []
    private var text = JSONWriter(capacity: 64 * 1024)
    private(set) var compressed: [UInt8] = []
    private let gzip = GzipWriter()
    private(set) var uploadID: String?
    private(set) var parts: [S3Client.CompletedPart] = []

    init(key: String, first: RecordOrigin, now: Double) {
        self.key = key
        firstOrigin = first
        lastOrigin = first
        openedAt = now
    }

    func append(_ record: Record, of delivery: Delivery) throws {
        let before = text.bytes.count
        record.write(to: &text)
        text.append("\n")
        rawBytes += text.bytes.count - before
        records += 1
        lastOrigin = record.origin
        if deliveries.last !== delivery { deliveries.append(delivery) }
        if text.bytes.count >= 256 * 1024 { try compress() }
    }

    private func compress() throws {
        try gzip.compress(text.bytes, into: &compressed)
        text.removeAll()
    }

    /// Uploads a part when `threshold` compressed bytes are waiting (S3 wants parts of 5 MiB or more, but the last).
    func uploadFullPart(_ s3: S3Client, bucket: String, threshold: Int) async throws {
        try compress()
        guard compressed.count >= threshold else { return }
        if uploadID == nil { uploadID = try await s3.createMultipartUpload(bucket: bucket, key: key, contentType: "application/gzip") }
        let number = parts.count + 1
        let eTag = try await s3.uploadPart(bucket: bucket, key: key, uploadID: uploadID!, partNumber: number, body: compressed)
        parts.append(.init(partNumber: number, eTag: eTag))
        compressed.removeAll(keepingCapacity: true)
    }

    /// Ends the gzip stream; what is left to upload is in `compressed`.
    func finish() throws {
        try compress()
        try gzip.finishMember(into: &compressed)
    }

    /// Where the object's records came from, as object metadata (escaped to header-safe text).
    var metadata: [(String, String)] {
        [("x-amz-meta-records", String(records)),
         ("x-amz-meta-first-origin", ObjectNaming.token(firstOrigin.description)),
         ("x-amz-meta-last-origin", ObjectNaming.token(lastOrigin.description))]
    }
}
