import AWSCore
import Foundation
import Logging
import PipelineHost

/// Posts one message to Slack (incoming webhook or chat.postMessage) with the channel's rate limit, Retry-After on
/// 429, bounded retries with backoff on 5xx and network failures, and one secret refresh on an auth error.
final class SlackClient: Sendable {
    enum Mode: String, Sendable {
        case webhook
        case chatPostMessage = "chat_post_message"
    }

    enum Result: Sendable, Equatable {
        case sent
        /// Slack refused the message for good (invalid_payload, channel_not_found, invalid_auth, …).
        case permanent(String)
        /// Retries or the rate-limit wait ran out; the reason says why.
        case exhausted(String)
    }

    struct Settings: Sendable {
        var mode: Mode
        var channel: String?
        var apiURL: String
        var maxAttempts: Int
        var initialBackoff: Double
        var maxBackoff: Double
        var timeout: Double
        var maxRateLimitedWait: Double
        var rate: Double
        var burst: Int
        /// `PIPELINE_HOST_ALLOW_HTTP_LOOPBACK=1`: plain http to 127.0.0.1 / localhost / [::1] is allowed (the tests'
        /// fake Slack); every other URL must be https.
        var allowLoopbackHTTP = false
    }

    /// Errors that mean the credential is wrong or gone: refresh the secret once, then give up.
    static let authErrors: Set<String> = [
        "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "invalid_token", "no_service",
        "no_team", "team_disabled",
    ]
    /// `ok: false` errors that are worth retrying.
    static let transientErrors: Set<String> = ["internal_error", "fatal_error", "service_unavailable", "request_timeout", "rollup_error"]
    static let rateLimitedErrors: Set<String> = ["ratelimited", "rate_limited"]

    static let http = HTTPClient(maxConnectionsPerHost: 4)

    let settings: Settings
    let secret: SlackSecret
    let redactor: Redactor
    let logger: Logger
    let http: HTTPClient

    init(settings: Settings, secret: SlackSecret, redactor: Redactor, logger: Logger, http: HTTPClient = SlackClient.http) {
        self.settings = settings
        self.secret = secret
        self.redactor = redactor
        self.logger = logger
        self.http = http
    }

    /// The rate-limit key: the channel for chat.postMessage; for a webhook (whose channel is fixed by the URL) a
    /// hash of the URL, so the key never holds the secret.
    func bucket(for credential: String) -> TokenBucket {
        let key: String
        switch settings.mode {
        case .chatPostMessage: key = "channel:" + (settings.channel ?? "")
        case .webhook: key = "webhook:\(credential.hashValue)"
        }
        return SlackShared.bucket(key, rate: settings.rate, burst: settings.burst)
    }

    func send(_ payload: [UInt8]) async throws -> Result {
        var attempts = 0
        var rateLimitedWait = 0.0
        var refreshed = false
        var credential = try await secret.value()
        while true {
            try Task.checkCancellation()
            // Waits are clamped to the invocation's deadline (Lambda): giving up in time beats being killed.
            let bucketWait = bucket(for: credential).waitTime()
            guard WorkDeadline.allows(waiting: bucketWait + 0.2) else {
                return .exhausted(deadlineReason(waiting: bucketWait, for: "the channel's rate limit"))
            }
            try await bucket(for: credential).acquire()
            var request = try makeRequest(payload, credential: credential)
            // The same second of reserve as `WorkDeadline.allows`: the pipeline still has to stop and report
            // the failure after a timed-out request, on a loaded machine too.
            if let remaining = WorkDeadline.remaining {
                request.timeout = min(request.timeout, .milliseconds(Int64(max(0.1, remaining - 1.0) * 1000)))
            }
            attempts += 1
            let outcome: Outcome
            do {
                outcome = classify(try await http.execute(request))
            } catch let e as HTTPClientError {
                if e.kind == .cancelled || e.kind == .shutdown { throw CancellationError() }
                let reason = "request failed: " + redactor.redact(e.description)
                outcome = e.isTransient || e.kind == .timeout ? .retry(reason) : .permanent(reason)
            }
            switch outcome {
            case .sent:
                return .sent
            case .rateLimited(let retryAfter):
                let wait = min(retryAfter, settings.maxRateLimitedWait)
                rateLimitedWait += wait
                attempts -= 1  // a 429 is not a failed attempt: Slack said when to come back
                if rateLimitedWait > settings.maxRateLimitedWait {
                    return .exhausted(redactor.redact("slack: still rate limited after waiting \(Int(rateLimitedWait))s"))
                }
                guard WorkDeadline.allows(waiting: wait) else { return .exhausted(deadlineReason(waiting: wait, for: "Slack's Retry-After")) }
                logger.warning("slack rate limited; waiting", metadata: ["retry_after": "\(wait)"])
                bucket(for: credential).block(for: wait)
            case .retry(let reason):
                if attempts >= settings.maxAttempts {
                    return .exhausted(redactor.redact("slack: \(reason) (gave up after \(attempts) attempts)"))
                }
                let cap = min(settings.maxBackoff, settings.initialBackoff * Double(1 << min(attempts - 1, 20)))
                let sleep = Double.random(in: 0...1) * cap
                guard WorkDeadline.allows(waiting: sleep) else {
                    return .exhausted(redactor.redact("slack: \(reason); no time for another attempt before the invocation deadline"))
                }
                logger.warning("slack call failed; retrying", metadata: ["reason": "\(reason)", "attempt": "\(attempts)"])
                try await Task.sleep(nanoseconds: UInt64(sleep * 1e9))
            case .auth(let error):
                if !refreshed && secret.canRefresh {
                    refreshed = true
                    attempts -= 1
                    logger.warning("slack rejected the credential; re-reading the secret once", metadata: ["error": "\(error)"])
                    credential = try await secret.value(forceRefresh: true)
                    continue
                }
                return .permanent(redactor.redact("slack: \(error)"))
            case .permanent(let reason):
                return .permanent(redactor.redact("slack: \(reason)"))
            }
        }
    }

