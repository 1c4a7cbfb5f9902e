import CCurl
import Foundation
import Synchronization

/// Drives a curl multi handle from one dedicated thread.
///
/// All transfers share the multi handle's connection cache, so keep-alive connections are reused across
/// requests, and any number of transfers run concurrently without a thread each. Other threads only enqueue
/// work under a mutex and call `curl_multi_wakeup` (the one thread-safe multi call) to interrupt the poll.
final class CurlMultiLoop: @unchecked Sendable {
    private struct Shared {
        var pending: [CurlTransfer] = []
        var shuttingDown = false
        var stopped = false
    }

    private static let globalInit: Void = {
        // Not thread-safe in old libcurl: run once, before any handle exists.
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    private let multi: UnsafeMutableRawPointer  // CURLM* (typedef void) imports as a raw pointer
    private let shared = Mutex(Shared())
    private let exited = DispatchSemaphore(value: 0)
    /// Loop-thread only.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]

    init(maxConnectionsPerHost: Int) {
        _ = Self.globalInit
        guard let multi = curl_multi_init() else { preconditionFailure("curl_multi_init failed") }
        self.multi = multi
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        // Pipelining off; HTTP/2 multiplexing on where the server offers it (CURLPIPE_MULTIPLEX = 2).
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, 2)
        let thread = Thread { [self] in run() }
        thread.name = "aws-http"
        thread.start()
    }

    /// Queues a transfer; fails it at once if the loop is shutting down.
    func submit(_ transfer: CurlTransfer) {
        let accepted = shared.withLock { state -> Bool in
            guard !state.shuttingDown else { return false }
            state.pending.append(transfer)
            return true
        }
        if accepted {
            curl_multi_wakeup(multi)
        } else {
            transfer.fail(HTTPClientError(.shutdown, "HTTP client is shut down"))
        }
    }

    func wakeup() { curl_multi_wakeup(multi) }

    /// Stops the loop, failing queued and running transfers, and waits for the thread to exit. Idempotent.
    func shutdown() {
        let first = shared.withLock { state -> Bool in
            defer { state.shuttingDown = true }
            return !state.shuttingDown
        }
        guard first else { return }
        curl_multi_wakeup(multi)
        exited.wait()
        curl_multi_cleanup(multi)
    }

    private func run() {
        var running: Int32 = 0
        while true {
            let (incoming, stop) = shared.withLock { state -> ([CurlTransfer], Bool) in
                defer { state.pending.removeAll() }
                return (state.pending, state.shuttingDown)
            }
            if stop {
                let error = HTTPClientError(.shutdown, "HTTP client shut down during the request")
                for transfer in incoming { transfer.fail(error) }
                for (easy, transfer) in active {
                    curl_multi_remove_handle(multi, easy)
                    transfer.fail(error)
                }
                active.removeAll()
                break
            }
            for transfer in incoming {
                if transfer.cancelled.load(ordering: .acquiring) {
                    transfer.fail(HTTPClientError(.cancelled, "request cancelled"))
                    continue
                }
                let code = curl_multi_add_handle(multi, transfer.easy)
                if code == CURLM_OK {
                    active[transfer.easy] = transfer
                } else {
                    transfer.fail(HTTPClientError(.other, "curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))"))
                }
            }
            reapCancelled()
            curl_multi_perform(multi, &running)
            reapCompleted()
            // Sleeps until socket activity, a curl timer, or curl_multi_wakeup.
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        exited.signal()
    }

    private func reapCancelled() {
        for (easy, transfer) in active where transfer.cancelled.load(ordering: .acquiring) {
            curl_multi_remove_handle(multi, easy)
            active[easy] = nil
            transfer.fail(HTTPClientError(.cancelled, "request cancelled"))
        }
    }

    private func reapCompleted() {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let result = ccurl_msg_result(message)
            curl_multi_remove_handle(multi, easy)
            if let transfer = active.removeValue(forKey: easy) {
                transfer.complete(result)
            }
        }
    }
}
