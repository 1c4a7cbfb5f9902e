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

    private func forward(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action { Self.relay(request, to: upstreamPort) }

    /// Sends the request to the upstream on `port` and relays its whole answer (a reset when it gave none); also for
    /// an interceptor that answers late: `.delay(…, then: { FaultProxy.relay(request, to: port) })`.
    public static func relay(_ request: FakeHTTPServer.Request, to port: Int) -> FakeHTTPServer.Action {
        let response = HTTPRelay.exchange(request, port: port)
        return response.isEmpty ? .reset : .raw(response)
    }
}
