import Foundation
import Testing

@testable import AWSCore

@Suite struct XMLAndErrorTests {
    @Test func readsAWSReply() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- comment -->
            <PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
              <PublishResult><MessageId>a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42; &#x1F600;</MessageId></PublishResult>
              <Note><![CDATA[<raw> & stuff]]></Note>
              <Empty/>
              <ns:Prefixed attr="1 &gt; 0">x</ns:Prefixed>
              <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>
            </PublishResponse>
            """
        let root = try XMLReader.parse(xml)
        #expect(root.name == "PublishResponse")
        #expect(root.path("PublishResult", "MessageId")?.text == "a&b <c> \"d\" 'e' AB 😀")
        #expect(root.string("Note") == "<raw> & stuff")
        #expect(root.child("Empty")?.text == "")
        #expect(root.child("Prefixed")?.attributes.first?.1 == "1 > 0")
        #expect(root.find("RequestId")?.text == "rid-1")
    }

    @Test func malformedXMLThrows() {
        for bad in ["", "<a>", "<a></b>", "<a>&bogus;</a>", "<a x=1></a>", "text", "<a></a><b></b>", "<a><![CDATA[x</a>", "<a>&#xFFFFFFFF;</a>"] {
            #expect(throws: XMLReader.SyntaxError.self, "\(bad)") { try XMLReader.parse(bad) }
        }
    }

    @Test func errorParsing() {
        let json = AWSErrorParser.parse(HTTPResponse(
            status: 400, headers: [("x-amzn-requestid", "r1")],
            body: Array(#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"bad"}"#.utf8)))
        #expect(json == AWSError(code: "ValidationException", message: "bad", requestID: "r1", statusCode: 400))

        let query = AWSErrorParser.parse(HTTPResponse(
            status: 400, headers: [],
            body: Array("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>m</Message></Error><RequestId>r2</RequestId></ErrorResponse>".utf8)))
        #expect(query == AWSError(code: "InvalidParameter", message: "m", requestID: "r2", statusCode: 400))

        let s3 = AWSErrorParser.parse(HTTPResponse(
            status: 503, headers: [], body: Array("<Error><Code>SlowDown</Code><Message>Reduce</Message><RequestId>r3</RequestId></Error>".utf8)))
        #expect(s3.code == "SlowDown" && s3.isThrottling)

        let header = AWSErrorParser.parse(HTTPResponse(
            status: 424, headers: [("x-amzn-errortype", "ModelError:http://internal.amazon.com/coral/")], body: []))
        #expect(header.code == "ModelError")

        let bare = AWSErrorParser.parse(HTTPResponse(status: 404, headers: [], body: []))
        #expect(bare.code == "NotFound")
        let html = AWSErrorParser.parse(HTTPResponse(status: 502, headers: [], body: Array("<html><body>bad gateway".utf8)))
        #expect(html.code == "BadGateway")
    }

    @Test func digests() {
        #expect(Digest.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex([UInt8]()) == Digest.emptySHA256Hex)
        #expect(Hex.encode(Digest.md5(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
        // RFC 4231 test case 2.
        #expect(Hex.encode(HMAC.sha256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8)))
            == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func iso8601() {
        #expect(ISO8601.parse("2030-01-02T03:04:05Z") == Date(timeIntervalSince1970: 1_893_553_445))
        #expect(ISO8601.parse("2030-01-02T05:04:05+02:00") == Date(timeIntervalSince1970: 1_893_553_445))
        #expect(ISO8601.parse("2030-01-02T03:04:05.500Z") == Date(timeIntervalSince1970: 1_893_553_445.5))
        #expect(ISO8601.parse("2030-13-02T03:04:05Z") == nil)
        #expect(ISO8601.parse("yesterday") == nil)
    }

    @Test func endpointResolution() throws {
        let sm = AWSService.sageMakerRuntime
        #expect(sm.endpointEnvironmentVariable == "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")
        #expect(AWSService.dynamoDB.endpointEnvironmentVariable == "AWS_ENDPOINT_URL_DYNAMODB")
        let env = ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://localhost:9000", "AWS_ENDPOINT_URL": "http://localhost:4566"]
        #expect(try Endpoint.resolve(service: sm, region: "eu-west-1", endpointURL: "https://vpce.example:8443/base/", environment: env)
            == Endpoint(scheme: "https", host: "vpce.example", port: 8443, basePath: "/base", isOverride: true))
        #expect(try Endpoint.resolve(service: sm, region: "eu-west-1", environment: env).port == 9000)
        #expect(try Endpoint.resolve(service: .kinesis, region: "eu-west-1", environment: env).port == 4566)
        let aws = try Endpoint.resolve(service: sm, region: "eu-west-1", environment: [:])
        #expect(aws.hostHeader == "runtime.sagemaker.eu-west-1.amazonaws.com" && !aws.isOverride)
        #expect(try Endpoint.resolve(service: .iam, region: "eu-west-1", environment: [:]).host == "iam.amazonaws.com")
        #expect(try Endpoint.resolve(service: .kinesis, region: "eu-west-1", environment: env.merging(["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"]) { $1 }).isOverride == false)
        #expect(throws: AWSClientError.self) { try Endpoint(url: "ftp://x") }
    }

    @Test func s3Addressing() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let client = AWSClient(region: "eu-west-1", credentialProvider: StaticCredentialProvider(accessKeyID: "a", secretAccessKey: "b"), httpClient: http, environment: [:])
        let aws = try S3Client(client: client)
        let (virtualHost, virtualPath) = aws.address(bucket: "logs", key: "a b/c.json")
        #expect(virtualHost.host == "logs.s3.eu-west-1.amazonaws.com")
        #expect(virtualPath == "/a%20b/c.json")
        #expect(aws.address(bucket: "my.dotted", key: "k").1 == "/my.dotted/k")
        let local = try S3Client(client: client, endpointURL: "http://127.0.0.1:5000")
        #expect(local.address(bucket: "logs", key: "k").1 == "/logs/k")
        #expect(local.address(bucket: "logs", key: nil).1 == "/logs")
    }
}
