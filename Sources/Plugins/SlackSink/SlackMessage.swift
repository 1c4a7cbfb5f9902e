import Foundation
import PipelineHost

/// Builds Slack messages (Block Kit plus the plain-text fallback) within Block Kit's limits:
/// header plain_text ≤ 150 characters, section text ≤ 3000, ≤ 10 fields per section of ≤ 2000 each,
/// ≤ 50 blocks per message, and the whole block text well under the ~13k characters where Slack starts
/// answering `msg_blocks_too_long`.
public enum SlackMessage {
    public static let maxHeader = 150
    public static let maxSectionText = 3000
    public static let maxFieldText = 2000
    public static let maxFields = 10
    public static let maxBlocks = 50
    public static let maxFallback = 3000

    public struct Options: Sendable {
        public var title: String
        public var maxFeatures: Int
        public var pipeline: String
        public var sinkID: String
        public init(title: String = "Fraud alert", maxFeatures: Int = 5, pipeline: String = "", sinkID: String = "slack") {
            self.title = title
            self.maxFeatures = maxFeatures
            self.pipeline = pipeline
            self.sinkID = sinkID
        }
    }

    /// The message body for one alert: `text` (fallback/notification) and `blocks`.
    public static func alert(_ r: Record, _ o: Options) -> (text: String, blocks: [JSONValue]) {
        let txn = display(r["transaction_id"])
        let user = display(r["user_id"])
        let amount = number(r["transaction_value"], digits: 2)
        let score = number(r[ScoreFields.score], digits: 4)
        let model = modelText(r)
        var blocks: [JSONValue] = []
        blocks.append(header("🚨 \(o.title): score \(score) · \(txn)"))
        var fields: [String] = [
            "*Transaction*\n`\(code(txn))`",
            "*User*\n`\(code(user))`",
            "*Amount*\n\(escape(amount))",
            "*Channel*\n\(escape(display(r["channel_code"])))",
            "*Score*\n*\(escape(score))*",
            "*Model*\n\(escape(model))",
            "*Event time*\n\(dateText(r["event_created_at_ts"]))",
        ]
        if let t = r["threshold"]?.doubleValue { fields.append("*Threshold*\n\(escape(String(format: "%.4f", t)))") }
        blocks.append(section(fields: fields))
        let features = topFeatures(r, limit: o.maxFeatures)
        if !features.isEmpty {
            var lines = ["*Features that pushed the score up*"]
            for (name, contribution, value) in features {
                var line = "• `\(code(name))` +\(String(format: "%.4f", contribution))"
                if let value { line += " (value \(escape(value)))" }
                lines.append(line)
            }
            blocks.append(section(text: lines.joined(separator: "\n")))
        }
        var context = "model \(escape(model))"
        if !o.pipeline.isEmpty { context = "pipeline `\(code(o.pipeline))` · sink `\(code(o.sinkID))` · " + context }
        blocks.append(contextBlock(context))
        // The fallback is mrkdwn too (notifications, clients without blocks): every record-derived part is escaped,
        // or a transaction id `<!channel>` would ping the whole channel.
        let text = "\(escape(o.title)): transaction \(escape(txn)), user \(escape(user)), amount \(escape(amount)), score \(escape(score)) (model \(escape(model)))"
        return (cap(text, maxFallback), Array(blocks.prefix(maxBlocks)))
    }

    /// One message for an alert storm: the counts, and the highest-scoring transactions.
    public static func stormSummary(_ records: [Record], threshold: Int, window: Double, top: Int, _ o: Options) -> (text: String, blocks: [JSONValue]) {
        let n = records.count
        let scores = records.compactMap { $0[ScoreFields.score]?.doubleValue }
        let maxScore = scores.max().map { String(format: "%.4f", $0) } ?? "-"
        let meanScore = scores.isEmpty ? "-" : String(format: "%.4f", scores.reduce(0, +) / Double(scores.count))
        var byModel: [String: Int] = [:]
        for r in records { byModel[modelText(r), default: 0] += 1 }
        let users = Set(records.map { display($0["user_id"]) }).count
        let amount = records.compactMap { $0["transaction_value"]?.doubleValue }.reduce(0, +)
        let rateText = "\(threshold) per \(durationText(window))"

        var blocks: [JSONValue] = []
        blocks.append(header("🚨 Alert storm: \(n) \(o.title.lowercased())s"))  // plain_text: Slack parses nothing in it
        blocks.append(section(text: "*\(n)* alerts arrived above the rate of *\(escape(rateText))*; they are summarised in this one message instead of one message each."))
        blocks.append(section(fields: [
            "*Alerts*\n\(n)",
            "*Distinct users*\n\(users)",
            "*Highest score*\n\(maxScore)",
            "*Mean score*\n\(meanScore)",
            "*Total amount*\n\(String(format: "%.2f", amount))",
            "*By model*\n" + escape(byModel.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                .prefix(5).map { "\($0.key): \($0.value)" }.joined(separator: ", ")),
        ]))
        let ranked = records.sorted { ($0[ScoreFields.score]?.doubleValue ?? -1) > ($1[ScoreFields.score]?.doubleValue ?? -1) }.prefix(max(1, top))
        var lines = ["*Top \(ranked.count) by score*"]
        for r in ranked {
            lines.append("• `\(code(display(r["transaction_id"])))` user `\(code(display(r["user_id"])))` amount \(escape(number(r["transaction_value"], digits: 2))) "
                + "score *\(escape(number(r[ScoreFields.score], digits: 4)))* \(dateText(r["event_created_at_ts"]))")
        }
        blocks.append(section(text: lines.joined(separator: "\n")))
        if !o.pipeline.isEmpty { blocks.append(contextBlock("pipeline `\(code(o.pipeline))` · sink `\(code(o.sinkID))` · storm summary")) }
        let topText = ranked.prefix(5).map { "\(escape(display($0["transaction_id"]))) (\(escape(number($0[ScoreFields.score], digits: 4))))" }.joined(separator: ", ")
        let text = "Alert storm: \(n) alerts above \(escape(rateText)); highest scores: \(topText)"
        return (cap(text, maxFallback), Array(blocks.prefix(maxBlocks)))
    }

