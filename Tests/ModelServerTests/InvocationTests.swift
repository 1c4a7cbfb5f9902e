import Foundation
import ModelCore
import PipelineHost
import Testing
@testable import ModelServer

/// The invocation contract over real sockets: the original JSON body, batches, CSV, content negotiation.
@Suite struct InvocationTests {
    static var bundle: ModelBundle { sharedBundle }

    /// The score ModelCore computes for named raw fields (the local_model scorer's path).
    static func coreScore(_ json: String) throws -> Float {
        let fields = try #require(try RecordParser().parse(Array(json.utf8)))
        let raw = try FeatureAssembler(names: bundle.features).raw { name in fields.first { $0.0 == name }?.1 }
        return bundle.model.predict(bundle.scaler.transform(raw))
    }

    static func scoreText(_ reply: HTTPReply) -> String? {
        guard let r = reply.text.range(of: #"(?<="fraud_score":)[^,}]+"#, options: .regularExpression) else { return nil }
        return String(reply.text[r])
    }

    static func record(_ extra: String = "", replacing: [String: String] = [:]) -> String {
        var fields: [(String, String)] = [
            ("age", "35"), ("gender_code", "1"), ("location", "12"), ("subscription_type_code", "2"), ("tenure_months", "24"),
            ("income_bracket_code", "1"), ("event_created_at_ts", "1718500000"), ("transaction_value", "149.99"), ("channel_code", "0"),
        ]
        for (k, v) in replacing {
            if let i = fields.firstIndex(where: { $0.0 == k }) { fields[i].1 = v } else { fields.append((k, v)) }
        }
        return "{" + fields.filter { $0.1 != "<absent>" }.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + extra + "}"
    }

    @Test func originalCurlBodyScoresLikeModelCore() async throws {
        let expected = try Self.coreScore(originalBody)
        #expect(Double(expected) == 0.263380229473114)
        try await withServer(readFromDisk: true) { port, _ in
            let reply = try await RawHTTP.post(port: port, originalBody)
            #expect(reply.status == 200)
            #expect(reply.header("content-type") == "application/json")
            #expect(reply.text == #"{"fraud_score":0.263380229473114,"model_version":"v1"}"#)
            let json = try #require(reply.json)
            #expect(scores(reply) == [Double(expected)])
            #expect(json["model_version"] as? String == "v1")
        }
    }

    /// `pipeline-host score` on the same features prints the same number, digit for digit.
    @Test func originalCurlBodyScoresLikePipelineHostScore() async throws {
        // A missing binary fails the test: `swift build --build-tests` builds it, so its absence is a broken build.
        let host = try #require(TestPaths.pipelineHost, "no pipeline-host binary (build it, or set PIPELINE_HOST_BIN)")
        let compact = originalBody.replacingOccurrences(of: "\n", with: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: host)
        p.arguments = ["score", "--bundle", TestPaths.bundle]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data((compact + "\n").utf8))
        try input.fileHandleForWriting.close()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let r = try #require(out.range(of: #"(?<="fraud_score":)[^,}]+"#, options: .regularExpression), "pipeline-host printed: \(out)")
        let hostScore = String(out[r])
        #expect(hostScore == "0.263380229473114")
        try await withServer { port, _ in
            let reply = try await RawHTTP.post(port: port, originalBody)
            #expect(Self.scoreText(reply) == hostScore)
        }
    }

    @Test func endpointsRouteIsTheSameHandler() async throws {
        try await withServer { port, _ in
            let a = try await RawHTTP.post(port: port, path: "/endpoints/fraud-scorer/invocations", originalBody)
            let b = try await RawHTTP.post(port: port, originalBody)
            #expect(a.status == 200)
            #expect(a.text == b.text)
        }
    }

