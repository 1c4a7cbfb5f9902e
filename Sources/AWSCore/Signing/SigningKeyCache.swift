import Synchronization

/// The last derived SigV4 signing key. Deriving it costs four HMAC-SHA256s and it changes only with the date,
/// the secret, the region or the service, so a signer reuses it for a day (the AWS SDKs do the same).
final class SigningKeyCache: Sendable {
    private struct Entry {
        var scope: String
        var secret: String
        var key: [UInt8]
    }

    private let last = Mutex<Entry?>(nil)

    func key(scope: String, secret: String, derive: () -> [UInt8]) -> [UInt8] {
        if let hit = last.withLock({ e in e.flatMap { $0.scope == scope && $0.secret == secret ? $0.key : nil } }) { return hit }
        let key = derive()
        last.withLock { $0 = Entry(scope: scope, secret: secret, key: key) }
        return key
    }
}
