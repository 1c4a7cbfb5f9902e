import PipelineHost

/// The status page (`/`): the pipeline as a graph (source → transforms → sinks, and the dead-letter output),
/// rendered on the server as HTML + SVG from the spec, with a small inline script that polls `/status.json`
/// every second and fills in each node's rate, errors, p99 latency and queue depth, the shard lag, the dead
/// letters by reason and the plugins' details. No external assets, no build step; every text from the spec or
/// from the JSON goes in escaped (server) or as textContent (script).
enum StatusPage {
    struct Node {
        let id: String
        let type: String
        let kind: String
        let x: Int
        let y: Int
    }

    static let width = 180, height = 96, gapX = 44, gapY = 22

    static func layout(_ spec: PipelineSpec) -> (nodes: [Node], edges: [(Int, Int, dashed: Bool)], size: (Int, Int)) {
        var nodes: [Node] = []
        var edges: [(Int, Int, dashed: Bool)] = []
        let chain = [(spec.source.id, spec.source.type, "source")] + spec.transforms.map { ($0.id, $0.type, "transform") }
        for (i, c) in chain.enumerated() {
            nodes.append(Node(id: c.0, type: c.1, kind: c.2, x: 20 + i * (width + gapX), y: 20))
            if i > 0 { edges.append((i - 1, i, false)) }
        }
        let last = chain.count - 1
        let sinkX = 20 + chain.count * (width + gapX)
        for (j, s) in spec.sinks.enumerated() {
            nodes.append(Node(id: s.config.id, type: s.config.type + (s.when == nil ? "" : " (when …)"), kind: "sink",
                              x: sinkX, y: 20 + j * (height + gapY)))
            edges.append((last, nodes.count - 1, false))
        }
        let rows = max(1, spec.sinks.count)
        let dlY = 20 + rows * (height + gapY)
        nodes.append(Node(id: spec.deadLetter.id, type: spec.deadLetter.type, kind: "dead_letter", x: sinkX, y: dlY))
        let dl = nodes.count - 1
        for i in 0...last { edges.append((i, dl, true)) }
        return (nodes, edges, (sinkX + width + 20, dlY + height + 20))
    }

