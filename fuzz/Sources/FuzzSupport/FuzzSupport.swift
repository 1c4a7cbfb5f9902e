import PipelineHost

#if canImport(Glibc)
import Glibc
#endif

/// A property that must hold for every input. On failure it prints the reason and aborts, which libFuzzer
/// reports as a crash and saves the input under the artifact prefix (a `precondition` would be compiled out
/// of an -Ounchecked build and says less).
@inline(never)
public func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    guard !condition else { return }
    let text = Array("FUZZ PROPERTY VIOLATED: \(message())\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

/// The fuzzer's bytes as an array (`data` may be nil when `size` is 0).
public func inputBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

extension JSONValue {
    /// True when a number somewhere in the value is NaN or infinite. Such numbers come from literals too
    /// large for a double (`1e999`) and are written as `null`, so values holding one cannot round-trip.
    public var containsNonFinite: Bool {
        switch self {
        case .double(let d): return !d.isFinite
        case .array(let items): return items.contains { $0.containsNonFinite }
        case .object(let pairs): return pairs.contains { $0.1.containsNonFinite }
        default: return false
        }
    }
}

/// Short printable form of an input for failure messages.
public func preview(_ bytes: [UInt8], limit: Int = 200) -> String {
    let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
    return text.debugDescription + (bytes.count > limit ? "… (\(bytes.count) bytes)" : "")
}
