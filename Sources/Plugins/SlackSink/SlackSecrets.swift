import AWSCore
import Foundation
import PipelineHost
import Synchronization

/// Where the webhook URL or bot token comes from, and the cache in front of Secrets Manager.
///
/// The value never leaves this type except into the request it authorises: errors name the variable or the
/// secret ARN, never the value, and `Redactor` scrubs the value from any text that could reach a log, an error or
/// a dead-letter record (curl error strings, for instance).
final class SlackSecret: Sendable {
    enum Origin: Sendable {
        case environment(name: String, value: String?)
        case secretsManager(arn: String, client: JSONProtocolClient)
    }

    let origin: Origin
    /// The keys read, first found wins, when the secret string is a JSON object: "webhook_url", or
    /// "bot_token" (what the deployment docs tell operators to store) and "token".
    let jsonKeys: [String]
    let refreshInterval: Double
    let redactor: Redactor

    init(origin: Origin, jsonKeys: [String], refreshInterval: Double, redactor: Redactor) {
        self.origin = origin
        self.jsonKeys = jsonKeys
        self.refreshInterval = refreshInterval
        self.redactor = redactor
    }

    var describe: String {
        switch origin {
        case .environment(let name, _): return "environment variable \(name)"
        case .secretsManager(let arn, _): return "secret \(arn)"
        }
    }

    /// Whether asking again can give another value (after `invalid_auth`).
    var canRefresh: Bool {
        if case .secretsManager = origin { return true }
        return false
    }

    /// The current value: cached, re-read from Secrets Manager every `refreshInterval`.
    func value(forceRefresh: Bool = false) async throws -> String {
        switch origin {
        case .environment(let name, let value):
            guard let value = value?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                throw PipelineError(.sink, "environment variable \(name) is not set or empty")
            }
            let v = try extract(value)
            redactor.add(v)
            return v
        case .secretsManager(let arn, let client):
            let now = MonotonicClock.seconds()
            if !forceRefresh, let cached = SecretCache.shared.get(cacheKey(arn)), now - cached.fetchedAt < refreshInterval {
                // The cache outlives sinks (a warm Lambda builds a new one per invocation): this sink's redactor
                // must know the value too.
                redactor.add(cached.value)
                return cached.value
            }
            do {
                let reply = try await client.call("GetSecretValue", ["SecretId": .string(arn)])
                guard let text = reply["SecretString"]?.stringValue else {
                    throw PipelineError(.sink, "secret \(arn) has no SecretString (binary secrets are not supported)")
                }
                let v = try extract(text)
                redactor.add(v)
                SecretCache.shared.put(cacheKey(arn), value: v, at: now)
                return v
            } catch let e as PipelineError {
                throw e
            } catch {
                // A refresh that fails keeps the last good value for one more interval rather than stopping alerts.
                if !forceRefresh, let cached = SecretCache.shared.get(cacheKey(arn)) {
                    redactor.add(cached.value)
                    SecretCache.shared.put(cacheKey(arn), value: cached.value, at: now)
                    return cached.value
                }
                throw PipelineError(.sink, "cannot read secret \(arn) from Secrets Manager: \(redactor.redact("\(error)"))")
            }
        }
    }

    /// The cache holds the extracted value, which depends on the keys read: a secret holding both a webhook URL
    /// and a bot token, read by a webhook sink and a token sink, is two entries.
    private func cacheKey(_ arn: String) -> String { arn + "#" + jsonKeys.joined(separator: ",") }

    /// The secret string is the raw URL/token, or JSON `{"webhook_url": ...}` / `{"bot_token": ...}` / `{"token": ...}`.
    private func extract(_ raw: String) throws -> String {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("{") else { return text }
        guard let json = try? DocumentParser.parseValue(Array(text.utf8)) else {
            throw PipelineError(.sink, "\(describe) looks like JSON but does not parse")
        }
        guard let v = jsonKeys.lazy.compactMap({ json[$0]?.stringValue }).first(where: { !$0.isEmpty }) else {
            throw PipelineError(.sink, "\(describe) is a JSON object without a string " + jsonKeys.map { "\"\($0)\"" }.joined(separator: " or "))
        }
        return v.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Process-wide: survives the per-invocation rebuild of the sink in Lambda mode.
final class SecretCache: Sendable {
    static let shared = SecretCache()
    private let entries = Mutex<[String: (value: String, fetchedAt: Double)]>([:])

    func get(_ key: String) -> (value: String, fetchedAt: Double)? { entries.withLock { $0[key] } }
    func put(_ key: String, value: String, at time: Double) { entries.withLock { $0[key] = (value, time) } }
    func removeAll() { entries.withLock { $0.removeAll() } }
}

/// Replaces known secret values (and the path segments of a webhook URL, which are the secret part) in text.
final class Redactor: Sendable {
    private let secrets = Mutex<[String]>([])

    func add(_ secret: String) {
        var parts = [secret]
        if let url = URLComponents(string: secret), url.host != nil {
            parts += url.path.split(separator: "/").map(String.init).filter { $0.count >= 6 }
            if let q = url.query, q.count >= 6 { parts.append(q) }
        }
        secrets.withLock { list in
            for p in parts where !list.contains(p) { list.append(p) }
            // Longest first, so a URL is replaced whole before its segments.
            list.sort { $0.count > $1.count }
        }
    }

    func redact(_ text: String) -> String {
        let list = secrets.withLock { $0 }
        var out = text
        for s in list where out.contains(s) { out = out.replacingOccurrences(of: s, with: "[redacted]") }
        return out
    }
}
