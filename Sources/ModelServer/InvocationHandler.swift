import Hummingbird
import ModelCore
import PipelineHost

/// `POST /invocations` and `POST /endpoints/{name}/invocations`: reads the body (at most 6 MiB, the SageMaker
/// limit), scores every record with the loaded bundle and answers in the format `Accept` asks for.
///
/// | request | `application/json` reply | `text/csv` reply |
/// |---|---|---|
/// | JSON object | `{"fraud_score":p,"model_version":"v"}` | `p` |
/// | JSON array of objects | `[{...},{...}]` | one score per line |
/// | CSV rows of scaled features | `[{...},{...}]` | one score per line |
///
/// Explanations are opt-in per request, through SageMaker's CustomAttributes (the header
/// `X-Amzn-SageMaker-Custom-Attributes: explain_top=5[,explain_threshold=0.18]`): rows scoring at or above the
/// threshold (default the bundle's alert_threshold) get `top_features` in the JSON reply. Only those rows pay.
///
/// A refused request gets `{"error","kind","field"?,"index"?}` with 400, 406, 413, 415 or 503.
struct InvocationHandler: Sendable {
    /// SageMaker's request limit: 6 MiB.
    static let defaultMaxBodyBytes = 6 * 1024 * 1024

    let state: ModelState
    let metrics: ServerMetrics
    let maxBodyBytes: Int
    let scoring: ScoringQueue
    /// Seconds a request's body may take to arrive once its head has: a client trickling a body must not hold a
    /// scoring place (and a connection) for longer.
    let bodyDeadline: Double

    init(state: ModelState, metrics: ServerMetrics, maxBodyBytes: Int = Self.defaultMaxBodyBytes, scoring: ScoringQueue, bodyDeadline: Double = 30) {
        self.bodyDeadline = bodyDeadline
        self.state = state
        self.metrics = metrics
        self.maxBodyBytes = maxBodyBytes
        self.scoring = scoring
    }

