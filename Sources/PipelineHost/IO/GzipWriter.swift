import CZlib
import Foundation

/// Compresses into gzip members. `finishMember()` ends the current member, so whatever has been written
/// and synced is always a complete, readable gzip file (concatenated members are one gzip stream).
public final class GzipWriter {
    // zlib keeps a pointer back to its z_stream: it must not move, so it lives on the heap.
    private let stream: UnsafeMutablePointer<z_stream>
    private var open = false
    private let level: Int32

    public init(level: Int32 = 6) {
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    deinit {
        if open { deflateEnd(stream) }
        stream.deallocate()
    }

    /// Compresses `input` and appends the output to `out`.
    public func compress(_ input: [UInt8], into out: inout [UInt8]) throws {
        if !open {
            guard czlib_deflate_init_gzip(stream, level) == Z_OK else { throw PipelineError(.io, "cannot start gzip") }
            open = true
        }
        try run(input, flush: Z_NO_FLUSH, into: &out)
    }

    public func finishMember(into out: inout [UInt8]) throws {
        guard open else { return }
        try run([], flush: Z_FINISH, into: &out)
        deflateEnd(stream)
        open = false
    }

    private func run(_ input: [UInt8], flush: Int32, into out: inout [UInt8]) throws {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var input = input
        try input.withUnsafeMutableBytes { inBuf in
            stream.pointee.next_in = inBuf.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = uInt(inBuf.count)
            while true {
                let (status, produced) = chunk.withUnsafeMutableBytes { outBuf -> (Int32, Int) in
                    stream.pointee.next_out = outBuf.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(outBuf.count)
                    let status = deflate(stream, flush)
                    return (status, outBuf.count - Int(stream.pointee.avail_out))
                }
                out.append(contentsOf: chunk[0..<produced])
                if status == Z_STREAM_END { return }
                guard status == Z_OK || status == Z_BUF_ERROR else { throw PipelineError(.io, "gzip compression failed (\(status))") }
                if flush == Z_NO_FLUSH && stream.pointee.avail_in == 0 && produced < chunk.count { return }
            }
        }
    }
}

/// Where the complete gzip members of a file end: the check a gzip appender runs before appending, so that a member
/// cut short by a crash does not end up in the middle of the file, where every reader stops at it.
public enum GzipMembers {
    /// What follows the last complete member.
    public enum Tail: Equatable, Sendable {
        /// Nothing: the file ends exactly at a member boundary (or is empty).
        case none
        /// The beginning of a member (header, deflate data, or trailer cut short): what a crash leaves.
        case truncated
        /// Data that is not gzip, or a member that fails its checks (a CRC-32 or length mismatch), at `validEnd`.
        case invalid(String)
    }

    public struct Scan: Equatable, Sendable {
        /// Offset just past the last complete member whose CRC-32 and length (ISIZE) check.
        public var validEnd: Int64
        /// Complete members before `validEnd`.
        public var members: Int
        public var tail: Tail

        public init(validEnd: Int64, members: Int, tail: Tail) {
            self.validEnd = validEnd
            self.members = members
            self.tail = tail
        }
    }

    /// Reads the whole file member by member (zlib in gzip-only mode checks each member's trailer).
    public static func scan(path: String) throws -> Scan {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.errno(path: path, "open") }
        defer { close(fd) }
        let inflater = try Inflater(path: path)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var offset: Int64 = 0  // file offset of buffer[0]
        var validEnd: Int64 = 0
        var members = 0
        while true {
            let n = try readAt(fd, &buffer, offset: offset, path: path)
            if n == 0 {
                return Scan(validEnd: validEnd, members: members, tail: offset == validEnd ? .none : .truncated)
            }
            var start = 0
            while start < n {
                switch inflater.feed(buffer, from: start, to: n) {
                case .needMore:
                    start = n
                case .memberEnd(let consumed):
                    start += consumed
                    validEnd = offset + Int64(start)
                    members += 1
                    inflater.reset()
                case .error(let message):
                    return Scan(validEnd: validEnd, members: members, tail: .invalid(message))
                }
            }
            offset += Int64(n)
        }
    }

