import AWSCore
import Foundation
import PipelineHost
import Testing
import TestSupport

@testable import KinesisSource

/// The real `pipeline-host` binary on Kinesis in moto, killed with SIGKILL: one host restarted on its local
/// checkpoint, and three hosts sharing a stream through leases where the survivors take over.
///
/// The chaos run is small by default; `scripts/chaos.sh --long` runs it larger and repeatedly
/// (CHAOS_RECORDS, CHAOS_ROUNDS, CHAOS_REPORT).
@Suite(.serialized, .motoServer())
struct HostKillTests {
    static let environment = ["AWS_ACCESS_KEY_ID": "AKIDTESTING", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"]

    static func transactions(_ range: Range<Int>) -> [(key: String, json: String)] {
        range.map { i in
            (key: "user-\(i % 613)",
             json: #"{"transaction_id":"t\#(i)","user_id":"user-\#(i % 613)","transaction_value":\#(Double(i % 500) + 0.5),"event_created_at_ts":\#(1_715_936_400 + i),"alert":\#(i % 50 == 0)}"#)
        }
    }

    /// transaction id → how many times it is in the bucket.
    static func counts(_ aws: AWSFixture, bucket: String) async throws -> [String: Int] {
        var seen: [String: Int] = [:]
        for lines in try await aws.objects(bucket: bucket, prefix: "").values {
            for line in lines { seen[field(line, "transaction_id")?.stringValue ?? "?", default: 0] += 1 }
        }
        return seen
    }

    static func waitFor(_ what: String, seconds: Double, _ condition: () async throws -> Bool) async throws {
        try await AWSReadBack.waitFor(what, seconds: seconds, condition)
    }

    static func scratch(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "hostkill-\(name)-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func killNineOnKinesisToS3AndSNSThenRestartLosesNothing() async throws {
        let moto = try await freshMoto()
        let aws = AWSFixture(moto)
        _ = try await aws.createStream("tx", shards: 4)
        try await aws.s3.createBucket("archive")
        let (topic, queueURL) = try await aws.topicWithQueue("alerts")
        let count = 10_000
        try await aws.put("tx", Self.transactions(0..<6000))

        let dir = Self.scratch("single")
        // The first run has no end of its own (it is killed); the restart reads to the end of the stream.
        func spec(_ name: String, stopAtEnd: Bool) throws -> String {
            let path = dir + "/\(name).json"
            try """
            {"name": "killed", "checkpoint": {"dir": "\(dir)/cp", "interval": "300ms"},
             "source": {"type": "kinesis", "stream_name": "tx", "endpoint_url": "\(moto.endpoint)", "stop_at_end": \(stopAtEnd), "max_records_per_call": 100},
             "sinks": [
               {"type": "s3", "id": "archive", "bucket": "archive", "prefix": "tx", "endpoint_url": "\(moto.endpoint)", "batch": {"max_events": 500}},
               {"type": "sns", "id": "alerts", "topic_arn": "\(topic)", "endpoint_url": "\(moto.endpoint)", "when": {"field": "alert", "equals": true}}
             ],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}}
            """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        let first = try HostProcess(name: "first", spec: try spec("first", stopAtEnd: false), environment: Self.environment, logPath: dir + "/first.log")
        // Listing only (no downloads) while it runs: 3 objects of up to 500 records.
        try await Self.waitFor("a checkpoint and some objects", seconds: 60) {
            guard first.isRunning else { Issue.record("the first run exited:\n\(first.log)"); return true }
            guard FileManager.default.fileExists(atPath: dir + "/cp/checkpoint.json") else { return false }
            return try await aws.s3.listObjectsV2(bucket: "archive", prefix: "").objects.count >= 3
        }
        try #require(first.isRunning)
        first.kill9()
        #expect(await first.exit() == 128 + SIGKILL)
        let beforeRestart = try await Self.counts(aws, bucket: "archive").count
        try await aws.put("tx", Self.transactions(6000..<count))

        let second = try HostProcess(name: "second", spec: try spec("second", stopAtEnd: true), environment: Self.environment, logPath: dir + "/second.log")
        #expect(await second.exit() == 0, "restart failed:\n\(second.log)")

        let seen = try await Self.counts(aws, bucket: "archive")
        let missing = (0..<count).filter { seen["t\($0)"] == nil }
        #expect(missing.isEmpty, "\(missing.count) records lost, first \(missing.prefix(5))")
        let duplicates = seen.values.reduce(0) { $0 + max(0, $1 - 1) }
        print("kinesis kill -9: \(count) records, \(beforeRestart) in S3 at the kill, \(duplicates) duplicates after the restart")

        let alerts = Set(try await AWSReadBack.queueBodies(aws.sqs, url: queueURL).compactMap { field($0, "transaction_id")?.stringValue })
        #expect(alerts.count == count / 50, "every alert published at least once")
    }

    @Test func threeHostsOnEightShardsSurviveAKillNine() async throws {
        let env = ProcessInfo.processInfo.environment
        let records = Int(env["CHAOS_RECORDS"] ?? "") ?? 8000
        let rounds = Int(env["CHAOS_ROUNDS"] ?? "") ?? 1
        let moto = try await freshMoto()
        var report: [String] = []
        for round in 1...rounds {
            report.append(try await chaosRound(moto, round: round, records: records))
            print(report.last!)
        }
        if let path = env["CHAOS_REPORT"] {
            try (report.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
    }

    /// One round: three hosts settle on 3/3/2 leases, half the records are read, the host with the most
    /// leases is killed, the rest arrive; every record must reach S3, and duplicates only on the dead host's shards.
    func chaosRound(_ moto: MotoServer, round: Int, records: Int) async throws -> String {
        let aws = AWSFixture(moto)
        let stream = "chaos-\(round)", table = "chaos-leases-\(round)", bucket = "chaos-\(round)"
        _ = try await aws.createStream(stream, shards: 8)
        try await aws.s3.createBucket(bucket)
        let leases = LeaseTable(dynamo: try .dynamoDB(aws.client, endpointURL: aws.endpoint), name: table)
        let failover = 3.0
        let dir = Self.scratch("chaos-\(round)")
        let spec = dir + "/spec.json"
        try """
            {"name": "chaos", "checkpoint": {"dir": "\(dir)/cp-${WORKER}", "interval": "500ms"},
             "source": {"type": "kinesis", "stream_name": "\(stream)", "endpoint_url": "\(moto.endpoint)", "max_records_per_call": 100,
                        "shard_discovery_interval": "2s",
                        "leases": {"table": "\(table)", "worker_id": "${WORKER}", "failover_time": "\(Int(failover))s", "endpoint_url": "\(moto.endpoint)"}},
             "sinks": [{"type": "s3", "bucket": "\(bucket)", "prefix": "tx", "endpoint_url": "\(moto.endpoint)", "batch": {"max_events": 300}}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq-${WORKER}.jsonl"}}
            """.write(toFile: spec, atomically: true, encoding: .utf8)
        var hosts: [String: HostProcess] = [:]
        for name in ["h1", "h2", "h3"] {
            hosts[name] = try HostProcess(name: name, spec: spec, environment: Self.environment.merging(["WORKER": name]) { $1 }, logPath: "\(dir)/\(name).log")
        }
        defer { for h in hosts.values where h.isRunning { h.kill9() } }

        func owners() async throws -> [String: [String]] {
            // The hosts create the table: until then there is nothing to read.
            guard let all = try? await leases.scan() else { return [:] }
            return Dictionary(grouping: all.filter { $0.owner != nil }, by: { $0.owner! }).mapValues { $0.map(\.key).sorted() }
        }
        try await Self.waitFor("three hosts holding 3/3/2 leases", seconds: 60) {
            for h in hosts.values where !h.isRunning { Issue.record("\(h.name) exited:\n\(h.log)"); return true }
            return try await owners().values.map(\.count).sorted() == [2, 3, 3]
        }
        try await leases.waitUntilSettled(count: 8)
        try await aws.put(stream, Self.transactions(0..<records / 2))
        try await Self.waitFor("a quarter of the records in S3", seconds: 60) { try await Self.counts(aws, bucket: bucket).count >= records / 4 }

        let held = try await owners()
        let (victim, victimShards) = held.max { ($0.value.count, $1.key) < ($1.value.count, $0.key) }!
        hosts[victim]!.kill9()
        let killedAt = ContinuousClock.now
        _ = await hosts[victim]!.exit()
        try await Self.waitFor("the survivors to take the dead host's leases", seconds: 30) {
            let now = try await owners()
            return now[victim] == nil && now.values.map(\.count).reduce(0, +) == 8
        }
        let takeover = Double((ContinuousClock.now - killedAt).components.seconds) + Double((ContinuousClock.now - killedAt).components.attoseconds) / 1e18
        #expect(takeover <= failover + failover / 3 * 2 + 3, "takeover took \(takeover) s with failover_time \(failover) s")

        try await aws.put(stream, Self.transactions(records / 2..<records))
        try await Self.waitFor("every record in S3", seconds: 120) { try await Self.counts(aws, bucket: bucket).count >= records }
        // Let the last objects and checkpoints land, then stop the survivors cleanly.
        try await Task.sleep(for: .seconds(1))
        for (name, h) in hosts where name != victim {
            h.terminate()
            #expect(await h.exit(timeout: 60) == 0, "\(name) did not stop cleanly:\n\(h.log)")
        }

        let seen = try await Self.counts(aws, bucket: bucket)
        let missing = (0..<records).filter { seen["t\($0)"] == nil }
        #expect(missing.isEmpty, "\(missing.count) records lost")
        let duplicated = seen.filter { $0.value > 1 }
        // A record can only be written twice if it was read by the dead host after its last checkpoint.
        let shardOf = try await shardLocator(aws, stream: stream)
        let elsewhere = duplicated.keys.filter { id in
            let i = Int(id.dropFirst())!
            return !victimShards.contains(shardOf("user-\(i % 613)"))
        }
        #expect(elsewhere.isEmpty, "\(elsewhere.count) duplicates on shards the killed host did not hold, e.g. \(elsewhere.prefix(3))")
        let dlq = hosts.keys.map { (try? String(contentsOfFile: "\(dir)/dlq-\($0).jsonl", encoding: .utf8)) ?? "" }.joined()
        #expect(dlq.isEmpty, "nothing dead-lettered")
        let extra = duplicated.values.reduce(0) { $0 + $1 - 1 }
        return "chaos round \(round): \(records) records over 8 shards, 3 hosts; killed \(victim) holding \(victimShards.count) leases; "
            + String(format: "takeover %.1f s (failover_time %.0f s); ", takeover, failover)
            + "\(seen.count) distinct in S3, \(missing.count) lost, \(duplicated.count) records duplicated (\(extra) extra copies), all on the killed host's shards: \(elsewhere.isEmpty)"
    }

    /// Maps a partition key to its shard as Kinesis does: MD5 of the key as a 128-bit number, in a shard's hash key range.
    func shardLocator(_ aws: AWSFixture, stream: String) async throws -> @Sendable (String) -> String {
        let listed = try await aws.kinesis.call("ListShards", ["StreamName": .string(stream)])
        let ranges: [(String, [UInt8], [UInt8])] = (listed["Shards"]?.arrayValue ?? []).compactMap { s in
            guard let id = s["ShardId"]?.stringValue, let lo = s["HashKeyRange"]?["StartingHashKey"]?.stringValue,
                  let hi = s["HashKeyRange"]?["EndingHashKey"]?.stringValue else { return nil }
            return (id, Self.bytes128(lo), Self.bytes128(hi))
        }
        return { key in
            let h = Digest.md5(Array(key.utf8))
            return ranges.first { !h.lexicographicallyPrecedes($0.1) && !$0.2.lexicographicallyPrecedes(h) }?.0 ?? "?"
        }
    }

    /// A decimal 128-bit number as 16 big-endian bytes.
    static func bytes128(_ decimal: String) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for c in decimal.utf8 {
            var carry = Int(c - 48)
            for i in stride(from: 15, through: 0, by: -1) {
                let v = Int(out[i]) * 10 + carry
                out[i] = UInt8(v & 0xff)
                carry = v >> 8
            }
        }
        return out
    }
}
