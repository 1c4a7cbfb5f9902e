import Foundation
import Synchronization

/// Signs and sends AWS requests with retries. One per process is typical; protocol helpers
/// (`JSONProtocolClient`, `QueryProtocolClient`, `S3Client`, `SageMakerRuntimeClient`) share it.
///
/// A client created without an `HTTPClient` owns one and shuts it down in `shutdown()`.
public final class AWSClient: Sendable {
    public let region: String
    public let credentialProvider: any CredentialProvider
    public let httpClient: HTTPClient
    public let retryPolicy: RetryPolicy
    public let retryBudget: RetryBudget
    let environment: [String: String]
    private let ownsHTTPClient: Bool
    /// Injected for tests; the signer takes the time as a parameter.
    private let now: @Sendable () -> Date
    /// Seconds to add to the local clock when signing, learnt from a service's `Date` header after it refused a
    /// request as too skewed (a host whose clock drifted keeps working, as with the SDKs).
    private let clockOffset = Mutex<Double>(0)

    /// The current correction applied to signing times, in seconds.
    public var clockCorrection: Double { clockOffset.withLock { $0 } }

    public init(
        region: String,
        credentialProvider: (any CredentialProvider)? = nil,
        httpClient: HTTPClient? = nil,
        retryPolicy: RetryPolicy = .default,
        retryBudget: RetryBudget = RetryBudget(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        let http = httpClient ?? HTTPClient()
        self.httpClient = http
        ownsHTTPClient = httpClient == nil
        self.region = region
        self.credentialProvider = credentialProvider ?? CredentialProviders.default(httpClient: http, environment: environment)
        self.retryPolicy = retryPolicy
        self.retryBudget = retryBudget
        self.environment = environment
        self.now = now
    }

    /// Region from `AWS_REGION`, `AWS_DEFAULT_REGION`, then the selected profile's `region`.
    public static func resolveRegion(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for key in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let v = environment[key], !v.isEmpty { return v }
        }
        return ProfileLocation(environment: environment).settings()["region"]
    }

    public func shutdown() {
        if ownsHTTPClient { httpClient.shutdown() }
    }

    /// See `Endpoint.resolve`: explicit URL > `AWS_ENDPOINT_URL_<SERVICE>` > `AWS_ENDPOINT_URL` > default.
    public func endpoint(for service: AWSService, endpointURL: String? = nil) throws -> Endpoint {
        try Endpoint.resolve(service: service, region: region, endpointURL: endpointURL, environment: environment)
    }

    /// Sends the request, retrying throttling, 5xx and network failures per `retryPolicy` while the
    /// `retryBudget` allows. Returns 2xx replies; throws `AWSError` for others, `HTTPClientError` for
    /// transport failures, `AWSClientError` for credential problems.
    public func send(_ request: AWSRequest) async throws -> HTTPResponse {
        var attempt = 0
        var lastRetryCost: Int?
        var corrected = false, refreshed = false
        while true {
            attempt += 1
            do {
                let response = try await sendOnce(request)
                if (200..<300).contains(response.status) {
                    retryBudget.recordSuccess(refund: lastRetryCost)
                    return response
                }
                let error = AWSErrorParser.parse(response)
                // Two refusals a fresh attempt fixes, each tried once and outside the retry budget: a clock skew
                // (re-sign with the server's time) and expired temporary credentials (fetch new ones).
                if !corrected, Self.isClockSkew(error), let serverDate = response.header("Date").flatMap(HTTPDate.parse) {
                    corrected = true
                    let offset = serverDate.timeIntervalSince(now())
                    clockOffset.withLock { $0 = offset }
                    attempt -= 1
                    continue
                }
                if !refreshed, Self.expiredCredentialCodes.contains(error.code), let caching = credentialProvider as? CachingCredentialProvider {
                    refreshed = true
                    caching.invalidate()
                    attempt -= 1
                    continue
                }
                throw error
            } catch {
                let failure = RetryPolicy.classify(error)
                guard failure != .notRetryable, attempt < retryPolicy.maxAttempts,
                    let cost = retryBudget.acquire(for: failure)
                else { throw error }
                lastRetryCost = cost
                try await Task.sleep(for: retryPolicy.backoff(retry: attempt - 1))
            }
        }
    }

    /// Codes of a request refused because its signing time is too far from the server's.
    static func isClockSkew(_ error: AWSError) -> Bool {
        switch error.code {
        case "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture": return true
        case "InvalidSignatureException", "SignatureDoesNotMatch", "AuthFailure":
            // These also mean a wrong key; only their clock-related messages count.
            let m = error.message.lowercased()
            return m.contains("signature expired") || m.contains("not yet current") || m.contains("skew")
        default: return false
        }
    }

    /// Codes of a request refused because its temporary credentials expired.
    static let expiredCredentialCodes: Set<String> = ["ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired", "RequestTokenExpired"]

    /// One signed attempt. Signed again on every retry: the timestamp must be fresh and credentials may
    /// have been refreshed.
    private func sendOnce(_ request: AWSRequest) async throws -> HTTPResponse {
        let credentials = try await credentialProvider.credentials()
        let signer = SigV4Signer(region: request.service.signingRegion(region), service: request.service.signingName)
        let query = request.encodedQuery
        let path = request.endpoint.basePath + request.path
        let headers = signer.sign(
            method: request.method, host: request.endpoint.hostHeader, path: path, query: query,
            headers: request.headers, payload: request.unsignedPayload ? .unsigned : .bytes(request.body),
            credentials: credentials, date: now().addingTimeInterval(clockOffset.withLock { $0 }))
        return try await httpClient.execute(
            HTTPRequest(
                method: request.method, url: request.endpoint.url(path: request.path, query: query), headers: headers,
                body: request.body, timeout: request.timeout))
    }
}
