import AWSCore
import Logging
import PipelineHost

/// `sns` sink: publishes each record's JSON as one message to a topic, with PublishBatch.
public final class SNSSink: SinkPlugin {
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "sns",
        summary: "Publishes each record (its JSON as the message body) to an SNS topic with PublishBatch.",
        description: """
            Messages are sent in PublishBatch calls of up to 10 entries and 256 KiB (`batch.max_events` and \
            `batch.max_bytes` are capped there), up to `max_in_flight` calls at a time across deliveries (a write \
            does not wait for its calls unless that many are under way); a partial batch waits for more records \
            at most `batch.max_age` (a timer sends it when no more come). A message over 256 KiB (body and attributes) goes to the \
            dead-letter output, and so does an entry SNS refuses for its content (a Failed entry with \
            SenderFault, InvalidParameter); entries that failed otherwise (throttled, internal errors) are published \
            again with backoff, up to `retry.max_attempts` calls, after which the pipeline stops without a \
            checkpoint past them. A delivery is acknowledged once each of its records is published or rejected. \
            For a FIFO topic (name ending in .fifo) `message_group_id_field` is required and batches are sent one \
            at a time, to keep the order within a group.
            """,
        fields: [
            FieldSpec("topic_arn", .string, .required, doc: "The topic.", example: "arn:aws:sns:eu-west-1:123456789012:fraud-alerts"),
            FieldSpec("region", .string, doc: "AWS region; default AWS_REGION, then AWS_DEFAULT_REGION, then the profile's region, then us-east-1."),
            FieldSpec("endpoint_url", .string, doc: "Endpoint override.", example: "http://127.0.0.1:5000"),
            FieldSpec("subject", .string, doc: "Subject of every message (email subscriptions show it).", example: "fraud alert"),
            FieldSpec("message_attributes", .map(.string), .defaultValue(.object([])),
                      doc: "Message attribute name → record field. Numbers become Number attributes, other values String (objects and arrays as JSON text); a missing or null field adds no attribute. At most 10.",
                      example: .object([("severity", "risk_band"), ("score", "fraud_score")])),
            FieldSpec("message_group_id_field", .string, doc: "FIFO topics: record field holding the MessageGroupId.", example: "card_id"),
            FieldSpec("message_deduplication_id_field", .string, doc: "FIFO topics: record field holding the MessageDeduplicationId (else the topic needs content-based deduplication).", example: "transaction_id"),
            // Alerts are latency-bound: by default a delivery's records go out at once (up to 10 per call), without
            // waiting for the next delivery's; batching across deliveries saves calls, not cost (SNS bills a
            // PublishBatch per message), and is there for heavy alert volumes.
            .batch(maxEvents: 10, maxBytes: "256KiB", maxAge: "0s"),
            .maxInFlight(4),
            .retry(maxAttempts: 5),
        ],
        examples: [#"{"type": "sns", "id": "alerts", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:fraud-alerts", "message_attributes": {"severity": "risk_band"}}"#],
        lint: { config in
            var problems: [ConfigProblem] = []
            let attributes = config["message_attributes"]?.objectValue?.count ?? 0
            if attributes > 10 {
                problems.append(ConfigProblem("SNS allows at most 10 message attributes, \(attributes) are configured", at: "message_attributes"))
            }
            if config.string("topic_arn").hasSuffix(".fifo") && config.optionalString("message_group_id_field") == nil {
                problems.append(ConfigProblem("a FIFO topic needs message_group_id_field", at: "message_group_id_field"))
            }
            return problems
        })

    static let maxMessageBytes = 262_144

    let config: SNSSinkConfig
    let connection: SinkConnection<SNSMessageWriter, SNSPublisher>

    public init(config: ComponentConfig, context: BuildContext) throws {
        let config = try SNSSinkConfig(config: config, environment: context.environment)
        self.config = config
        connection = SinkConnection(destination: config.topicARN) { $0.sns.client.shutdown() }
    }

    public func start(_ context: StageContext) async throws {
        let client = AWSClient(region: config.region, retryPolicy: config.retry, environment: config.environment)
        let publisher = SNSPublisher(sns: try .sns(client, endpointURL: config.endpointURL), topicARN: config.topicARN, retry: config.retry)
        let driver = SinkDriver(writer: SNSMessageWriter(config: config), sender: publisher, settings: config.batch,
                                maxInFlight: config.maxInFlight)
        connection.started(driver, client: publisher)
    }

