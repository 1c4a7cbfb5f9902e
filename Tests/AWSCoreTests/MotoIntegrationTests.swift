import Foundation
import PipelineHost
import Testing

@testable import AWSCore
import TestSupport

/// The protocol helpers against moto_server, an independent implementation of the AWS wire protocols.
@Suite(.serialized, .motoServer())
struct MotoIntegrationTests {
    @Test func kinesisJSON11RoundTrip() async throws {
        let moto = try await freshMoto()
        let kinesis = try JSONProtocolClient.kinesis(moto.makeClient(), endpointURL: moto.endpoint)
        _ = try await kinesis.call("CreateStream", ["StreamName": "events", "ShardCount": 1])
        let shards = try await kinesis.call("ListShards", ["StreamName": "events"])
        let shardID = try #require(shards["Shards"]?.arrayValue?.first?["ShardId"]?.stringValue)

        let payload = "héllo {\"card\":1}"
        let put = try await kinesis.call(
            "PutRecord",
            ["StreamName": "events", "PartitionKey": "card-1", "Data": .string(Data(payload.utf8).base64EncodedString())])
        let sequence = try #require(put["SequenceNumber"]?.stringValue)
        #expect(put["ShardId"]?.stringValue == shardID)

        let iterator = try await kinesis.call(
            "GetShardIterator", ["StreamName": "events", "ShardId": .string(shardID), "ShardIteratorType": "TRIM_HORIZON"])
        let records = try await kinesis.call(
            "GetRecords", ["ShardIterator": try #require(iterator["ShardIterator"]), "Limit": 10])
        let record = try #require(records["Records"]?.arrayValue?.first)
        #expect(record["SequenceNumber"]?.stringValue == sequence)
        #expect(record["PartitionKey"]?.stringValue == "card-1")
        let data = try #require(Data(base64Encoded: record["Data"]?.stringValue ?? ""))
        #expect(String(decoding: data, as: UTF8.self) == payload)
        #expect(records["NextShardIterator"]?.stringValue != nil)
    }

    @Test func serviceErrorCarriesCodeAndMessage() async throws {
        let moto = try await freshMoto()
        let kinesis = try JSONProtocolClient.kinesis(moto.makeClient(), endpointURL: moto.endpoint)
        let error = await #expect(throws: AWSError.self) {
            _ = try await kinesis.call("DescribeStreamSummary", ["StreamName": "missing"])
        }
        #expect(error?.code == "ResourceNotFoundException")
        #expect(error?.statusCode == 400)
        #expect(error?.message.contains("missing") == true)
    }

    @Test func dynamoDBJSON10() async throws {
        let moto = try await freshMoto()
        let ddb = try JSONProtocolClient.dynamoDB(moto.makeClient(), endpointURL: moto.endpoint)
        _ = try await ddb.call(
            "CreateTable",
            [
                "TableName": "cards",
                "KeySchema": [["AttributeName": "pk", "KeyType": "HASH"]],
                "AttributeDefinitions": [["AttributeName": "pk", "AttributeType": "S"]],
                "BillingMode": "PAY_PER_REQUEST",
            ])
        for (pk, limit) in [("card-1", "100.5"), ("card-2", "42")] {
            _ = try await ddb.call(
                "PutItem", ["TableName": "cards", "Item": ["pk": ["S": .string(pk)], "limit": ["N": .string(limit)]]])
        }
        let scan = try await ddb.call("Scan", ["TableName": "cards"])
        #expect(scan["Count"]?.intValue == 2)
        let keys = Set(scan["Items"]?.arrayValue?.compactMap { $0["pk"]?["S"]?.stringValue } ?? [])
        #expect(keys == ["card-1", "card-2"])
    }

    @Test func snsQueryProtocol() async throws {
        let moto = try await freshMoto()
        let sns = try QueryProtocolClient.sns(moto.makeClient(), endpointURL: moto.endpoint)
        let topic = try await sns.call("CreateTopic", [("Name", "alerts")])
        let arn = try #require(topic.string("TopicArn"))
        #expect(arn.hasSuffix(":alerts"))
        let published = try await sns.call(
            "Publish",
            [
                ("TopicArn", arn), ("Message", "score > 0.9 & <card> = \"x\" ✓"), ("Subject", "fraud alert"),
                ("MessageAttributes.entry.1.Name", "severity"),
                ("MessageAttributes.entry.1.Value.DataType", "String"),
                ("MessageAttributes.entry.1.Value.StringValue", "high"),
            ])
        #expect(published.string("MessageId")?.isEmpty == false)
        let error = await #expect(throws: AWSError.self) {
            _ = try await sns.call("Publish", [("TopicArn", arn + "-missing"), ("Message", "x")])
        }
        #expect(error?.code == "NotFound")
        #expect(error?.requestID != nil)
    }

