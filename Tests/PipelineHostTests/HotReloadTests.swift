import AWSCore
import Foundation
import PipelineHost
import TestSupport
import Testing

/// Hot reload on the real `pipeline-host` binary while input keeps arriving: the scorer, the bundle and the A/B
/// weights are switched with SIGHUP, a sink is added, and the host is restarted once on the last spec. Every
/// record must be scored exactly once, by the variant in force when it passed, with the rolling features of an
/// uninterrupted run (keyed state carried over every reload and the restart).
@Suite struct HotReloadTests {
    static let v1 = TestFiles.path("models/v1")
    static let shallow = TestFiles.path("Tests/Fixtures/models/shallow-d2")

    /// The spec of the sample pipeline with `scorer` as its last transform (and the feature scaler on `scaler`).
    static func spec(dir: String, name: String = "reload", input: String, scaler: String, scorer: String, extraSinks: String = "",
                     lateness: String = "5m", aggregates: String = #"["count", "sum"]"#, follow: Bool = true, admin: Int? = nil) -> String {
        """
        {"name": "\(name)",
         "source": {"type": "file", "path": "\(input)", "follow": \(follow), "poll_interval": "20ms", "batch": {"max_events": 200, "max_age": "20ms"}},
         "transforms": [
           {"type": "dynamo_broadcast", "id": "demographics", "mode": "file", "path": "\(TestFiles.path("samples/user_demographics.jsonl"))",
            "fields": ["age", "gender_code", "location", "subscription_type_code", "tenure_months", "income_bracket_code"], "on_missing": "missing"},
           {"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "time_field": "event_created_at_ts",
            "value_field": "transaction_value", "allowed_lateness": "\(lateness)", "aggregates": \(aggregates)},
           {"type": "feature_scaler", "bundle": "\(scaler)"},
           \(scorer)
         ],
         "sinks": [
           {"type": "file", "id": "scored", "path": "\(dir)/\(name)-scored.jsonl"},
           {"type": "file", "id": "alerts", "path": "\(dir)/\(name)-alerts.jsonl", "when": {"field": "is_alert", "equals": true}}\(extraSinks)
         ],
         "dead_letter": {"type": "file", "path": "\(dir)/\(name)-dlq.jsonl"},
         \(admin.map { "\"admin\": {\"address\": \"127.0.0.1:\($0)\"}," } ?? "")
         "checkpoint": {"dir": "\(dir)/\(name)-cp", "interval": "200ms"}}
        """
    }

    static func local(_ bundle: String, variant: String) -> String {
        #"{"type": "local_model", "id": "scorer", "bundle": "\#(bundle)", "variant": "\#(variant)"}"#
    }

