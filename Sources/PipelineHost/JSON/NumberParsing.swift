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
        // strtod needs a NUL-terminated string; numbers are short, so copy to the stack.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: raw.count + 1) { buf in
            for j in 0..<raw.count { buf[j] = CChar(bitPattern: raw[j]) }
            buf[raw.count] = 0
            return .double(strtod(buf.baseAddress!, nil))
        }
    }
}
