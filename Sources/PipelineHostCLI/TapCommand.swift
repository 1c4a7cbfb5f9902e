import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `pipeline-host tap`: a sample of the records leaving a stage of a running host, as JSON lines on stdout, read
/// from the admin server's `/tap` (rate-limited and bounded on the host; secrets replaced there).
struct TapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tap",
        abstract: "Streams a sample of the records leaving a stage of a running host (JSON lines), from its admin port.",
        discussion: """
            STAGE is a component id of the host's spec: the source, a transform, a sink, or dead_letter (the \
            dead-letter entries, with their reasons). An unknown id gets the list of stages. The host takes at most \
            --rate records per second for the tap and never waits for it: a reader that falls behind loses lines, \
            not throughput. Values that look like secrets arrive as "[redacted]".
            """)

    @Argument(help: "The stage's id.") var stage: String
    @Option(name: .long, help: "host:port of the admin server (default: $ADMIN_ADDRESS, else 127.0.0.1:9090).")
    var address: String?
    @Option(name: .long, help: "Records per second at most.") var rate: Double = 10
    @Option(name: .long, help: "Only these fields, comma-separated, in this order.") var fields: String?
    @Option(name: .long, help: "Stop after this many records.") var limit: Int?
    @Option(name: .long, help: "Stop after this many seconds.") var duration: Double?

    func run() async throws {
        let target = address ?? ProcessInfo.processInfo.environment["ADMIN_ADDRESS"] ?? "127.0.0.1:9090"
        var query = "stage=" + Self.encode(stage) + "&rate=\(rate)"
        if let fields { query += "&fields=" + Self.encode(fields) }
        do {
            try TapStream.read(address: target, path: "/tap?" + query, limit: limit, duration: duration) { line in
                FileHandle.standardOutput.write(Data(line + [0x0A]))
            }
        } catch let e as HealthProbe.Failure {
            FileHandle.standardError.write(Data("tap: http://\(target)/tap: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? s
    }
}

/// Reads a streamed (chunked) HTTP/1.1 answer line by line.
enum TapStream {
    static func read(address: String, path: String, limit: Int?, duration: Double?, _ emit: ([UInt8]) -> Void) throws {
        // The host writes at least a heartbeat every second: 10 s of silence means it is gone.
        let (fd, host) = try HealthProbe.connect(address: address, timeout: 10)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nAccept: application/x-ndjson\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw HealthProbe.Failure(message: "cannot send: \(String(cString: strerror(errno)))")
        }
        let started = Date()
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        func more() throws -> Bool {
            if let duration, Date().timeIntervalSince(started) >= duration { return false }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw HealthProbe.Failure(message: "the host sent nothing for 10 s") }
                throw HealthProbe.Failure(message: String(cString: strerror(errno)))
            }
            if n == 0 { return false }
            input += buffer[0..<n]
            return true
        }
        // The head.
        var headEnd: Int?
        while headEnd == nil {
            if let r = input.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) { headEnd = r.upperBound; break }
            guard try more() else { throw HealthProbe.Failure(message: "the connection closed before an answer") }
        }
        let head = String(decoding: input[..<headEnd!], as: UTF8.self)
        input.removeFirst(headEnd!)
        let statusLine = head.prefix { $0 != "\r" }
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw HealthProbe.Failure(message: "not an HTTP answer") }
        let chunked = head.lowercased().contains("transfer-encoding: chunked")
        guard status == 200 else {
            while try more() {}
            let body = chunked ? dechunk(&input) : input
            throw HealthProbe.Failure(message: "HTTP \(status): " + String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var text: [UInt8] = []
        var count = 0
        while true {
            text += chunked ? dechunk(&input) : input
            if !chunked { input.removeAll() }
            while let nl = text.firstIndex(of: 0x0A) {
                let line = Array(text[..<nl])
                text.removeFirst(nl + 1)
                guard !line.isEmpty else { continue }  // heartbeat
                emit(line)
                count += 1
                if let limit, count >= limit { return }
            }
            guard try more() else { return }
        }
    }

    /// Takes the complete chunks at the start of `input` and returns their data.
    static func dechunk(_ input: inout [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        while let crlf = input.firstRange(of: [0x0D, 0x0A]) {
            let sizeText = String(decoding: input[..<crlf.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
            let end = crlf.upperBound + size
            guard input.count >= end + 2 else { break }
            out += input[crlf.upperBound..<end]
            input.removeFirst(end + 2)
            if size == 0 { break }
        }
        return out
    }
}
