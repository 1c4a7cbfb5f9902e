import AWSCore
import Foundation
import Logging
import Metrics
import ModelCore
import PipelineHost

/// `sagemaker` scorer: scores records on a SageMaker real-time endpoint (InvokeEndpoint), several rows per
/// request, a bounded number of requests in flight, with a fallback scorer or the dead-letter output when the
/// endpoint fails.
public final class SageMakerScorer: TransformPlugin, Sendable {
    public static let descriptor = PluginDescriptor(
        kind: .transform, name: "sagemaker",
        summary: "Scores records on a SageMaker endpoint (CSV for the built-in XGBoost container, JSON for the project's model server).",
        description: """
            Records are sent in requests of rows_per_request rows, up to max_in_flight requests at a time, each with \
            its own timeout; throttling, 5xx and network errors are retried with backoff (retry). In "csv" format a \
            row is the scaled vector from input_field (feature_scaler must run first) and the reply is one score per \
            row; in "json" format a row is an object of the json_fields and the reply is an array of scores or of \
            {"fraud_score", "model_version"} objects. A request that still fails goes to the fallback scorer when one \
            is configured, else its records go to the dead-letter output with the error. After circuit_breaker.failures \
            failed requests in a row the endpoint is not called for circuit_breaker.open_for: records take the \
            fallback (or dead-letter) path at once, then one probe request decides whether to call it again. \
            With explain_top, alerts carry top_features: the endpoint is asked for them (the project's model server \
            answers through SageMaker's CustomAttributes), and when it gives none (the built-in XGBoost container) \
            they are computed from explain_bundle, a local copy of the endpoint's model bundle.
            """,
        fields: [
            FieldSpec("endpoint_name", .string, .required, doc: "SageMaker endpoint name.", example: "fraud-scoring"),
            FieldSpec("region", .string, doc: "AWS region; default AWS_REGION, AWS_DEFAULT_REGION, the profile, else us-east-1."),
            FieldSpec("endpoint_url", .string, doc: "Endpoint override (for the local model server or tests).", example: "http://127.0.0.1:8080"),
            FieldSpec("format", .oneOf(["csv", "json"]), .defaultValue("csv"), doc: "Request format."),
            FieldSpec("input_field", .string, .defaultValue("features"), doc: "Scaled feature vector field (csv format)."),
            FieldSpec("json_fields", .array(.string), .defaultValue([
                "age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code",
                "event_created_at_ts", "transaction_value", "channel_code", "txn_count_1h", "txn_sum_1h",
                "txn_count_24h", "txn_sum_24h", "secs_since_prev_txn",
            ]), doc: "Fields sent per row in json format."),
            FieldSpec("rows_per_request", .int(min: 1, max: 1000), .defaultValue(50), doc: "Rows in one InvokeEndpoint call."),
            .maxInFlight(4),
            .timeout("2s"),
            .retry(maxAttempts: 3, initialBackoff: "50ms", maxBackoff: "1s"),
            .circuitBreaker(failures: 5, openFor: "30s"),
            FieldSpec("target_variant", .string, doc: "Production variant to invoke (X-Amzn-SageMaker-Target-Variant)."),
            FieldSpec("threshold", .double(min: 0, max: 1), .defaultValue(0.5), doc: "Alert threshold on fraud_score."),
            FieldSpec("model_version", .string, doc: "model_version recorded when the reply does not name one; default sagemaker:<endpoint>."),
            FieldSpec("variant", .string, doc: "variant recorded; default the invoked production variant."),
            FieldSpec("fallback", .component(.transform), doc: "Scorer used for records whose request failed (e.g. local_model)."),
            FieldSpec("keep_features", .bool, .defaultValue(false), doc: "Keep the feature vector in the record after scoring."),
            FieldSpec("explain_top", .int(min: 0, max: 50), .defaultValue(0),
                      doc: "For alerts: how many features to list in top_features (0: none). The endpoint is asked for them (CustomAttributes explain_top=N,explain_threshold=<threshold>; replies in JSON)."),
            FieldSpec("explain_bundle", .string,
                      doc: "The endpoint's model bundle, local or s3://: explains the alerts the endpoint did not explain (the built-in XGBoost container never does).",
                      example: "models/v1"),
        ],
        examples: [#"{"type": "sagemaker", "endpoint_name": "fraud-scoring", "fallback": {"type": "local_model", "bundle": "models/v1"}}"#,
                   #"{"type": "sagemaker", "endpoint_name": "fraud-scoring", "explain_top": 5, "explain_bundle": "models/v1"}"#],
        dataFlow: { config, nested in
            let writes = ScoreFields.all + (config.int("explain_top") > 0 ? [ScoreFields.topFeatures] : [])
            let own = DataFlow(reads: config.string("format") == "csv" ? [(config.string("input_field"), "input_field")] : [], writes: writes,
                               kinds: ScoreFields.kinds)
            return own.including(config["fallback"].map { [nested($0)] } ?? [], at: "fallback")
        })

    let id: String
    let endpointName: String
    let runtime: SageMakerRuntimeClient
    let aws: AWSClient
    let csv: Bool
    let inputField: String
    let jsonFields: [String]
    let rowsPerRequest: Int
    let maxInFlight: Int
    let targetVariant: String?
    let threshold: Double
    let modelVersion: String
    let variantName: String?
    let fallback: (any Transform)?
    let keepFeatures: Bool
    let explainTop: Int
    /// Explains what the endpoint did not: its bundle, and the assembler for json-format records.
    let explainer: BundleSlot<(ModelBundle, FeatureAssembler)>?
    private let failures: Counter
    private let shortCircuited: Counter
    private let latency: Metrics.Timer
    let breaker: CircuitBreaker

    public init(config: ComponentConfig, context: BuildContext) throws {
        id = config.id
        endpointName = config.string("endpoint_name")
        aws = AWSClient(region: AWSClient.region(config: config, environment: context.environment),
                        retryPolicy: RetryPolicy(config: config), environment: context.environment)
        var rt = try SageMakerRuntimeClient(client: aws, endpointURL: config.optionalString("endpoint_url"))
        rt.timeout = .milliseconds(Int64(config.seconds("timeout") * 1000))
        runtime = rt
        csv = config.string("format") == "csv"
        inputField = config.string("input_field")
        jsonFields = config.strings("json_fields")
        rowsPerRequest = config.int("rows_per_request")
        maxInFlight = config.int("max_in_flight")
        targetVariant = config.optionalString("target_variant")
        threshold = config.double("threshold")
        modelVersion = config.optionalString("model_version") ?? "sagemaker:\(endpointName)"
        variantName = config.optionalString("variant")
        keepFeatures = config.bool("keep_features")
        explainTop = config.int("explain_top")
        let explains = explainTop > 0
        explainer = try config.optionalString("explain_bundle").map {
            try BundleSlot($0, environment: context.environment, shared: context.shared) { b in
                if explains { _ = b.model.explainsWithTables }  // the TreeSHAP tables now, not in the first explained batch
                return (b, FeatureAssembler(names: b.features))
            }
        }
        fallback = try config["fallback"].map {
            try context.registry.makeNestedTransform($0, at: config.path + ".fallback", defaultID: "\(config.id).fallback", context)
        }
        failures = Counter(label: "scorer_errors_total", dimensions: [("scorer", config.id)])
        shortCircuited = Counter(label: "scorer_short_circuited_total", dimensions: [("scorer", config.id)])
        let open = Gauge(label: "scorer_circuit_open", dimensions: [("scorer", config.id)])
        open.record(0)
        breaker = CircuitBreaker(config: config) { isOpen in open.record(isOpen ? 1 : 0) }
        latency = Metrics.Timer(label: "scorer_request_seconds", dimensions: [("scorer", config.id)])
    }

    public var maxConcurrentBatches: Int { 2 }

    public func start(_ context: StageContext) async throws {
        try await explainer?.start()
        try await fallback?.start(context)
    }

    public func stop() async {
        await fallback?.stop()
        aws.shutdown()
    }

    struct Reply {
        var scores: [Double]
        var versions: [String?]
        var variant: String?
        /// top_features per row when the endpoint explained it.
        var reasons: [JSONValue?] = []
    }

    public func process(_ batch: inout Batch) async throws {
        // Records that cannot be encoded are dead-lettered before any request.
        var rows: [[UInt8]] = []
        var encodable: [Record] = []
        for r in batch.records {
            switch encode(r) {
            case .success(let row): rows.append(row); encodable.append(r)
            case .failure(let e): batch.deadLetter(r, reason: e.message, stage: id)
            }
        }
        let chunks = stride(from: 0, to: encodable.count, by: rowsPerRequest).map { $0..<min($0 + rowsPerRequest, encodable.count) }
        // Bounded async I/O: at most max_in_flight requests of this batch at once, results in chunk order.
        let outcomes: [Result<Reply, any Error>] = await BoundedCalls.map(chunks.count, limit: maxInFlight) { [self, rows] i in
            let count = chunks[i].count
            if case .refused(let retryIn) = breaker.acquire() {
                shortCircuited.increment(by: count)
                return .failure(CircuitOpen(failures: breaker.failureThreshold, retryIn: retryIn))
            }
            let started = DispatchTime.now()
            do {
                let reply = try await invoke(Self.join(Array(rows[chunks[i]]), csv: csv), rows: count)
                latency.recordInterval(since: started)
                breaker.recordSuccess()
                return .success(reply)
            } catch {
                breaker.recordFailure()
                return .failure(error)
            }
        }
        var scored: [Record] = []
        scored.reserveCapacity(encodable.count)
        for (c, range) in chunks.enumerated() {
            switch outcomes[c] {
            case .success(let reply):
                for (k, i) in range.enumerated() {
                    var r = encodable[i]
                    let score = reply.scores[k]
                    r.set([(ScoreFields.score, .double(score)), (ScoreFields.modelVersion, .string(reply.versions[k] ?? modelVersion)),
                           (ScoreFields.variant, .string(variantName ?? reply.variant ?? targetVariant ?? endpointName)),
                           (ScoreFields.isAlert, .bool(score >= threshold))])
                    if explainTop > 0 && score >= threshold {
                        if let reasons = k < reply.reasons.count ? reply.reasons[k] : nil {
                            r[TopFeatures.field] = Self.withRecordValues(reasons, r)
                        } else if let local = explainLocally(r) {
                            r[TopFeatures.field] = local
                        }
                    }
                    if !keepFeatures { r[inputField] = nil }
                    scored.append(r)
                }
            case .failure(let error):
                if !(error is CircuitOpen) { failures.increment(by: range.count) }
                let reason = "sagemaker endpoint \(endpointName) failed: \(error)"
                if let fallback {
                    var sub = batch.subBatch(Array(encodable[range]))
                    try await fallback.process(&sub)
                    batch.absorb(deadLettersOf: sub)
                    scored.append(contentsOf: sub.records.map { r in
                        var r = r
                        r["scorer_fallback_reason"] = .string(reason)
                        return r
                    })
                } else {
                    for i in range { batch.deadLetter(encodable[i], reason: reason, stage: id) }
                }
            }
        }
        batch.records = scored
    }

    /// The endpoint's reasons with each value replaced by the record's own field when it has one: from a CSV row
    /// the endpoint only knows the scaled value, mapped back with rounding.
    static func withRecordValues(_ reasons: JSONValue, _ r: Record) -> JSONValue {
        guard let items = reasons.arrayValue else { return reasons }
        return .array(items.map { item in
            guard let pairs = item.objectValue, let name = item["name"]?.stringValue, item["value"]?.isNull == false,
                  let own = TopFeatures.recordValue(name, { r[$0] }) else { return item }
            return .object(pairs.map { $0.0 == "value" ? ("value", own) : $0 })
        })
    }

    /// top_features from the local bundle: the scaled vector the record carries (csv format), else its raw fields
    /// assembled and scaled as feature_scaler does. nil without explain_bundle or when the fields do not assemble.
    func explainLocally(_ r: Record) -> JSONValue? {
        guard let (bundle, assembler) = try? explainer?.get() else { return nil }
        var scaled: [Float]
        if let typed = r.vector(inputField) {
            scaled = typed
        } else if let values = r[inputField]?.arrayValue {
            scaled = values.map { $0.doubleValue.map(Float.init) ?? .nan }
        } else if let raw = try? assembler.raw({ r[$0] }) {
            scaled = bundle.scaler.transform(raw)
        } else {
            return nil
        }
        guard scaled.count == bundle.features.count else { return nil }
        let names = bundle.features
        return scaled.withUnsafeBufferPointer { x in
            bundle.topFeatures(scaled: x, top: explainTop) { i in x[i].isNaN ? .null : TopFeatures.recordValue(names[i]) { r[$0] } }
        }
    }

    func encode(_ r: Record) -> Result<[UInt8], EncodeError> {
        var w = JSONWriter(capacity: 256)
        if csv {
            guard let values = r[inputField]?.arrayValue else {
                return .failure(EncodeError(message: "no feature vector in field \"\(inputField)\" (is feature_scaler before the scorer?)"))
            }
            for (i, v) in values.enumerated() {
                if i > 0 { w.append(",") }
                // The built-in XGBoost container reads an empty CSV cell as a missing value.
                if let d = v.doubleValue, d.isFinite { w.writeDouble(Double(Float(d))) }
            }
        } else {
            var fields: [(String, JSONValue)] = []
            for f in jsonFields { fields.append((f, r[f] ?? .null)) }
            w.writeObject(fields)
        }
        return .success(w.bytes)
    }

    struct EncodeError: Error { var message: String }

    /// The failure of a request not sent because the circuit is open.
    struct CircuitOpen: Error, CustomStringConvertible {
        var failures: Int
        var retryIn: Double
        var description: String {
            "not called: the circuit is open after \(failures) failed requests in a row (next probe in \(Int(retryIn.rounded(.up)))s)"
        }
    }

    static func join(_ rows: [[UInt8]], csv: Bool) -> [UInt8] {
        var out: [UInt8] = csv ? [] : [UInt8(ascii: "[")]
        for (i, row) in rows.enumerated() {
            if i > 0 { out.append(csv ? 0x0A : UInt8(ascii: ",")) }
            out.append(contentsOf: row)
        }
        if !csv { out.append(UInt8(ascii: "]")) }
        return out
    }

    func invoke(_ body: [UInt8], rows: Int) async throws -> Reply {
        // Reasons come only in JSON replies; the endpoint explains exactly the rows this scorer will alert on.
        let explain = explainTop > 0
        var invocation = SageMakerRuntimeClient.Invocation(
            body: body, contentType: csv ? "text/csv" : "application/json",
            accept: csv && !explain ? "text/csv" : "application/json", targetVariant: targetVariant)
        if explain { invocation.customAttributes = "explain_top=\(explainTop),explain_threshold=\(threshold)" }
        let result = try await runtime.invokeEndpoint(endpointName, invocation)
        var reply = try Self.parseReply(result.body, rows: rows)
        reply.variant = result.invokedProductionVariant
        return reply
    }

    struct ReplyError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Accepts scores one per line or comma-separated (the XGBoost container), a JSON array of numbers or of
    /// {"fraud_score", "model_version"} objects (the model server), or {"predictions": [...]}.
    static func parseReply(_ body: [UInt8], rows: Int) throws -> Reply {
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var scores: [Double] = []
        var versions: [String?] = []
        var reasons: [JSONValue?] = []
        if text.hasPrefix("[") || text.hasPrefix("{") {
            var value = try DocumentParser.parseValue(Array(text.utf8))
            if let p = value["predictions"] { value = p }
            guard let items = value.arrayValue else { throw ReplyError(message: "reply is not an array of scores: \(text.prefix(200))") }
            for item in items {
                if let d = item.doubleValue { scores.append(d); versions.append(nil) }
                else if let d = item[ScoreFields.score]?.doubleValue ?? item["score"]?.doubleValue {
                    scores.append(d)
                    versions.append(item[ScoreFields.modelVersion]?.stringValue)
                    while reasons.count < scores.count - 1 { reasons.append(nil) }
                    reasons.append(item[TopFeatures.field].flatMap { $0.arrayValue != nil ? $0 : nil })
                } else { throw ReplyError(message: "reply item is not a score: \(item)") }
            }
        } else {
            for part in text.split(whereSeparator: { $0 == "\n" || $0 == "," }) {
                guard let d = Double(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ReplyError(message: "reply holds a non-number \"\(part.prefix(40))\"")
                }
                scores.append(d)
                versions.append(nil)
            }
        }
        guard scores.count == rows else { throw ReplyError(message: "reply has \(scores.count) scores for \(rows) rows") }
        guard scores.allSatisfy({ $0.isFinite }) else { throw ReplyError(message: "reply holds a non-finite score") }
        return Reply(scores: scores, versions: versions, variant: nil, reasons: reasons)
    }
}

extension SageMakerScorer: StatusDetailProviding {
    public func statusDetails() -> JSONValue {
        var d: [(String, JSONValue)] = [("endpoint", .string(endpointName))]
        if let variantName { d.append(("target_variant", .string(variantName))) }
        return .object(d)
    }
}