    @Test func noContentTypeIsReadAsJSON() async throws {
        try await withServer { port, _ in
            let reply = try await RawHTTP.post(port: port, contentType: nil, originalBody)
            #expect(reply.status == 200)
            #expect(Self.scoreText(reply) == "0.263380229473114")
            let charset = try await RawHTTP.post(port: port, contentType: "application/json; charset=utf-8", originalBody)
            #expect(charset.status == 200)
        }
    }

    @Test func rollingFeaturesAreOptionalAndNullable() async throws {
        let withRolling = Self.record(replacing: [
            "txn_count_1h": "3", "txn_sum_1h": "420.5", "txn_count_24h": "9", "txn_sum_24h": "1210.0", "secs_since_prev_txn": "42",
        ])
        let withNulls = Self.record(replacing: ["txn_count_1h": "null", "secs_since_prev_txn": "null", "hour_of_day": "null"])
        let explicitHour = Self.record(replacing: ["hour_of_day": "3", "note": "\"ignored\""])
        try await withServer { port, _ in
            for body in [withRolling, withNulls, explicitHour] {
                let reply = try await RawHTTP.post(port: port, body)
                #expect(reply.status == 200, "\(body): \(reply.text)")
                #expect(scores(reply) == [Double(try Self.coreScore(body))], "\(body)")
            }
            // The rolling features take part in the score.
            let plain = try await RawHTTP.post(port: port, originalBody)
            let rolling = try await RawHTTP.post(port: port, withRolling)
            #expect(plain.text != rolling.text)
        }
    }

    @Test func derivedHourIsComputedAsThePipelineDoes() async throws {
        // 1718500000 is 01:06:40 UTC: hour_of_day 1 given explicitly must score as when it is derived.
        #expect(DerivedFeatures.hourOfDay(epochSeconds: 1_718_500_000) == 1)
        try await withServer { port, _ in
            let derived = try await RawHTTP.post(port: port, originalBody)
            let explicit = try await RawHTTP.post(port: port, Self.record(replacing: ["hour_of_day": "1"]))
            #expect(derived.text == explicit.text)
        }
    }

    @Test func jsonArrayReturnsAnArray() async throws {
        let bodies = [originalBody, Self.record(replacing: ["transaction_value": "5000", "age": "19"]), Self.record(replacing: ["channel_code": "2"])]
        let expected = try bodies.map { Double(try Self.coreScore($0)) }
        try await withServer { port, _ in
            let reply = try await RawHTTP.post(port: port, "[" + bodies.joined(separator: ",") + "]")
            #expect(reply.status == 200)
            let items = try #require(reply.jsonArray)
            #expect(scores(reply) == expected)
            #expect(items.count == 3 && items.allSatisfy { $0["model_version"] as? String == "v1" })

            let csv = try await RawHTTP.post(port: port, accept: "text/csv", "[" + bodies.joined(separator: ",") + "]")
            #expect(csv.status == 200)
            #expect(csv.header("content-type") == "text/csv")
            #expect(scores(csv) == expected)

            let empty = try await RawHTTP.post(port: port, "[]")
            #expect(empty.status == 200)
            #expect(empty.text == "[]")
        }
    }

    @Test func acceptIsHonoured() async throws {
        try await withServer { port, _ in
            let csv = try await RawHTTP.post(port: port, accept: "text/csv", originalBody)
            #expect(csv.header("content-type") == "text/csv")
            #expect(csv.text == "0.263380229473114\n")
            let weighted = try await RawHTTP.post(port: port, accept: "application/json;q=0.5, text/csv;q=0.9", originalBody)
            #expect(weighted.text == "0.263380229473114\n")
            let any = try await RawHTTP.post(port: port, accept: "*/*", originalBody)
            #expect(any.header("content-type") == "application/json")
            let browserLike = try await RawHTTP.post(port: port, accept: "text/html, application/json;q=0.9, */*;q=0.8", originalBody)
            #expect(browserLike.header("content-type") == "application/json")
        }
    }

