extension ByteReader {
    /// Calls `body` with each non-empty line (without its newline), numbered from 1 by line in the file; the last
    /// line counts without a final newline too.
    public func forEachLine(_ body: (Int, ArraySlice<UInt8>) throws -> Void) throws {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var lineNo = 0
        while true {
            let n = try chunk.withUnsafeMutableBytes { try read(into: $0.baseAddress!, count: $0.count) }
            if n == 0 { break }
            pending.append(contentsOf: chunk[0..<n])
            var start = 0
            while let nl = pending[start...].firstIndex(of: 0x0A) {
                lineNo += 1
                if nl > start { try body(lineNo, pending[start..<nl]) }
                start = nl + 1
            }
            pending.removeFirst(start)
        }
        if !pending.isEmpty { try body(lineNo + 1, pending[...]) }
    }
}
