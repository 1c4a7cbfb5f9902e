import Foundation

/// A chart drawn as inline SVG: axes with ticks, then lines, steps, bars and markers in data coordinates.
/// Self-contained on purpose: the report must open offline, with no script and no external asset.
struct SVGPlot {
    struct Series {
        var name: String
        var color: String
        var points: [(Double, Double)]
        var dashed = false
    }

    var width = 460.0
    let height = 300.0
    let left = 56.0, right = 14.0, top = 46.0, bottom = 44.0
    var title: String
    var xLabel: String
    var yLabel: String
    var xDomain: (Double, Double)
    var yDomain: (Double, Double)
    /// Labels ticks on the x axis (e.g. as dates); default: the number.
    var xTickFormat: (Double) -> String = { SVGPlot.number($0) }
    /// Tick spacing on the x axis; default: a round step giving about five ticks.
    var xTickStep: Double?
    /// A logarithmic y axis (for shares that span orders of magnitude); the domain must be positive.
    var yLog = false
    private var body: [String] = []
    private var legend: [(String, String, Bool)] = []

    init(title: String, xLabel: String, yLabel: String, x: (Double, Double), y: (Double, Double)) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        xDomain = x.0 < x.1 ? x : (x.0 - 0.5, x.0 + 0.5)
        yDomain = y.0 < y.1 ? y : (y.0 - 0.5, y.0 + 0.5)
    }

    func px(_ x: Double) -> Double { left + (x - xDomain.0) / (xDomain.1 - xDomain.0) * (width - left - right) }
    func py(_ y: Double) -> Double {
        if yLog {
            let lo = log10(yDomain.0), hi = log10(yDomain.1)
            let v = log10(min(max(y, yDomain.0), yDomain.1))
            return height - bottom - (v - lo) / (hi - lo) * (height - top - bottom)
        }
        return height - bottom - (y - yDomain.0) / (yDomain.1 - yDomain.0) * (height - top - bottom)
    }

    static func number(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 10_000 { return String(format: "%.0fk", v / 1000) }
        if abs(v) >= 100 || v == v.rounded() { return String(format: "%.0f", v) }
        return String(format: "%.2g", v)
    }

    static func percent(_ v: Double) -> String {
        let p = v * 100
        return p >= 1 ? String(format: "%.0f%%", p) : String(format: "%g%%", p)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private func path(_ pts: [(Double, Double)]) -> String {
        pts.enumerated().map { i, p in
            (i == 0 ? "M" : "L") + String(format: "%.1f %.1f", px(p.0), py(p.1))
        }.joined(separator: " ")
    }

    mutating func line(_ s: Series) {
        guard !s.points.isEmpty else { return }
        let dash = s.dashed ? " stroke-dasharray=\"5 4\"" : ""
        body.append("<path class=\"series\" data-series=\"\(Self.escape(s.name))\" d=\"\(path(s.points))\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\"\(dash)/>")
        legend.append((s.name, s.color, s.dashed))
    }

    /// A histogram as a step outline over bins [edges[i], edges[i+1]).
    mutating func steps(_ name: String, color: String, edges: [Double], heights: [Double], fill: Bool) {
        guard heights.count + 1 == edges.count, !heights.isEmpty else { return }
        var pts: [(Double, Double)] = [(edges[0], yDomain.0)]
        for i in heights.indices {
            pts.append((edges[i], heights[i]))
            pts.append((edges[i + 1], heights[i]))
        }
        pts.append((edges[edges.count - 1], yDomain.0))
        let fillAttr = fill ? "fill=\"\(color)\" fill-opacity=\"0.25\"" : "fill=\"none\""
        body.append("<path class=\"series\" data-series=\"\(Self.escape(name))\" d=\"\(path(pts))\" \(fillAttr) stroke=\"\(color)\" stroke-width=\"1.4\"/>")
        legend.append((name, color, false))
    }

    /// A vertical marker (a chosen threshold) with its label.
    mutating func marker(x: Double, label: String, color: String = "#444") {
        let X = px(x)
        body.append("<line class=\"marker\" x1=\"\(f(X))\" x2=\"\(f(X))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"\(color)\" stroke-dasharray=\"2 3\"/>")
        let anchor = X > width * 0.7 ? "end" : "start"
        let tx = anchor == "end" ? X - 4 : X + 4
        body.append("<text x=\"\(f(tx))\" y=\"\(f(top + 12))\" font-size=\"11\" text-anchor=\"\(anchor)\" fill=\"\(color)\">\(Self.escape(label))</text>")
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private func ticks(_ d: (Double, Double), step fixed: Double? = nil) -> [Double] {
        let span = d.1 - d.0
        if let fixed {
            return stride(from: (d.0 / fixed).rounded(.up) * fixed, through: d.1, by: fixed).map { $0 }
        }
        let raw = span / 5
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = ceil(d.0 / step) * step
        var out: [Double] = []
        while t <= d.1 + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    func svg(id: String) -> String {
        var s = "<svg class=\"plot\" id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(Self.escape(title))\">"
        s += "<title>\(Self.escape(title))</title>"
        s += "<text x=\"\(f(left))\" y=\"16\" font-size=\"13\" font-weight=\"600\">\(Self.escape(title))</text>"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width - left - right))\" height=\"\(f(height - top - bottom))\" fill=\"#fff\" stroke=\"#bbb\"/>"
        for t in ticks(xDomain, step: xTickStep) {
            let X = px(t)
            s += "<line x1=\"\(f(X))\" x2=\"\(f(X))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#eee\"/>"
            // The last label ends at the axis' end instead of running off the image.
            let anchor = X > width - right - 30 ? "end" : "middle"
            s += "<text x=\"\(f(X))\" y=\"\(f(height - bottom + 14))\" font-size=\"10\" text-anchor=\"\(anchor)\">\(Self.escape(xTickFormat(t)))</text>"
        }
        let yTicks = yLog
            ? (Int(log10(yDomain.0).rounded(.up))...Int(log10(yDomain.1).rounded(.down))).map { pow(10, Double($0)) }
            : ticks(yDomain)
        for t in yTicks {
            let Y = py(t)
            s += "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(Y))\" y2=\"\(f(Y))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(f(left - 4))\" y=\"\(f(Y + 3))\" font-size=\"10\" text-anchor=\"end\">\(yLog ? Self.percent(t) : Self.number(t))</text>"
        }
        s += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 8))\" font-size=\"11\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>"
        s += "<text transform=\"translate(14 \(f((top + height - bottom) / 2))) rotate(-90)\" font-size=\"11\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>"
        s += "<g clip-path=\"none\">" + body.joined() + "</g>"
        // The legend is one row between the title and the plot, so it never hides a curve.
        var x = left
        for (name, color, dashed) in legend {
            let y = 32.0
            s += "<line x1=\"\(f(x))\" x2=\"\(f(x + 16))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
            s += "<text x=\"\(f(x + 20))\" y=\"\(f(y + 3.5))\" font-size=\"10\">\(Self.escape(name))</text>"
            x += 28 + Double(name.count) * 5.6
        }
        return s + "</svg>"
    }
}