    func handle(_ request: Request) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await respond(request)
            metrics.invocationsOK.increment()
        } catch let error as InvocationError {
            metrics.error(error.kind)
            metrics.request(route: "invocations", status: Int(error.status.code))
            response = Self.errorResponse(error)
        }
        metrics.invocationDuration.record(ContinuousClock.now - start)
        return response
    }

    private func respond(_ request: Request) async throws -> Response {
        guard let model = state.current else {
            throw InvocationError(.notReady, "the model bundle is not loaded yet")
        }
        let contentType = request.headers[.contentType]
        guard let input = MediaFormat.ofContentType(contentType) else {
            throw InvocationError(
                .unsupportedMediaType,
                "content type \"\(contentType ?? "")\" is not supported: send application/json or text/csv",
                field: "Content-Type")
        }
        let accept = request.headers[.accept]
        guard let output = MediaFormat.forAccept(accept, request: input) else {
            throw InvocationError(
                .notAcceptable, "cannot answer in \"\(accept ?? "")\": accept application/json or text/csv", field: "Accept")
        }
        let attributes = request.headers.first { $0.name.canonicalName == Explanation.header }?.value
        let explain = try Explanation.parse(attributes, model: model)
        if explain != nil && output != .json {
            throw InvocationError(.notAcceptable, "explanations (explain_top) come in JSON replies: send Accept: application/json", field: "Accept")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            throw tooLarge
        }
        // Admitted before the body is read, so a full server sheds load without reading it.
        guard scoring.admit() else {
            throw InvocationError(.busy, "the server is busy: \(scoring.capacity) requests are being scored or waiting; retry")
        }
        defer { scoring.release() }
        let body = try await collectWithDeadline(request.body)
        let (count, bytes) = try await scoring.run { () throws(InvocationError) -> (Int, [UInt8]) in
            var w = JSONWriter(capacity: 96)
            let count = try body.withUnsafeReadableBytes { raw throws(InvocationError) in
                try Self.score(raw, input: input, output: output, model: model, explain: explain, into: &w)
            }
            return (count, w.bytes)
        }
        metrics.recordsScored.increment(by: Int64(count))
        return Response(
            status: .ok, headers: [.contentType: output.contentType], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private var tooLarge: InvocationError {
        InvocationError(.bodyTooLarge, "the request body is larger than \(maxBodyBytes) bytes")
    }

    /// The body, or 408 when it has not fully arrived within `bodyDeadline`.
    private func collectWithDeadline(_ body: RequestBody) async throws -> ByteBuffer {
        let deadline = bodyDeadline
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await self.collect(body) }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(deadline * 1000)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw InvocationError(.bodyTooSlow, "the request body did not arrive within \(deadline == deadline.rounded() ? String(Int(deadline)) : String(deadline))s")
            }
            return buffer
        }
    }

    /// The body, refused with 413 as soon as it grows past the limit.
    private func collect(_ body: RequestBody) async throws -> ByteBuffer {
        var iterator = body.makeAsyncIterator()
        guard var buffer = try await iterator.next() else { return ByteBuffer() }
        guard buffer.readableBytes <= maxBodyBytes else { throw tooLarge }
        while var next = try await iterator.next() {
            guard buffer.readableBytes + next.readableBytes <= maxBodyBytes else { throw tooLarge }
            buffer.writeBuffer(&next)
        }
        return buffer
    }

    static func score(
        _ body: UnsafeRawBufferPointer, input: MediaFormat, output: MediaFormat, model: ScoringModel,
        explain: Explanation? = nil, into w: inout JSONWriter
    ) throws(InvocationError) -> Int {
        var scores: [Float] = []
        var reasons: [JSONValue?] = []
        switch input {
        case .json:
            let parser = InvocationParser()
            let objects: [[(String, JSONValue)]]
            let single: Bool
            switch try parser.parseJSON(body) {
            case .object(let fields):
                objects = [fields]
                single = true
            case .array(let items):
                objects = items.compactMap { if case .object(let f) = $0 { return f } else { return nil } }
                single = false
            }
            scores.reserveCapacity(objects.count)
            for (n, fields) in objects.enumerated() {
                do throws(InvocationError) {
                    guard let explain else {
                        scores.append(try model.score(fields))
                        continue
                    }
                    let raw = try model.raw(fields)
                    let scaled = model.bundle.scaler.transform(raw)
                    let p = model.bundle.model.predict(scaled)
                    scores.append(p)
                    // A feature's value is the request's own field when it sent one (as local_model does).
                    let names = model.bundle.features
                    reasons.append(explain.reasons(p, scaled: scaled, model: model) { i in
                        if raw[i].isNaN { return nil }
                        for (k, v) in fields where k == names[i] && v.doubleValue != nil { return v }
                        return TopFeatures.number(raw[i])
                    })
                } catch { throw single ? error : error.at(index: n) }
            }
            if single {
                model.writeScores(scores, as: output, batch: false, reasons: reasons, into: &w)
                return 1
            }
        case .csv:
            let values = try InvocationParser.parseCSV(body, featureNames: model.bundle.features)
            let width = model.featureCount
            values.withUnsafeBufferPointer { all in
                for start in stride(from: 0, to: all.count, by: width) {
                    let row = UnsafeBufferPointer(rebasing: all[start..<start + width])
                    let p = model.score(scaled: row)
                    scores.append(p)
                    if let explain { reasons.append(explain.reasons(p, scaled: Array(row), model: model) { _ in nil }) }
                }
            }
        }
        model.writeScores(scores, as: output, batch: true, reasons: reasons, into: &w)
        return scores.count
    }

    static func errorResponse(_ error: InvocationError) -> Response {
        var w = JSONWriter(capacity: 160)
        w.write(error.json)
        return Response(
            status: error.status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
