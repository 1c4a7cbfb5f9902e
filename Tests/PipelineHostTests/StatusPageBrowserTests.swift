import AWSCore
import Foundation
import Testing
import TestSupport

/// The status page in a real browser: headless Chromium (Debian's `chromium`) loads `/` of a running host, runs
/// its script against `/status.json`, and the DOM it ends with shows every stage of the spec with counters that
/// move while records flow. A screenshot goes to out/test-artifacts/status-page.png.
@Suite struct StatusPageBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs headless Chromium on `url` with `args`, returning stdout; scripts get `budget` ms of virtual time.
    static func browse(_ url: String, _ args: [String], budget: Int = 3000) async throws -> String {
        let chromium = try #require(chromium, "headless Chromium is not installed (scripts/setup.sh --test installs Debian's chromium)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        let profile = TestFiles.scratch("chromium-profile")
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                       "--user-data-dir=\(profile)", "--window-size=1400,1000", "--virtual-time-budget=\(budget)"] + args + [url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Read before waiting: a DOM larger than the pipe buffer would otherwise block the browser.
        let reader = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning {
            if Date() > deadline { p.terminate() }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return String(decoding: await reader.value, as: UTF8.self)
    }

    /// The text of each node's parts in a dumped DOM: node id → class → text.
    static func nodes(_ dom: String) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        for chunk in dom.components(separatedBy: "<g class=\"node ").dropFirst() {
            guard let idRange = chunk.range(of: "data-id=\""), let end = chunk[idRange.upperBound...].firstIndex(of: "\"") else { continue }
            let id = String(chunk[idRange.upperBound..<end])
            var parts: [String: String] = [:]
            let body = chunk.components(separatedBy: "</g>").first ?? chunk
            for text in body.components(separatedBy: "<text class=\"").dropFirst() {
                let cls = String(text.prefix { $0 != "\"" })
                if let open = text.firstIndex(of: ">"), let close = text.range(of: "</text>") {
                    parts[cls] = String(text[text.index(after: open)..<close.lowerBound])
                }
            }
            out[id] = parts
        }
        return out
    }

    @Test func theStatusPageShowsTheStagesAndMovingCounters() async throws {
        let dir = TestFiles.scratch("status-page")
        let port = try MotoServer.freePort()
        let input = dir + "/in.jsonl"
        TestFiles.write("", to: input)
        let spec = """
            {"name": "status-<page>",
             "source": {"type": "file", "path": "\(input)", "follow": true, "poll_interval": "50ms", "batch": {"max_age": "10ms"}},
             "transforms": [
               {"type": "dynamo_broadcast", "id": "demographics", "mode": "file", "path": "\(TestFiles.path("samples/user_demographics.jsonl"))",
                "fields": ["age", "tenure_months"], "on_missing": "missing"},
               {"type": "rolling_aggregates", "id": "rolling", "key_field": "user_id", "time_field": "event_created_at_ts",
                "value_field": "transaction_value", "allowed_lateness": "5m"}
             ],
             "sinks": [{"type": "file", "id": "scored", "path": "\(dir)/out.jsonl"},
                       {"type": "file", "id": "big_ones", "path": "\(dir)/big.jsonl", "when": {"field": "transaction_value", "gt": 100}}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"},
             "checkpoint": {"dir": "\(dir)/cp", "interval": "200ms"},
             "admin": {"address": "127.0.0.1:\(port)"}}
            """
        TestFiles.write(spec, to: dir + "/spec.json")
        let host = try HostProcess(name: "status", spec: dir + "/spec.json", environment: [:], logPath: dir + "/host.log")
        defer { host.kill9() }
        // Records keep flowing while the browser looks (with one bad line now and then).
        let feeder = Task {
            var n = 0
            while !Task.isCancelled {
                n += 1
                let now = Date().timeIntervalSince1970
                var lines = (0..<50).map { i in #"{"user_id": "u\#(i % 7)", "event_created_at_ts": \#(now), "transaction_value": \#(i * 5)}"# }
                if n % 4 == 0 { lines.append("not json") }
                if let h = try? FileHandle(forWritingTo: URL(fileURLWithPath: input)) {
                    _ = try? h.seekToEnd()
                    try? h.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
                    try? h.close()
                }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        defer { feeder.cancel() }
        let url = "http://127.0.0.1:\(port)/"
        let http = HTTPClient()
        defer { http.shutdown() }
        let started = Date()
        // Until records have reached the sinks: the page is then looked at while they keep flowing.
        while !String(decoding: (try? await http.execute(HTTPRequest(method: "GET", url: url + "status.json")))?.body ?? [], as: UTF8.self)
            .contains(#""records_out":"#) || TestFiles.lines(dir + "/out.jsonl").isEmpty {
            try #require(Date().timeIntervalSince(started) < 60 && host.isRunning, "the admin server did not come up: \(host.log)")
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        // The page itself is served with a policy that lets nothing but its own inline script and style run.
        let page = try await http.execute(HTTPRequest(method: "GET", url: url))
        #expect(page.status == 200)
        #expect(page.headers.first { $0.0.lowercased() == "content-security-policy" }?.1.contains("default-src 'none'") == true)

        let first = Self.nodes(try await Self.browse(url, ["--dump-dom"]))
        try await Task.sleep(nanoseconds: 1_500_000_000)
        let secondDOM = try await Self.browse(url, ["--dump-dom"])
        let second = Self.nodes(secondDOM)
        // Every component of the spec is a node, the dead-letter output included.
        #expect(Set(second.keys) == ["source", "demographics", "rolling", "scored", "big_ones", "dead_letter"], "\(second.keys)")
        func count(_ s: String?) -> Double {
            guard let s else { return -1 }
            let digits = s.split(separator: " ").first.map(String.init) ?? ""
            if digits.hasSuffix("k") { return (Double(digits.dropLast()) ?? -1) * 1e3 }
            return Double(digits) ?? -1
        }
        for id in ["source", "rolling", "scored"] {
            #expect(count(second[id]?["total"]) > 0, "\(id): \(second[id] ?? [:])")
            #expect(count(second[id]?["total"]) > count(first[id]?["total"]), "\(id) did not move: \(first[id] ?? [:]) → \(second[id] ?? [:])")
        }
        // The script filled in rates, latencies and queue depths (the server rendered placeholders).
        #expect(second["scored"]?["rate"]?.hasSuffix("ev/s") == true && second["scored"]?["rate"] != "– ev/s", "\(second["scored"] ?? [:])")
        #expect(second["scored"]?["p99"]?.contains("ms") == true || second["scored"]?["p99"]?.contains(" s") == true, "\(second["scored"] ?? [:])")
        #expect(count(second["source"]?["errors"]) > 0, "the bad lines show as failed at the source")
        #expect(secondDOM.contains("class=\"pill ok\">running<"))
        // The dead letters by reason, and the spec's name escaped (it holds < and >).
        #expect(secondDOM.contains("source: "))
        #expect(secondDOM.contains("status-&lt;page&gt;"))

        let artifacts = TestFiles.path("out/test-artifacts")
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/status-page.png"
        try? FileManager.default.removeItem(atPath: shot)
        _ = try await Self.browse(url, ["--screenshot=\(shot)"])
        #expect(TestFiles.size(shot) > 10_000, "no screenshot at \(shot)")
        print("status page screenshot: \(shot)")

        feeder.cancel()
        host.terminate()
        #expect(await host.exit(timeout: 30) == 0)
    }
}
