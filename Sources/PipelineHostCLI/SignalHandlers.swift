import Dispatch
import Foundation

/// SIGINT and SIGTERM start a graceful stop instead of killing the process.
enum SignalHandlers {
    static func install(_ handler: @escaping @Sendable (String) -> Void) -> [any DispatchSourceSignal] {
        [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { sig, name in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { handler(name) }
            source.resume()
            return source
        }
    }
}