    /// `{"text": ..., "blocks": [...]}` plus `channel` for chat.postMessage.
    public static func payload(text: String, blocks: [JSONValue], channel: String?) -> [UInt8] {
        var pairs: [(String, JSONValue)] = []
        if let channel { pairs.append(("channel", .string(channel))) }
        pairs.append(("text", .string(text)))
        pairs.append(("blocks", .array(blocks)))
        // A link in a record must not be previewed (both APIs take these).
        pairs.append(("unfurl_links", .bool(false)))
        pairs.append(("unfurl_media", .bool(false)))
        var w = JSONWriter(capacity: 2048)
        w.write(.object(pairs))
        return w.bytes
    }

    // MARK: Blocks

    static func header(_ text: String) -> JSONValue {
        ["type": "header", "text": ["type": "plain_text", "text": .string(cap(text, maxHeader)), "emoji": true]]
    }

    static func section(text: String) -> JSONValue {
        ["type": "section", "text": ["type": "mrkdwn", "text": .string(cap(text, maxSectionText))]]
    }

    static func section(fields: [String]) -> JSONValue {
        ["type": "section", "fields": .array(fields.prefix(maxFields).map { ["type": "mrkdwn", "text": .string(cap($0, maxFieldText))] })]
    }

    static func contextBlock(_ text: String) -> JSONValue {
        ["type": "context", "elements": [["type": "mrkdwn", "text": .string(cap(text, maxFieldText))]]]
    }

    // MARK: Text

    /// The features that pushed the score up, largest first: `top_features` as
    /// `[{"name", "contribution", "value"?}]` (or `[[name, contribution]]`), positive contributions only.
    static func topFeatures(_ r: Record, limit: Int) -> [(String, Double, String?)] {
        guard limit > 0, let items = r["top_features"]?.arrayValue else { return [] }
        var out: [(String, Double, String?)] = []
        for item in items {
            if let name = item["name"]?.stringValue ?? item["feature"]?.stringValue,
               let c = item["contribution"]?.doubleValue ?? item["shap"]?.doubleValue {
                out.append((name, c, item["value"].map(display)))
            } else if let pair = item.arrayValue, pair.count >= 2, let name = pair[0].stringValue, let c = pair[1].doubleValue {
                out.append((name, c, nil))
            }
        }
        return Array(out.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }.prefix(limit))
    }

    static func modelText(_ r: Record) -> String {
        let version = r[ScoreFields.modelVersion].map(display) ?? "?"
        if let variant = r[ScoreFields.variant], !variant.isNull { return "\(version) (\(display(variant)))" }
        return version
    }

    static func display(_ v: JSONValue?) -> String {
        guard let v else { return "-" }
        switch v {
        case .string(let s): return s
        case .null: return "-"
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        default: return v.description
        }
    }

    static func number(_ v: JSONValue?, digits: Int) -> String {
        guard let d = v?.doubleValue else { return display(v) }
        return String(format: "%.\(digits)f", d)
    }

    /// Slack's `<!date^…>` token (shown in the reader's time zone) with the UTC time as its fallback.
    static func dateText(_ v: JSONValue?) -> String {
        guard let raw = v?.doubleValue else { return escape(display(v)) }
        // Milliseconds are taken for what they are.
        let seconds = raw > 1e11 ? raw / 1000 : raw
        // An absurd time (a record's, unchecked on the Lambda path) is shown as it is: Int64(1e22) would trap.
        guard seconds.isFinite, seconds >= 0, seconds < 1e11 else { return escape(display(v)) }
        let iso = isoUTC(seconds)
        return "<!date^\(Int64(seconds))^{date_num} {time_secs}|\(iso)>"
    }

    static func isoUTC(_ seconds: Double) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    static func durationText(_ s: Double) -> String {
        if s >= 3600 && s.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(s / 3600))h" }
        if s >= 60 && s.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(s / 60))m" }
        return s == s.rounded() ? "\(Int(s))s" : String(format: "%.1fs", s)
    }

    /// mrkdwn control characters: Slack asks for &, < and > to be escaped.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Text inside `code`: escaped, and without backticks that would end it.
    static func code(_ s: String) -> String { escape(s.replacingOccurrences(of: "`", with: "'")) }

    /// At most `limit` characters (Slack counts characters), ending in "…" when cut.
    static func cap(_ s: String, _ limit: Int) -> String {
        guard s.count > limit else { return s }
        return String(s.prefix(limit - 1)) + "…"
    }
}
