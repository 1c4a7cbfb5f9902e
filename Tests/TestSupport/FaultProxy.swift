import Foundation
import PipelineHost
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP proxy on 127.0.0.1 in front of an HTTP server (moto, a fake Slack) that breaks requests: a 500, a 429
/// with Retry-After, a 2 s stall (then the real answer), a reset connection. Either every `n`-th request, the
/// faults in turn, or each request with a probability, the fault drawn at random (seeded, so a run repeats).
public final class FaultProxy: @unchecked Sendable {  // `server` is set once, in init
    public enum Fault: String, Sendable, CaseIterable {
        case serverError, throttled, stall, reset
    }

    /// Answers chosen requests itself (a scripted AWS error for one operation, say): an action, or nil to let the
    /// schedule and forwarding handle the request. It runs before the schedule and is not counted in `faults`.
    public typealias Interceptor = @Sendable (FakeHTTPServer.Request) -> FakeHTTPServer.Action?

    public enum Schedule: Sendable {
        case every(Int)
        case random(rate: Double, seed: UInt64)
    }

    let upstreamPort: Int
    let schedule: Schedule
    let intercept: Interceptor?
    private let count = Atomic<Int>(0)
    private let injected = Mutex<[Fault: Int]>([:])
    private let rng: Mutex<SplitMix64>
    private(set) var server: FakeHTTPServer!

    public var url: String { server.url }
    public var faults: [Fault: Int] { injected.withLock { $0 } }
    public var requests: Int { count.load(ordering: .relaxed) }

    public convenience init(upstreamPort: Int, every: Int) throws {
        try self.init(upstreamPort: upstreamPort, schedule: .every(every))
    }

    /// A proxy that injects no scheduled faults, only what `intercept` decides, and forwards everything else.
    public convenience init(upstreamPort: Int, intercept: @escaping Interceptor) throws {
        try self.init(upstreamPort: upstreamPort, schedule: .every(Int.max), intercept: intercept)
    }

    public init(upstreamPort: Int, schedule: Schedule, intercept: Interceptor? = nil) throws {
        self.upstreamPort = upstreamPort
        self.schedule = schedule
        self.intercept = intercept
        if case .random(_, let seed) = schedule { rng = Mutex(SplitMix64(seed: seed)) } else { rng = Mutex(SplitMix64(seed: 0)) }
        server = try FakeHTTPServer { [unowned self] request in self.handle(request) }
    }

    public func stop() { server.stop() }

    private func random() -> Double { rng.withLock { $0.nextUnit() } }

    private func pick(_ n: Int) -> Fault? {
        switch schedule {
        case .every(let every):
            return n % every == 0 ? Fault.allCases[(n / every) % Fault.allCases.count] : nil
        case .random(let rate, _):
            guard random() < rate else { return nil }
            return Fault.allCases[min(Fault.allCases.count - 1, Int(random() * Double(Fault.allCases.count)))]
        }
    }

    private func handle(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
        let n = count.add(1, ordering: .relaxed).newValue
        if let intercept, let action = intercept(request) { return action }
        guard let fault = pick(n) else { return forward(request) }
        injected.withLock { $0[fault, default: 0] += 1 }
        switch fault {
        case .serverError:
            return .respond(status: 500, headers: [("Content-Type", "text/plain")], body: Array("injected failure".utf8))
        case .throttled:
            // One body that AWS JSON clients read as ThrottlingException and Slack clients as ratelimited.
            return .respond(status: 429, headers: [("Content-Type", "application/json"), ("Retry-After", "1")],
                            body: Array(#"{"__type":"ThrottlingException","message":"Rate exceeded (injected)","ok":false,"error":"ratelimited"}"#.utf8))
        case .stall:
            return .delay(.seconds(2), then: { [self] in forward(request) })
        case .reset:
            return .reset
        }
    }

    /// The upstream's answer to `request`, for an interceptor that answers late (`.delay(…, then: { proxy.passThrough(r) })`).
    public func passThrough(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action { forward(request) }

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
        // Read one whole answer: to the end of the body its Content-Length announces (servers that keep the
        // connection open, like the fake Slack) or to the close (moto).
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while Self.expectedLength(response).map({ response.count < $0 }) ?? true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: chunk[0..<n])
        }
        return response.isEmpty ? .reset : .raw(response)
    }

    /// Head plus Content-Length once the head is complete; nil while it is not, or without a Content-Length.
    static func expectedLength(_ bytes: [UInt8]) -> Int? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let i = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }) else { return nil }
        let head = String(decoding: bytes[..<i], as: UTF8.self).lowercased()
        for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            if let n = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) { return i + 4 + n }
        }
        return nil
    }
}
