import AWSCore
import Foundation
import Logging
import Metrics
import PipelineHost
import Synchronization

/// `dynamo_broadcast` transform: Flink's broadcast-state join. The whole reference table (user_demographics)
/// is loaded before the source starts and kept current; each record gets the joined fields of its key.
public final class DynamoBroadcast: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "dynamo_broadcast",
        summary: "Joins each record with a reference table held in memory (DynamoDB kept current by Streams, or a JSONL file in staging).",
        description: """
            The table is loaded whole before the source starts consuming. In "file" mode it comes from a JSONL file \
            (one item per line). The join adds the configured fields of the record's key; for a key the table does \
            not hold, on_missing decides: "defaults" (the values in defaults), "missing" (null, which the model \
            treats as missing values), "dead_letter", or "drop" (counted in the metrics). In "dynamodb" mode the \
            table follows the table's DynamoDB stream; when stream positions are lost (records trimmed, stream or \
            shard gone, an iterator expired with nothing read) it is scanned again and swapped in whole. The gauge \
            dynamo_broadcast_sync_age_seconds shows the seconds since the last successful sync, and the host \
            reports not ready (/ready answers 503 with the reason) while that exceeds max_staleness.
            """,
        fields: [
            FieldSpec("mode", .oneOf(["dynamodb", "file"]), .defaultValue("dynamodb"), doc: "Where the table comes from."),
            FieldSpec("table", .string, doc: "DynamoDB table name (dynamodb mode).", example: "user_demographics"),
            FieldSpec("path", .string, doc: "JSONL file of items (file mode).", example: "samples/user_demographics.jsonl"),
            FieldSpec("key_field", .string, .defaultValue("user_id"), doc: "Record field holding the join key."),
            FieldSpec("table_key", .string, .defaultValue("user_id"), doc: "Attribute of the table's items holding the key."),
            FieldSpec("fields", .array(.string), .required, doc: "Attributes copied into the record.",
                      example: ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"]),
            FieldSpec("region", .string, doc: "AWS region (dynamodb mode); default AWS_REGION, AWS_DEFAULT_REGION, the profile, else us-east-1."),
            FieldSpec("endpoint_url", .string, doc: "Endpoint override for DynamoDB and DynamoDB Streams (tests, local stacks)."),
            FieldSpec("scan_segments", .int(min: 1, max: 64), .defaultValue(4), doc: "Parallel Scan segments for the initial load."),
            FieldSpec("poll_interval", .duration, .defaultValue("1s"), doc: "Time between DynamoDB Streams polls."),
            FieldSpec("max_staleness", .duration, .defaultValue("5m"),
                      doc: "dynamodb mode: the host is not ready (/ready answers 503 naming this transform) while the last successful sync with the table (a stream poll or a completed reload) is older than this."),
            FieldSpec("on_missing", .oneOf(["defaults", "missing", "dead_letter", "drop"]), .defaultValue("missing"), doc: "What happens to a record whose key is not in the table."),
            FieldSpec("defaults", .map(.json), .defaultValue([:]), doc: "Values used by on_missing \"defaults\"."),
        ],
        examples: [#"{"type": "dynamo_broadcast", "mode": "file", "path": "samples/user_demographics.jsonl", "fields": ["age", "tenure_months"]}"#],
        dataFlow: { config, _ in DataFlow(reads: [(config.string("key_field"), "key_field")], writes: config.strings("fields")) },
        lint: { config in
            switch config.string("mode") {
            case "file" where config.optionalString("path") == nil: [ConfigProblem("mode \"file\" needs \"path\"", at: "path")]
            case "dynamodb" where config.optionalString("table") == nil: [ConfigProblem("mode \"dynamodb\" needs \"table\"", at: "table")]
            default: []
            }
        })

    enum MissingPolicy: String { case defaults, missing, deadLetter = "dead_letter", drop }

    let mode: String
    let path: String?
    let keyField: String
    let key: FieldKey
    let tableKey: String
    let table: BroadcastTable
    let policy: MissingPolicy
    let defaults: [JSONValue]
    let id: String
    private let unknown: Counter
    private let dropped: Counter
    private let aws: AWSClient?
    let follower: DynamoTableFollower?
    private let followTask = Mutex<Task<Void, Never>?>(nil)
    private let watchTask = Mutex<Task<Void, Never>?>(nil)
    private let stats = Mutex<RuntimeStats?>(nil)
    let maxStaleness: Double

    public init(config: ComponentConfig, context: BuildContext) throws {
        try Self.descriptor.checkLint(config)
        mode = config.string("mode")
        path = config.optionalString("path")
        keyField = config.string("key_field")
        key = FieldKey(keyField)
        tableKey = config.string("table_key")
        let fields = config.strings("fields")
        table = BroadcastTable(fields: fields)
        policy = MissingPolicy(rawValue: config.string("on_missing"))!
        let given = config["defaults"]?.objectValue ?? []
        defaults = fields.map { f in given.first { $0.0 == f }?.1 ?? .null }
        id = config.id
        maxStaleness = config.seconds("max_staleness")
        if mode == "dynamodb" {
            let tableName = config.string("table")  // there is one: checkLint
            let region = AWSClient.region(config: config, environment: context.environment)
            let aws = AWSClient(region: region, environment: context.environment)
            self.aws = aws
            follower = DynamoTableFollower(
                dynamo: try .dynamoDB(aws, endpointURL: config.optionalString("endpoint_url")),
                streams: try .dynamoDBStreams(aws, endpointURL: config.optionalString("endpoint_url")),
                tableName: tableName, keyAttribute: tableKey, table: table, segments: config.int("scan_segments"),
                pollInterval: config.seconds("poll_interval"), logger: context.logger)
        } else {
            aws = nil
            follower = nil
        }
        unknown = Counter(label: "broadcast_unknown_keys_total", dimensions: [("transform", id)])
        dropped = Counter(label: "broadcast_dropped_total", dimensions: [("transform", id)])
    }

    /// The table loads in `start` (a file, or a DynamoDB scan): the source reads ahead meanwhile.
    public var loadsAtStart: Bool { true }

    public func start(_ context: StageContext) async throws {
        let started = MonotonicClock.seconds()
        if let follower {
            try await follower.load()
            let task = Task { await follower.follow() }
            followTask.withLock { $0 = task }
            stats.withLock { $0 = context.stats }
            let watch = Task { [self] in await watchStaleness(follower, stats: context.stats, logger: context.logger) }
            watchTask.withLock { $0 = watch }
        } else if let path {
            table.replace(with: try Self.loadFile(path, key: tableKey, fields: table.fields))
        }
        context.logger.info("reference table loaded", metadata: [
            "rows": "\(table.count)", "seconds": "\(String(format: "%.2f", MonotonicClock.seconds() - started))",
        ])
    }

    /// Publishes the seconds since the last successful sync (gauge `dynamo_broadcast_sync_age_seconds`) at least once a
    /// poll interval, and holds the host's readiness back while they exceed `max_staleness`. It runs apart from the
    /// follow loop, so a stream call that hangs still shows.
    func watchStaleness(_ follower: DynamoTableFollower, stats: RuntimeStats, logger: Logger) async {
        let gauge = Gauge(label: "dynamo_broadcast_sync_age_seconds", dimensions: [("transform", id)])
        let tick = max(0.01, min(follower.pollInterval, maxStaleness / 4, 1))
        var stale = false
        while !Task.isCancelled {
            let age = follower.syncAge
            gauge.record(age)
            if age > maxStaleness {
                var reason = "reference table \"\(follower.tableName)\" last synced \(String(format: "%.1f", age)) s ago, more than max_staleness \(Self.format(maxStaleness))"
                if let problem = follower.lastProblem { reason += "; last error: \(problem)" }
                stats.setUnready(component: id, reason: reason)
                if !stale {
                    logger.warning("reference table is stale: not ready", metadata: ["reason": "\(reason)"])
                    stale = true
                }
            } else if stale {
                stats.clearUnready(component: id)
                logger.notice("reference table is current again: ready", metadata: ["table": "\(follower.tableName)"])
                stale = false
            }
            try? await Task.sleep(nanoseconds: UInt64(tick * 1e9))
        }
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.3g s", seconds)
    }

    /// Streams the JSONL file line by line (never the whole file in memory: a million users must fit in
    /// 200 MB together with the table).
    static func loadFile(_ path: String, key: String, fields: [String]) throws -> BroadcastTable.Columns {
        // Count the lines first and size the table once: growing by doubling would briefly hold two copies of
        // the row index and of each column, which is what decides the peak for a million rows.
        var lines = 0
        do {
            let counter = try ByteReader(path: path)
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let n = try buf.withUnsafeMutableBytes { try counter.read(into: $0.baseAddress!, count: $0.count) }
                if n == 0 { break }
                buf.withUnsafeBytes { b in
                    var at = b.baseAddress!
                    let end = at + n
                    while at < end, let nl = memchr(at, 0x0A, end - at) {
                        lines += 1
                        at = UnsafeRawPointer(nl) + 1
                    }
                }
            }
        }
        let reader = try ByteReader(path: path)
        var columns = BroadcastTable.Columns(fieldCount: fields.count)
        columns.reserve(lines + 1)
        let parser = RecordParser()
        // Bound once: by name, every row looked each field up in the process-wide name table.
        let keyField = FieldKey(key), fieldKeys = fields.map(FieldKey.init)
        var lineNo = 0
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        func handle(_ line: UnsafeRawBufferPointer) throws {
            lineNo += 1
            let parsed: Record?
            do { parsed = try parser.parseRecord(line, origin: .none, keepingBytes: false) } catch {
                throw PipelineError(.config, "line \(lineNo): \(error.message)", at: path)
            }
            guard let r = parsed else { return }
            guard let k = r[keyField]?.keyText else { throw PipelineError(.config, "line \(lineNo): item has no \"\(key)\"", at: path) }
            columns.upsert(k, fieldKeys.map { r[$0] ?? .null })
        }
        while true {
            let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0.baseAddress!, count: $0.count) }
            if n == 0 { break }
            pending.append(contentsOf: chunk[0..<n])
            var start = 0
            try pending.withUnsafeBytes { buf in
                while start < buf.count, let nl = memchr(buf.baseAddress! + start, 0x0A, buf.count - start) {
                    let end = buf.baseAddress!.distance(to: UnsafeRawPointer(nl))
                    try handle(UnsafeRawBufferPointer(rebasing: buf[start..<end]))
                    start = end + 1
                }
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { try pending.withUnsafeBytes { try handle($0) } }
        return columns
    }

    public func process(_ batch: inout Batch) async throws {
        var unknownCount = 0, droppedCount = 0
        let fields = table.fields
        let nulls = Array(repeating: JSONValue.null, count: fields.count)
        let keys = Record.keyTexts(key, in: batch.records)
        table.withJoin(keys: keys) { join in
            var i = 0
            batch.update(stage: id) { record in
                defer { i += 1 }
                let key = keys[i]
                if join(i, &record) { return .keep }
                unknownCount += 1
                switch policy {
                case .defaults: record.set(names: fields, values: defaults)
                case .missing: record.set(names: fields, values: nulls)
                case .deadLetter: return .deadLetter("unknown \(keyField) \(key.map { "\"\($0)\"" } ?? "(absent)") in the reference table")
                case .drop:
                    // Dropping is the configured policy: counted, not silent.
                    droppedCount += 1
                    return .drop
                }
                return .keep
            }
        }
        if unknownCount > 0 { unknown.increment(by: unknownCount) }
        if droppedCount > 0 { dropped.increment(by: droppedCount) }
    }

    public func stop() async {
        func take(_ slot: borrowing Mutex<Task<Void, Never>?>) -> Task<Void, Never>? {
            slot.withLock { t in
                let task = t
                t = nil
                return task
            }
        }
        let tasks = [take(followTask), take(watchTask)]
        for task in tasks {
            task?.cancel()
            await task?.value
        }
        stats.withLock { $0 }?.clearUnready(component: id)
        aws?.shutdown()
    }

    public func snapshot() throws -> JSONValue? {
        // The table itself is reloaded on start; the version shows which state the checkpoint saw.
        .object([("table_version", .int(Int64(table.version))), ("rows", .int(Int64(table.count)))])
    }
}