    static func html(spec: PipelineSpec) -> String {
        let (nodes, edges, size) = layout(spec)
        var svg = "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(size.0)\" height=\"\(size.1)\" viewBox=\"0 0 \(size.0) \(size.1)\" role=\"img\" aria-label=\"pipeline graph\">"
        svg += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#667\"/></marker></defs>"
        for (a, b, dashed) in edges {
            let from = nodes[a], to = nodes[b]
            let x1 = from.x + width, y1 = from.y + height / 2
            let (x2, y2) = dashed ? (to.x, to.y + height / 2) : (to.x, to.y + height / 2)
            let x1d = dashed ? from.x + width / 2 : x1, y1d = dashed ? from.y + height : y1
            svg += "<path class=\"edge\(dashed ? " dl" : "")\" d=\"M\(x1d),\(y1d) C\(x1d + (dashed ? 0 : 30)),\(y1d + (dashed ? 40 : 0)) \(x2 - 30),\(y2) \(x2),\(y2)\" marker-end=\"url(#arrow)\"/>"
        }
        for n in nodes {
            svg += "<g class=\"node \(n.kind)\" data-id=\"\(escape(n.id))\" transform=\"translate(\(n.x),\(n.y))\">"
            svg += "<rect width=\"\(width)\" height=\"\(height)\" rx=\"8\"/>"
            svg += "<text class=\"title\" x=\"10\" y=\"20\">\(escape(n.id))</text>"
            svg += "<text class=\"type\" x=\"10\" y=\"36\">\(escape(n.type))</text>"
            svg += "<text class=\"rate\" x=\"10\" y=\"56\">– ev/s</text>"
            svg += "<text class=\"errors\" x=\"100\" y=\"56\">0 failed</text>"
            svg += "<text class=\"p99\" x=\"10\" y=\"76\">p99 –</text>"
            svg += "<text class=\"queue\" x=\"100\" y=\"76\">queue 0</text>"
            svg += "<text class=\"total\" x=\"10\" y=\"90\">0 records</text>"
            svg += "</g>"
        }
        svg += "</svg>"
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(spec.name)) · pipeline-host</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
        header{padding:12px 20px;background:#1d2330;color:#fff;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
        header h1{font-size:18px;margin:0}
        .pill{padding:2px 8px;border-radius:10px;background:#556;font-size:12px}
        .pill.ok{background:#2e7d32}.pill.bad{background:#c62828}
        main{padding:16px 20px}
        section{background:#fff;border:1px solid #dde;border-radius:8px;padding:12px 16px;margin-bottom:16px;overflow-x:auto}
        h2{font-size:15px;margin:0 0 8px}
        .node rect{fill:#fff;stroke:#889;stroke-width:1.5}
        .node.source rect{fill:#eef5ff}.node.sink rect{fill:#f0faf0}.node.dead_letter rect{fill:#fff3f0;stroke:#c62828}
        .node text{font-size:12px;fill:#333}.node .title{font-weight:600;font-size:13px}.node .type{fill:#667}
        .node.failing rect{stroke:#c62828;stroke-width:2.5}
        .edge{fill:none;stroke:#667;stroke-width:1.5}.edge.dl{stroke:#c62828;stroke-dasharray:4 4;opacity:.5}
        table{border-collapse:collapse}td,th{padding:3px 12px 3px 0;text-align:left;vertical-align:top}
        th{font-weight:600;color:#556}.num{text-align:right;font-variant-numeric:tabular-nums}
        #summary span{margin-right:18px}.muted{color:#778}
        </style></head>
        <body>
        <header><h1>\(escape(spec.name))</h1><span id="state" class="pill">connecting…</span>
        <span id="uptime" class="muted"></span><span id="updated" class="muted"></span></header>
        <main>
        <section id="summary"><span>in <b id="records-in">0</b></span><span>out <b id="records-out">0</b></span>
        <span>dead-lettered <b id="dead-lettered">0</b></span><span>rate <b id="rate">–</b> ev/s</span>
        <span>end-to-end p50/p99 <b id="e2e">–</b></span><span>event → ack p99 <b id="event-latency">–</b></span>
        <span>checkpoint age <b id="checkpoint-age">–</b></span></section>
        <section><h2>Pipeline</h2>\(svg)</section>
        <section><h2>Kinesis shards</h2><table id="shards"><thead><tr><th>shard</th><th class="num">behind (ms)</th><th>owner</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Dead letters by reason</h2><table id="reasons"><thead><tr><th>stage: reason</th><th class="num">records</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Models and components</h2><table id="details"><tbody></tbody></table></section>
        </main>
        <script>
        \(script)
        </script>
        </body></html>
        """
    }

    /// Polls /status.json; rates are the change of each counter between two polls.
    static let script = #"""
    "use strict";
    const prev = {records: new Map(), recordsIn: null, time: null};
    function fmt(n) { return n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n)); }
    function ms(v) { return v == null ? "–" : (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(1) + " ms"); }
    function age(s) { return s == null ? "–" : s < 120 ? Math.round(s) + " s" : Math.round(s / 60) + " min"; }
    function set(id, text) { const e = document.getElementById(id); if (e) e.textContent = text; }
    function row(tbody, cells) {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }
      tbody.appendChild(tr);
    }
    function fill(tableId, rows) {
      const tbody = document.querySelector("#" + tableId + " tbody");
      tbody.replaceChildren();
      for (const r of rows) row(tbody, r);
    }
    function render(s) {
      const dt = prev.time == null ? null : Math.max(1e-3, s.time - prev.time);
      const state = document.getElementById("state");
      state.textContent = s.failed ? "failed" : s.ready ? "running" : "not ready";
      state.className = "pill " + (s.failed ? "bad" : s.ready ? "ok" : "");
      set("uptime", "up " + age(s.uptime_seconds));
      set("updated", "updated " + new Date(s.time * 1000).toISOString().slice(11, 19) + "Z");
      set("records-in", fmt(s.records_in)); set("records-out", fmt(s.records_out)); set("dead-lettered", fmt(s.dead_lettered));
      if (dt != null) set("rate", fmt((s.records_in - prev.recordsIn) / dt));
      set("e2e", ms(s.latency_ms.p50) + " / " + ms(s.latency_ms.p99));
      set("event-latency", ms(s.event_latency_ms.p99));
      set("checkpoint-age", age(s.checkpoint_age_seconds));
      const byId = new Map(s.stages.map(st => [st.id, st]));
      for (const g of document.querySelectorAll("g.node")) {
        const st = byId.get(g.dataset.id);
        if (!st) continue;
        const before = prev.records.get(st.id);
        g.querySelector(".rate").textContent = (dt != null && before != null ? fmt((st.records - before) / dt) : "–") + " ev/s";
        g.querySelector(".errors").textContent = fmt(st.failed) + " failed";
        const lat = st.latency_ms || st.batch_ms;
        g.querySelector(".p99").textContent = "p99 " + ms(lat.p99);
        g.querySelector(".queue").textContent = "queue " + st.queued;
        g.querySelector(".total").textContent = fmt(st.records) + " records";
        g.classList.toggle("failing", st.failed > 0 && st.kind !== "dead_letter");
        prev.records.set(st.id, st.records);
      }
      // Owners come from the Kinesis source's lease view, lag from its per-shard metric.
      const owners = {};
      for (const st of s.stages) if (st.details && st.details.lease_owners) Object.assign(owners, st.details.lease_owners);
      const shards = s.shards || [];
      document.getElementById("shards").closest("section").hidden = shards.length === 0;
      fill("shards", shards.map(x => [[x.shard], [String(Math.round(x.millis_behind)), "num"], [owners[x.shard] || ""]]));
      fill("reasons", s.dead_letters_by_reason.map(x => [[x.reason], [String(x.count), "num"]]));
      const details = [];
      for (const st of s.stages) if (st.details) for (const [k, v] of Object.entries(st.details)) details.push([[st.id + "." + k], [typeof v === "string" ? v : JSON.stringify(v)]]);
      if (s.reference_table_age_seconds != null) details.push([["reference table age"], [age(s.reference_table_age_seconds)]]);
      if (s.scorer_errors != null) details.push([["scorer errors"], [String(s.scorer_errors)]]);
      fill("details", details);
      prev.recordsIn = s.records_in; prev.time = s.time;
    }
    async function poll() {
      try {
        const r = await fetch("status.json", {cache: "no-store"});
        if (r.ok) render(await r.json());
      } catch (e) {
        const state = document.getElementById("state"); state.textContent = "unreachable"; state.className = "pill bad";
      }
      setTimeout(poll, 1000);
    }
    poll();
    """#

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}
