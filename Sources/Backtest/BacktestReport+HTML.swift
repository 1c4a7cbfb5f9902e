import Foundation

/// The report as one HTML page: inline CSS and SVG, no script, no external asset, so it opens offline, from
/// an email attachment or an S3 download alike.
extension BacktestReport {
    static let palette = ["#1f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285"]

    func color(_ v: Int) -> String { Self.palette[v % Self.palette.count] }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", $0 * 100) } ?? "–" }
    static func num(_ v: Double?, _ digits: Int = 4) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
    static func esc(_ s: String) -> String { SVGPlot.escape(s) }
    static func count(_ n: Int) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        return f.string(from: NSNumber(value: n)) ?? "\(n)"
    }

    public var html: String {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(Self.esc(title))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
            header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:19px}
            header p{margin:4px 0 0;color:#c9d1e0;font-size:13px}
            main{padding:16px 24px;max-width:1500px}
            section{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:14px 16px;margin:0 0 16px}
            h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
            table{border-collapse:collapse;font-variant-numeric:tabular-nums}
            th,td{padding:4px 10px;border-bottom:1px solid #eceef2;text-align:right}
            th:first-child,td:first-child{text-align:left}th{background:#f1f3f6;font-weight:600}
            tr.chosen td{background:#fff4d6;font-weight:600}
            .plots{display:flex;flex-wrap:wrap;gap:12px}.plot{background:#fff}
            .note{color:#5b6475;font-size:12.5px}.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
            </style></head><body>
            <header><h1>\(Self.esc(title))</h1>
            <p>\(Self.esc(headline))</p></header><main>

            """
        h += inputSection + variantsSection + curvesSection + thresholdSection + timelineSection + distributionSection
        h += comparisonSection
        h += "</main></body></html>\n"
        return h
    }

    var headline: String {
        let f = ISO8601DateFormatter()
        return "\(Self.count(events.count)) labeled events (\(Self.count(events.positives)) fraud) · " +
            "\(events.variants.count) variant\(events.variants.count == 1 ? "" : "s") · replayed at " +
            "\(Self.count(Int(eventsPerSecond))) events/s · generated \(f.string(from: generatedAt))"
    }

    var inputSection: String {
        var rows = [
            ("Input", accounting.input),
            ("Lines read", Self.count(accounting.linesRead)),
            ("Labeled events evaluated", "\(Self.count(events.count)) (fraud rate \(Self.pct(events.count > 0 ? Double(events.positives) / Double(events.count) : nil)))"),
            ("Dead-lettered", Self.count(accounting.deadLettered) + (accounting.deadLetterPath.map { " (\($0))" } ?? "")),
            ("Without a label", Self.count(accounting.unlabeled)),
            ("Not scorable", Self.count(accounting.unscorable)),
        ]
        if accounting.reordered { rows.append(("Order", "put in event-time order before the replay")) }
        var s = "<section id=\"input\"><h2>Input</h2><table>"
        for (k, v) in rows { s += "<tr><td>\(Self.esc(k))</td><td>\(Self.esc(v))</td></tr>" }
        s += "</table>"
        for p in accounting.firstProblems { s += "<p class=\"note\">\(Self.esc(p))</p>" }
        return s + "</section>\n"
    }

    var variantsSection: String {
        var s = "<section id=\"variants\"><h2>Variants</h2><table><tr><th>Variant</th><th>Model</th><th>Source</th><th>Threshold</th>"
        s += "<th>ROC AUC</th><th>PR AUC</th><th>Alerts</th><th>Alert rate</th><th>Precision</th><th>Recall</th></tr>"
        for (i, (v, m)) in zip(events.variants, metrics).enumerated() {
            let a = m.at(v.threshold)
            s += "<tr><td><span class=\"swatch\" style=\"background:\(color(i))\"></span>\(Self.esc(v.name))</td>"
            s += "<td>\(Self.esc(v.modelVersion ?? "–"))</td><td>\(Self.esc(v.source))</td><td>\(Self.num(v.threshold, 3))</td>"
            s += "<td class=\"auc\">\(Self.num(m.rocAUC))</td><td class=\"pr-auc\">\(Self.num(m.averagePrecision))</td>"
            s += "<td>\(Self.count(a.alerts))</td><td>\(Self.pct(a.alertRate))</td><td>\(Self.pct(a.precision))</td><td>\(Self.pct(a.recall))</td></tr>"
        }
        return s + "</table><p class=\"note\">PR AUC is the average precision (scikit-learn's average_precision_score). An event alerts when its score is at or above the threshold.</p></section>\n"
    }

    var curvesSection: String {
        var roc = SVGPlot(title: "ROC curve", xLabel: "false positive rate", yLabel: "true positive rate (recall)", x: (0, 1), y: (0, 1))
        roc.line(.init(name: "chance", color: "#aaa", points: [(0, 0), (1, 1)], dashed: true))
        var pr = SVGPlot(title: "Precision-recall curve", xLabel: "recall", yLabel: "precision", x: (0, 1), y: (0, 1))
        let base = events.count > 0 ? Double(events.positives) / Double(events.count) : 0
        pr.line(.init(name: "fraud rate", color: "#aaa", points: [(0, base), (1, base)], dashed: true))
        for (i, (v, m)) in zip(events.variants, metrics).enumerated() {
            roc.line(.init(name: "\(v.name) (AUC \(Self.num(m.rocAUC, 3)))", color: color(i), points: m.rocCurve()))
            pr.line(.init(name: "\(v.name) (AP \(Self.num(m.averagePrecision, 3)))", color: color(i), points: m.prCurve()))
        }
        return "<section id=\"curves\"><h2>Ranking</h2><div class=\"plots\">\(roc.svg(id: "roc"))\(pr.svg(id: "pr"))</div></section>\n"
    }

    var thresholdSection: String {
        var s = "<section id=\"thresholds\"><h2>By threshold</h2><div class=\"plots\">"
        for (i, (v, m)) in zip(events.variants, metrics).enumerated() {
            let rows = Self.grid.map { m.at($0) }
            var p = SVGPlot(title: "\(v.name): precision, recall, alert rate", xLabel: "threshold", yLabel: "share", x: (0, 1), y: (0, 1))
            p.line(.init(name: "precision", color: color(i), points: rows.compactMap { r in r.precision.map { (r.threshold, $0) } }))
            p.line(.init(name: "recall", color: color(i), points: rows.compactMap { r in r.recall.map { (r.threshold, $0) } }, dashed: true))
            p.line(.init(name: "alert rate", color: "#888", points: rows.map { ($0.threshold, $0.alertRate) }))
            p.marker(x: v.threshold, label: "threshold \(Self.num(v.threshold, 3))")
            s += p.svg(id: "threshold-\(i)")
        }
        s += "</div><div class=\"plots\">"
        for (i, (v, m)) in zip(events.variants, metrics).enumerated() {
            s += "<div><h3><span class=\"swatch\" style=\"background:\(color(i))\"></span>\(Self.esc(v.name))</h3>"
            s += "<table class=\"threshold-table\"><tr><th>Threshold</th><th>Alerts</th><th>Alert rate</th><th>True positives</th><th>False positives</th><th>Precision</th><th>Recall</th></tr>"
            var rows = (1...19).map { m.at(Double($0 * 5) / 100) }
            if !rows.contains(where: { abs($0.threshold - v.threshold) < 1e-9 }) { rows.append(m.at(v.threshold)) }
            rows.sort { $0.threshold < $1.threshold }
            for r in rows {
                let chosen = abs(r.threshold - v.threshold) < 1e-9
                s += "<tr\(chosen ? " class=\"chosen\"" : "")><td>\(Self.num(r.threshold, 3))\(chosen ? " (chosen)" : "")</td><td>\(Self.count(r.alerts))</td>"
                s += "<td>\(Self.pct(r.alertRate))</td><td>\(Self.count(r.truePositives))</td><td>\(Self.count(r.falsePositives))</td>"
                s += "<td>\(Self.pct(r.precision))</td><td>\(Self.pct(r.recall))</td></tr>"
            }
            s += "</table></div>"
        }
        return s + "</div></section>\n"
    }

    var timelineSection: String {
        let t = timeline
        guard !t.hours.isEmpty else {
            return "<section id=\"timeline\"><h2>Alerts per hour</h2><p class=\"note\">The events carry no event time.</p></section>\n"
        }
        let maxY = Double(max(1, (t.alerts.flatMap { $0 } + t.fraud).max() ?? 1))
        let start = t.hours[0], end = t.hours[t.hours.count - 1] + 3600
        var p = SVGPlot(title: "Alerts per hour (event time, UTC)", xLabel: "event time (UTC)", yLabel: "events per hour",
                        x: (start, end), y: (0, maxY * 1.1))
        p.width = 940
        // Ticks on whole hours or days, about eight of them.
        let span = end - start
        let steps: [Double] = [1, 3, 6, 12, 24, 48, 168, 336, 672].map { $0 * 3600 }
        let step = steps.first { span / $0 <= 9 } ?? steps[steps.count - 1]
        p.xTickStep = step
        let day = DateFormatter()
        day.dateFormat = step >= 86400 ? "yyyy-MM-dd" : "MM-dd HH:mm"
        day.timeZone = TimeZone(identifier: "UTC")
        p.xTickFormat = { day.string(from: Date(timeIntervalSince1970: $0)) }
        p.line(.init(name: "fraud events", color: "#888", points: zip(t.hours, t.fraud).map { ($0 + 1800, Double($1)) }, dashed: true))
        for (i, v) in events.variants.enumerated() {
            p.line(.init(name: "\(v.name) alerts", color: color(i), points: zip(t.hours, t.alerts[i]).map { ($0 + 1800, Double($1)) }))
        }
        let wide = p.svg(id: "timeline")
        return "<section id=\"timeline\"><h2>Alerts per hour</h2><div class=\"plots\">\(wide)</div></section>\n"
    }

    var distributionSection: String {
        var s = "<section id=\"distributions\"><h2>Score distributions</h2><div class=\"plots\">"
        for (i, v) in events.variants.enumerated() {
            let d = distribution(i)
            // Log scale: most legitimate events sit in the first bin, most fraud in the last; both must show.
            var p = SVGPlot(title: "\(v.name): scores of fraud and legitimate events", xLabel: "score", yLabel: "share of the class (log)",
                            x: (d.edges[0], d.edges[d.edges.count - 1]), y: (1e-4, 1))
            p.yLog = true
            p.steps("legitimate", color: "#6c757d", edges: d.edges, heights: d.legit, fill: true)
            p.steps("fraud", color: "#d9480f", edges: d.edges, heights: d.fraud, fill: true)
            p.marker(x: v.threshold, label: "threshold")
            s += p.svg(id: "distribution-\(i)")
        }
        return s + "</div></section>\n"
    }

    var comparisonSection: String {
        guard !comparisons.isEmpty else { return "" }
        var s = "<section id=\"comparison\"><h2>Side by side</h2>"
        for c in comparisons {
            let g = c.agreement
            s += "<h3>\(Self.esc(c.a)) vs \(Self.esc(c.b))</h3><div class=\"plots\"><div>"
            s += "<table class=\"agreement\"><tr><th>Each at its own threshold</th><th>\(Self.esc(c.b)) alerts</th><th>\(Self.esc(c.b)) silent</th></tr>"
            s += "<tr><td>\(Self.esc(c.a)) alerts</td><td>\(Self.count(g.both)) (fraud \(Self.count(g.fraudBoth)))</td><td>\(Self.count(g.onlyA)) (fraud \(Self.count(g.fraudOnlyA)))</td></tr>"
            s += "<tr><td>\(Self.esc(c.a)) silent</td><td>\(Self.count(g.onlyB)) (fraud \(Self.count(g.fraudOnlyB)))</td><td>\(Self.count(g.neither)) (fraud \(Self.count(g.fraudNeither)))</td></tr></table>"
            if let e = c.equalVolume {
                s += "<p class=\"equal-volume\">At equal alert volume (the \(Self.count(e.alerts)) highest-scored events of each): recall "
                s += "\(Self.pct(e.recallA)) for \(Self.esc(c.a)), \(Self.pct(e.recallB)) for \(Self.esc(c.b)); difference "
                s += "<b>\(String(format: "%+.1f", e.difference * 100)) points</b>, 95 % bootstrap interval "
                s += "[\(String(format: "%+.1f", e.ci95.0 * 100)), \(String(format: "%+.1f", e.ci95.1 * 100))] "
                s += "(\(e.resamples) resamples, seed \(e.seed)).</p>"
            }
            s += "</div></div>"
        }
        return s + "</section>\n"
    }
}
