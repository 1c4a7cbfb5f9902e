import Foundation
import Synchronization
import Testing

@testable import AWSCore
import TestSupport

/// Two refusals a fresh attempt fixes, as the SDKs handle them: a clock skew (re-signed with the server's time)
/// and expired temporary credentials (new ones fetched). A fake service answers as DynamoDB does.
@Suite struct ClockSkewAndExpiryTests {
    static func amzDate(_ request: FakeHTTPServer.Request) -> Date? {
        guard let text = request.header("x-amz-date") else { return nil }
        var parts = DateComponents()
        let digits = Array(text.filter(\.isNumber))
        guard digits.count == 14 else { return nil }
        func n(_ r: Range<Int>) -> Int { Int(String(digits[r]))! }
        parts.year = n(0..<4); parts.month = n(4..<6); parts.day = n(6..<8)
        parts.hour = n(8..<10); parts.minute = n(10..<12); parts.second = n(12..<14)
        parts.timeZone = TimeZone(identifier: "UTC")
        return Calendar(identifier: .gregorian).date(from: parts)
    }

    static func httpDate(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f.string(from: d)
    }

    static func awsError(_ type: String, _ message: String, date: Date = Date()) -> FakeHTTPServer.Action {
        .respond(status: 400, headers: [("Content-Type", "application/x-amz-json-1.0"), ("Date", httpDate(date))],
                 body: Array(#"{"__type":"com.amazonaws.dynamodb.v20120810#\#(type)","message":"\#(message)"}"#.utf8))
    }

    @Test func aSkewedClockIsCorrectedFromTheServersDate() async throws {
        let serverAhead = 3600.0
        let server = try FakeHTTPServer { request in
            let signed = Self.amzDate(request) ?? .distantPast
            let serverNow = Date().addingTimeInterval(serverAhead)
            if abs(signed.timeIntervalSince(serverNow)) > 300 {
                return Self.awsError("InvalidSignatureException", "Signature expired: the request is earlier than the server time minus 5 min.", date: serverNow)
            }
            return .respond(status: 200, headers: [("Content-Type", "application/x-amz-json-1.0")], body: Array("{}".utf8))
        }
        defer { server.stop() }
        let client = AWSClient(region: "us-east-1", credentialProvider: StaticCredentialProvider(accessKeyID: "AKID", secretAccessKey: "s"),
                               retryPolicy: RetryPolicy(maxAttempts: 1, baseBackoff: .milliseconds(1)), environment: [:])
        defer { client.shutdown() }
        let ddb = try JSONProtocolClient.dynamoDB(client, endpointURL: server.url)
        _ = try await ddb.call("ListTables")  // maxAttempts 1: the correction is not a retry
        #expect(server.requests.count == 2)
        // The Date header has whole seconds and the reply may sit in a loaded machine's queues: the correction only
        // has to land inside the service's 5-minute window.
        #expect(abs(client.clockCorrection - serverAhead) < 240, "\(client.clockCorrection)")
        _ = try await ddb.call("ListTables")
        #expect(server.requests.count == 3, "later calls are signed with the corrected time at once")

        // A wrong signature is not a skew: no second attempt.
        let wrong = try FakeHTTPServer { _ in Self.awsError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided.") }
        defer { wrong.stop() }
        let error = await #expect(throws: AWSError.self) { _ = try await JSONProtocolClient.dynamoDB(client, endpointURL: wrong.url).call("ListTables") }
        #expect(error?.code == "InvalidSignatureException")
        #expect(wrong.requests.count == 1)
    }

    /// Expired temporary credentials: the cached ones are dropped and the call is signed again with new ones,
    /// instead of the sink or source stopping until its next scheduled refresh.
    @Test func expiredCredentialsAreRefreshedOnce() async throws {
        final class Rotating: CredentialProvider {
            let name = "rotating"
            let calls = Atomic<Int>(0)
            func credentials() async throws -> Credentials {
                let n = calls.add(1, ordering: .relaxed).newValue
                return Credentials(accessKeyID: "ASIA\(n)", secretAccessKey: "s", sessionToken: "t\(n)", expiration: Date().addingTimeInterval(3600))
            }
        }
        let server = try FakeHTTPServer { request in
            (request.header("authorization") ?? "").contains("Credential=ASIA1/")
                ? Self.awsError("ExpiredTokenException", "The security token included in the request is expired")
                : .respond(status: 200, headers: [("Content-Type", "application/x-amz-json-1.0")], body: Array("{}".utf8))
        }
        defer { server.stop() }
        let rotating = Rotating()
        let client = AWSClient(region: "us-east-1", credentialProvider: CachingCredentialProvider(rotating),
                               retryPolicy: RetryPolicy(maxAttempts: 1, baseBackoff: .milliseconds(1)), environment: [:])
        defer { client.shutdown() }
        _ = try await JSONProtocolClient.dynamoDB(client, endpointURL: server.url).call("ListTables")
        #expect(server.requests.count == 2)
        #expect(server.requests.last?.header("x-amz-security-token") == "t2")
        #expect(rotating.calls.load(ordering: .relaxed) == 2)
    }

    @Test func httpDatesParse() {
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == Date(timeIntervalSince1970: 784_111_777))
        #expect(HTTPDate.parse("Mon, 30 Nov 2026 10:48:14 GMT") == Date(timeIntervalSince1970: 1_796_035_694))
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
    }
}
