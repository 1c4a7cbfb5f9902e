import Foundation

/// A double's shortest round-trip text (what `description` gives), formatted into a buffer on the stack.
/// `description` makes a `String` per number, on the heap beyond 15 bytes as most scores and sums are; formatting
/// through `TextOutputStream` hands the digits over as bytes (`_writeASCII`), 40 % faster per number (measured:
/// 102 → 63 ns), and a test compares the two on every kind of double.
struct DoubleText: TextOutputStream {
    /// The longest shortest form is 24 bytes (`-2.2250738585072014e-308`).
    private var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private(set) var count = 0

    init(_ value: Double) { value.write(to: &self) }

    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { append($0) }
    }

    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) { append(buffer) }

    private mutating func append(_ text: UnsafeBufferPointer<UInt8>) {
        guard let source = text.baseAddress else { return }
        let n = min(text.count, MemoryLayout.size(ofValue: storage) - count)
        let at = count
        withUnsafeMutableBytes(of: &storage) { $0.baseAddress!.advanced(by: at).copyMemory(from: source, byteCount: n) }
        count += n
    }

    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withUnsafeBytes(of: storage) { body(UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count)) }
    }
}

/// Appends JSON text to a byte buffer.
///
/// Written by hand rather than with yajl_gen: yajl_gen prints 149.99 as 149.99000000000000909, and
/// appending to one reusable buffer avoids an allocation per record on the sink path.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]
    /// Encoded member names (`"name":`) by position, for `writeMemberName`: records of a stream repeat their
    /// field names in the same order, so each is escaped once, not once per record. The bytes of all of them are
    /// in one buffer, so copying one out retains nothing.
    private var nameSlots: [(id: UInt32, start: Int32, count: Int32)] = []
    private var nameBytes: [UInt8] = []

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let pairs):
            writeObject(pairs)
        }
    }

    public mutating func writeObject(_ pairs: [(String, JSONValue)]) {
        bytes.append(UInt8(ascii: "{"))
        // Through the buffer: iterating the array would retain and release every name and value.
        pairs.withUnsafeBufferPointer { buffer in
            for i in buffer.indices {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(buffer[i].0)
                bytes.append(UInt8(ascii: ":"))
                write(buffer[i].1)
            }
        }
        bytes.append(UInt8(ascii: "}"))
    }

    @inline(__always)
    public mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func appendRaw<C: Collection>(_ raw: C) where C.Element == UInt8 {
        bytes.append(contentsOf: raw)
    }

    public mutating func writeInt(_ value: Int64) {
        // Digits into a stack buffer from the back, then one append: a per-byte append checks capacity and
        // uniqueness for every digit.
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: 19 digits and a sign
        withUnsafeMutableBytes(of: &tmp) { buf in
            let start = Self.digits(value, into: buf)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[start...]))
        }
    }

    /// A double written as a whole number (with ".0"), when it is one that prints exactly so.
    @inline(__always)
    static func wholeNumber(_ value: Double) -> Int64? {
        value == value.rounded() && abs(value) < 1e15 ? Int64(value) : nil
    }

    /// Whether a string needs escapes in JSON (a control character, a quote or a backslash).
    @inline(__always)
    static func needsEscape(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        for c in utf8 where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return true }
        return false
    }

    /// Writes `value` in decimal at the end of `buf` (at least 20 bytes) and returns where it starts.
    @inline(__always)
    static func digits(_ value: Int64, into buf: UnsafeMutableRawBufferPointer) -> Int {
        var i = buf.count
        var v = value.magnitude
        repeat {
            i -= 1
            buf[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
        } while v > 0
        if value < 0 {
            i -= 1
            buf[i] = UInt8(ascii: "-")
        }
        return i
    }

    /// Shortest round-trip form; non-finite numbers have no JSON form and become null.
    public mutating func writeDouble(_ value: Double) {
        guard value.isFinite else { append("null"); return }
        if let whole = Self.wholeNumber(value) {
            // Integral doubles keep a ".0" so a reader sees they are numbers of the double kind.
            writeInt(whole)
            append(".0")
            return
        }
        DoubleText(value).withBytes { bytes.append(contentsOf: $0) }
    }

    /// Writes `"name":` for a record's field id at position `slot` of an object, copied from the cache when the
    /// id is the one last written at that slot.
    public mutating func writeMemberName(_ id: FieldID, slot: Int) {
        if let cached = cachedName(id, slot: slot) {
            nameBytes.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[cached])) }
            return
        }
        let start = bytes.count
        writeString(FieldNames.shared.name(id))
        bytes.append(UInt8(ascii: ":"))
        guard slot < 64 else { return }
        // Records whose layouts keep changing would grow the buffer without end: start over past 64 KiB.
        if nameBytes.count > 1 << 16 {
            nameBytes.removeAll(keepingCapacity: true)
            nameSlots.removeAll(keepingCapacity: true)
        }
        while nameSlots.count <= slot { nameSlots.append((UInt32.max, 0, 0)) }
        nameSlots[slot] = (id.raw, Int32(nameBytes.count), Int32(bytes.count - start))
        nameBytes.append(contentsOf: bytes[start...])
    }

    /// Puts `"name":` for a field id at position `slot` into a stage when the cache holds it; false otherwise
    /// (the caller writes the slow way, which fills the cache).
    mutating func putMemberName(_ id: FieldID, slot: Int, into stage: inout StagedBytes) -> Bool {
        guard let cached = cachedName(id, slot: slot) else { return false }
        return nameBytes.withUnsafeBufferPointer { stage.put(UnsafeBufferPointer(rebasing: $0[cached])) }
    }

    /// Where in `nameBytes` the encoded name of `id` is, when it is the one cached at `slot`.
    @inline(__always)
    private func cachedName(_ id: FieldID, slot: Int) -> Range<Int>? {
        guard slot < nameSlots.count, nameSlots[slot].id == id.raw, nameSlots[slot].count > 0 else { return nil }
        let start = Int(nameSlots[slot].start)
        return start..<(start + Int(nameSlots[slot].count))
    }

    public mutating func writeString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            // Most strings (every field name) need no escape: write them with their quotes in one go.
            if !Self.needsEscape(utf8) {
                bytes.reserveCapacity(bytes.count + utf8.count + 2)
                bytes.append(UInt8(ascii: "\""))
                bytes.append(contentsOf: utf8)
                bytes.append(UInt8(ascii: "\""))
                return
            }
            writeEscaped(utf8)
        }
    }

    private mutating func writeEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        do {
            var start = 0
            for i in 0..<utf8.count {
                let c = utf8[i]
                if c >= 0x20 && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") { continue }
                if start < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i])) }
                start = i + 1
                switch c {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case 0x0A: append("\\n")
                case 0x0D: append("\\r")
                case 0x09: append("\\t")
                case 0x08: append("\\b")
                case 0x0C: append("\\f")
                default:
                    append("\\u00")
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(hex[Int(c >> 4)])
                    bytes.append(hex[Int(c & 0xF)])
                }
            }
            if start < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
