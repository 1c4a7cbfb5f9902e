import Foundation
import PipelineHost
import Synchronization
import Testing
import TestSupport

/// Per-entry outcomes of PublishBatch against an in-test SNS that fails entries on purpose.
@Suite struct SNSRetryTests {
    /// Fails, on their first attempt, messages whose body contains "retry" (SenderFault false) and, always, those
    /// containing "refuse" (SenderFault true); a whole call holding "split" gets InvalidParameter.
    final class FakeSNS: @unchecked Sendable {  // `server` is set once, in init
        let published = Mutex<[String]>([])
        /// Per message published: its MessageGroupId and MessageDeduplicationId (nil where absent).
        let fifo = Mutex<[String: (group: String?, dedup: String?)]>([:])
        let attempts = Mutex<[String: Int]>([:])
        let calls = Mutex(0)
        private(set) var server: FakeHTTPServer!

        init() throws {
            server = try FakeHTTPServer { [unowned self] request in self.handle(request) }
        }

        static func form(_ body: [UInt8]) -> [String: String] {
            var out: [String: String] = [:]
            for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
                out[kv[0]] = kv.count > 1 ? kv[1] : ""
            }
            return out
        }

        func handle(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
            let form = Self.form(request.body)
            func xml(_ status: Int, _ text: String) -> FakeHTTPServer.Action {
                .respond(status: status, headers: [("Content-Type", "text/xml")], body: Array(text.utf8))
            }
            switch form["Action"] {
            case "GetTopicAttributes":
                return xml(200, "<GetTopicAttributesResponse><GetTopicAttributesResult><Attributes/></GetTopicAttributesResult></GetTopicAttributesResponse>")
            case "PublishBatch":
                calls.withLock { $0 += 1 }
                var n = 1
                var entries: [(id: String, message: String)] = []
                while let id = form["PublishBatchRequestEntries.member.\(n).Id"] {
                    let message = form["PublishBatchRequestEntries.member.\(n).Message"] ?? ""
                    entries.append((id, message))
                    let ids = (form["PublishBatchRequestEntries.member.\(n).MessageGroupId"], form["PublishBatchRequestEntries.member.\(n).MessageDeduplicationId"])
                    fifo.withLock { $0[message] = ids }
                    n += 1
                }
                if entries.count > 1 && entries.contains(where: { $0.message.contains("split") }) {
                    return xml(400, "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>bad entry</Message></Error></ErrorResponse>")
                }
                var ok = "", failed = ""
                for e in entries {
                    let attempt = attempts.withLock { a in a[e.message, default: 0] += 1; return a[e.message]! }
                    if e.message.contains("refuse") || (e.message.contains("split") && entries.count == 1) {
                        failed += "<member><Id>\(e.id)</Id><Code>InvalidParameter</Code><Message>no</Message><SenderFault>true</SenderFault></member>"
                    } else if e.message.contains("retry") && attempt == 1 {
                        failed += "<member><Id>\(e.id)</Id><Code>InternalError</Code><Message>later</Message><SenderFault>false</SenderFault></member>"
                    } else {
                        published.withLock { $0.append(e.message) }
                        ok += "<member><Id>\(e.id)</Id><MessageId>m</MessageId></member>"
                    }
                }
                return xml(200, "<PublishBatchResponse><PublishBatchResult><Successful>\(ok)</Successful><Failed>\(failed)</Failed></PublishBatchResult></PublishBatchResponse>")
            default:
                return xml(400, "<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>")
            }
        }
    }

    @Test func failedEntriesAreRetriedRefusedOnesDeadLetteredAndTheRestPublishedOnce() async throws {
        let sns = try FakeSNS()
        defer { sns.server.stop() }
        let harness = PipelineHarness("snsretry")
        let input = harness.dir + "/in.jsonl"
        let kinds = ["ok", "retry", "refuse", "ok", "split"]
        let lines = (0..<54).map { #"{"n":\#($0),"kind":"\#(kinds[$0 % kinds.count])"}"# }
        _ = FileManager.default.createFile(atPath: input, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        let summary = try await harness.run("""
            "source": {"type": "file", "path": "\(input)", "batch": {"max_events": 7}},
            "sinks": [{"type": "sns", "id": "alerts", "topic_arn": "arn:aws:sns:us-east-1:123456789012:t", "endpoint_url": "\(sns.server.url)",
                       "retry": {"initial_backoff": "5ms"}}]
            """)
        let published = sns.published.withLock { $0 }
        let expected = lines.filter { $0.contains("\"ok\"") || $0.contains("\"retry\"") }
        #expect(published.sorted() == expected.sorted(), "each publishable record exactly once")
        let refused = lines.count - expected.count
        #expect(summary.deadLettered == refused)
        let letters = harness.deadLetters()
        #expect(letters.count == refused)
        #expect(letters.allSatisfy { $0["stage"] == "alerts" && ($0["reason"]?.stringValue?.contains("InvalidParameter") ?? false) })
        #expect(try harness.checkpoint().positions["file"] != nil)
    }

    /// A FIFO topic: each message carries its record's `message_group_id_field` and
    /// `message_deduplication_id_field` values, which is what lets SNS drop a replay's duplicates
    /// (docs/guarantees.md); a record without the deduplication field is refused with the reason, not sent
    /// without an id that a replay could then duplicate.
    @Test func fifoMessagesCarryTheirGroupAndDeduplicationIDs() async throws {
        let sns = try FakeSNS()
        defer { sns.server.stop() }
        let harness = PipelineHarness("snsfifo")
        let input = harness.dir + "/in.jsonl"
        let lines = (0..<12).map { i in
            i == 5 ? #"{"n":\#(i),"card_id":"c\#(i % 3)","kind":"ok"}"# : #"{"n":\#(i),"transaction_id":"t-\#(i)","card_id":"c\#(i % 3)","kind":"ok"}"#
        }
        _ = FileManager.default.createFile(atPath: input, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        let summary = try await harness.run("""
            "source": {"type": "file", "path": "\(input)", "batch": {"max_events": 5}},
            "sinks": [{"type": "sns", "id": "alerts", "topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts.fifo", "endpoint_url": "\(sns.server.url)",
                       "message_group_id_field": "card_id", "message_deduplication_id_field": "transaction_id"}]
            """)
        #expect(summary.deadLettered == 1)
        let letter = try #require(harness.deadLetters().first)
        #expect(letter["reason"]?.stringValue?.contains(#"field "transaction_id" is missing"#) == true, "\(letter)")
        let sent = sns.fifo.withLock { $0 }
        #expect(sent.count == 11)
        for (i, line) in lines.enumerated() where i != 5 {
            let ids = try #require(sent[line], "\(line) was not published")
            #expect(ids.group == "c\(i % 3)", "\(line)")
            #expect(ids.dedup == "t-\(i)", "\(line)")
        }
        #expect(sent[lines[5]] == nil)
    }
}
