import Foundation
import PipelineHost

/// The rolling features a good record must carry, computed independently of the host from what was produced:
/// per user, over that user's earlier GOOD records in production order (bad records are never part of a user's
/// state), a window of W seconds holding the earlier events with time > t − W; same-second events count in
/// arrival order; seconds since the previous event, null for the first. Values are multiples of 0.25, so every
/// sum is exact and compared with ==.
struct SimFeatures: Sendable, Equatable, CustomStringConvertible {
    var count1h: Int64
    var sum1h: Double
    var count24h: Int64
    var sum24h: Double
    var sinceLast: Double?

    static let names = ["txn_count_1h", "txn_sum_1h", "txn_count_24h", "txn_sum_24h", "secs_since_prev_txn"]

    var description: String {
        "count_1h=\(count1h) sum_1h=\(sum1h) count_24h=\(count24h) sum_24h=\(sum24h) since=\(sinceLast.map { "\($0)" } ?? "null")"
    }

    /// The features as a host wrote them into a record; nil fields where missing or of the wrong type.
    static func read(_ record: Record) -> (features: SimFeatures?, problem: String?) {
        guard let c1 = record["txn_count_1h"]?.intValue, let s1 = record["txn_sum_1h"]?.doubleValue,
              let c24 = record["txn_count_24h"]?.intValue, let s24 = record["txn_sum_24h"]?.doubleValue,
              let since = record["secs_since_prev_txn"]
        else {
            let present = names.map { "\($0)=\(record[$0].map { "\($0)" } ?? "missing")" }.joined(separator: " ")
            return (nil, "features missing or mistyped: \(present)")
        }
        if !since.isNull && since.doubleValue == nil { return (nil, "secs_since_prev_txn is \(since)") }
        return (SimFeatures(count1h: c1, sum1h: s1, count24h: c24, sum24h: s24, sinceLast: since.doubleValue), nil)
    }
}

enum SimReference {
    static let windows: [Double] = [3600, 86400]

    /// transaction id → expected features, for every good record produced.
    static func features(_ produced: [SimRecord]) -> [String: SimFeatures] {
        var history: [String: (times: [Double], values: [Double])] = [:]
        var out: [String: SimFeatures] = [:]
        // `produced` is in production order: one producer, one PutRecords call at a time, records in call order.
        for r in produced where r.isGood {
            let h = history[r.user] ?? ([], [])
            func window(_ w: Double) -> (Int64, Double) {
                var count: Int64 = 0
                var sum = 0.0
                // Oldest first, as the host and training/features.py sum.
                for (t, v) in zip(h.times, h.values) where t > r.time - w && t <= r.time {
                    count += 1
                    sum += v
                }
                return (count, sum)
            }
            let (c1, s1) = window(windows[0])
            let (c24, s24) = window(windows[1])
            out[r.id] = SimFeatures(count1h: c1, sum1h: s1, count24h: c24, sum24h: s24, sinceLast: h.times.last.map { r.time - $0 })
            history[r.user] = (h.times + [r.time], h.values + [r.value!])
        }
        return out
    }
}
