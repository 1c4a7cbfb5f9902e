/// Parses the duration and byte-size notations used in specs.
public enum Units {
    /// "250ms", "5s", "1.5m", "1h", "2d" or a plain number of seconds.
    public static func seconds(_ value: JSONValue) -> Double? {
        if let d = value.doubleValue { return d >= 0 ? d : nil }
        guard let s = value.stringValue?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000_001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            let number = s.dropLast(suffix.count)
            if let n = Double(number), n >= 0, n.isFinite { return n * factor }
            return nil
        }
        if let n = Double(s), n >= 0, n.isFinite { return n }
        return nil
    }

    /// "64KiB", "10MB", "1GiB" or a plain number of bytes.
    public static func bytes(_ value: JSONValue) -> Int64? {
        if let i = value.intValue { return i >= 0 ? i : nil }
        guard let s = value.stringValue?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824),
            ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        for (suffix, factor) in units where s.hasSuffix(suffix) {
            let number = s.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            if let n = Double(number), n >= 0, n.isFinite { return Int64(n * factor) }
            return nil
        }
        return Int64(s)
    }
}

import Foundation
