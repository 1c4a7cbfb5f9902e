import AWSCore
import Foundation
import Logging
import PipelineHost
import Synchronization

/// `slack` sink: one Block Kit message per alert (or one summary per alert storm), through an incoming webhook or
/// chat.postMessage, within Slack's rate limits.
public final class SlackSink: SinkPlugin {
    public static let descriptor = PluginDescriptor(
        kind: .sink, name: "slack",
        summary: "Posts fraud alerts to Slack as Block Kit messages (incoming webhook or chat.postMessage), rate limited per channel.",
        description: """
            Each record becomes one message: a header, the transaction id, user, amount, channel, score, model version \
            and variant and event time as fields, the features that pushed the score up when the record has \
            `top_features`, and a plain-text fallback. Messages to a channel are paced by a token bucket (`rate`, \
            `burst`); an HTTP 429 pauses the channel for Retry-After; 5xx and network failures are retried with \
            backoff. Errors Slack will not get over (invalid_payload, channel_not_found, invalid_auth after one secret \
            refresh, …) send the record to the dead-letter output with the reason. When more than `storm_threshold` \
            alerts arrive within `storm_window`, the ones beyond it are gathered into one summary message (counts and \
            the top transactions), sent at the next flush; they are acknowledged once it is posted. \
            The webhook URL or bot token is read from an environment variable or from AWS Secrets Manager; it never \
            appears in logs, errors or dead-letter records. Route only alerts here: `"when": {"field": "is_alert", "equals": true}`.
            """,
        fields: [
            FieldSpec("mode", .oneOf(["webhook", "chat_post_message"]), .defaultValue("webhook"), doc: "Incoming webhook (the channel is fixed by the URL) or chat.postMessage with a bot token (scope chat:write)."),
            FieldSpec("channel", .string, doc: "Channel id or name for chat.postMessage (required in that mode).", example: "C0123456789"),
            FieldSpec("webhook_url_env", .string, doc: "Name of the environment variable that holds the webhook URL.", example: "SLACK_WEBHOOK_URL"),
            FieldSpec("token_env", .string, doc: "Name of the environment variable that holds the bot token.", example: "SLACK_BOT_TOKEN"),
            FieldSpec("secret_arn", .string, doc: "Secrets Manager secret holding the webhook URL or token, raw or as JSON {\"webhook_url\": …} / {\"bot_token\": …} (or {\"token\": …}).",
                      example: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-alerts-AbCdEf"),
            FieldSpec("secret_refresh", .duration, .defaultValue("5m"), doc: "How long a value read from Secrets Manager is used before it is read again (also re-read once on invalid_auth)."),
            FieldSpec("title", .string, .defaultValue("Fraud alert"), doc: "Message title."),
            FieldSpec("max_features", .int(min: 0, max: 20), .defaultValue(5), doc: "Most contributing features listed (from `top_features`)."),
            FieldSpec("rate", .double(min: 0.01, max: 100), .defaultValue(1.0), doc: "Messages per second per channel (Slack allows about 1)."),
            FieldSpec("burst", .int(min: 1, max: 100), .defaultValue(3), doc: "Messages a channel may take at once before `rate` applies."),
            FieldSpec("storm_threshold", .int(min: 1), .defaultValue(30), doc: "More alerts than this within `storm_window` is a storm: the rest are summarised."),
            FieldSpec("storm_window", .duration, .defaultValue("1m"), doc: "The window of `storm_threshold`."),
            FieldSpec("storm_top", .int(min: 1, max: 40), .defaultValue(10), doc: "Transactions listed in a storm summary (highest scores first)."),
            FieldSpec("storm_max_batch", .int(min: 1), .defaultValue(1000), doc: "A storm summary is sent once this many alerts wait for it, without waiting for the flush.", advanced: true),
            FieldSpec("on_exhausted", .oneOf(["dead_letter", "fail"]), .defaultValue("fail"), doc: "When retries run out (Slack down): stop the pipeline without a checkpoint past the alert, so the restart replays it (the default: an outage is transient, and an alert must not end in a file nobody reads), or dead-letter the record with the reason and go on."),
            FieldSpec("max_rate_limited_wait", .duration, .defaultValue("2m"), doc: "Longest total wait on 429 Retry-After for one message before it counts as exhausted.", advanced: true),
            FieldSpec("api_url", .string, .defaultValue("https://slack.com/api"), doc: "Slack Web API base URL (tests).", advanced: true),
            FieldSpec("secrets_endpoint_url", .string, doc: "Secrets Manager endpoint override (local stacks, VPC endpoints).", advanced: true),
            FieldSpec("region", .string, doc: "Region of Secrets Manager; default: from the secret ARN, then AWS_REGION.", advanced: true),
            .retry(maxAttempts: 5, initialBackoff: "250ms", maxBackoff: "10s"),
            .timeout("10s"),
        ],
        examples: [
            #"{"type": "slack", "id": "alerts", "webhook_url_env": "SLACK_WEBHOOK_URL", "when": {"field": "is_alert", "equals": true}}"#,
            #"{"type": "slack", "id": "alerts", "mode": "chat_post_message", "channel": "C0123456789", "secret_arn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-bot-AbCdEf", "storm_threshold": 20, "storm_window": "1m"}"#,
        ],
        lint: { config in
            var problems: [ConfigProblem] = []
            let chat = config.string("mode") == "chat_post_message"
            if chat && (config.optionalString("channel") ?? "").isEmpty {
                problems.append(ConfigProblem("mode chat_post_message needs a \"channel\"", at: "channel"))
            }
            let origins = secretOrigins(config)
            if origins.count != 1 {
                problems.append(ConfigProblem("give exactly one of webhook_url_env, token_env, secret_arn (got \(origins.isEmpty ? "none" : origins.joined(separator: ", ")))"))
            } else if !chat && origins[0] == "token_env" {
                problems.append(ConfigProblem("mode webhook reads a webhook URL: use webhook_url_env or secret_arn, or set mode chat_post_message", at: "token_env"))
            } else if chat && origins[0] == "webhook_url_env" {
                problems.append(ConfigProblem("mode chat_post_message reads a bot token: use token_env or secret_arn", at: "webhook_url_env"))
            }
            return problems
        })

    /// The keys that say where the webhook URL or token comes from, of those given.
    static func secretOrigins(_ config: ComponentConfig) -> [String] {
        ["webhook_url_env", "token_env", "secret_arn"].filter { config.optionalString($0).map { !$0.isEmpty } ?? false }
    }

    let id: String
    let options: SlackMessage.Options
    let client: SlackClient
    let storm: StormDetector
    let stormTop: Int
    let stormMaxBatch: Int
    let failOnExhausted: Bool
    let redactor: Redactor
    /// The stage's logger (set by `start`) and the alerts held for the next storm summary. The runner calls one
    /// method at a time, so the lock is never contended.
    private let state: Mutex<State>

    private struct State {
        var logger: Logger
        var stormPending: [(delivery: Delivery, indices: [Int])] = []
        var stormPendingCount = 0
    }

    public init(config: ComponentConfig, context: BuildContext) throws {
        try Self.descriptor.checkLint(config)
        id = config.id
        state = Mutex(State(logger: context.logger))
        let mode = SlackClient.Mode(rawValue: config.string("mode")) ?? .webhook
        let channel = config.optionalString("channel").flatMap { $0.isEmpty ? nil : $0 }
        let origins = Self.secretOrigins(config)  // exactly one: checkLint
        redactor = Redactor()
        let origin: SlackSecret.Origin
        switch origins[0] {
        case "webhook_url_env", "token_env":
            let name = config.string(origins[0])
            origin = .environment(name: name, value: context.environment[name])
        default:
            let arn = config.string("secret_arn")
            let arnRegion = arn.split(separator: ":", omittingEmptySubsequences: false).dropFirst(3).first.map(String.init)
            let region = config.optionalString("region") ?? arnRegion.flatMap { $0.isEmpty ? nil : $0 }
                ?? AWSClient.resolveRegion(environment: context.environment) ?? "us-east-1"
            let aws = AWSClient(region: region, httpClient: SlackClient.http, environment: context.environment)
            let sm = try JSONProtocolClient(client: aws, service: .secretsManager, targetPrefix: "secretsmanager", version: .v1_1,
                                            endpointURL: config.optionalString("secrets_endpoint_url"))
            origin = .secretsManager(arn: arn, client: sm)
        }
        let secret = SlackSecret(origin: origin, jsonKeys: mode == .webhook ? ["webhook_url"] : ["bot_token", "token"],
                                 refreshInterval: config.seconds("secret_refresh"), redactor: redactor)
        let retry = config.nested("retry")
        var apiURL = config.string("api_url")
        while apiURL.hasSuffix("/") { apiURL.removeLast() }
        let allowLoopbackHTTP = context.environment[SlackURLPolicy.overrideVariable] == "1"
        if let problem = SlackURLPolicy.problem(apiURL, allowLoopbackHTTP: allowLoopbackHTTP) {
            throw PipelineError(.config, "api_url \(problem)", at: config.path + ".api_url")
        }
        let settings = SlackClient.Settings(
            mode: mode, channel: channel, apiURL: apiURL,
            maxAttempts: retry.int("max_attempts"), initialBackoff: retry.seconds("initial_backoff"), maxBackoff: retry.seconds("max_backoff"),
            timeout: config.seconds("timeout"), maxRateLimitedWait: config.seconds("max_rate_limited_wait"),
            rate: config.double("rate"), burst: config.int("burst"), allowLoopbackHTTP: allowLoopbackHTTP)
        client = SlackClient(settings: settings, secret: secret, redactor: redactor, logger: context.logger)
        options = SlackMessage.Options(title: config.string("title"), maxFeatures: config.int("max_features"),
                                       pipeline: context.pipelineName, sinkID: config.id)
        storm = SlackShared.storm("\(context.pipelineName)/\(config.id)", threshold: config.int("storm_threshold"), window: config.seconds("storm_window"))
        stormTop = config.int("storm_top")
        stormMaxBatch = config.int("storm_max_batch")
        failOnExhausted = config.string("on_exhausted") == "fail"
    }

    public func start(_ context: StageContext) async throws {
        state.withLock { $0.logger = context.logger }
    }

    private var logger: Logger { state.withLock { $0.logger } }

    /// Reads the secret (from the cache when fresh): a missing variable or an unreadable secret stops the start.
    public func healthCheck() async throws {
        _ = try await client.secret.value()
    }

    public func write(_ delivery: Delivery) async throws {
        var individual: [Int] = []
        var summarised: [Int] = []
        for i in delivery.records.indices {
            if storm.arrive() { summarised.append(i) } else { individual.append(i) }
        }
        var failures: [String: [Int]] = [:]
        for i in individual {
            let m = SlackMessage.alert(delivery.records[i], options)
            let result = try await client.send(SlackMessage.payload(text: m.text, blocks: m.blocks, channel: client.settings.channel))
            if let reason = try failureReason(result) { failures[reason, default: []].append(i) }
        }
        for (reason, indices) in failures.sorted(by: { $0.key < $1.key }) {
            logger.warning("slack refused alerts; dead-lettering them", metadata: ["reason": "\(reason)", "records": "\(indices.count)"])
            try await delivery.reject(indices, reason: reason)
        }
        if summarised.isEmpty {
            delivery.acknowledge()
        } else {
            let full = state.withLock { s in
                s.stormPending.append((delivery, summarised))
                s.stormPendingCount += summarised.count
                return s.stormPendingCount >= stormMaxBatch
            }
            if full { try await sendStormSummary() }
        }
    }

    public func flush() async throws {
        try await sendStormSummary()
    }

    public func close() async throws {}

    /// nil when sent; the dead-letter reason otherwise (or throws when configured to stop on exhaustion).
    private func failureReason(_ result: SlackClient.Result) throws -> String? {
        switch result {
        case .sent: return nil
        case .permanent(let reason): return reason
        case .exhausted(let reason):
            if failOnExhausted { throw PipelineError(.sink, reason, at: id) }
            return reason
        }
    }

    private func sendStormSummary() async throws {
        // Taken before the send: a failed send stops the pipeline, and the alerts are replayed from the checkpoint.
        let pending = state.withLock { s in
            defer { (s.stormPending, s.stormPendingCount) = ([], 0) }
            return s.stormPending
        }
        guard !pending.isEmpty else { return }
        let records = pending.flatMap { p in p.indices.map { p.delivery.records[$0] } }
        logger.warning("alert storm: sending one summary", metadata: ["alerts": "\(records.count)", "threshold": "\(storm.threshold)"])
        let m = SlackMessage.stormSummary(records, threshold: storm.threshold, window: storm.window, top: stormTop, options)
        let result = try await client.send(SlackMessage.payload(text: m.text, blocks: m.blocks, channel: client.settings.channel))
        let reason = try failureReason(result).map { "storm summary not delivered: " + $0 }
        for p in pending {
            if let reason { try await p.delivery.reject(p.indices, reason: reason) }
            p.delivery.acknowledge()
        }
    }
}
