import AWSCore
import Foundation
import Logging
import PipelineHost

/// `s3` sink: gzip JSON lines in Hive-style time partitions, one object per time partition and source
/// partition, named after its first record's source position so that a replay overwrites instead of adding.
public final class S3Sink: SinkPlugin {
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
            `batch.max_age` old (the batch timer checks while the input is idle), and at every checkpoint; a delivery is acknowledged once \
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
        examples: [#"{"type": "s3", "id": "archive", "bucket": "fraud-archive", "prefix": "transactions/"}"#],
        lint: { config in
            config.bytes("multipart_threshold") < 5 * 1024 * 1024
                ? [ConfigProblem("multipart_threshold must be at least 5MiB (the smallest S3 part)", at: "multipart_threshold")] : []
        })

    let config: S3SinkConfig
    let connection: SinkConnection<S3ObjectWriter, S3Client>

    public init(config: ComponentConfig, context: BuildContext) throws {
        let config = try S3SinkConfig(config: config, environment: context.environment)
        self.config = config
        connection = SinkConnection(destination: config.bucket) { $0.client.shutdown() }
    }

    public func start(_ context: StageContext) async throws {
        let client = AWSClient(region: config.region, retryPolicy: config.retry, environment: config.environment)
        let s3 = try S3Client(client: client, endpointURL: config.endpointURL)
        let writer = S3ObjectWriter(config: config, logger: context.logger, writerID: context.writerID)
        let driver = SinkDriver(writer: writer, sender: S3ObjectSender(s3: s3, bucket: config.bucket), settings: config.batch,
                                maxInFlight: config.maxInFlight, maxOpenBatches: config.maxOpenObjects)
        connection.started(driver, client: s3)
    }

    public func healthCheck() async throws {
        _ = try await connection.client().listObjectsV2(bucket: config.bucket, prefix: config.prefix.isEmpty ? nil : config.prefix, maxKeys: 1)
    }

    public var batchMaxAge: Double? { config.batch.maxAge }
    public func write(_ delivery: Delivery) async throws { try await connection.driver().write(delivery) }
    public func flushDue() async throws { try await connection.driver().flushDue() }
    public func flush() async throws { try await connection.driver().flush() }
    public func close() async throws { try await connection.close() }
}

/// The `s3` sink's settings, read once from the spec.
struct S3SinkConfig: Sendable {
    let bucket: String
    let prefix: String
    let region: String
    let endpointURL: String?
    let timeField: FieldKey
    let batch: BatchSettings
    let multipartThreshold: Int
    let maxOpenObjects: Int
    let maxInFlight: Int
    let retry: RetryPolicy
    let environment: [String: String]

    init(config: ComponentConfig, environment: [String: String]) throws {
        bucket = config.string("bucket")
        var p = config.string("prefix")
        if !p.isEmpty && !p.hasSuffix("/") { p += "/" }
        prefix = p
        region = AWSClient.region(config: config, environment: environment)
        endpointURL = config.optionalString("endpoint_url")
        timeField = FieldKey(config.string("time_field"))
        batch = BatchSettings(config: config)
        multipartThreshold = Int(config.bytes("multipart_threshold"))
        maxOpenObjects = config.int("max_open_objects")
        try S3Sink.descriptor.checkLint(config)
        maxInFlight = config.int("max_in_flight")
        retry = RetryPolicy(config: config)
        self.environment = environment
    }
}

/// Places records in objects by time partition and source partition and names each object; owned by the driver.
struct S3ObjectWriter: BatchingSinkWriter {
    typealias Sender = S3ObjectSender
    let config: S3SinkConfig
    let logger: Logger
    /// This process's writer id when hosts share the source's partitions (see `StageContext.writerID`).
    let writerID: String?
    /// Objects named so far with the writer id: each name also carries its number, because one process can
    /// read the same records twice (a lease lost and taken back) and must not replace its own earlier object.
    private var objectsNamed = 0
    /// Records without a usable time field since the last flush.
    private var withoutTime = 0

    init(config: S3SinkConfig, logger: Logger, writerID: String?) {
        self.config = config
        self.logger = logger
        self.writerID = writerID
    }

    mutating func item(for record: Record) -> Result<(key: String, item: Record), SinkRefusal> {
        let seconds = ObjectNaming.seconds(record[config.timeField])
        if seconds == nil { withoutTime += 1 }
        let group = ObjectNaming.timePartition(seconds) + "\n" + (ObjectNaming.sourcePosition(record.origin)?.partition ?? "")
        return .success((group, record))
    }

    mutating func makeBatch(for key: String, first: Record, now: Double) -> PendingObject {
        var writer: String?
        if let writerID {
            objectsNamed += 1
            writer = "\(writerID)-\(objectsNamed)"
        }
        let dir = key[..<key.firstIndex(of: "\n")!]
        let name = ObjectNaming.objectName(first: first.origin, writer: writer) { UUID().uuidString.lowercased() }
        return PendingObject(key: config.prefix + dir + "/" + name, first: first.origin)
    }

    func request(for object: PendingObject) throws -> S3Upload { try object.finish() }

    func readyPart(of object: PendingObject) throws -> S3Part? { try object.readyPart(threshold: config.multipartThreshold) }

    func partSent(_ receipt: S3PartReceipt, of object: PendingObject) { object.partSent(receipt) }

    mutating func flushed() {
        if withoutTime > 0 {
            logger.warning("records without a usable time field went to dt=unknown/hour=unknown",
                           metadata: ["time_field": "\(config.timeField.name)", "records": "\(withoutTime)"])
            withoutTime = 0
        }
    }
}
