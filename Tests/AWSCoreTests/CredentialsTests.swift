import Foundation
import Synchronization
import Testing

@testable import AWSCore
import TestSupport

@Suite struct CredentialsTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

    @Test func environmentProvider() async throws {
        let creds = try await EnvironmentCredentialProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": "tok",
        ]).credentials()
        #expect(creds.accessKeyID == "AKIDENV")
        #expect(creds.sessionToken == "tok")
        let error = await #expect(throws: AWSClientError.self) {
            _ = try await EnvironmentCredentialProvider(environment: ["AWS_ACCESS_KEY_ID": "x"]).credentials()
        }
        #expect(error?.code == .credentialsUnavailable)
    }

    @Test func descriptionsNeverShowSecrets() {
        let creds = Credentials(accessKeyID: "AKID", secretAccessKey: Self.secret, sessionToken: "SESSIONTOKEN")
        for text in [String(describing: creds), String(reflecting: creds), "\(creds)"] {
            #expect(!text.contains(Self.secret))
            #expect(!text.contains("SESSIONTOKEN"))
            #expect(text.contains("AKID"))
        }
    }

    @Test func profileFiles() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("awscreds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let credentialsPath = dir.appendingPathComponent("credentials").path
        let configPath = dir.appendingPathComponent("config").path
        try """
            # comment
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = \(Self.secret)

            [dev]
            aws_access_key_id=AKIDDEV
            aws_secret_access_key=devsecret
            aws_session_token = devtoken
            """.write(toFile: credentialsPath, atomically: true, encoding: .utf8)
        try """
            [default]
            region = eu-west-1
            [profile cfg]
            ; keys may live in the config file too
            aws_access_key_id = AKIDCFG
            aws_secret_access_key = cfgsecret
            s3 =
              max_concurrent_requests = 4
            [profile dev]
            aws_access_key_id = OVERRIDDEN
            [profile assumer]
            role_arn = arn:aws:iam::123456789012:role/x
            source_profile = default
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let env = ["AWS_SHARED_CREDENTIALS_FILE": credentialsPath, "AWS_CONFIG_FILE": configPath, "HOME": dir.path]

        let byDefault = try await ProfileCredentialProvider(environment: env).credentials()
        #expect(byDefault.accessKeyID == "AKIDDEFAULT")
        #expect(byDefault.secretAccessKey == Self.secret)

        var devEnv = env
        devEnv["AWS_PROFILE"] = "dev"
        let dev = try await ProfileCredentialProvider(environment: devEnv).credentials()
        #expect(dev.accessKeyID == "AKIDDEV")  // credentials file wins over config
        #expect(dev.sessionToken == "devtoken")

        let cfg = try await ProfileCredentialProvider(profile: "cfg", environment: env).credentials()
        #expect(cfg.accessKeyID == "AKIDCFG")

        let assumer = await #expect(throws: AWSClientError.self) {
            _ = try await ProfileCredentialProvider(profile: "assumer", environment: env).credentials()
        }
        #expect(assumer?.message.contains("role_arn") == true)
        await #expect(throws: AWSClientError.self) {
            _ = try await ProfileCredentialProvider(profile: "nope", environment: env).credentials()
        }
        #expect(AWSClient.resolveRegion(environment: env) == "eu-west-1")
        #expect(AWSClient.resolveRegion(environment: env.merging(["AWS_REGION": "ap-south-1"]) { $1 }) == "ap-south-1")
    }

    @Test func containerProviderFullURIWithToken() async throws {
        let server = try FakeHTTPServer { request in
            guard request.path == "/v2/credentials/abc", request.header("authorization") == "Bearer tkn" else {
                return .respond(status: 401)
            }
            return .respond(
                status: 200,
                body: Array(#"{"AccessKeyId":"ASIAECS","SecretAccessKey":"ecs-secret","Token":"ecs-token","Expiration":"2030-01-02T03:04:05Z"}"#.utf8))
        }
        defer { server.stop() }
        let http = HTTPClient()
        defer { http.shutdown() }
        let provider = ContainerCredentialProvider(
            httpClient: http,
            environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v2/credentials/abc",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Bearer tkn",
            ])
        let creds = try await provider.credentials()
        #expect(creds.accessKeyID == "ASIAECS")
        #expect(creds.sessionToken == "ecs-token")
        #expect(creds.expiration == Date(timeIntervalSince1970: 1_893_553_445))

        let wrongToken = ContainerCredentialProvider(
            httpClient: http,
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url + "/v2/credentials/abc", "AWS_CONTAINER_AUTHORIZATION_TOKEN": "nope"])
        let error = await #expect(throws: AWSClientError.self) { _ = try await wrongToken.credentials() }
        #expect(error?.message.contains("401") == true)
    }

    @Test func containerEndpointRules() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let relative = ContainerCredentialProvider(
            httpClient: http, environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"])
        #expect(try relative.endpoint() == "http://169.254.170.2/v2/credentials/x")
        let remote = ContainerCredentialProvider(
            httpClient: http, environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://evil.example.com/creds"])
        #expect(throws: AWSClientError.self) { try remote.endpoint() }
        // Loopback means an address in 127.0.0.0/8, not a name that starts with "127.".
        for host in ["127.evil.example", "127.0.0.1.evil.example", "127.0.0", "127.0.0.256", "127.0.0.1a", "1127.0.0.1"] {
            let p = ContainerCredentialProvider(httpClient: http, environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://\(host)/creds"])
            #expect(throws: AWSClientError.self, "\(host)") { try p.endpoint() }
        }
        for host in ["127.0.0.1", "127.1.2.3:8080", "localhost", "169.254.170.23", "[fd00:ec2::23]"] {
            let url = "http://\(host)/creds"
            let p = ContainerCredentialProvider(httpClient: http, environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": url])
            #expect(try p.endpoint() == url, "\(host)")
        }
    }

    @Test func instanceMetadataIMDSv2() async throws {
        let server = try FakeHTTPServer { request in
            switch (request.method, request.path) {
            case ("PUT", "/latest/api/token"):
                guard request.header("x-aws-ec2-metadata-token-ttl-seconds") != nil else { return .respond(status: 400) }
                return .respond(status: 200, body: Array("imds-token".utf8))
            case (_, _) where request.header("x-aws-ec2-metadata-token") != "imds-token":
                return .respond(status: 401)
            case ("GET", "/latest/meta-data/iam/security-credentials/"):
                return .respond(status: 200, body: Array("pipeline-role\n".utf8))
            case ("GET", "/latest/meta-data/iam/security-credentials/pipeline-role"):
                return .respond(
                    status: 200,
                    body: Array(#"{"Code":"Success","AccessKeyId":"ASIAEC2","SecretAccessKey":"ec2-secret","Token":"ec2-token","Expiration":"2030-01-02T03:04:05Z"}"#.utf8))
            default:
                return .respond(status: 404)
            }
        }
        defer { server.stop() }
        let http = HTTPClient()
        defer { http.shutdown() }
        let creds = try await InstanceMetadataCredentialProvider(
            httpClient: http, environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.url]
        ).credentials()
        #expect(creds.accessKeyID == "ASIAEC2")
        #expect(creds.sessionToken == "ec2-token")
    }

    @Test func chainFallsThroughAndReportsWithoutSecrets() async throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let env = [
            "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/c",
            "AWS_CONFIG_FILE": "/nonexistent/f", "AWS_EC2_METADATA_DISABLED": "true",
        ]
        let chain = CredentialProviderChain([
            EnvironmentCredentialProvider(environment: env), ProfileCredentialProvider(environment: env),
            ContainerCredentialProvider(httpClient: http, environment: env),
            InstanceMetadataCredentialProvider(httpClient: http, environment: env),
        ])
        let error = await #expect(throws: AWSClientError.self) { _ = try await chain.credentials() }
        #expect(error?.message.contains("environment") == true)
        #expect(error?.message.contains(Self.secret) == false)

        let working = CredentialProviderChain([
            EnvironmentCredentialProvider(environment: [:]),
            StaticCredentialProvider(accessKeyID: "AKIDSTATIC", secretAccessKey: "x"),
        ])
        #expect(try await working.credentials().accessKeyID == "AKIDSTATIC")
    }

    /// Counts calls and hands out credentials expiring one hour after the (fake) clock.
    final class CountingProvider: CredentialProvider {
        let name = "counting"
        let calls = Atomic<Int>(0)
        let clock: FakeClock
        init(clock: FakeClock) { self.clock = clock }
        func credentials() async throws -> Credentials {
            let n = calls.add(1, ordering: .relaxed).newValue
            try await Task.sleep(for: .milliseconds(20))
            return Credentials(
                accessKeyID: "AKID\(n)", secretAccessKey: "s", expiration: clock.now().addingTimeInterval(3600))
        }
    }

    final class FakeClock: Sendable {
        let seconds = Mutex<Double>(1_700_000_000)
        func now() -> Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
        func advance(_ s: Double) { seconds.withLock { $0 += s } }
    }

    @Test func cachingRefreshesOncePerExpiryWindow() async throws {
        let clock = FakeClock()
        let base = CountingProvider(clock: clock)
        let cached = CachingCredentialProvider(base, refreshWindow: 300, now: { clock.now() })
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<50 { group.addTask { try await cached.credentials().accessKeyID } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids == ["AKID1"])
        #expect(base.calls.load(ordering: .relaxed) == 1)

        clock.advance(3000)  // 10 minutes left: still fresh
        #expect(try await cached.credentials().accessKeyID == "AKID1")
        clock.advance(400)  // 200 s left: inside the 5-minute window
        #expect(try await cached.credentials().accessKeyID == "AKID2")
        #expect(base.calls.load(ordering: .relaxed) == 2)
    }
}
