import AWSCore
import Foundation
import Logging
import PipelineHost

/// `s3` sink: gzip JSON lines in Hive-style time partitions, one object per time partition and source
/// partition, named after its first record's source position so that a replay overwrites instead of adding.
public final class S3Sink: SinkPlugin, @unchecked Sendable {  // mutable state is touched by the sink's task only
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "s3",
        summary: "Archives records to S3 as gzip JSON lines under prefix/dt=YYYY-MM-DD/hour=HH/ (Athena-ready), replay-safe object keys.",
        description: """
            Records are grouped by the UTC hour of `time_field` (seconds since the epoch) and by the source \
            partition they came from (Kinesis shard, input file). Each group fills one object, \
            `<prefix>/dt=YYYY-MM-DD/hour=HH/<partition>-<position>.json.gz`, named after the source position of its \
            first record (`shardId-000000000001-49590338271490256608559692538361571095921575989136588898.json.gz`; \
            characters outside [A-Za-z0-9._-] are written ~XX). An object is closed and uploaded when it holds \
            `batch.max_events` records or `batch.max_bytes` bytes (uncompressed), when the oldest open object is \
            `batch.max_age` old (checked as records arrive), and at every checkpoint; a delivery is acknowledged once \
            every object holding its records is uploaded. \
            Why these keys: after a crash the pipeline replays from the last checkpoint, and every object \
            closed at that checkpoint ended there, so the replay's first object of each group starts at the same \
            record and has the same key: it overwrites the object of the failed run instead of duplicating it, and \
            so do the following objects as long as they are cut by size or count (a function of the records only). \
            Objects the failed run cut by age or at a checkpoint it never completed can start elsewhere than the \
            replay's and then remain as duplicates: keep `batch.max_age` and the checkpoint interval long compared \
            with the time to recover for the fewest. When hosts share a stream through leases, the name ends in the \
            writing process's id and the object's number in that process (`<partition>-<position>-<writer>-<n>.json.gz`, \
            the id new at every start): a host that lost a lease and has not noticed yet can then never replace an \
            object of the shard's new owner (which may hold records the old one never read), nor can a host replace \
            its own object when it reads a shard again; replays after a lease move or a crash are kept as duplicates. A record without a usable `time_field` goes under \
            `dt=unknown/hour=unknown` (not the processing time: that would change on replay and break the keys \
            above); the sink logs how many there were. Objects over `multipart_threshold` compressed are uploaded \
            in parts of that size as they fill.
            """,
        fields: [
            FieldSpec("bucket", .string, .required, doc: "Bucket name.", example: "fraud-archive"),
            FieldSpec("prefix", .string, .defaultValue(""), doc: "Key prefix before dt=…; a trailing / is added when missing.", example: "transactions/"),
            FieldSpec("region", .string, doc: "AWS region; default AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region, then us-east-1."),
            FieldSpec("endpoint_url", .string, doc: "Endpoint override (path-style addressing is used with it).", example: "http://127.0.0.1:5000"),
            FieldSpec("time_field", .string, .defaultValue("event_created_at_ts"), doc: "Record field with the event time in seconds since the epoch: picks the dt/hour partition."),
            .batch(maxEvents: 100_000, maxBytes: "64MiB", maxAge: "60s"),
            FieldSpec("multipart_threshold", .byteSize, .defaultValue("16MiB"),
                      doc: "Compressed size from which an object is uploaded in parts of this size (at least 5MiB, the S3 minimum part)."),
            FieldSpec("max_open_objects", .int(min: 1, max: 100_000), .defaultValue(256),
                      doc: "Most objects filling at once (each holds a compressor and its buffer): a batch spread over more hours closes the oldest-opened object first, so memory stays bounded whatever the event times."),
            .maxInFlight(4),
            .retry(maxAttempts: 5),
        ],
        examples: [#"{"type": "s3", "id": "archive", "bucket": "fraud-archive", "prefix": "transactions/"}"#])

    let bucket: String
    let prefix: String
    let region: String
    let endpointURL: String?
    let timeField: String
    let maxEvents: Int
    let maxBytes: Int
    let maxAge: Double
    let multipartThreshold: Int
    let maxOpenObjects: Int
    let maxInFlight: Int
    let retry: RetryPolicy
    let environment: [String: String]

    // Sink-task state.
    private var s3: S3Client?
    private var logger = Logger(label: "s3")
    private var open: [String: PendingObject] = [:]
    /// Objects (not yet uploaded) holding records of each delivery.
    private var holders: [ObjectIdentifier: Int] = [:]
    private var objectsOpened = 0
    private var withoutTime = 0
    /// This process's writer id when hosts share the source's partitions (see `StageContext.writerID`).
    private var writerID: String?
    /// Objects named so far with the writer id: each name also carries its number, because one process can
    /// read the same records twice (a lease lost and taken back) and must not replace its own earlier object.
    private var objectsNamed = 0

    public init(config: ComponentConfig, context: BuildContext) throws {
        bucket = config.string("bucket")
        var p = config.string("prefix")
        if !p.isEmpty && !p.hasSuffix("/") { p += "/" }
        prefix = p
        region = AWSClient.region(config: config, environment: context.environment)
        endpointURL = config.optionalString("endpoint_url")
        timeField = config.string("time_field")
        let batch = config.nested("batch")
        maxEvents = batch.int("max_events")
        maxBytes = Int(batch.bytes("max_bytes"))
        maxAge = batch.seconds("max_age")
        multipartThreshold = Int(config.bytes("multipart_threshold"))
        maxOpenObjects = config.int("max_open_objects")
        guard multipartThreshold >= 5 * 1024 * 1024 else {
            throw PipelineError(.config, "multipart_threshold must be at least 5MiB (the smallest S3 part)", at: SpecPath.child(config.path, "multipart_threshold"))
        }
        maxInFlight = config.int("max_in_flight")
        retry = RetryPolicy(config: config)
        environment = context.environment
    }

    public func start(_ context: StageContext) async throws {
        logger = context.logger
        writerID = context.writerID
        let client = AWSClient(region: region, retryPolicy: retry, environment: environment)
        s3 = try S3Client(client: client, endpointURL: endpointURL)
    }

    public func healthCheck() async throws {
        _ = try await client().listObjectsV2(bucket: bucket, prefix: prefix.isEmpty ? nil : prefix, maxKeys: 1)
    }

    private func client() throws -> S3Client {
        guard let s3 else { throw PipelineError(.sink, "the S3 sink was not started", at: bucket) }
        return s3
    }

    public func write(_ delivery: Delivery) async throws {
        let s3 = try client()
        let now = MonotonicClock.seconds()
        var full: [PendingObject] = []
        var touched: [PendingObject] = []
        // This call holds the delivery until every record is placed: objects closed early (max_open_objects) are
        // uploaded mid-loop, and their acknowledgements must not complete a delivery that has records still to place.
        let me = ObjectIdentifier(delivery)
        holders[me, default: 0] += 1
        for record in delivery.records {
            let seconds = ObjectNaming.seconds(record[timeField])
            if seconds == nil { withoutTime += 1 }
            let dir = ObjectNaming.timePartition(seconds)
            let group = dir + "\n" + (ObjectNaming.sourcePosition(record.origin)?.partition ?? "")
            let object: PendingObject
            if let o = open[group] {
                object = o
            } else {
                if open.count >= maxOpenObjects, let oldest = open.min(by: { $0.value.sequence < $1.value.sequence }) {
                    open[oldest.key] = nil
                    full.append(oldest.value)
                    if full.count >= maxInFlight {
                        try await upload(full)
                        full = []
                    }
                }
                var writer: String?
                if let writerID {
                    objectsNamed += 1
                    writer = "\(writerID)-\(objectsNamed)"
                }
                let name = ObjectNaming.objectName(first: record.origin, writer: writer) { UUID().uuidString.lowercased() }
                object = PendingObject(key: prefix + dir + "/" + name, first: record.origin, now: now)
                objectsOpened += 1
                object.sequence = objectsOpened
                open[group] = object
            }
            if object.deliveries.last !== delivery { holders[ObjectIdentifier(delivery), default: 0] += 1 }
            try object.append(record, of: delivery)
            if object.records >= maxEvents || object.rawBytes >= maxBytes {
                // Cut by count or size only: the same records give the same cut on a replay.
                open[group] = nil
                full.append(object)
            } else if touched.last !== object {
                touched.append(object)
            }
        }
        for object in touched where open.values.contains(where: { $0 === object }) {
            try await object.uploadFullPart(s3, bucket: bucket, threshold: multipartThreshold)
        }
        try await upload(full)
        if let oldest = open.values.map(\.openedAt).min(), now - oldest >= maxAge {
            try await flush()
        }
        let left = (holders[me] ?? 1) - 1
        if left <= 0 {
            holders[me] = nil
            delivery.acknowledge()
        } else {
            holders[me] = left
        }
    }

    public func flush() async throws {
        let objects = Array(open.values)
        open = [:]
        try await upload(objects)
        if withoutTime > 0 {
            logger.warning("records without a usable time field went to dt=unknown/hour=unknown",
                           metadata: ["time_field": "\(timeField)", "records": "\(withoutTime)"])
            withoutTime = 0
        }
    }

    /// Uploads the objects, `max_in_flight` at a time, then acknowledges the deliveries they complete.
    private func upload(_ objects: [PendingObject]) async throws {
        guard !objects.isEmpty else { return }
        let s3 = try client()
        struct Job: Sendable {
            var key: String
            var body: [UInt8]
            var uploadID: String?
            var parts: [S3Client.CompletedPart]
            var metadata: [(String, String)]
        }
        var jobs: [Job] = []
        for o in objects {
            try o.finish()
            jobs.append(Job(key: o.key, body: o.compressed, uploadID: o.uploadID, parts: o.parts, metadata: o.metadata))
        }
        let bucket = bucket
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let job = jobs[next]
                next += 1
                group.addTask {
                    if let uploadID = job.uploadID {
                        do {
                            let eTag = try await s3.uploadPart(bucket: bucket, key: job.key, uploadID: uploadID, partNumber: job.parts.count + 1, body: job.body)
                            try await s3.completeMultipartUpload(
                                bucket: bucket, key: job.key, uploadID: uploadID, parts: job.parts + [.init(partNumber: job.parts.count + 1, eTag: eTag)])
                        } catch {
                            try? await s3.abortMultipartUpload(bucket: bucket, key: job.key, uploadID: uploadID)
                            throw error
                        }
                    } else {
                        try await s3.putObject(bucket: bucket, key: job.key, body: job.body, contentType: "application/gzip", headers: job.metadata)
                    }
                }
            }
            while next < min(maxInFlight, jobs.count) { add() }
            while try await group.next() != nil {
                if next < jobs.count { add() }
            }
        }
        for o in objects {
            for d in o.deliveries {
                let id = ObjectIdentifier(d)
                let left = (holders[id] ?? 1) - 1
                if left <= 0 {
                    holders[id] = nil
                    d.acknowledge()
                } else {
                    holders[id] = left
                }
            }
        }
    }

    public func close() async throws {
        try await flush()
        s3?.client.shutdown()
        s3 = nil
    }
}
