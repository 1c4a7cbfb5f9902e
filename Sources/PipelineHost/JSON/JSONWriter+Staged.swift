/// Writing many small pieces (a record's added fields: names, commas, numbers) into a stack buffer, appended to
/// `bytes` at once.
///
/// Why: each `bytes.append` checks uniqueness and capacity and calls memmove. A record of Flink's job adds 11
/// fields, about 33 appends of a few bytes each, and that was most of the file sink's CPU.
extension JSONWriter {
    /// A write position in a fixed buffer. A `put` returns false when the piece does not fit (an array or object
    /// may have put part of itself by then); the caller then discards the stage and writes the slow way.
    public struct StagedBytes {
        @usableFromInline var next: UnsafeMutablePointer<UInt8>
        @usableFromInline let end: UnsafeMutablePointer<UInt8>

        @inlinable
        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
            next = buffer.baseAddress!
            end = buffer.baseAddress! + buffer.count
        }

        @inlinable @inline(__always)
        public mutating func put(_ byte: UInt8) -> Bool {
            guard next < end else { return false }
            next.pointee = byte
            next += 1
            return true
        }

        @inlinable @inline(__always)
        public mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            guard end - next >= bytes.count else { return false }
            if let base = bytes.baseAddress {
                // Short pieces byte by byte: a memmove call costs more than the copy.
                if bytes.count <= 32 {
                    for i in 0..<bytes.count { next[i] = base[i] }
                } else {
                    next.update(from: base, count: bytes.count)
                }
            }
            next += bytes.count
            return true
        }

        @inlinable
        public mutating func put(static s: StaticString) -> Bool {
            s.withUTF8Buffer { put($0) }
        }

        /// A value as `JSONWriter.write` writes it, arrays and objects included (an alert's `top_features`); false
        /// for a string or name that needs an escape.
        public mutating func put(value: JSONValue) -> Bool {
            switch value {
            case .null: return put(static: "null")
            case .bool(let b): return b ? put(static: "true") : put(static: "false")
            case .int(let i): return put(int: i)
            case .double(let d): return put(double: d)
            case .string(let s): return put(string: s)
            case .array(let items):
                guard put(UInt8(ascii: "[")) else { return false }
                // Through the buffer: iterating the array would retain and release every element.
                let done = items.withUnsafeBufferPointer { items in
                    for i in items.indices {
                        if i > 0 { guard put(UInt8(ascii: ",")) else { return false } }
                        guard put(value: items[i]) else { return false }
                    }
                    return true
                }
                return done && put(UInt8(ascii: "]"))
            case .object(let pairs):
                guard put(UInt8(ascii: "{")) else { return false }
                let done = pairs.withUnsafeBufferPointer { pairs in
                    for i in pairs.indices {
                        if i > 0 { guard put(UInt8(ascii: ",")) else { return false } }
                        guard put(string: pairs[i].0), put(UInt8(ascii: ":")), put(value: pairs[i].1) else { return false }
                    }
                    return true
                }
                return done && put(UInt8(ascii: "}"))
            }
        }

        /// A quoted string that needs no escape; false for one that does.
        public mutating func put(string: String) -> Bool {
            var s = string
            return s.withUTF8 { utf8 in
                guard !JSONWriter.needsEscape(utf8), end - next >= utf8.count + 2 else { return false }
                return put(UInt8(ascii: "\"")) && put(utf8) && put(UInt8(ascii: "\""))
            }
        }

        /// As `JSONWriter.writeInt`.
        public mutating func put(int value: Int64) -> Bool {
            guard end - next >= 20 else { return false }
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
            return withUnsafeMutableBytes(of: &digits) { buf in
                let start = JSONWriter.digits(value, into: buf)
                return put(UnsafeBufferPointer(start: buf.baseAddress!.assumingMemoryBound(to: UInt8.self) + start, count: buf.count - start))
            }
        }

        /// As `JSONWriter.writeDouble`.
        public mutating func put(double value: Double) -> Bool {
            guard value.isFinite else { return put(static: "null") }
            if let whole = JSONWriter.wholeNumber(value) { return put(int: whole) && put(static: ".0") }
            return DoubleText(value).withBytes { put($0) }
        }
    }

    /// Runs `body` with a stage of `capacity` bytes on the stack and appends what it wrote, when it returns true;
    /// when it returns false nothing is appended. Returns what `body` returned.
    public mutating func staged(capacity: Int, _ body: (inout JSONWriter, inout StagedBytes) -> Bool) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var stage = StagedBytes(buffer)
            guard body(&self, &stage) else { return false }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<(stage.next - buffer.baseAddress!)]))
            return true
        }
    }
}
