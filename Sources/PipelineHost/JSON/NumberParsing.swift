import Foundation

/// Turns the raw text of a JSON number into an integer when it is one and fits, else a double.
enum NumberParsing {
    enum Number {
        case int(Int64)
        case double(Double)
        func map<T>(int: (Int64) -> T, double: (Double) -> T) -> T {
            switch self {
            case .int(let i): return int(i)
            case .double(let d): return double(d)
            }
        }
        var json: JSONValue {
            switch self {
            case .int(let i): return .int(i)
            case .double(let d): return .double(d)
            }
        }
    }

    @inline(__always)
    static func parse(_ raw: UnsafeRawBufferPointer) -> Number {
        var i = 0
        var negative = false
        if raw.count > 0 && raw[0] == UInt8(ascii: "-") { negative = true; i = 1 }
        var value: Int64 = 0
        var isInteger = raw.count > i && raw.count - i <= 18
        if isInteger {
            while i < raw.count {
                let c = raw[i] &- UInt8(ascii: "0")
                if c > 9 { isInteger = false; break }
                value = value &* 10 &+ Int64(c)
                i += 1
            }
        }
        if isInteger { return .int(negative ? -value : value) }
        if let d = fastDecimal(raw) { return .double(d) }
        // strtod needs a NUL-terminated string; numbers are short, so copy to the stack.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: raw.count + 1) { buf in
            for j in 0..<raw.count { buf[j] = CChar(bitPattern: raw[j]) }
            buf[raw.count] = 0
            return .double(strtod(buf.baseAddress!, nil))
        }
    }

    /// Powers of ten a double holds exactly.
    private static let exactPowers: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }

    /// A plain decimal (`-?digits.digits`, no exponent) with at most 15 significant digits, as the correctly
    /// rounded double, without strtod: its digits are an integer below 2^53 and its scale a power of ten up to
    /// 10^22, both exact, so the one division rounds correctly (Clinger's fast path). nil for anything else.
    /// Amounts such as 37.82 are most of the doubles a stream carries; strtod cost more than the rest of their
    /// parse.
    @inline(__always)
    static func fastDecimal(_ raw: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        let negative = raw.count > 0 && raw[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        var mantissa: UInt64 = 0
        var digits = 0, scale = 0
        var seenPoint = false, any = false
        while i < raw.count {
            let c = raw[i]
            if c == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else {
                let d = c &- UInt8(ascii: "0")
                guard d <= 9 else { return nil }
                any = true
                if mantissa > 0 || d > 0 { digits += 1 }
                guard digits <= 15 else { return nil }
                mantissa = mantissa &* 10 &+ UInt64(d)
                if seenPoint { scale += 1 }
            }
            i += 1
        }
        guard any, scale <= 22 else { return nil }
        let value = Double(mantissa) / exactPowers[scale]
        return negative ? -value : value
    }
}
