import Foundation
import TestSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP proxy on 127.0.0.1 in front of moto that breaks every `every`-th request, in turn: a 500, a 400
/// ProvisionedThroughputExceededException, a 2 s stall (then the real answer), a reset connection.
final class FaultProxy: @unchecked Sendable {  // `server` is set once, in init
    enum Fault: String, Sendable, CaseIterable {
        case serverError, throttled, stall, reset
    }

    let upstreamPort: Int
    let every: Int
    private let count = Atomic<Int>(0)
    private let injected = Mutex<[Fault: Int]>([:])
    private(set) var server: FakeHTTPServer!

    var url: String { server.url }
    var faults: [Fault: Int] { injected.withLock { $0 } }
    var requests: Int { count.load(ordering: .relaxed) }

    init(upstreamPort: Int, every: Int) throws {
        self.upstreamPort = upstreamPort
        self.every = every
        server = try FakeHTTPServer { [unowned self] request in self.handle(request) }
    }

    func stop() { server.stop() }

    private func handle(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
        let n = count.add(1, ordering: .relaxed).newValue
        guard n % every == 0 else { return forward(request) }
        let fault = Fault.allCases[(n / every) % Fault.allCases.count]
        injected.withLock { $0[fault, default: 0] += 1 }
        switch fault {
        case .serverError:
            return .respond(status: 500, headers: [("Content-Type", "text/plain")], body: Array("injected failure".utf8))
        case .throttled:
            return .json(400, #"{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded for shard (injected)"}"#)
        case .stall:
            return .delay(.seconds(2), then: { [self] in forward(request) })
        case .reset:
            return .reset
        }
    }

    /// Sends the request to moto on a fresh connection and relays the whole answer (moto closes every connection).
    private func forward(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .reset }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(upstreamPort).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .reset }
        var head = "\(request.method) \(request.path) HTTP/1.1\r\n"
        for (k, v) in request.headers where k != "connection" && k != "content-length" { head += "\(k): \(v)\r\n" }
        head += "content-length: \(request.body.count)\r\nconnection: close\r\n\r\n"
        let out = Array(head.utf8) + request.body
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return .reset }
            sent += n
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: chunk[0..<n])
        }
        return response.isEmpty ? .reset : .raw(response)
    }
}
