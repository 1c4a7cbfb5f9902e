import AWSCore
import PipelineHost

/// One message to publish, with the record it came from.
struct SNSEntry: Sendable {
    var message: String
    var subject: String?
    var attributes: [(name: String, type: String, value: String)]
    var groupID: String?
    var deduplicationID: String?
    /// What counts against the 256 KiB limit: body plus attribute names, types and values.
    var size: Int
}

/// One PublishBatch call's entries, filled by the driver up to 10 entries and 256 KiB.
final class SNSBatch: SinkBatch {
    let maxBytes: Int
    private(set) var entries: [SNSEntry] = []
    private(set) var bytes = 0

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    var count: Int { entries.count }
    /// The call's limit is hard: a batch is closed before the entry that would take it over.
    func fits(_ entry: SNSEntry) -> Bool { bytes + entry.size <= maxBytes }
    func append(_ entry: SNSEntry) {
        entries.append(entry)
        bytes += entry.size
    }
}

/// PublishBatch with per-entry outcomes: an entry the service refuses for its content (SenderFault) is
/// rejected, the others are retried with backoff up to `retry.maxAttempts` calls.
struct SNSPublisher: SinkSender {
    enum Outcome: Sendable, Equatable {
        case published
        case rejected(String)
    }

    /// Whole-call errors caused by one entry's content: the batch is split to find it.
    static let contentErrors: Set<String> = [
        "InvalidParameter", "InvalidParameterValue", "ParameterValueInvalid", "ValidationError", "BatchRequestTooLong",
    ]

    let sns: QueryProtocolClient
    let topicARN: String
    let retry: RetryPolicy

    /// The driver's request: refused entries (by position) go to the dead-letter output.
    func send(_ entries: [SNSEntry]) async throws -> [(position: Int, reason: String)] {
        try await publish(entries).enumerated().compactMap { i, outcome in
            if case .rejected(let reason) = outcome { return (i, reason) }
            return nil
        }
    }

    func publish(_ entries: [SNSEntry]) async throws -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: entries.count)
        var attempt = 0
        var lastFailure = ""
        while true {
            let outstanding = entries.indices.filter { outcomes[$0] == nil }
            if outstanding.isEmpty { break }
            attempt += 1
            do {
                let result = try await sns.call("PublishBatch", parameters(outstanding.map { ($0, entries[$0]) }))
                var answered = Set<Int>()
                for member in result.child("Successful")?.children("member") ?? [] {
                    if let i = Self.index(member.string("Id")) { outcomes[i] = .published; answered.insert(i) }
                }
                for member in result.child("Failed")?.children("member") ?? [] {
                    guard let i = Self.index(member.string("Id")) else { continue }
                    let code = member.string("Code") ?? "Unknown"
                    let message = member.string("Message") ?? ""
                    if member.string("SenderFault") == "true" {
                        outcomes[i] = .rejected("SNS refused the message: \(code)\(message.isEmpty ? "" : ": " + message)")
                    }
                    lastFailure = code
                    answered.insert(i)
                }
                if answered.isEmpty { lastFailure = "a reply naming none of the entries" }
            } catch let error as AWSError where Self.contentErrors.contains(error.code) {
                if outstanding.count == 1 {
                    outcomes[outstanding[0]] = .rejected("SNS refused the message: \(error.code): \(error.message)")
                } else {
                    // One entry spoils the call: publish them one by one to reject only that one.
                    for i in outstanding { outcomes[i] = try await publish([entries[i]])[0] }
                }
                continue
            }
            if outcomes.contains(where: { $0 == nil }) {
                guard attempt < retry.maxAttempts else {
                    throw PipelineError(.sink, "PublishBatch: \(outcomes.filter { $0 == nil }.count) entries still failing after \(attempt) attempts (\(lastFailure))", at: topicARN)
                }
                try await Task.sleep(for: retry.backoff(retry: attempt - 1))
            }
        }
        return outcomes.map { $0! }
    }

    private static func index(_ id: String?) -> Int? {
        guard let id, id.hasPrefix("e") else { return nil }
        return Int(id.dropFirst())
    }

    /// Flattened Query parameters; entry ids are `e<index in the group>`, unique within the call.
    private func parameters(_ entries: [(Int, SNSEntry)]) -> [(String, String)] {
        var p: [(String, String)] = [("TopicArn", topicARN)]
        for (n, (i, e)) in entries.enumerated() {
            let m = "PublishBatchRequestEntries.member.\(n + 1)."
            p.append((m + "Id", "e\(i)"))
            p.append((m + "Message", e.message))
            if let s = e.subject { p.append((m + "Subject", s)) }
            if let g = e.groupID { p.append((m + "MessageGroupId", g)) }
            if let d = e.deduplicationID { p.append((m + "MessageDeduplicationId", d)) }
            for (k, a) in e.attributes.enumerated() {
                let prefix = m + "MessageAttributes.entry.\(k + 1)."
                p.append((prefix + "Name", a.name))
                p.append((prefix + "Value.DataType", a.type))
                p.append((prefix + "Value.StringValue", a.value))
            }
        }
        return p
    }
}
