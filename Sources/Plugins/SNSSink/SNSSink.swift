import AWSCore
import Logging
import PipelineHost
import Synchronization

/// `sns` sink: publishes each record's JSON as one message to a topic, with PublishBatch.
// The `private var`s are touched by the sink's task only; what publish tasks update (`open`) is behind a Mutex.
public final class SNSSink: SinkPlugin, @unchecked Sendable {
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
        examples: [#"{"type": "sns", "id": "alerts", "topic_arn": "arn:aws:sns:eu-west-1:123456789012:fraud-alerts", "message_attributes": {"severity": "risk_band"}}"#])

    static let maxMessageBytes = 262_144

    let topicARN: String
    let region: String
    let endpointURL: String?
    let subject: String?
    let attributes: [(name: String, field: String)]
    let groupField: String?
    let deduplicationField: String?
    let maxEvents: Int
    let maxBytes: Int
    let maxAge: Double
    let maxInFlight: Int
    let retry: RetryPolicy
    let environment: [String: String]

    // Sink-task state.
    private var publisher: SNSPublisher?
    private var pending: [SNSEntry] = []
    private var pendingSince = 0.0
    /// Publish calls under way, oldest first: at most `maxInFlight`.
    private var inFlight: [Task<Void, any Error>] = []
    /// Per delivery: entries not yet published or rejected, and the rejections so far. Updated by the publish
    /// tasks as their calls complete.
    private let open = Mutex<[ObjectIdentifier: (remaining: Int, rejected: [(Int, String)])]>([:])

    public init(config: ComponentConfig, context: BuildContext) throws {
        topicARN = config.string("topic_arn")
        region = AWSClient.region(config: config, environment: context.environment)
        endpointURL = config.optionalString("endpoint_url")
        subject = config.optionalString("subject")
        attributes = (config["message_attributes"]?.objectValue ?? []).map { ($0.0, $0.1.stringValue ?? "") }
        guard attributes.count <= 10 else {
            throw PipelineError(.config, "SNS allows at most 10 message attributes, \(attributes.count) are configured", at: SpecPath.child(config.path, "message_attributes"))
        }
        groupField = config.optionalString("message_group_id_field")
        deduplicationField = config.optionalString("message_deduplication_id_field")
        let fifo = topicARN.hasSuffix(".fifo")
        if fifo && groupField == nil {
            throw PipelineError(.config, "a FIFO topic needs message_group_id_field", at: SpecPath.child(config.path, "message_group_id_field"))
        }
        let batch = config.nested("batch")
        maxEvents = min(10, batch.int("max_events"))
        maxBytes = min(Self.maxMessageBytes, Int(batch.bytes("max_bytes")))
        maxAge = batch.seconds("max_age")
        maxInFlight = fifo ? 1 : config.int("max_in_flight")
        retry = RetryPolicy(config: config)
        environment = context.environment
    }

    public func start(_ context: StageContext) async throws {
        let client = AWSClient(region: region, retryPolicy: retry, environment: environment)
        publisher = SNSPublisher(sns: try .sns(client, endpointURL: endpointURL), topicARN: topicARN, retry: retry)
    }

    private func client() throws -> SNSPublisher {
        guard let publisher else { throw PipelineError(.sink, "the SNS sink was not started", at: topicARN) }
        return publisher
    }

    public func healthCheck() async throws {
        _ = try await client().sns.call("GetTopicAttributes", [("TopicArn", topicARN)])
    }

    /// The entry for a record, or why it cannot be published.
    func entry(_ record: Record, delivery: Delivery, index: Int) -> Result<SNSEntry, RejectReason> {
        var w = JSONWriter()
        record.write(to: &w)
        let message = w.string
        var size = w.bytes.count
        var attrs: [(name: String, type: String, value: String)] = []
        for (name, field) in attributes {
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
        if size > Self.maxMessageBytes {
            return .failure(RejectReason(text: "message is \(size) bytes with its attributes, over the SNS limit of 262144 (256 KiB)"))
        }
        func text(_ field: String?) -> Result<String?, RejectReason> {
            guard let field else { return .success(nil) }
            switch record[field] {
            case .string(let s)? where !s.isEmpty: return .success(s)
            case let v? where v.intValue != nil: return .success(v.description)
            default: return .failure(RejectReason(text: "field \"\(field)\" is missing or not a string or integer"))
            }
        }
        let group: String?
        let dedup: String?
        switch (text(groupField), text(deduplicationField)) {
        case (.success(let g), .success(let d)): (group, dedup) = (g, d)
        case (.failure(let r), _), (_, .failure(let r)): return .failure(r)
        }
        return .success(SNSEntry(message: message, subject: subject, attributes: attrs, groupID: group, deduplicationID: dedup,
                                 size: size, delivery: delivery, index: index))
    }

    struct RejectReason: Error {
        var text: String
    }

    public func write(_ delivery: Delivery) async throws {
        let id = ObjectIdentifier(delivery)
        var rejected: [(Int, String)] = []
        var count = 0
        if pending.isEmpty { pendingSince = MonotonicClock.seconds() }
        for (i, record) in delivery.records.enumerated() {
            switch entry(record, delivery: delivery, index: i) {
            case .success(let e):
                pending.append(e)
                count += 1
            case .failure(let r): rejected.append((i, r.text))
            }
        }
        // Rejected now, not when the delivery completes: the last deliveries complete in the final flush, and
        // the dead-letter output must get them while the pipeline still takes them.
        try await Self.reject(rejected, of: delivery)
        open.withLock { $0[id] = (count, []) }
        if count == 0 { try await finish(delivery) }
        try await send(all: MonotonicClock.seconds() - pendingSince >= maxAge)
    }

    public var batchMaxAge: Double? { maxAge }

    /// The batch timer: the partial batch goes out once it has waited `batch.max_age`.
    public func flushDue() async throws {
        guard !pending.isEmpty else { return }
        try await send(all: MonotonicClock.seconds() - pendingSince >= maxAge)
    }

    /// Publishes everything waiting and returns once every call has completed (rethrowing a call's failure).
    public func flush() async throws {
        try await send(all: true)
        while !inFlight.isEmpty { try await inFlight.removeFirst().value }
    }

    /// Starts publishing the full batches waiting (all of them with `all`), keeping at most `max_in_flight` calls
    /// under way: a call beyond that waits for the oldest (and rethrows its failure). Each call acknowledges the
    /// deliveries it completes itself, so a delivery's acknowledgement does not wait for the next write.
    private func send(all: Bool) async throws {
        var groups: [[SNSEntry]] = []
        var current: [SNSEntry] = []
        var bytes = 0
        for e in pending {
            if current.count == maxEvents || (!current.isEmpty && bytes + e.size > maxBytes) {
                groups.append(current)
                current = []
                bytes = 0
            }
            current.append(e)
            bytes += e.size
        }
        if !current.isEmpty && (all || current.count == maxEvents) {
            groups.append(current)
            current = []
        }
        pending = current
        if !pending.isEmpty && groups.count > 0 { pendingSince = MonotonicClock.seconds() }
        guard !groups.isEmpty else { return }

        let publisher = try client()
        for group in groups {
            while inFlight.count >= maxInFlight { try await inFlight.removeFirst().value }
            inFlight.append(Task { [self] in
                let outcomes = try await publisher.publish(group)
                try await completed(group, outcomes)
            })
        }
    }

    /// Counts a call's outcomes against their deliveries and finishes the deliveries it completed.
    private func completed(_ group: [SNSEntry], _ outcomes: [SNSPublisher.Outcome]) async throws {
        let done: [Delivery] = open.withLock { open in
            var done: [Delivery] = []
            for (e, outcome) in zip(group, outcomes) {
                let id = ObjectIdentifier(e.delivery)
                guard var state = open[id] else { continue }
                state.remaining -= 1
                if case .rejected(let reason) = outcome { state.rejected.append((e.index, reason)) }
                open[id] = state
                if state.remaining == 0 { done.append(e.delivery) }
            }
            return done
        }
        for d in done { try await finish(d) }
    }

    /// Sends the delivery's remaining rejections (refused by SNS) to the dead-letter output, then acknowledges it.
    private func finish(_ delivery: Delivery) async throws {
        let id = ObjectIdentifier(delivery)
        guard let state = open.withLock({ $0.removeValue(forKey: id) }) else { return }
        try await Self.reject(state.rejected, of: delivery)
        delivery.acknowledge()
    }

    /// One dead-letter write per distinct reason.
    private static func reject(_ rejected: [(Int, String)], of delivery: Delivery) async throws {
        var byReason: [String: [Int]] = [:]
        var order: [String] = []
        for (i, reason) in rejected {
            if byReason[reason] == nil { order.append(reason) }
            byReason[reason, default: []].append(i)
        }
        for reason in order { try await delivery.reject(byReason[reason]!, reason: reason) }
    }

    public func close() async throws {
        try await flush()
        publisher?.sns.client.shutdown()
        publisher = nil
    }
}
