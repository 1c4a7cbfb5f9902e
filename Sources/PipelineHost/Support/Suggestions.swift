/// "Did you mean" suggestions by edit distance.
public enum Suggestions {
    public static func closest(to word: String, in candidates: [String]) -> String? {
        // A word cut short ("eq" for "equals") is nearer than an edit distance says.
        let lowered = word.lowercased()
        let extended = candidates.filter { $0.count > word.count && $0.lowercased().hasPrefix(lowered) }
        if word.count >= 2, extended.count == 1 { return extended[0] }
        let limit = max(2, word.count / 3)
        var best: (String, Int)?
        for c in candidates {
            let d = distance(word.lowercased(), c.lowercased())
            if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        return best?.0
    }

    public static func didYouMean(_ word: String, _ candidates: [String]) -> String {
        if let c = closest(to: word, in: candidates) { return "; did you mean \"\(c)\"?" }
        return ""
    }

    /// Levenshtein distance with adjacent transpositions counted as one edit.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
