import AWSCore
import Foundation
import Logging
import PipelineHost
import Synchronization

/// `kinesis` source: polls every shard of a Kinesis data stream with GetRecords, resuming each shard after the
/// sequence number of the last checkpoint, keeping parents before children across reshards.
public final class KinesisSource: SourcePlugin, PartitionCheckpointingSource, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .source, name: "kinesis",
        summary: "Reads a Kinesis data stream (all shards, GetRecords polling), resuming each shard where the last checkpoint left off.",
        description: """
            One reader per shard, each at most one GetRecords call per `poll_interval` (never more than 5 calls/s, \
            the per-shard limit), backing off with jitter while throttled. Every record's Data holds one JSON object; \
            KPL-aggregated records are split into their user records first (their MD5 trailer is checked). A \
            record that is not valid JSON, or an aggregate that fails its checksum, goes to the dead-letter output \
            with its shard, sequence number and the reason. The checkpoint holds, per shard id, the sequence number \
            of the last record emitted, or {"closed": true} once a closed shard was read to its end. After a split \
            or merge, a child shard is read only once its parents are read to their end, so the records of one \
            partition key stay in order. New shards are found every `shard_discovery_interval`. The \
            `kinesis_millis_behind_latest` gauge (dimension `shard`) shows how far behind each reader is. With \
            `leases`, several hosts share the stream through a DynamoDB lease table as KCL applications do: each \
            host reads the shards it holds a lease for, a host that stops renewing loses its leases to the others \
            after `failover_time`, and each shard's checkpoint and the keyed state of its keys are stored in its \
            lease, so both move with the shard (the spec's checkpoint directory is then not used).
            """,

        fields: [
            FieldSpec("stream_name", .string, .required, doc: "The stream to read.", example: "transactions"),
            FieldSpec("region", .string, doc: "AWS region; default AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region, then us-east-1.", example: "eu-west-1"),
            FieldSpec("endpoint_url", .string, doc: "Endpoint override (a VPC endpoint or a local emulator); default AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, then the regional endpoint.", example: "http://127.0.0.1:5000"),
            FieldSpec("start_position", .oneOf(["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]), .defaultValue("TRIM_HORIZON"),
                      doc: "Where to start a shard that has no checkpointed position. Children of shards read here always start at their first record."),
            FieldSpec("start_timestamp", .string, doc: "For AT_TIMESTAMP: ISO-8601 time or seconds since the epoch.", example: "2024-05-17T09:00:00Z"),
            FieldSpec("max_records_per_call", .int(min: 1, max: 10000), .defaultValue(1000), doc: "GetRecords Limit; each call's records form one batch."),
            FieldSpec("poll_interval", .duration, .defaultValue("200ms"), doc: "Least time between two GetRecords calls on a shard (raised to 200 ms: 5 calls/s is the per-shard limit)."),
            FieldSpec("shard_discovery_interval", .duration, .defaultValue("30s"), doc: "How often ListShards looks for new shards (after a reshard)."),
            FieldSpec("deaggregate", .bool, .defaultValue(true), doc: "Split KPL-aggregated records into their user records."),
            FieldSpec("stop_at_end", .bool, .defaultValue(false),
                      doc: "Return once every shard is caught up (an empty GetRecords with MillisBehindLatest 0) or read to its end: for bounded replays, backfills and tests."),
            FieldSpec("leases", .object([
                FieldSpec("table", .string, .required, doc: "The DynamoDB lease table (created on demand, on-demand capacity); one per application and stream.", example: "fraud-scoring-transactions-leases"),
                FieldSpec("worker_id", .string, doc: "This host's name in the table; default the host name and a random suffix (a restarted host then waits failover_time for its old leases). Must differ between hosts.", example: "${HOSTNAME:-scorer-1}"),
                FieldSpec("failover_time", .duration, .defaultValue("10s"), doc: "A lease not renewed for this long is taken by another host; leases are renewed every third of it."),
                FieldSpec("endpoint_url", .string, doc: "DynamoDB endpoint override; default AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then the regional endpoint.", example: "http://127.0.0.1:5000"),
                FieldSpec("state_bucket", .string, doc: "S3 bucket for a shard's keyed state when it is larger than a lease row holds (100 KB); without it such a checkpoint fails with a clear error. S3 endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL.", example: "fraud-scoring-state"),
                FieldSpec("state_prefix", .string, .defaultValue("lease-state/"), doc: "Key prefix of those state objects."),
            ]), doc: "Share the stream with other hosts through a KCL-style lease table (see the description). Not combinable with stop_at_end."),
            .retry(),
        ],
        examples: [

            #"{"type": "kinesis", "stream_name": "transactions"}"#,
            #"{"type": "kinesis", "stream_name": "transactions", "region": "eu-west-1", "start_position": "AT_TIMESTAMP", "start_timestamp": "2024-05-17T09:00:00Z"}"#,
            #"{"type": "kinesis", "stream_name": "transactions", "leases": {"table": "fraud-scoring-leases", "worker_id": "${HOSTNAME:-scorer-1}", "failover_time": "10s"}}"#,
        ],
        lint: { config in
            var problems: [ConfigProblem] = []
            if config.string("start_position") == "AT_TIMESTAMP" {
                if let text = config.optionalString("start_timestamp") {
                    if startTimestamp(text) == nil {
                        problems.append(ConfigProblem("start_timestamp \"\(text)\" is neither ISO-8601 nor seconds since the epoch", at: "start_timestamp"))
                    }
                } else {
                    problems.append(ConfigProblem("start_position AT_TIMESTAMP needs start_timestamp", at: "start_timestamp"))
                }
            }
            if config["leases"] != nil {
                if config.bool("stop_at_end") {
                    problems.append(ConfigProblem("stop_at_end cannot be combined with leases: hosts sharing a stream run until stopped", at: "stop_at_end"))
                }
                if config.nested("leases").optionalString("worker_id")?.isEmpty == true {
                    problems.append(ConfigProblem("worker_id is empty", at: "leases.worker_id"))
                }
            }
            return problems
        })

    /// A start_timestamp as seconds since the epoch: ISO-8601, or a number of seconds.
    static func startTimestamp(_ text: String) -> Double? {
        Double(text) ?? ISO8601.parse(text)?.timeIntervalSince1970
    }

    /// The `leases` settings.
    struct LeaseSettings: Sendable {
        var table: String
        var workerID: String
        var failoverTime: Double
        var endpointURL: String?
        var stateBucket: String?
        var statePrefix: String
    }


    /// The validated settings, shared with the coordinator and readers.
    struct Settings: Sendable {
        var stream: String
        var start: IteratorStart
        var maxRecordsPerCall: Int
        var pollInterval: Double
        var discoveryInterval: Double
        var deaggregate: Bool
        var stopAtEnd: Bool
        var retry: RetryPolicy
    }

    let settings: Settings
    let region: String
    let endpointURL: String?
    let environment: [String: String]
    let leases: LeaseSettings?
    private let keeper = Mutex<LeaseKeeper?>(nil)
    /// The lease table as the last scan saw it: shard → owner.
    private let leaseView = Mutex<[(shard: String, owner: String?)]>([])
    private let logger: Logger

    public init
(config: ComponentConfig, context: BuildContext) throws {
        try Self.descriptor.checkLint(config)
        let start: IteratorStart
        switch config.string("start_position") {
        case "LATEST": start = .latest
        case "AT_TIMESTAMP":
            // Given and readable: checkLint.
            start = .atTimestamp(config.optionalString("start_timestamp").flatMap(Self.startTimestamp) ?? 0)
        default: start = .trimHorizon
        }
        settings = Settings(
            stream: config.string("stream_name"), start: start,
            maxRecordsPerCall: config.int("max_records_per_call"), pollInterval: config.seconds("poll_interval"),
            discoveryInterval: max(0.05, config.seconds("shard_discovery_interval")), deaggregate: config.bool("deaggregate"),
            stopAtEnd: config.bool("stop_at_end"),
            retry: RetryPolicy(config: config))
        region = AWSClient.region(config: config, environment: context.environment)
        endpointURL = config.optionalString("endpoint_url")
        environment = context.environment
        logger = context.logger
        if config["leases"] != nil {
            let l = config.nested("leases")
            let worker = l.optionalString("worker_id") ?? Self.defaultWorkerID(environment: context.environment)
            guard !worker.isEmpty else { throw PipelineError(.config, "worker_id is empty", at: SpecPath.child(l.path, "worker_id")) }
            leases = LeaseSettings(
                table: l.string("table"), workerID: worker, failoverTime: max(0.3, l.optionalSeconds("failover_time") ?? 10),
                endpointURL: l.optionalString("endpoint_url"), stateBucket: l.optionalString("state_bucket"),
                statePrefix: l.optionalString("state_prefix") ?? "lease-state/")
        } else {
            leases = nil
        }
    }

    /// Host name and a random suffix, as the KCL does: unique across tasks even where every container is pid 1.
    static func defaultWorkerID(environment: [String: String]) -> String {
        var name = environment["HOSTNAME"] ?? ""
        if name.isEmpty {
            var buffer = [CChar](repeating: 0, count: 256)
            if gethostname(&buffer, buffer.count) == 0 { name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return "\(name.isEmpty ? "host" : name)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    public func makeCheckpointStore(partitioned: [String: any PartitionedState]) throws -> (any CheckpointStore)? {
        guard let leases else { return nil }
        // Its own HTTP client: the lease table is still written after the read loop ends (final checkpoint, release).
        let http = HTTPClient()
        let credentials = CredentialProviders.default(httpClient: http, environment: environment)
        let client = AWSClient(region: region, credentialProvider: credentials, httpClient: http, retryPolicy: settings.retry, environment: environment)
        let table = LeaseTable(dynamo: try .dynamoDB(client, endpointURL: leases.endpointURL), name: leases.table)
        // Renewals: one retry and a timeout of a third of the failover time, whatever the source's retry policy
        // says; the keeper gives a lease up once its local deadline passes without a renewal.
        let renewClient = AWSClient(region: region, credentialProvider: credentials, httpClient: http, retryPolicy: RetryPolicy(maxAttempts: 2, baseBackoff: .milliseconds(50), maxBackoff: .milliseconds(200)),
                                    environment: environment)
        var renewDynamo = try JSONProtocolClient.dynamoDB(renewClient, endpointURL: leases.endpointURL)
        renewDynamo.timeout = .milliseconds(Int64(max(200, leases.failoverTime / 3 * 1000)))
        let renewTable = LeaseTable(dynamo: renewDynamo, name: leases.table)
        let s3 = try leases.stateBucket.map { _ in try S3Client(client: client) }
        let keeper = LeaseKeeper(
            table: table, renewTable: renewTable, me: leases.workerID, failoverTime: leases.failoverTime,
            stateStore: LeaseStateStore(s3: s3, bucket: leases.stateBucket, prefix: leases.statePrefix, enabled: !partitioned.isEmpty),
            logger: logger, onClose: { http.shutdown() })
        self.keeper.withLock { $0 = keeper }
        return LeaseCheckpointStore(keeper: keeper, partitioned: partitioned, stream: settings.stream)
    }


    public func run(_ context: SourceContext) async throws {
        var checkpointed: [String: ShardPosition] = [:]
        for (shard, value) in context.resumePositions {
            guard let position = ShardPosition(value) else {
                throw PipelineError(.source, "checkpointed position \(value) of shard \(shard) is not a Kinesis position", at: settings.stream)
            }
            checkpointed[shard] = position
        }

        let http = HTTPClient()
        defer { http.shutdown() }
        let credentials = CredentialProviders.default(httpClient: http, environment: environment)
        let control = AWSClient(region: region, credentialProvider: credentials, httpClient: http, retryPolicy: settings.retry, environment: environment)
        let data = AWSClient(region: region, credentialProvider: credentials, httpClient: http, retryPolicy: .none, environment: environment)
        let api = KinesisStreamClient(
            control: try .kinesis(control, endpointURL: endpointURL), data: try .kinesis(data, endpointURL: endpointURL), stream: settings.stream)

        // A few batches per shard: enough to keep readers busy while the pipeline takes one, little memory.
        let funnel = BatchFunnel(perShard: 3)
        let coordinator = ShardCoordinator(api: api, settings: settings, checkpointed: checkpointed, funnel: funnel, context: context)
        let leaseCoordinator: LeaseCoordinator? = try leases.map { l in
            guard let keeper = keeper.withLock({ $0 }) else {
                throw PipelineError(.source, "leases are configured but the runner made no lease checkpoint store", at: settings.stream)
            }
            return LeaseCoordinator(api: api, settings: settings, leases: l, keeper: keeper, funnel: funnel, context: context,
                                    onScan: { [self] all in self.leaseView.withLock { $0 = all.map { ($0.key, $0.owner) } } })
        }

        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { funnel.finish() }
            group.addTask {
                defer { funnel.finish() }
                do {
                    if let leaseCoordinator { try await leaseCoordinator.run() } else { try await coordinator.run() }
                } catch {

                    if Task.isCancelled { return }  // stopping: a cancelled call is not a failure
                    throw error
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(200))
                    funnel.tick()
                }
            }
            // The one task that emits: readers run concurrently, SourceContext.emit may not.
            while let item = await funnel.next() {
                if context.isStopping { break }
                switch item {
                case .batch(let batch, let shard, let tenure):
                    guard let tenure, let keeper = leaseCoordinator?.keeper else {
                        try await context.emit(batch)
                        continue
                    }
                    // A batch read in a tenure of the lease that is over (lost, given back, taken again since) is
                    // dropped: its position is not ours to checkpoint, and the shard's owner reads it again.
                    let count = batch.records.count
                    if !(try await context.emit(batch, if: { keeper.status(shard, tenure: tenure) != .gone })) {
                        context.logger.debug("dropping a batch read under a lost lease", metadata: ["shard": "\(shard)", "records": "\(count)"])
                    }
                case .tick: try await context.sleep(seconds: 0)
                }
            }
            group.cancelAll()
            funnel.finish()
            try await group.waitForAll()
        }
    }
}

extension KinesisSource: StatusDetailProviding {
    /// The stream, and with leases each shard's owner as of the last scan (this host's worker id marked).
    public func statusDetails() -> JSONValue {
        var d: [(String, JSONValue)] = [("stream", .string(settings.stream))]
        let me = keeper.withLock { $0?.me }
        let view = leaseView.withLock { $0 }
        if !view.isEmpty {
            d.append(("lease_owners", .object(view.sorted { $0.shard < $1.shard }.map { v in
                (v.shard, v.owner.map { .string($0 == me ? "\($0) (this host)" : $0) } ?? .null)
            })))
        }
        return .object(d)
    }
}