    @Test func s3RestXML() async throws {
        let moto = try await freshMoto()
        let s3 = try S3Client(client: moto.makeClient(), endpointURL: moto.endpoint)
        #expect(s3.forcePathStyle)
        try await s3.createBucket("fraud-archive")
        let key = "dt=2024-05-17/hour=09/part 1+x.json"
        let etag = try await s3.putObject(
            bucket: "fraud-archive", key: key, body: Array("{\"a\":1}\n".utf8), contentType: "application/json")
        #expect(etag == "\"" + Hex.encode(Digest.md5(Array("{\"a\":1}\n".utf8))) + "\"")
        let object = try await s3.getObject(bucket: "fraud-archive", key: key)
        #expect(object.body == Array("{\"a\":1}\n".utf8))
        #expect(object.contentType == "application/json")
        #expect(try await s3.headObject(bucket: "fraud-archive", key: "absent") == nil)

        for i in 0..<3 { try await s3.putObject(bucket: "fraud-archive", key: "other/\(i)", body: [UInt8(i)]) }
        var keys: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await s3.listObjectsV2(bucket: "fraud-archive", prefix: "other/", continuationToken: token, maxKeys: 2)
            keys += page.objects.map(\.key)
            token = page.isTruncated ? page.nextContinuationToken : nil
            pages += 1
        } while token != nil
        #expect(keys == ["other/0", "other/1", "other/2"])
        #expect(pages == 2)

        // Multipart: every part but the last must be at least 5 MiB.
        let part1 = [UInt8](repeating: 0x61, count: 5 * 1024 * 1024)
        let part2 = Array("tail".utf8)
        let upload = try await s3.createMultipartUpload(bucket: "fraud-archive", key: "big.bin")
        let e1 = try await s3.uploadPart(bucket: "fraud-archive", key: "big.bin", uploadID: upload, partNumber: 1, body: part1)
        let e2 = try await s3.uploadPart(bucket: "fraud-archive", key: "big.bin", uploadID: upload, partNumber: 2, body: part2)
        try await s3.completeMultipartUpload(
            bucket: "fraud-archive", key: "big.bin", uploadID: upload,
            parts: [.init(partNumber: 2, eTag: e2), .init(partNumber: 1, eTag: e1)])
        let big = try await s3.getObject(bucket: "fraud-archive", key: "big.bin")
        #expect(big.body.count == part1.count + part2.count)
        #expect(Array(big.body.suffix(4)) == part2)

        let missing = await #expect(throws: AWSError.self) {
            _ = try await s3.getObject(bucket: "fraud-archive", key: "nope")
        }
        #expect(missing?.code == "NoSuchKey")
        #expect(missing?.statusCode == 404)
    }

    @Test func sageMakerInvokeEndpoint() async throws {
        let moto = try await freshMoto()
        let queued = try await moto.post(
            "/moto-api/static/sagemaker/endpoint-results",
            json: #"{"account_id":"123456789012","region":"us-east-1","results":[{"Body":"{\"score\":0.93}","ContentType":"application/json","InvokedProductionVariant":"challenger","CustomAttributes":"model=v7"}]}"#)
        #expect(queued.status == 201 || queued.status == 200)
        let runtime = try SageMakerRuntimeClient(client: moto.makeClient(), endpointURL: moto.endpoint)
        let result = try await runtime.invokeEndpoint(
            "fraud-xgb",
            .init(body: Array("1.0,2.0,3.5".utf8), contentType: "text/csv", accept: "application/json", targetVariant: "challenger"))
        #expect(String(decoding: result.body, as: UTF8.self) == #"{"score":0.93}"#)
        #expect(result.invokedProductionVariant == "challenger")
    }
}