    /// CSV rows of already scaled features (the built-in XGBoost container's contract).
    @Test func csvRowsOfScaledFeatures() async throws {
        let fields = try #require(try RecordParser().parse(Array(originalBody.utf8)))
        let raw = try FeatureAssembler(names: Self.bundle.features).raw { name in fields.first { $0.0 == name }?.1 }
        let scaled = Self.bundle.scaler.transform(raw)
        // Float's description round-trips, so the server sees the very same float32 values.
        let row1 = scaled.map { $0.isNaN ? "" : "\($0)" }.joined(separator: ",")
        let row2 = Array(repeating: "0", count: 10).joined(separator: ",") + ",,,,,"
        var x2 = [Float](repeating: 0, count: 15)
        for i in 10..<15 { x2[i] = .nan }
        let expected = [Double(Self.bundle.model.predict(scaled)), Double(Self.bundle.model.predict(x2))]
        #expect(expected[0] == 0.263380229473114)
        try await withServer { port, _ in
            let reply = try await RawHTTP.post(port: port, contentType: "text/csv", row1 + "\r\n" + row2 + "\n\n")
            #expect(reply.status == 200, "\(reply.text)")
            #expect(reply.header("content-type") == "text/csv")
            #expect(scores(reply) == expected)

            let json = try await RawHTTP.post(port: port, contentType: "text/csv", accept: "application/json", row1 + "\n" + row2)
            #expect(json.header("content-type") == "application/json")
            #expect(try #require(json.jsonArray).count == 2)
            #expect(scores(json) == expected)
        }
    }

    @Test func keepAliveConnectionServesManyRequests() async throws {
        try await withServer { port, _ in
            let replies = try await RawHTTP.onThread { () -> [Int] in
                let c = try RawConnection(port: port)
                var statuses: [Int] = []
                for _ in 0..<20 {
                    try c.send("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(originalBody.utf8.count)\r\n\r\n" + originalBody)
                    statuses.append(try c.readReply().status)
                }
                return statuses
            }
            #expect(replies == Array(repeating: 200, count: 20))
        }
    }

    @Test func metricsCountRequestsErrorsAndLatency() async throws {
        try await withServer { port, _ in
            _ = try await RawHTTP.post(port: port, originalBody)
            _ = try await RawHTTP.post(port: port, "[" + originalBody + "," + originalBody + "]")
            _ = try await RawHTTP.post(port: port, #"{"age": "old"}"#)
            _ = try await RawHTTP.post(port: port, contentType: "text/plain", originalBody)
            _ = try await RawHTTP.get(port: port, "/ping")
            let reply = try await RawHTTP.get(port: port, "/metrics")
            #expect(reply.status == 200)
            let text = reply.text
            #expect(text.contains(#"model_server_requests_total{route="invocations",status="200"} 2"#))
            #expect(text.contains(#"model_server_requests_total{route="invocations",status="400"} 1"#))
            #expect(text.contains(#"model_server_requests_total{route="invocations",status="415"} 1"#))
            #expect(text.contains(#"model_server_requests_total{route="ping",status="200"} 1"#))
            #expect(text.contains(#"model_server_errors_total{kind="missing_field"} 1"#))
            #expect(text.contains(#"model_server_errors_total{kind="unsupported_media_type"} 1"#))
            #expect(text.contains("model_server_records_scored_total 3"))
            #expect(text.contains(#"model_server_request_duration_seconds_count{route="invocations"} 4"#))
            #expect(text.contains(#"model_server_request_duration_seconds_bucket{route="invocations",le="+Inf"} 4"#))
            #expect(text.contains("# TYPE model_server_request_duration_seconds histogram"))
            #expect(text.contains("model_server_model_loaded 1"))
        }
    }

    @Test func unknownRoutesAndMethods() async throws {
        try await withServer { port, _ in
            let unknown = try await RawHTTP.get(port: port, "/nope")
            #expect(unknown.status == 404)
            let wrongMethod = try await RawHTTP.get(port: port, "/invocations")
            #expect(wrongMethod.status != 200)
        }
    }
}
