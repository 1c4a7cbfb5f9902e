import AWSCore
import PipelineHost

/// Where a record goes in the bucket: its Hive-style time partition and the name of the object it starts.
enum ObjectNaming {
    /// `dt=YYYY-MM-DD/hour=HH` (UTC) of `seconds` since the epoch; `dt=unknown/hour=unknown` without a usable time.
    static func timePartition(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite, seconds >= 0, seconds < 253_402_300_800 else { return "dt=unknown/hour=unknown" }
        let total = Int64(seconds.rounded(.down))
        let days = total / 86400
        let hour = (total % 86400) / 3600
        let (y, m, d) = civilDate(daysSinceEpoch: days)
        return "dt=\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))/hour=\(pad(hour, 2))"
    }

    /// The time a field holds: a number of seconds, or a string of one.
    static func seconds(_ value: JSONValue?) -> Double? {
        guard let value else { return nil }
        if let d = value.doubleValue { return d }
        if let s = value.stringValue { return Double(s) }
        return nil
    }

    /// Days since 1970-01-01 → proleptic Gregorian date (H. Hinnant's civil_from_days).
    static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    /// The source partition an origin belongs to and its position in it; nil for records without an origin.
    static func sourcePosition(_ origin: RecordOrigin) -> (partition: String, position: String)? {
        switch origin {
        case .none: return nil
        case let .sequence(partition, sequence): return (partition, sequence)
        case let .line(file, line): return (file.path, String(line))
        }
    }

    /// File name of an object whose first record has `origin`: `<partition>-<position>.json.gz`, or
    /// `<partition>-<position>-<writer>.json.gz` when hosts share the partitions; each part escaped to
    /// `[A-Za-z0-9._-]` (other bytes as `~XX`), long parts shortened with a SHA-256 suffix.
    static func objectName(first origin: RecordOrigin, writer: String? = nil, fallback: () -> String) -> String {
        guard let (partition, position) = sourcePosition(origin) else { return "nopos-\(fallback()).json.gz" }
        let suffix = writer.map { "-" + token($0) } ?? ""
        return "\(token(partition))-\(token(position))\(suffix).json.gz"
    }

    static func token(_ text: String) -> String {
        var out = ""
        for (i, b) in text.utf8.enumerated() {
            let plain = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D
                || ((b == 0x2E || b == 0x5F) && i > 0)  // a leading "." or "_" hides the file from Athena
            if plain {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "~" + Hex.encode([b]).uppercased()
            }
        }
        if out.utf8.count > 96 {
            out = String(out.prefix(48)) + "~" + String(Digest.sha256Hex(Array(text.utf8)).prefix(16))
        }
        return out
    }
}