    static func split(_ a: (String, Double), _ b: (String, Double)) -> String {
        #"""
        {"type": "ab_split", "id": "scorer", "key_field": "user_id", "variants": [
          {"name": "\#(a.0)", "weight": \#(a.1), "scorer": {"type": "local_model", "bundle": "\#(v1)"}},
          {"name": "\#(b.0)", "weight": \#(b.1), "scorer": {"type": "local_model", "bundle": "\#(shallow)"}}]}
        """#
    }

    /// FNV-1a of the key mapped to [0, 1), as documented for ab_split: written here again, independently.
    static func bucket(_ key: String) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Double(h % 1_000_000) / 1_000_000
    }

    struct Scored {
        var id: String, user: String, variant: String, model: String, score: Double, alert: Bool
        var features: [String]
    }

    static let featureFields = ["age", "txn_count_1h", "txn_sum_1h", "txn_count_24h", "txn_sum_24h", "secs_since_prev_txn"]

    static func read(_ path: String) throws -> [Scored] {
        let parser = RecordParser()
        return try TestFiles.lines(path).map { line in
            let r = Record(fields: try #require(try parser.parse(Array(line.utf8))))
            return Scored(id: r["transaction_id"]?.stringValue ?? "", user: r["user_id"]?.stringValue ?? "",
                          variant: r["variant"]?.stringValue ?? "", model: r["model_version"]?.stringValue ?? "",
                          score: r["fraud_score"]?.doubleValue ?? .nan, alert: r["is_alert"]?.boolValue ?? false,
                          features: featureFields.map { r[$0]?.description ?? "absent" })
        }
    }

    @Test func reloadUnderLoadScoresEveryRecordOnceByTheVariantInForce() async throws {
        let dir = TestFiles.scratch("reload")
        let all = try await Self.sampleLines()
        #expect(all.count == 20_003)
        let held = 2_000   // appended only after the restart

        // References: the whole input through each model, without any reload.
        TestFiles.write(all.joined(separator: "\n") + "\n", to: dir + "/all.jsonl")
        var references: [String: [String: Scored]] = [:]
        for (name, bundle) in [("ref-v1", Self.v1), ("ref-shallow", Self.shallow)] {
            let path = dir + "/\(name).json"
            TestFiles.write(Self.spec(dir: dir, name: name, input: dir + "/all.jsonl", scaler: bundle,
                                      scorer: Self.local(bundle, variant: name), follow: false), to: path)
            let p = try HostProcess(name: name, spec: path, environment: [:], logPath: dir + "/\(name).log")
            #expect(await p.exit() == 0, "reference run failed: \(p.log)")
            references[bundle] = Dictionary(try Self.read(dir + "/\(name)-scored.jsonl").map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
        #expect(references[Self.v1]?.count == 20_000)

        // The phases, in order: variant names say which phase scored a record.
        let big = #", {"type": "file", "id": "big", "path": "\#(dir)/reload-big.jsonl", "when": {"field": "fraud_score", "gte": 0.5}}"#
        let input = dir + "/in.jsonl"
        // The rolling aggregates get a new config twice, each time a new instance that must take over the old
        // one's keyed state: in phase 3 a longer allowed lateness (same windows: the keys move over as they are),
        // in phase 5 one more aggregate (other window state: through a snapshot and restore). Neither changes a
        // feature the model reads on this in-order input.
        let sum = #"["count", "sum"]"#, withMax = #"["count", "sum", "max"]"#
        let phases: [(scaler: String, scorer: String, sinks: String, lateness: String, aggregates: String)] = [
            (Self.v1, Self.local(Self.v1, variant: "p1"), "", "5m", sum),
            (Self.shallow, Self.local(Self.shallow, variant: "p2"), "", "5m", sum),
            (Self.v1, Self.split(("p3-v1", 1), ("p3-shallow", 1)), "", "10m", sum),
            (Self.v1, Self.split(("p4-v1", 3), ("p4-shallow", 1)), "", "10m", sum),
            (Self.v1, Self.local(Self.v1, variant: "p5"), big, "10m", withMax),
        ]
        let specPath = dir + "/reload.json"
        func writePhase(_ i: Int) {
            TestFiles.write(Self.spec(dir: dir, input: input, scaler: phases[i].scaler, scorer: phases[i].scorer, extraSinks: phases[i].sinks,
                                      lateness: phases[i].lateness, aggregates: phases[i].aggregates), to: specPath)
        }
        writePhase(0)
        _ = FileManager.default.createFile(atPath: input, contents: nil)
        let appender = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
        defer { try? appender.close() }
        var next = 0
        var limit = all.count - held
        func append(_ n: Int) throws {
            let end = min(next + n, limit)
            guard end > next else { return }
            try appender.write(contentsOf: Data((all[next..<end].joined(separator: "\n") + "\n").utf8))
            next = end
        }

        let host = try HostProcess(name: "reload", spec: specPath, environment: [:], logPath: dir + "/reload.log")
        defer { host.kill9() }
        func applied() -> Int { host.log.components(separatedBy: "\"reload applied\"").count - 1 }
        // Input arrives in chunks throughout; each reload is asked for while records are flowing.
        for phase in 1..<phases.count {
            for _ in 0..<8 {
                try append(200)
                try await Task.sleep(nanoseconds: 30_000_000)
            }
            writePhase(phase)
            kill(host.pid, SIGHUP)
            let deadline = Date().addingTimeInterval(60)
            while applied() < phase {
                try #require(Date() < deadline && host.isRunning, "reload \(phase) not applied: \(host.log)")
                try append(10)
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            // A host that is far behind could take two reloads before the records between them reach it: go on
            // once the new phase has scored something (input keeps arriving meanwhile).
            let prefix = "\"variant\":\"p\(phase + 1)"
            while !(TestFiles.lastLine(dir + "/reload-scored.jsonl")?.contains(prefix) ?? false) {
                try #require(Date() < deadline && host.isRunning, "phase \(phase + 1) scored nothing: \(host.log)")
                try #require(next < limit, "the input ran out before phase \(phase + 1) scored anything")
                try append(20)
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        try append(all.count)
        let deadline = Date().addingTimeInterval(120)
        while TestFiles.lines(dir + "/reload-scored.jsonl").count + TestFiles.lines(dir + "/reload-dlq.jsonl").count < all.count - held {
            try #require(Date() < deadline && host.isRunning, "the host did not catch up: \(host.log)")
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        host.terminate()
        #expect(await host.exit() == 0, "\(host.log)")
        #expect(!host.log.contains("\"level\":\"error\""), "\(host.log)")
        #expect(host.log.components(separatedBy: "rolling replaced").count == 3, "\(host.log)")

        // The restart resumes the last spec's chain, its keyed state from the checkpoint.
        let restarted = try HostProcess(name: "restarted", spec: specPath, environment: [:], logPath: dir + "/restarted.log")
        defer { restarted.kill9() }
        limit = all.count
        try append(held)
        let restartDeadline = Date().addingTimeInterval(120)  // its own: the first host's wait and exit must not eat into it
        while TestFiles.lines(dir + "/reload-scored.jsonl").count + TestFiles.lines(dir + "/reload-dlq.jsonl").count < all.count {
            try #require(Date() < restartDeadline && restarted.isRunning, "the restarted host did not catch up: \(restarted.log)")
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        restarted.terminate()
        #expect(await restarted.exit() == 0, "\(restarted.log)")

        let scored = try Self.read(dir + "/reload-scored.jsonl")
        #expect(scored.count == 20_000)
        #expect(TestFiles.lines(dir + "/reload-dlq.jsonl").count == 3)
        #expect(Set(scored.map(\.id)).count == scored.count, "a record was scored twice")

        let phaseOf = ["p1": 0, "p2": 1, "p3-v1": 2, "p3-shallow": 2, "p4-v1": 3, "p4-shallow": 3, "p5": 4]
        var last = 0
        var perPhase = [Int](repeating: 0, count: phases.count)
        var wrong: [String] = []
        for s in scored {
            let phase = try #require(phaseOf[s.variant], "unknown variant \(s.variant)")
            // The stream is in order: once a phase has begun, no record of an earlier one follows.
            if phase < last { wrong.append("\(s.id): \(s.variant) after phase \(last + 1) began") }
            last = max(last, phase)
            perPhase[phase] += 1
            let bundle = s.variant.hasSuffix("shallow") || s.variant == "p2" ? Self.shallow : Self.v1
            let ref = try #require(references[bundle]?[s.id])
            if s.score != ref.score || s.model != ref.model { wrong.append("\(s.id) (\(s.variant)): score \(s.score), reference \(ref.score) of \(ref.model)") }
            if s.features != ref.features { wrong.append("\(s.id): features \(s.features), reference \(ref.features)") }
            if phase == 2 || phase == 3 {
                let b = Self.bucket(s.user)
                let expected = phase == 2 ? (b < 0.5 ? "p3-v1" : "p3-shallow") : (b < 0.75 ? "p4-v1" : "p4-shallow")
                if s.variant != expected { wrong.append("\(s.id): user \(s.user) got \(s.variant), not \(expected)") }
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong, first: \(wrong.prefix(5))")
        #expect(perPhase.allSatisfy { $0 > 0 }, "every phase scored records: \(perPhase)")

        let alerts = try Self.read(dir + "/reload-alerts.jsonl").map(\.id)
        #expect(alerts.count == Set(alerts).count)
        #expect(Set(alerts) == Set(scored.filter(\.alert).map(\.id)))
        // The sink added by the last reload got exactly the matching records of that phase (and after the restart).
        let bigIDs = try Self.read(dir + "/reload-big.jsonl").map(\.id)
        #expect(bigIDs.count == Set(bigIDs).count)
        #expect(Set(bigIDs) == Set(scored.filter { $0.variant == "p5" && $0.score >= 0.5 }.map(\.id)))
        #expect(!bigIDs.isEmpty)
    }

    /// An invalid spec, a change that needs a restart and a bundle that cannot be loaded are refused and the old
    /// spec keeps running (and ready); `--watch` applies a valid edit; the outcomes are counted in /metrics.
    @Test func refusedReloadsKeepTheRunningSpecAndWatchAppliesAnEdit() async throws {
        let dir = TestFiles.scratch("reload-refused")
        let input = dir + "/in.jsonl"
        _ = FileManager.default.createFile(atPath: input, contents: nil)
        let port = try MotoServer.freePort()
        let http = HTTPClient()
        defer { http.shutdown() }
        func get(_ path: String) async throws -> HTTPResponse {
            try await http.execute(HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)\(path)"))
        }
        let specPath = dir + "/reload.json"
        func write(scorer: String, scaler: String = Self.v1, name: String = "reload") {
            TestFiles.write(Self.spec(dir: dir, name: name, input: input, scaler: scaler, scorer: scorer, admin: port), to: specPath)
        }
        write(scorer: Self.local(Self.v1, variant: "before"))
        let host = try HostProcess(name: "watch", spec: specPath, environment: [:], logPath: dir + "/watch.log", extraArguments: ["--watch"])
        defer { host.kill9() }
        let lines = try await Self.sampleLines()
        func feed(_ range: Range<Int>) throws {
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
            try h.seekToEnd()
            try h.write(contentsOf: Data((lines[range].joined(separator: "\n") + "\n").utf8))
            try h.close()
        }
        func count(_ message: String) -> Int { host.log.components(separatedBy: "\"\(message)\"").count - 1 }
        func waitFor(_ what: String, _ condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(60)
            while !condition() {
                try #require(Date() < deadline && host.isRunning, "\(what): \(host.log)")
                try await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        try feed(0..<100)
        try await waitFor("first records") { TestFiles.lines(dir + "/reload-scored.jsonl").count >= 100 }

        TestFiles.write("{\"name\": \"reload\", \"source\": ", to: specPath)   // half a spec
        try await waitFor("invalid spec refused") { count("reload rejected; the running spec stays") >= 1 }
        write(scorer: Self.local(Self.v1, variant: "before"), name: "renamed")
        try await waitFor("rename refused") { count("reload rejected; the running spec stays") >= 2 }
        #expect(host.log.contains("restart the host to apply it"))
        write(scorer: Self.local(dir + "/no-such-bundle", variant: "never"))
        try await waitFor("missing bundle refused") { count("reload failed; the running spec stays") + count("reload rejected; the running spec stays") >= 3 }
        #expect(try await get("/ready").status == 200)
        try feed(100..<200)   // line 100 of the sample is broken: it goes to the dead-letter output
        try await waitFor("records after the refusals") { TestFiles.lines(dir + "/reload-scored.jsonl").count >= 199 }

        write(scorer: Self.local(Self.v1, variant: "after"))
        try await waitFor("valid edit applied") { count("reload applied") == 1 }
        try feed(200..<300)
        try await waitFor("records after the edit") { TestFiles.lines(dir + "/reload-scored.jsonl").count >= 299 }
        let variants = try Self.read(dir + "/reload-scored.jsonl").map(\.variant)
        #expect(variants == Array(repeating: "before", count: 199) + Array(repeating: "after", count: 100))

        let metrics = String(decoding: try await get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"pipeline_reloads_total{pipeline="reload",result="applied"} 1"#), "\(metrics)")
        let refused = ["rejected", "failed"].compactMap { result in
            metrics.split(separator: "\n").first { $0.hasPrefix("pipeline_reloads_total{pipeline=\"reload\",result=\"\(result)\"}") }
                .flatMap { Int($0.split(separator: " ").last ?? "") }
        }.reduce(0, +)
        #expect(refused == 3, "\(metrics)")
        // Every stage's series carries the pipeline; the one broken line is a dead letter of the source, and the
        // dead-letter output has no records-out series of its own (one stuck at 0 misled).
        #expect(!metrics.contains(#"pipeline_records_out_total{pipeline="reload",sink="dead_letter"}"#), "\(metrics)")
        for series in [#"pipeline_records_out_total{pipeline="reload",sink="scored"} 299"#,
                       #"pipeline_dead_letter_total{pipeline="reload",stage="source"} 1"#,
                       #"pipeline_transform_records_total{pipeline="reload",transform="rolling"} 299"#] {
            #expect(metrics.contains(series + "\n"), "\(series) in \(metrics)")
        }
        host.terminate()
        #expect(await host.exit() == 0)
    }

    static func sampleLines() async throws -> [String] {
        let out = try await ChildProcess.run("/bin/sh", ["-c", "gzip -dc '\(TestFiles.path("samples/transactions.jsonl.gz"))'"])
        return out.stdout.split(separator: "\n").map(String.init)
    }
}
