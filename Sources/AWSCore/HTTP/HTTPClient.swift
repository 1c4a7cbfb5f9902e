/// Async HTTP client over libcurl's multi interface.
///
/// One background thread runs every transfer; connections are reused between requests to the same host.
/// Call `shutdown()` when done (it is also called on deinit); in-flight requests then fail with `.shutdown`.
public final class HTTPClient: Sendable {
    private let loop: CurlMultiLoop

    /// - Parameter maxConnectionsPerHost: cap on parallel connections per host; extra transfers queue in curl.
    public init(maxConnectionsPerHost: Int = 32) {
        loop = CurlMultiLoop(maxConnectionsPerHost: maxConnectionsPerHost)
    }

    deinit { loop.shutdown() }

    /// Sends the request and returns the response whatever its status; throws `HTTPClientError` only when no
    /// response was received. Task cancellation aborts the transfer.
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let transfer = try CurlTransfer(request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                transfer.continuation = continuation
                loop.submit(transfer)
            }
        } onCancel: {
            transfer.cancelled.store(true, ordering: .releasing)
            loop.wakeup()
        }
    }

    public func shutdown() { loop.shutdown() }
}
