import Foundation
import Synchronization

/// Caches credentials and refreshes them `refreshWindow` before they expire.
///
/// Concurrent callers share one refresh (one request to the credential endpoint, not one per caller). If a
/// refresh fails while the cached credentials are still valid, those are returned and the next call retries.
public final class CachingCredentialProvider: CredentialProvider {
    private struct State {
        var cached: Credentials?
        var refresh: Task<Credentials, any Error>?
    }

    private let base: any CredentialProvider
    private let refreshWindow: TimeInterval
    private let now: @Sendable () -> Date
    private let state = Mutex(State())

    public var name: String { "cached \(base.name)" }

    public init(
        _ base: any CredentialProvider, refreshWindow: TimeInterval = 300,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.base = base
        self.refreshWindow = refreshWindow
        self.now = now
    }

    public func credentials() async throws -> Credentials {
        let time = now()
        let window = refreshWindow
        let base = self.base
        enum Step {
            case ready(Credentials)
            case wait(Task<Credentials, any Error>)
        }
        let step = state.withLock { s -> Step in
            if let cached = s.cached, !cached.expires(within: window, now: time) { return .ready(cached) }
            if let task = s.refresh { return .wait(task) }
            let task = Task { try await base.credentials() }
            s.refresh = task
            return .wait(task)
        }
        switch step {
        case .ready(let creds):
            return creds
        case .wait(let task):
            do {
                let creds = try await task.value
                state.withLock { s in
                    s.cached = creds
                    if s.refresh == task { s.refresh = nil }
                }
                return creds
            } catch {
                let fallback = state.withLock { s -> Credentials? in
                    if s.refresh == task { s.refresh = nil }
                    return s.cached
                }
                if let fallback, !fallback.expires(within: 0, now: now()) { return fallback }
                throw error
            }
        }
    }

    /// Drops the cached value (e.g. after the service rejected the credentials as expired).
    public func invalidate() {
        state.withLock { $0.cached = nil }
    }
}
