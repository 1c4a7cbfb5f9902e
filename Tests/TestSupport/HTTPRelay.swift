import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP exchange with an upstream on 127.0.0.1, for the test proxies (`FaultProxy`, the simulation's
/// `StallProxy`): the request goes out on a fresh connection and the whole answer comes back as raw bytes.
public enum HTTPRelay {
    /// The upstream's raw answer to `request`; empty when the connection failed.
    public static func exchange(_ request: FakeHTTPServer.Request, port: Int) -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return [] }
        var head = "\(request.method) \(request.path) HTTP/1.1\r\n"
        for (k, v) in request.headers where k != "connection" && k != "content-length" { head += "\(k): \(v)\r\n" }
        head += "content-length: \(request.body.count)\r\nconnection: close\r\n\r\n"
        let out = Array(head.utf8) + request.body
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return [] }
            sent += n
        }
        // Read one whole answer: to the end of the body its Content-Length announces (servers that keep the
        // connection open, like the fake Slack) or to the close (moto).
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while expectedLength(response).map({ response.count < $0 }) ?? true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: chunk[0..<n])
        }
        return response
    }

    /// The status code of a raw answer (0 when there is none).
    public static func status(_ bytes: [UInt8]) -> Int {
        let line = String(decoding: bytes.prefix(32), as: UTF8.self).split(separator: " ")
        return line.count > 1 ? Int(line[1]) ?? 0 : 0
    }

    /// Head plus Content-Length once the head is complete; nil while it is not, or without a Content-Length.
    public static func expectedLength(_ bytes: [UInt8]) -> Int? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let i = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }) else { return nil }
        let head = String(decoding: bytes[..<i], as: UTF8.self).lowercased()
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            if let n = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) { return i + 4 + n }
        }
        return nil
    }
}