    /// True when a complete, valid member starts at one of the offsets in `from..<size` where a gzip header could
    /// begin and runs to a member boundary: damage followed by good data, which must not be cut away.
    public static func completeMemberFollows(path: String, from: Int64) throws -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.errno(path: path, "open") }
        defer { close(fd) }
        var candidate = from + 1
        var window = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // Find the next 1f 8b 08 (gzip magic, deflate) at or after `candidate`.
            let n = try readAt(fd, &window, offset: candidate, path: path)
            if n < 3 { return false }
            guard let i = (0..<(n - 2)).first(where: { window[$0] == 0x1F && window[$0 + 1] == 0x8B && window[$0 + 2] == 0x08 }) else {
                candidate += Int64(n - 2)
                continue
            }
            if try memberCompletes(fd, at: candidate + Int64(i), path: path) { return true }
            candidate += Int64(i) + 1
        }
    }

    /// Fast check for a long file: true when a complete, valid member starting within the last `window` bytes ends
    /// exactly at the end of the file. (It says nothing about the data before that member.)
    public static func endsWithCompleteMember(path: String, size: Int64, window: Int64 = 16 << 20) throws -> Bool {
        guard size >= 18 else { return false }  // the smallest member: 10-byte header, empty deflate block, trailer
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.errno(path: path, "open") }
        defer { close(fd) }
        let start = max(0, size - window)
        var tail = [UInt8](repeating: 0, count: Int(size - start))
        var got = 0
        while got < tail.count {
            let n = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(start) + off_t(got)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw FileIO.errno(path: path, "read") }
            got += n
        }
        var i = tail.count - 18
        while i >= 0 {
            if tail[i] == 0x1F && tail[i + 1] == 0x8B && tail[i + 2] == 0x08 {
                let inflater = try Inflater(path: path)
                if case .memberEnd(let consumed) = inflater.feed(tail, from: i, to: tail.count) {
                    // A member ends here: the file ends with a complete member only if it ends at the end. (Had
                    // complete members followed, the last of them, tried before this one, would have said so.)
                    return i + consumed == tail.count
                }
            }
            i -= 1
        }
        return false
    }

    private static func memberCompletes(_ fd: Int32, at offset: Int64, path: String) throws -> Bool {
        let inflater = try Inflater(path: path)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var at = offset
        while true {
            let n = try readAt(fd, &buffer, offset: at, path: path)
            if n == 0 { return false }
            switch inflater.feed(buffer, from: 0, to: n) {
            case .needMore: at += Int64(n)
            case .memberEnd: return true
            case .error: return false
            }
        }
    }

    private static func readAt(_ fd: Int32, _ buffer: inout [UInt8], offset: Int64, path: String) throws -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIO.errno(path: path, "read")
            }
            return n
        }
    }

    /// One gzip member at a time (windowBits 15 + 16: gzip only, no zlib or raw streams); output is discarded.
    private final class Inflater {
        enum Step { case needMore, memberEnd(consumed: Int), error(String) }

        private let stream: UnsafeMutablePointer<z_stream>
        private var output = [UInt8](repeating: 0, count: 256 * 1024)

        init(path: String) throws {
            stream = .allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // On failure deinit still runs (every stored property is set): it frees the stream, and inflateEnd
            // refuses a stream whose init failed.
            guard inflateInit2_(stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw PipelineError(.io, "cannot initialise gzip decoding", at: path)
            }
        }

        deinit {
            inflateEnd(stream)
            stream.deallocate()
        }

        func reset() { inflateReset(stream) }

        /// Feeds `input[from..<to]` until it is used up (`needMore`), the member ends, or the data is wrong.
        func feed(_ input: [UInt8], from: Int, to: Int) -> Step {
            input.withUnsafeBytes { inBuf in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress!.assumingMemoryBound(to: Bytef.self) + from)
                stream.pointee.avail_in = uInt(to - from)
                while true {
                    let status = output.withUnsafeMutableBytes { outBuf -> Int32 in
                        stream.pointee.next_out = outBuf.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.pointee.avail_out = uInt(outBuf.count)
                        return inflate(stream, Z_NO_FLUSH)
                    }
                    let consumed = (to - from) - Int(stream.pointee.avail_in)
                    switch status {
                    case Z_STREAM_END:
                        return .memberEnd(consumed: consumed)
                    case Z_OK, Z_BUF_ERROR:
                        if stream.pointee.avail_in == 0 { return .needMore }
                        // Output space was the limit: go on with the rest of the input.
                        if status == Z_BUF_ERROR && stream.pointee.avail_out != 0 { return .error("gzip decoding made no progress") }
                    default:
                        let msg = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                        return .error(msg)
                    }
                }
            }
        }
    }
}
