import LambdaRuntime
import PipelineHost

/// `lambda_sns` source: the records of the SNS event of the current Lambda invocation.
public final class LambdaSNSSource: SourcePlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .source, name: "lambda_sns",
        summary: "Under `pipeline-host lambda`: turns the SNS event of each invocation (Records[].Sns.Message) into records.",
        description: """
            Each SNS record's `Message` is a JSON string; the JSON inside is the record (an object), or several records \
            (an array of objects). A message that is neither goes to the dead-letter output with the SNS message id, \
            which makes the invocation report an error. An event that is not an SNS event (not JSON, no `Records`) \
            fails the invocation with errorType "InvalidEvent". The batch of one invocation is emitted at once and the \
            source ends, so the run finishes when every record is acknowledged by the sinks; checkpoints are not kept \
            (Lambda retries failed invocations). Only works under `pipeline-host lambda`, which supplies the event.
            """,
        fields: [
            FieldSpec("metadata_field", .string, doc: "When set, adds an object with the SNS message id, topic ARN, subject, timestamp and message attributes under this field name.", example: "_sns"),
        ],
        examples: [#"{"type": "lambda_sns"}"#, #"{"type": "lambda_sns", "metadata_field": "_sns"}"#])

    let metadataField: String?

    public init(config: ComponentConfig, context: BuildContext) throws {
        metadataField = config.optionalString("metadata_field").flatMap { $0.isEmpty ? nil : $0 }
    }

    public func run(_ context: SourceContext) async throws {
        guard let invocation = LambdaInvocation.current else {
            throw PipelineError(.source, "the lambda_sns source runs only under `pipeline-host lambda` (no invocation event)", at: "lambda_sns")
        }
        let batch = try Self.parse(invocation.event, requestID: invocation.requestID, metadataField: metadataField)
        if batch.records.isEmpty && batch.deadLetters.isEmpty { return }
        try await context.emit(batch)
    }

    /// The records (and dead letters) of one SNS event.
    public static func parse(_ event: [UInt8], requestID: String, metadataField: String? = nil) throws -> SourceBatch {
        let root: JSONValue
        do { root = try DocumentParser.parseValue(event) } catch {
            throw LambdaEventError("the event is not JSON (\(error.message))")
        }
        guard let items = root["Records"]?.arrayValue else {
            throw LambdaEventError("the event has no Records array (not an SNS event)")
        }
        var records: [Record] = []
        var deadLetters: [DeadLetter] = []
        let parser = RecordParser()
        for (i, item) in items.enumerated() {
            guard let sns = item["Sns"], sns.objectValue != nil else {
                throw LambdaEventError("Records[\(i)] has no Sns object (event source \(item["EventSource"]?.stringValue ?? "unknown"))")
            }
            let messageID = sns["MessageId"]?.stringValue ?? "\(requestID)#\(i)"
            let origin = RecordOrigin.sequence(partition: sns["TopicArn"]?.stringValue ?? "sns", sequence: messageID)
            guard let message = sns["Message"]?.stringValue else {
                throw LambdaEventError("Records[\(i)].Sns.Message is not a string")
            }
            var metadata: [(String, JSONValue)] = []
            if metadataField != nil {
                metadata = [("message_id", .string(messageID))]
                for key in ["TopicArn", "Subject", "Timestamp"] {
                    if let v = sns[key], !v.isNull { metadata.append((snake(key), v)) }
                }
                if let attrs = sns["MessageAttributes"]?.objectValue, !attrs.isEmpty {
                    metadata.append(("message_attributes", .object(attrs.map { ($0.0, $0.1["Value"] ?? .null) })))
                }
            }
            func add(_ fields: [(String, JSONValue)], raw: [UInt8]?) {
                var r = Record(fields: fields, raw: raw, origin: origin)
                if let metadataField { r[metadataField] = .object(metadata) }
                records.append(r)
            }
            let bytes = Array(message.utf8)
            let trimmed = message.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
            if trimmed.first == "[" {
                // Several records in one message: an array of objects.
                let value: JSONValue
                do { value = try DocumentParser.parseValue(bytes) } catch {
                    deadLetters.append(DeadLetter(record: Record(fields: [], raw: bytes, origin: origin),
                                                  reason: "SNS message is not JSON: \(error.message)", stage: "source"))
                    continue
                }
                for (j, element) in (value.arrayValue ?? []).enumerated() {
                    if let fields = element.objectValue { add(fields, raw: nil) } else {
                        deadLetters.append(DeadLetter(record: Record(fields: [], raw: Array(element.description.utf8), origin: origin),
                                                      reason: "SNS message element \(j) is a JSON \(element.typeName), not an object", stage: "source"))
                    }
                }
                continue
            }
            do {
                if let fields = try parser.parse(bytes) { add(fields, raw: bytes) } else {
                    deadLetters.append(DeadLetter(record: Record(fields: [], raw: bytes, origin: origin), reason: "SNS message is empty", stage: "source"))
                }
            } catch {
                deadLetters.append(DeadLetter(record: Record(fields: [], raw: bytes, origin: origin),
                                              reason: "SNS message is not a JSON object: \(error.message)", stage: "source"))
            }
        }
        return SourceBatch(records: records, deadLetters: deadLetters, positions: [], bytes: event.count)
    }

    static func snake(_ key: String) -> String {
        var out = ""
        for (i, c) in key.enumerated() {
            if c.isUppercase && i > 0 { out.append("_") }
            out += c.lowercased()
        }
        return out
    }
}
