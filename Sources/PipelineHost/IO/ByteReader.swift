import CZlib
import Foundation

/// Reads a file's bytes in chunks, through gzip when the file is compressed.
public final class ByteReader {
    public let path: String
    private let fd: Int32
    // zlib keeps a pointer back to its z_stream: it must not move, so it lives on the heap.
    private var stream: UnsafeMutablePointer<z_stream>?
    private var input: [UInt8]
    private var inputStart = 0
    private var inputEnd = 0
    private var eof = false
    /// Bytes read from the file itself (compressed bytes for gzip), for progress.
    public private(set) var fileBytesRead: Int64 = 0

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIO.errno(path: path, "open") }
        input = []
        if path.hasSuffix(".gz") {
            input = [UInt8](repeating: 0, count: 256 * 1024)
            let s = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            s.initialize(to: z_stream())
            guard czlib_inflate_init_auto(s) == Z_OK else {
                s.deallocate()
                // Not closed here: every stored property is set, so deinit runs (and closes fd) when init throws.
                throw PipelineError(.io, "cannot initialise gzip decoding", at: path)
            }
            stream = s
        }
    }

    deinit {
        if let stream {
            inflateEnd(stream)
            stream.deallocate()
        }
        close(fd)
    }

    public var isCompressed: Bool { stream != nil }

    /// Reads up to `count` bytes into `buffer` at `offset`; 0 means end of the data for now.
    public func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        guard stream != nil else {
            while true {
                let n = Foundation.read(fd, buffer, count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileIO.errno(path: path, "read")
                }
                fileBytesRead += Int64(n)
                return n
            }
        }
        return try inflate(into: buffer, count: count)
    }

    private func inflate(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        while true {
            if inputStart == inputEnd && !eof {
                let n = input.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileIO.errno(path: path, "read")
                }
                if n == 0 { eof = true } else {
                    inputStart = 0
                    inputEnd = n
                    fileBytesRead += Int64(n)
                }
            }
            if inputStart == inputEnd && eof { return 0 }
            let (produced, status, consumed) = input.withUnsafeMutableBytes { inBuf -> (Int, Int32, Int) in
                stream!.pointee.next_in = inBuf.baseAddress!.assumingMemoryBound(to: Bytef.self) + inputStart
                stream!.pointee.avail_in = uInt(inputEnd - inputStart)
                stream!.pointee.next_out = buffer.assumingMemoryBound(to: Bytef.self)
                stream!.pointee.avail_out = uInt(count)
                let status = CZlib.inflate(stream!, Z_NO_FLUSH)
                let consumed = (inputEnd - inputStart) - Int(stream!.pointee.avail_in)
                return (count - Int(stream!.pointee.avail_out), status, consumed)
            }
            inputStart += consumed
            if status == Z_STREAM_END {
                // Concatenated gzip members (as the file sink writes them) form one stream of data.
                inflateReset(stream!)
            } else if status != Z_OK && status != Z_BUF_ERROR {
                let msg = stream!.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                throw PipelineError(.io, "corrupt gzip data: \(msg)", at: path)
            } else if status == Z_BUF_ERROR && produced == 0 && inputStart == inputEnd && eof {
                throw PipelineError(.io, "gzip data ends early (truncated file)", at: path)
            }
            if produced > 0 { return produced }
        }
    }

    /// Skips `count` bytes of data (uncompressed bytes for gzip).
    public func skip(_ count: Int64) throws {
        if stream == nil {
            guard lseek(fd, off_t(count), SEEK_SET) >= 0 else { throw FileIO.errno(path: path, "seek") }
            fileBytesRead = count
            return
        }
        var left = count
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 256 * 1024, alignment: 1)
        defer { scratch.deallocate() }
        while left > 0 {
            let n = try read(into: scratch, count: Int(min(left, 256 * 1024)))
            if n == 0 { throw PipelineError(.io, "file is shorter than the checkpointed offset \(count)", at: path) }
            left -= Int64(n)
        }
    }
}
