import Foundation
import Testing
import TestSupport

/// The report in a real browser: headless Chromium (Debian's `chromium`) opens report.html from disk with the
/// network cut off, and the DOM it renders holds every plot with its curves. The screenshot goes to
/// out/test-artifacts/backtest-report.png (docs/images/backtest-report.png is one of these).
@Suite struct BacktestReportBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    static func browse(_ url: String, _ args: [String]) async throws -> String {
        let chromium = try #require(chromium, "headless Chromium is not installed (scripts/setup.sh --test installs Debian's chromium)")
        let profile = BT.scratch("chromium-profile")
        // No proxy server that exists: any request for an external asset would fail, and the page must not need one.
        let r = try await BT.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                                            "--user-data-dir=\(profile)", "--proxy-server=127.0.0.1:9", "--window-size=1400,2600",
                                            "--virtual-time-budget=2000"] + args + [url], timeout: 90)
        return r.output
    }

    @Test func theReportRendersEveryPlotOffline() async throws {
        let out = BT.scratch("report-browser")
        let r = try await BT.host(["backtest", "pipelines/local.json", "--input", BT.path("samples/transactions-labeled.jsonl.gz"),
                                   "--bundle", "v1=models/v1", "--bundle", "shallow=\(BT.path("Tests/Fixtures/models/shallow-d2"))",
                                   "--out", out, "--bootstrap", "200"])
        try #require(r.status == 0, "\(r.output)")
        let url = "file://\(out)/report.html"
        let dom = try await Self.browse(url, ["--dump-dom"])
        // Every plot, each with its series drawn (a path with data), by id.
        for id in ["roc", "pr", "threshold-0", "threshold-1", "timeline", "distribution-0", "distribution-1"] {
            guard let start = dom.range(of: "<svg class=\"plot\" id=\"\(id)\"") else {
                Issue.record("no plot \(id) in the rendered page")
                continue
            }
            let svg = dom[start.lowerBound...].prefix { _ in true }
            let body = String(svg[..<(svg.range(of: "</svg>")?.upperBound ?? svg.endIndex)])
            let paths = body.components(separatedBy: "class=\"series\"").count - 1
            #expect(paths >= 2, "plot \(id) has \(paths) series")
            #expect(body.contains(" d=\"M"), "plot \(id) has no drawn path")
        }
        // The threshold each variant runs with is marked on its plots and highlighted in its table.
        #expect(dom.contains("threshold 0.180"))
        #expect(dom.contains("0.180 (chosen)"))
        #expect(dom.contains("At equal alert volume"))
        // The summary table's AUC is the JSON summary's, to the digits shown.
        let summary = try BT.json(out + "/summary.json")
        let auc = try #require(summary["variants"]?.arrayValue?.first?["auc"]?.doubleValue)
        #expect(dom.contains("<td class=\"auc\">\(String(format: "%.4f", auc))</td>"))

        let artifacts = BT.path("out/test-artifacts")
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let shot = artifacts + "/backtest-report.png"
        try? FileManager.default.removeItem(atPath: shot)
        _ = try await Self.browse(url, ["--screenshot=\(shot)"])
        let png = try #require(FileManager.default.contents(atPath: shot), "no screenshot")
        #expect(png.count > 50_000, "a blank page? \(png.count) bytes")
        #expect(png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
    }
}
