import Foundation
import Glibc
import Synchronization
import Testing
@testable import ModelServer

/// Every refusal is a JSON error naming the field (and the record in a batch), never a crash.
@Suite struct ErrorTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var contentType: String? = "application/json"
        var accept: String? = nil
        var body: String
        var status: Int
        var kind: String
        var field: String? = nil
        var index: Int? = nil
        var testDescription: String { name }
    }

    static func record(_ extra: String = "", replacing: [String: String] = [:]) -> String {
        InvocationTests.record(extra, replacing: replacing)
    }

    static let cases: [Case] = [
        Case(name: "string where a number belongs", body: record("", replacing: ["age": "\"35\""]), status: 400, kind: "wrong_type", field: "age"),
        Case(name: "boolean", body: record("", replacing: ["channel_code": "true"]), status: 400, kind: "wrong_type", field: "channel_code"),
        Case(name: "object", body: record("", replacing: ["location": "{\"x\": 1}"]), status: 400, kind: "wrong_type", field: "location"),
        Case(name: "optional of the wrong type", body: record("", replacing: ["txn_sum_1h": "\"many\""]), status: 400, kind: "wrong_type", field: "txn_sum_1h"),
        Case(name: "missing required field", body: record("", replacing: ["tenure_months": "<absent>"]), status: 400, kind: "missing_field", field: "tenure_months"),
        Case(name: "null required field", body: record("", replacing: ["transaction_value": "null"]), status: 400, kind: "null_field", field: "transaction_value"),
        Case(name: "infinite number", body: record("", replacing: ["transaction_value": "1e999"]), status: 400, kind: "non_finite", field: "transaction_value"),
        Case(name: "huge negative", body: record("", replacing: ["txn_sum_24h": "-1e400"]), status: 400, kind: "non_finite", field: "txn_sum_24h"),
        Case(name: "NaN literal", body: record("", replacing: ["age": "NaN"]), status: 400, kind: "malformed_json"),
        Case(name: "duplicate key", body: record(", \"age\": 40"), status: 400, kind: "duplicate_field", field: "age"),
        Case(name: "truncated JSON", body: "{\"age\": 35, \"gender_code\"", status: 400, kind: "malformed_json"),
        Case(name: "trailing garbage", body: record() + " x", status: 400, kind: "malformed_json"),
        Case(name: "two objects", body: record() + record(), status: 400, kind: "malformed_json"),
        Case(name: "not JSON at all", body: "age=35", status: 400, kind: "malformed_json"),
        Case(name: "a bare number", body: "42", status: 400, kind: "not_an_object"),
        Case(name: "empty body", body: "", status: 400, kind: "empty_body"),
        Case(name: "blank body", body: " \n ", status: 400, kind: "empty_body"),
        Case(name: "batch: element not an object", body: "[" + record() + ", 7]", status: 400, kind: "not_an_object", index: 1),
        Case(name: "batch: bad field in record 2", body: "[" + record() + "," + record() + "," + record("", replacing: ["age": "[1]"]) + "]",
             status: 400, kind: "wrong_type", field: "age", index: 2),
        Case(name: "batch: missing field in record 1", body: "[" + record() + "," + record("", replacing: ["channel_code": "<absent>"]) + "]",
             status: 400, kind: "missing_field", field: "channel_code", index: 1),
        Case(name: "batch: malformed", body: "[" + record() + ",", status: 400, kind: "malformed_json"),
        Case(name: "batch: duplicate key", body: "[" + record(", \"age\": 40") + "]", status: 400, kind: "malformed_json"),
        Case(name: "csv: too few columns", contentType: "text/csv", body: "1,2,3\n", status: 400, kind: "malformed_csv", index: 0),
        Case(name: "csv: too many columns", contentType: "text/csv", body: Array(repeating: "0", count: 15).joined(separator: ",") + "\n"
             + Array(repeating: "0", count: 16).joined(separator: ","), status: 400, kind: "malformed_csv", index: 1),
        Case(name: "csv: not a number", contentType: "text/csv", body: "0,0,0,0,0,0,0,abc,0,0,0,0,0,0,0", status: 400,
             kind: "malformed_csv", field: "transaction_value", index: 0),
        Case(name: "csv: infinity", contentType: "text/csv", body: "0,0,0,0,0,0,0,0,0,inf,0,0,0,0,0", status: 400,
             kind: "non_finite", field: "hour_of_day", index: 0),
        Case(name: "csv: nan", contentType: "text/csv", body: "0,0,0,0,0,0,0,0,0,0,0,0,0,0,nan", status: 400,
             kind: "non_finite", field: "secs_since_prev_txn", index: 0),
        Case(name: "csv: out of float range", contentType: "text/csv", body: "1e300,0,0,0,0,0,0,0,0,0,0,0,0,0,0", status: 400,
             kind: "non_finite", field: "age", index: 0),
        Case(name: "csv: empty", contentType: "text/csv", body: "\n\n", status: 400, kind: "empty_body"),
        Case(name: "form content type", contentType: "application/x-www-form-urlencoded", body: record(), status: 415,
             kind: "unsupported_media_type", field: "Content-Type"),
        Case(name: "text/plain", contentType: "text/plain", body: record(), status: 415, kind: "unsupported_media_type", field: "Content-Type"),
        Case(name: "libsvm", contentType: "text/libsvm", body: "1:0.5", status: 415, kind: "unsupported_media_type", field: "Content-Type"),
        Case(name: "accept html", accept: "text/html", body: record(), status: 406, kind: "not_acceptable", field: "Accept"),
    ]

    @Test(arguments: cases)
    func refusedWithAJSONErrorNamingTheField(_ c: Case) async throws {
        try await withServer { port, _ in
            let reply = try await RawHTTP.post(port: port, contentType: c.contentType, accept: c.accept, c.body)
            #expect(reply.status == c.status, "\(reply.text)")
            #expect(reply.header("content-type") == "application/json")
            let json = try #require(reply.json, "not a JSON object: \(reply.text)")
            #expect(json["kind"] as? String == c.kind, "\(reply.text)")
            #expect((json["error"] as? String)?.isEmpty == false)
            #expect(json["field"] as? String == c.field, "\(reply.text)")
            #expect(json["index"] as? Int == c.index, "\(reply.text)")
            // The server is still there and still right.
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200)
        }
    }

    static let limit = InvocationHandler.defaultMaxBodyBytes

    @Test func bodyOverSixMiBWithContentLengthIs413() async throws {
        try await withServer { port, _ in
            // A valid JSON array just over the limit: refused for its size, not its content.
            var body = "[" + Array(repeating: originalBody, count: Self.limit / originalBody.utf8.count + 1).joined(separator: ",") + "]"
            #expect(body.utf8.count > Self.limit)
            let reply = try await RawHTTP.post(port: port, body)
            #expect(reply.status == 413)
            #expect(reply.json?["kind"] as? String == "body_too_large")
            // Just under the limit is served.
            body = "[" + Array(repeating: originalBody, count: Self.limit / (originalBody.utf8.count + 1) - 1).joined(separator: ",") + "]"
            #expect(body.utf8.count <= Self.limit)
            let big = try await RawHTTP.post(port: port, body)
            #expect(big.status == 200)
            #expect(big.jsonArray?.count == Self.limit / (originalBody.utf8.count + 1) - 1)
        }
    }

    /// Without Content-Length the limit is enforced while the body is read.
    @Test func chunkedBodyOverTheLimitIs413() async throws {
        try await withServer(maxBodyBytes: 4096) { port, _ in
            var chunked: [UInt8] = []
            let piece = Array(String(repeating: " ", count: 1000).utf8)
            for _ in 0..<5 {
                chunked += Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
            }
            chunked += Array("0\r\n\r\n".utf8)
            let reply = try await RawHTTP.request(
                port: port, headers: [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], body: chunked)
            #expect(reply.status == 413)
            #expect(reply.json?["kind"] as? String == "body_too_large")
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200)
        }
    }

    /// Connections that never finish a request (a slowloris client trickling its head, or one that connects and
    /// says nothing) are closed after the idle timeout, and the server keeps answering others meanwhile.
    @Test func slowAndSilentConnectionsAreClosedAfterTheIdleTimeout() async throws {
        try await withServer(idleTimeout: 1) { port, _ in
            let closedAfter: @Sendable (Bool) throws -> Double = { trickle in
                let c = try RawConnection(port: port, timeoutSeconds: 20)
                let start = Date()
                if trickle {
                    // One header byte every 200 ms: the head never completes.
                    for byte in Array("POST /invocations HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: 200) {
                        guard (try? c.send([byte])) != nil else { break }
                        var probe: UInt8 = 0
                        if recv(c.fd, &probe, 1, Int32(MSG_DONTWAIT)) == 0 { break }  // closed by the server
                        Thread.sleep(forTimeInterval: 0.2)
                    }
                } else {
                    var probe: UInt8 = 0
                    _ = recv(c.fd, &probe, 1, 0)  // blocks until the server closes (or 20 s)
                }
                return Date().timeIntervalSince(start)
            }
            let silent = try await RawHTTP.onThread { try closedAfter(false) }
            #expect(silent < 8, "a silent connection was held \(silent)s")
            async let slow = RawHTTP.onThread { try closedAfter(true) }
            // Meanwhile the server answers.
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200)
            let trickled = try await slow
            #expect(trickled < 8, "a slowloris connection was held \(trickled)s")
        }
    }

    /// Admission is bounded and decided before a body is read: two requests that have sent their head and are still
    /// sending their body hold both places (bound 2), so a third gets 503 "busy" at once, while /ping (which never
    /// goes through scoring) answers; once the two finish, both are scored and the places are free again.
    @Test func admissionIsBoundedAndPingIsServedApart() async throws {
        let batch = Array(("[" + Array(repeating: originalBody, count: 50).joined(separator: ",") + "]").utf8)
        try await withServer(scoring: (workers: 1, pending: 2)) { port, _ in
            let head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(batch.count)\r\nConnection: close\r\n\r\n"
            let held = try (0..<2).map { _ -> RawConnection in
                let c = try RawConnection(port: port, timeoutSeconds: 30)
                try c.send(Array(head.utf8) + batch[0..<100])
                return c
            }
            // Both must have been admitted (the pending gauge says 2) before the third request.
            let admittedBoth = Date().addingTimeInterval(30)
            while !(try await RawHTTP.get(port: port, "/metrics")).text.contains("model_server_invocations_pending 2") {
                try #require(Date() < admittedBoth, "the two held requests were never both admitted")
                try await Task.sleep(for: .milliseconds(20))
            }
            let refused = try await RawHTTP.post(port: port, originalBody)
            #expect(refused.status == 503)
            #expect(refused.json?["kind"] as? String == "busy")
            let ping = try await RawHTTP.get(port: port, "/ping")
            #expect(ping.status == 200)
            let replies = try await withThrowingTaskGroup(of: HTTPReply.self) { group in
                for c in held {
                    group.addTask {
                        try await RawHTTP.onThread {
                            try c.send(Array(batch[100...]))
                            return try c.readReply()
                        }
                    }
                }
                var all: [HTTPReply] = []
                for try await r in group { all.append(r) }
                return all
            }
            #expect(replies.map(\.status) == [200, 200])
            #expect(replies.allSatisfy { ($0.jsonArray?.count ?? 0) == 50 })
            let after = try await RawHTTP.post(port: port, originalBody)
            #expect(after.status == 200, "the places were released")
        }
    }

    /// A body that trickles after a complete head gets 408 at the body deadline (it would otherwise hold its
    /// scoring place and connection for as long as the client likes); the place is free again afterwards.
    @Test func aTricklingBodyGets408AtTheDeadline() async throws {
        try await withServer(bodyDeadline: 1, scoring: (workers: 1, pending: 1)) { port, _ in
            let reply = try await RawHTTP.onThread { () throws -> (HTTPReply, Double) in
                let c = try RawConnection(port: port, timeoutSeconds: 20)
                let start = Date()
                try c.send("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[")
                let sender = Thread {
                    for _ in 0..<100 {
                        guard (try? c.send(" ")) != nil else { return }
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                }
                sender.start()
                let r = try c.readReply()
                return (r, Date().timeIntervalSince(start))
            }
            #expect(reply.0.status == 408)
            #expect(reply.0.json?["kind"] as? String == "body_too_slow")
            // Any answer proves the deadline (without it the body never completes and the read times out at 20 s);
            // the bound, well before that, leaves room for a loaded machine.
            #expect(reply.1 < 15, "answered after \(reply.1)s")
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200, "the scoring place was released")
        }
    }

    /// A thousand idle connections: at most max_connections stay open (the rest are closed as soon as they are
    /// accepted), the open ones are reaped at the idle timeout, and the server then answers as before.
    @Test func aThousandIdleConnectionsAreBounded() async throws {
        // The idle timeout is long enough for a loaded machine to accept all thousand before any is reaped.
        try await withServer(idleTimeout: 20, maxConnections: 50) { port, _ in
            let (held, secondsToCap, afterIdle, secondsToReap) = try await RawHTTP.onThread {
                () throws -> (Int, Double, Int, Double) in
                let start = Date()
                let conns = try (0..<1000).map { _ in try RawConnection(port: port, timeoutSeconds: 10) }
                func stillOpen() -> Int {
                    conns.filter { c in
                        var probe: UInt8 = 0
                        let n = recv(c.fd, &probe, 1, Int32(MSG_DONTWAIT))
                        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)  // nothing to read and not closed
                    }.count
                }
                // Connections still in the accept queue look open too: wait (inside the idle timeout) until the
                // server has seen them all and closed those over the cap.
                var open = stillOpen()
                while open > 50 && Date().timeIntervalSince(start) < 18 {
                    Thread.sleep(forTimeInterval: 0.2)
                    open = stillOpen()
                }
                let toCap = Date().timeIntervalSince(start)
                // Then the held ones go at the idle timeout (hang guard: 40 s).
                var left = stillOpen()
                while left > 0 && Date().timeIntervalSince(start) < 40 {
                    Thread.sleep(forTimeInterval: 0.5)
                    left = stillOpen()
                }
                return (open, toCap, left, Date().timeIntervalSince(start))
            }
            #expect(held <= 50 && held >= 40, "\(held) connections held after \(secondsToCap)s (cap 50)")
            #expect(afterIdle == 0, "\(afterIdle) idle connections outlived the idle timeout")
            #expect(secondsToReap >= 19, "idle connections were closed after \(secondsToReap)s, before the 20 s idle timeout")
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200)
        }
    }

    @Test func garbageRequestLineDoesNotKillTheServer() async throws {
        try await withServer { port, _ in
            let reply = try await RawHTTP.raw(port: port, Array("NOT HTTP AT ALL\r\n\r\n".utf8))
            #expect(reply.status == 400)
            let ok = try await RawHTTP.post(port: port, originalBody)
            #expect(ok.status == 200)
        }
    }
}
