import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests: real sockets, keep-alive, Content-Length bodies, and
/// scripted faults (connection reset, close without reply, slow replies).
public final class FakeHTTPServer: Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var headers: [(String, String)]
        public var body: [UInt8]
        public func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
    }

    public enum Action: Sendable {
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// RST the connection (SO_LINGER 0) without answering.
        case reset
        /// Write these bytes as they are (a whole response relayed from elsewhere), then close the connection.
        case raw([UInt8])
        /// Wait, then act.
        case delay(Duration, then: @Sendable () -> Action)
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public let port: Int
    private let listener: Int32
    private let handler: @Sendable (Request) -> Action
    private let log = Mutex<[Request]>([])
    /// Whether stop() was called, and whether the accept thread has closed the listener (both under one lock, so
    /// stop() never shuts down a descriptor number another socket has taken since).
    private let lifecycle = Mutex<(stopped: Bool, closed: Bool)>((false, false))

    public var url: String { "http://127.0.0.1:\(port)" }
    public var requests: [Request] { log.withLock { $0 } }

    public init(handler: @escaping @Sendable (Request) -> Action) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "socket() failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw SetupError(description: "bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting. The accept thread closes the listener: closed here, its number could be reused by
    /// another test's socket before the thread's next accept, which would then take that socket's connections.
    public func stop() {
        lifecycle.withLock { s in
            guard !s.stopped else { return }
            s.stopped = true
            if !s.closed { shutdown(listener, Int32(SHUT_RDWR)) }
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client >= 0 {
                Thread { [self] in serve(client) }.start()
                continue
            }
            let e = errno
            if lifecycle.withLock({ $0.stopped }) { break }
            if e == EINTR || e == ECONNABORTED { continue }
            // Out of descriptors or memory for a moment (many suites at once): wait, not give up serving.
            if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            break
        }
        lifecycle.withLock { s in
            s.closed = true
            close(listener)
        }
    }

    private func serve(_ fd: Int32) {
        var buffer: [UInt8] = []
        defer { close(fd) }
        while true {
            guard let request = readRequest(fd, &buffer) else { return }
            log.withLock { $0.append(request) }
            var action = handler(request)
            while case .delay(let duration, let next) = action {
                Thread.sleep(forTimeInterval: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
                action = next()
            }
            switch action {
            case .respond(let status, let headers, let body):
                var head = "HTTP/1.1 \(status) Status\r\nContent-Length: \(body.count)\r\n"
                for (k, v) in headers { head += "\(k): \(v)\r\n" }
                head += "\r\n"
                let bytes = Array(head.utf8) + (request.method == "HEAD" ? [] : body)
                if !writeAll(fd, bytes) { return }
            case .reset:
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                return
            case .raw(let bytes):
                _ = writeAll(fd, bytes)
                return
            case .delay:
                return
            }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> Request? {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = find(separator, in: buffer) { headerEnd = r; break }
            guard readMore(fd, &buffer) else { return nil }
        }
        guard let end = headerEnd else { return nil }
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = Int(headers.first { $0.0 == "content-length" }?.1 ?? "0") ?? 0
        let bodyStart = end + 4
        while buffer.count < bodyStart + length {
            guard readMore(fd, &buffer) else { return nil }
        }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: body)
    }

    private func readMore(_ fd: Int32, _ buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[..<n])
        return true
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

extension FakeHTTPServer.Action {
    public static func json(_ status: Int, _ text: String, headers: [(String, String)] = []) -> Self {
        .respond(status: status, headers: [("Content-Type", "application/x-amz-json-1.1")] + headers, body: Array(text.utf8))
    }
}
