import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// An HTTP proxy on 127.0.0.1 in front of moto for one host's traffic to one service (its DynamoDB lease table
/// or its S3), whose behaviour the simulation switches: pass everything, stall every request that arrives
/// before a deadline until that deadline (then forward it: a write that "timed out" may still apply, as in AWS),
/// or answer 500 until a deadline. Modes expire by themselves, so a harness failure cannot leave a stall on.
///
/// It keeps a log of the writes it forwarded (method, path or operation, status), so a failure report can say
/// which host wrote an S3 key or called the lease table, and when.
final class StallProxy: @unchecked Sendable {  // `server` is set once, in init
    enum Service: String, Sendable {
        case dynamodb, s3
    }

    enum Mode: Sendable, Equatable, CustomStringConvertible {
        case pass
        case stall(until: Date)
        case fail(until: Date)

        var description: String {
            switch self {
            case .pass: return "pass"
            case .stall(let until): return String(format: "stall (%.1fs left)", until.timeIntervalSinceNow)
            case .fail(let until): return String(format: "500 (%.1fs left)", until.timeIntervalSinceNow)
            }
        }
    }

    struct Write: Sendable {
        var time: Date
        var method: String
        /// S3: the path; DynamoDB: the operation (X-Amz-Target) and the lease key when the body names one.
        var what: String
        var status: Int
        var stalled: Bool
    }

    struct Counts: Sendable, Equatable {
        var requests = 0
        var stalled = 0
        var failed = 0
    }

    let name: String
    let service: Service
    let upstreamPort: Int
    private let mode = Mutex<Mode>(.pass)
    private let counts = Mutex(Counts())
    private let log = Mutex<[Write]>([])
    private(set) var server: FakeHTTPServer!

    var url: String { server.url }
    var stats: Counts { counts.withLock { $0 } }
    var writes: [Write] { log.withLock { $0 } }

    init(name: String, service: Service, upstreamPort: Int) throws {
        self.name = name
        self.service = service
        self.upstreamPort = upstreamPort
        server = try FakeHTTPServer { [unowned self] request in self.handle(request) }
    }

    func set(_ newMode: Mode) { mode.withLock { $0 = newMode } }
    func stop() { server.stop() }

    private func handle(_ request: FakeHTTPServer.Request) -> FakeHTTPServer.Action {
        counts.withLock { $0.requests += 1 }
        let now = Date()
        switch mode.withLock({ $0 }) {
        case .stall(let until) where until > now:
            counts.withLock { $0.stalled += 1 }
            let wait = until.timeIntervalSince(now)
            return .delay(.milliseconds(Int64(wait * 1000)), then: { [self] in forward(request, stalled: true) })
        case .fail(let until) where until > now:
            counts.withLock { $0.failed += 1 }
            record(request, status: 500, stalled: false)
            return failure()
        default:
            return forward(request, stalled: false)
        }
    }

    private func failure() -> FakeHTTPServer.Action {
        switch service {
        case .dynamodb:
            return .respond(status: 500, headers: [("Content-Type", "application/x-amz-json-1.0")],
                            body: Array(#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected by the simulation"}"#.utf8))
        case .s3:
            return .respond(status: 500, headers: [("Content-Type", "application/xml")],
                            body: Array("<Error><Code>InternalError</Code><Message>injected by the simulation</Message></Error>".utf8))
        }
    }

    private func record(_ request: FakeHTTPServer.Request, status: Int, stalled: Bool) {
        let what: String
        switch service {
        case .s3:
            guard request.method != "GET" && request.method != "HEAD" else { return }
            what = request.path
        case .dynamodb:
            let op = request.header("x-amz-target")?.split(separator: ".").last.map(String.init) ?? "?"
            guard op != "Scan" && op != "DescribeTable" else { return }
            var key = ""
            if let text = String(bytes: request.body, encoding: .utf8),
               let r = text.range(of: #""leaseKey":{"S":""#) {
                key = " " + text[r.upperBound...].prefix { $0 != "\"" }
            }
            what = op + key
        }
        log.withLock { $0.append(Write(time: Date(), method: request.method, what: what, status: status, stalled: stalled)) }
    }

    /// Sends the request to moto and relays the whole answer (moto closes every connection).
    private func forward(_ request: FakeHTTPServer.Request, stalled: Bool) -> FakeHTTPServer.Action {
        let response = HTTPRelay.exchange(request, port: upstreamPort)
        record(request, status: HTTPRelay.status(response), stalled: stalled)
        return response.isEmpty ? .reset : .raw(response)
    }
}