    public func healthCheck() async throws {
        _ = try await connection.client().sns.call("GetTopicAttributes", [("TopicArn", config.topicARN)])
    }

    public var batchMaxAge: Double? { config.batch.maxAge }
    public func write(_ delivery: Delivery) async throws { try await connection.driver().write(delivery) }
    public func flushDue() async throws { try await connection.driver().flushDue() }
    public func flush() async throws { try await connection.driver().flush() }
    public func close() async throws { try await connection.close() }
}

/// The `sns` sink's settings, read once from the spec.
struct SNSSinkConfig: Sendable {
    let topicARN: String
    let region: String
    let endpointURL: String?
    let subject: String?
    let attributes: [(name: String, field: String)]
    let groupField: String?
    let deduplicationField: String?
    let batch: BatchSettings
    let maxInFlight: Int
    let retry: RetryPolicy
    let environment: [String: String]

    init(config: ComponentConfig, environment: [String: String]) throws {
        topicARN = config.string("topic_arn")
        region = AWSClient.region(config: config, environment: environment)
        endpointURL = config.optionalString("endpoint_url")
        subject = config.optionalString("subject")
        attributes = (config["message_attributes"]?.objectValue ?? []).map { ($0.0, $0.1.stringValue ?? "") }
        try SNSSink.descriptor.checkLint(config)
        groupField = config.optionalString("message_group_id_field")
        deduplicationField = config.optionalString("message_deduplication_id_field")
        let fifo = topicARN.hasSuffix(".fifo")
        batch = BatchSettings(config: config, maxEventsCap: 10, maxBytesCap: SNSSink.maxMessageBytes)
        // A FIFO topic keeps the order within a group only if one call is under way at a time.
        maxInFlight = fifo ? 1 : config.int("max_in_flight")
        retry = RetryPolicy(config: config)
        self.environment = environment
    }
}

/// Turns records into PublishBatch entries for the driver: one batch, at most 10 entries and 256 KiB.
struct SNSMessageWriter: BatchingSinkWriter {
    typealias Sender = SNSPublisher
    let config: SNSSinkConfig

    func item(for record: Record) -> Result<(key: Bool, item: SNSEntry), SinkRefusal> {
        entry(record).map { (true, $0) }
    }

    func makeBatch(for key: Bool, first: Record, now: Double) -> SNSBatch { SNSBatch(maxBytes: config.batch.maxBytes) }

    func request(for batch: SNSBatch) -> [SNSEntry] { batch.entries }

    /// The entry for a record, or why it cannot be published.
    func entry(_ record: Record) -> Result<SNSEntry, SinkRefusal> {
        var w = JSONWriter()
        record.write(to: &w)
        let message = w.string
        var size = w.bytes.count
        var attrs: [(name: String, type: String, value: String)] = []
        for (name, field) in config.attributes {
            guard let value = record[field], !value.isNull else { continue }
            let attr: (String, String)
            switch value {
            case .int, .double: attr = ("Number", value.description)
            case .string(let s): attr = ("String", s)
            default: attr = ("String", value.description)
            }
            attrs.append((name, attr.0, attr.1))
            size += name.utf8.count + attr.0.utf8.count + attr.1.utf8.count
        }
        if size > SNSSink.maxMessageBytes {
            return .failure(SinkRefusal("message is \(size) bytes with its attributes, over the SNS limit of 262144 (256 KiB)"))
        }
        func text(_ field: String?) -> Result<String?, SinkRefusal> {
            guard let field else { return .success(nil) }
            switch record[field] {
            case .string(let s)? where !s.isEmpty: return .success(s)
            case let v? where v.intValue != nil: return .success(v.description)
            default: return .failure(SinkRefusal("field \"\(field)\" is missing or not a string or integer"))
            }
        }
        let group: String?
        let dedup: String?
        switch (text(config.groupField), text(config.deduplicationField)) {
        case (.success(let g), .success(let d)): (group, dedup) = (g, d)
        case (.failure(let r), _), (_, .failure(let r)): return .failure(r)
        }
        return .success(SNSEntry(message: message, subject: config.subject, attributes: attrs, groupID: group, deduplicationID: dedup, size: size))
    }
}
