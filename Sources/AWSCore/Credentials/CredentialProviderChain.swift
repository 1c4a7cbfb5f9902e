import Synchronization

/// Tries providers in order and returns the first credentials obtained.
///
/// Once a provider has worked, later calls start with it (as the SDKs do), so a refresh does not walk the
/// whole chain again. When all fail, the error lists why each one failed (never any secret).
public final class CredentialProviderChain: CredentialProvider {
    public let name = "chain"
    private let providers: [any CredentialProvider]
    private let lastWorking = Mutex<Int?>(nil)

    public init(_ providers: [any CredentialProvider]) {
        self.providers = providers
    }

    public func credentials() async throws -> Credentials {
        let start = lastWorking.withLock { $0 }
        if let start {
            if let creds = try? await providers[start].credentials() { return creds }
        }
        var reasons: [String] = []
        for (index, provider) in providers.enumerated() where index != start {
            do {
                let creds = try await provider.credentials()
                lastWorking.withLock { $0 = index }
                return creds
            } catch let error as AWSClientError {
                reasons.append("\(provider.name): \(error.message)")
            } catch {
                reasons.append("\(provider.name): \(error)")
            }
        }
        throw AWSClientError(.credentialsUnavailable, "no credentials found (" + reasons.joined(separator: "; ") + ")")
    }
}
