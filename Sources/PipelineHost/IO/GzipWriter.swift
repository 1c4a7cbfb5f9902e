import CZlib

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
