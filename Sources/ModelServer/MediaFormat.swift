/// The two payload formats the server speaks, and how they are read from `Content-Type` and `Accept`.
///
/// Request bodies: `application/json` (and `application/*+json`) or `text/csv`, parameters such as `charset`
/// ignored. A request without `Content-Type` is read as JSON, as the FastAPI service did. Anything else is 415.
/// Responses: the best match of `Accept` (q-values honoured, ties to the first listed); `*/*` or no `Accept`
/// answers in the request's own format; an `Accept` that allows neither JSON nor CSV is 406.
enum MediaFormat: Sendable, Equatable {
    case json
    case csv

    var contentType: String {
        switch self {
        case .json: return "application/json"
        case .csv: return "text/csv"
        }
    }

    /// The request body's format; nil when the content type is not one the server reads.
    static func ofContentType(_ header: String?) -> MediaFormat? {
        guard let header else { return .json }
        // Fast path for the exact values clients send.
        if header == "application/json" { return .json }
        if header == "text/csv" { return .csv }
        let (type, _) = mediaRange(header[...])
        switch type {
        case "application/json": return .json
        case "text/csv": return .csv
        default:
            if type.hasPrefix("application/") && type.hasSuffix("+json") { return .json }
            return nil
        }
    }

    /// The response format for `Accept`; nil when it allows neither JSON nor CSV.
    static func forAccept(_ header: String?, request: MediaFormat) -> MediaFormat? {
        guard let header, !header.isEmpty else { return request }
        if header == "application/json" { return .json }
        if header == "text/csv" { return .csv }
        if header == "*/*" { return request }
        var best: MediaFormat?
        var bestQ = 0.0
        for part in header.split(separator: ",") {
            let (type, q) = mediaRange(part)
            guard q > 0 else { continue }
            let format: MediaFormat?
            switch type {
            case "application/json", "application/*": format = .json
            case "text/csv", "text/*": format = .csv
            case "*/*": format = request
            default: format = type.hasPrefix("application/") && type.hasSuffix("+json") ? .json : nil
            }
            if let format, q > bestQ {
                best = format
                bestQ = q
            }
        }
        return best
    }

    /// `type/subtype` lowercased and the q parameter (1 when absent or unreadable) of one media range.
    static func mediaRange(_ text: Substring) -> (type: String, q: Double) {
        var params = text.split(separator: ";", omittingEmptySubsequences: false).makeIterator()
        let type = (params.next() ?? "").trimmingSpaces().lowercased()
        var q = 1.0
        while let p = params.next() {
            let kv = p.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingSpaces().lowercased() == "q", let v = Double(kv[1].trimmingSpaces()) {
                q = min(max(v, 0), 1)
            }
        }
        return (type, q)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}
