import PipelineHost

/// Features computed from a transaction's own fields, in the one place the pipeline, the `score` command and
/// the model server share, so all three compute them identically (and as `training/features.py` does).
public enum DerivedFeatures {
    /// Names of the derived features and the field each is computed from.
    public static let sources: [(name: String, from: String)] = [("hour_of_day", "event_created_at_ts")]

    /// Hour of the day in UTC: `(ts // 3600) mod 24` with floor semantics, so times before 1970 work too.
    public static func hourOfDay(epochSeconds ts: Double) -> Double {
        let hours = (ts / 3600).rounded(.down)
        let h = hours.truncatingRemainder(dividingBy: 24)
        return h < 0 ? h + 24 : h
    }

    /// The derived value of feature `name`, or nil when `name` is not derived.
    public static func value(of name: String, lookup: (String) -> Double?) -> Double?? {
        switch name {
        case "hour_of_day": return .some(lookup("event_created_at_ts").map(hourOfDay))
        default: return nil
        }
    }
}
