import HummingbirdCore
import NIOCore
import Synchronization

/// A cap on a server's open connections: a connection over the cap is closed as soon as it is accepted.
///
/// Why: each connection holds a socket, buffers and a task; without a cap, a thousand idle or half-open
/// connections (or more) exhaust descriptors and memory before any idle timeout reaps them. With the cap and the
/// idle timeout together, a flood holds at most `limit` connections for at most the idle timeout.
public final class ConnectionLimiter: Sendable {
    public let limit: Int
    private let open = Mutex(0)

    public init(limit: Int) { self.limit = max(1, limit) }

    func acquire() -> Bool {
        open.withLock { n -> Bool in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func release() { open.withLock { $0 -= 1 } }

    /// An HTTP/1 server with this cap and an idle timeout (which also bounds the time to send a request head).
    public func http1(idleTimeout: Double) -> HTTPServerBuilder {
        .http1(configuration: .init(
            additionalChannelHandlers: [ConnectionLimitHandler(limiter: self)],
            idleTimeout: .milliseconds(Int64(idleTimeout * 1000))))
    }
}

/// Counts its channel against the limiter while the channel is open; closes it at once when over the cap.
final class ConnectionLimitHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    // Never unwrapped: reads pass through untouched.
    typealias InboundIn = NIOAny
    let limiter: ConnectionLimiter
    private let holds = Mutex(false)

    init(limiter: ConnectionLimiter) { self.limiter = limiter }

    func handlerAdded(context: ChannelHandlerContext) {
        if limiter.acquire() {
            holds.withLock { $0 = true }
        } else {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let held = holds.withLock { h -> Bool in
            defer { h = false }
            return h
        }
        if held { limiter.release() }
    }
}
