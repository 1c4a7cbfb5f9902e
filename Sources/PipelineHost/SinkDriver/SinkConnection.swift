import Synchronization

/// What a sink on the shared driver keeps once `start` has made it: the driver and the client it sends with, until
/// `close`. The sink's own calls (`write`, `flushDue`, `flush`, `close`) go through here.
public final class SinkConnection<Writer: BatchingSinkWriter, Client: Sendable>: Sendable {
    private struct Running: Sendable {
        var driver: SinkDriver<Writer>
        var client: Client
    }
    private let running = Mutex<Running?>(nil)
    /// Names the destination in the error of a call before `start`.
    private let destination: String
    private let shutdown: @Sendable (Client) -> Void

    public init(destination: String, shutdown: @escaping @Sendable (Client) -> Void) {
        self.destination = destination
        self.shutdown = shutdown
    }

    public func started(_ driver: SinkDriver<Writer>, client: Client) {
        running.withLock { $0 = Running(driver: driver, client: client) }
    }

    private func get() throws -> Running {
        guard let r = running.withLock({ $0 }) else { throw PipelineError(.sink, "the sink was not started", at: destination) }
        return r
    }

    public func driver() throws -> SinkDriver<Writer> { try get().driver }
    public func client() throws -> Client { try get().client }

    /// Flushes, then shuts the client down; a no-op when not started or already closed.
    public func close() async throws {
        guard let r = running.withLock({ $0 }) else { return }
        try await r.driver.flush()
        running.withLock { $0 = nil }
        shutdown(r.client)
    }
}
