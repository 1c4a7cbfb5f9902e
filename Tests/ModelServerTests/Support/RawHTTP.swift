import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A deliberately small HTTP/1.1 client over a blocking POSIX socket, so the tests talk to the server over a
/// real TCP connection and can send exactly the bytes they mean to (no added headers, malformed requests,
/// a body sent in pieces). Each call runs on its own thread, never on Swift concurrency's pool.
struct HTTPReply: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The body as a JSON object's fields (fails the caller's #require when it is not one).
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    var jsonArray: [[String: Any]]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]]
    }
}

struct HTTPClientError: Error, CustomStringConvertible {
    var description: String
}

/// One open connection.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int, timeoutSeconds: Int = 60) throws {  // a hang guard: a 6 MiB body on a loaded CI machine took over 15 s
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError(description: "socket: \(errno)") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let e = errno
            // Not closed here: deinit runs when init throws and closes fd; a second close would hit whatever
            // another thread opened on that number meanwhile.
            throw HTTPClientError(description: "connect to 127.0.0.1:\(port): errno \(e)")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HTTPClientError(description: "send: errno \(errno)") }
            off += n
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Reads one response (Content-Length or chunked or until close).
    func readReply() throws -> HTTPReply {
        var buf: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() throws -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw HTTPClientError(description: "recv: errno \(errno)") }
            if n == 0 { return false }
            buf.append(contentsOf: chunk[0..<n])
            return true
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        while headerEnd == nil {
            if buf.count >= 4 {
                for i in 0...(buf.count - 4) where Array(buf[i..<i + 4]) == separator { headerEnd = i; break }
            }
            if headerEnd == nil { guard try fill() else { throw HTTPClientError(description: "connection closed before a response head (\(buf.count) bytes)") } }
        }
        let head = String(decoding: buf[0..<headerEnd!], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw HTTPClientError(description: "bad status line \(head[0])") }
        var headers: [(String, String)] = []
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var rest = Array(buf[(headerEnd! + 4)...])
        buf = rest
        let reply = HTTPReply(status: status, headers: headers, body: [])
        if let length = reply.header("content-length").flatMap({ Int($0) }) {
            while buf.count < length { guard try fill() else { break } }
            return HTTPReply(status: status, headers: headers, body: Array(buf.prefix(length)))
        }
        if reply.header("transfer-encoding")?.lowercased() == "chunked" {
            var body: [UInt8] = []
            var pos = 0
            while true {
                func line() throws -> String {
                    while true {
                        if let r = buf[pos...].firstIndex(of: 13), r + 1 < buf.count, buf[r + 1] == 10 {
                            let s = String(decoding: buf[pos..<r], as: UTF8.self)
                            pos = r + 2
                            return s
                        }
                        guard try fill() else { throw HTTPClientError(description: "truncated chunked body") }
                    }
                }
                let sizeLine = try line()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw HTTPClientError(description: "bad chunk size") }
                if size == 0 { _ = try? line(); break }
                while buf.count < pos + size + 2 { guard try fill() else { throw HTTPClientError(description: "truncated chunk") } }
                body.append(contentsOf: buf[pos..<pos + size])
                pos += size + 2
            }
            return HTTPReply(status: status, headers: headers, body: body)
        }
        while try fill() {}
        rest = buf
        return HTTPReply(status: status, headers: headers, body: rest)
    }
}

enum RawHTTP {
    /// Runs blocking socket work on a thread of its own.
    static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            let thread = Thread { cont.resume(with: Result { try work() }) }
            thread.start()
        }
    }

    static func request(
        port: Int, method: String = "POST", path: String = "/invocations", headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> HTTPReply {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        if let body, !headers.contains(where: { $0.0.lowercased() == "transfer-encoding" }) {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        let bytes = Array(head.utf8) + (body ?? [])
        return try await raw(port: port, bytes)
    }

    static func post(port: Int, path: String = "/invocations", contentType: String? = "application/json", accept: String? = nil, _ body: String) async throws -> HTTPReply {
        var headers: [(String, String)] = []
        if let contentType { headers.append(("Content-Type", contentType)) }
        if let accept { headers.append(("Accept", accept)) }
        return try await request(port: port, path: path, headers: headers, body: Array(body.utf8))
    }

    static func get(port: Int, _ path: String) async throws -> HTTPReply {
        try await request(port: port, method: "GET", path: path)
    }

    /// Sends raw bytes and reads one reply. Sending happens on a thread of its own while the reply is read,
    /// as a browser or curl does: a server may answer (413) before it has read a large body, and stop reading.
    static func raw(port: Int, _ bytes: [UInt8]) async throws -> HTTPReply {
        try await onThread { try exchange(port: port, bytes) }
    }

    /// `raw` without the hop off the caller's thread. `halfClose` ends the request stream after the bytes, so a
    /// request whose body never ends is answered at once instead of after the read timeout.
    static func exchange(port: Int, _ bytes: [UInt8], halfClose: Bool = false) throws -> HTTPReply {
        let c = try RawConnection(port: port)
        if bytes.count < 1 << 16 {
            try c.send(bytes)
            if halfClose { shutdown(c.fd, Int32(SHUT_WR)) }
            return try c.readReply()
        }
        let sender = Thread { try? c.send(bytes) }
        sender.start()
        let reply = try c.readReply()
        shutdown(c.fd, Int32(SHUT_RDWR))
        return reply
    }
}