    private func deadlineReason(waiting seconds: Double, for what: String) -> String {
        let left = WorkDeadline.remaining.map { String(format: "%.1f", $0) } ?? "?"
        if seconds < 0.05 { return "slack: no time left for a request: the invocation deadline is \(left)s away" }
        return "slack: gave up waiting \(String(format: "%.1f", seconds))s for \(what): the invocation deadline is \(left)s away"
    }

    enum Outcome: Equatable {
        case sent
        case rateLimited(Double)
        case retry(String)
        case auth(String)
        case permanent(String)
    }

    func makeRequest(_ payload: [UInt8], credential: String) throws -> HTTPRequest {
        let timeout = Duration.milliseconds(Int64(settings.timeout * 1000))
        switch settings.mode {
        case .webhook:
            if let problem = SlackURLPolicy.problem(credential, allowLoopbackHTTP: settings.allowLoopbackHTTP) {
                // Never the URL itself: it is the secret.
                throw PipelineError(.sink, "the webhook URL from \(secret.describe) \(problem)")
            }
            return HTTPRequest(method: "POST", url: credential, headers: [("Content-Type", "application/json; charset=utf-8")],
                               body: payload, timeout: timeout)
        case .chatPostMessage:
            return HTTPRequest(method: "POST", url: settings.apiURL + "/chat.postMessage",
                               headers: [("Content-Type", "application/json; charset=utf-8"), ("Authorization", "Bearer " + credential)],
                               body: payload, timeout: timeout)
        }
    }

    /// Webhooks answer `ok` or a plain-text error code with 4xx; chat.postMessage answers 200 with
    /// `{"ok": false, "error": ...}`. Both answer 429 with Retry-After when over the limit.
    func classify(_ r: HTTPResponse) -> Outcome {
        let retryAfter = r.header("Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.map { max($0, 0) } ?? 1
        if r.status == 429 { return .rateLimited(retryAfter) }
        let body = r.body
        let json: JSONValue? = body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "{")
            ? (try? DocumentParser.parseValue(body)) : nil
        let error: String?
        if let json {
            if json["ok"]?.boolValue == true, (200..<300).contains(r.status) { return .sent }
            error = json["error"]?.stringValue
        } else {
            let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if (200..<300).contains(r.status) && (settings.mode == .webhook || text == "ok") { return .sent }
            error = text.isEmpty ? nil : Self.errorCode(text)
        }
        let code = error ?? "HTTP \(r.status)"
        let detail = error == nil ? code : "\(code) (HTTP \(r.status))"
        if let error, Self.rateLimitedErrors.contains(error) { return .rateLimited(retryAfter) }
        if let error, Self.authErrors.contains(error) { return .auth(detail) }
        if r.status >= 500 || (error.map { Self.transientErrors.contains($0) } ?? false) { return .retry(detail) }
        if r.status == 408 { return .retry(detail) }
        return .permanent(redactor.redact(detail))
    }

    /// A Slack error code is one token of lower-case letters and underscores; anything else (an HTML error page) is
    /// cut short so a dead-letter reason stays readable.
    static func errorCode(_ text: String) -> String {
        if text.allSatisfy({ $0.isLetter || $0 == "_" || $0.isNumber }) { return text }
        return String(text.prefix(80)).replacingOccurrences(of: "\n", with: " ")
    }
}
