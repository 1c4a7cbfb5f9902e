import AWSCore
import Foundation
import PipelineHost

/// The files of a score log: a local file, every .jsonl/.jsonl.gz under a directory, or every object under an
/// s3:// prefix (downloaded to a scratch directory first, so gzip objects read like local ones).
enum ScoreLogFiles {
    static func resolve(_ location: String, scratch: String, environment: [String: String]) async throws -> [String] {
        if location.hasPrefix("s3://") { return try await download(location, scratch: scratch, environment: environment) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location, isDirectory: &isDir) else {
            throw PipelineError(.io, "no such file or directory", at: location)
        }
        guard isDir.boolValue else { return [location] }
        let files = (FileManager.default.enumerator(atPath: location)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") }.sorted().map { location + "/" + $0 }
        guard !files.isEmpty else { throw PipelineError(.io, "no .jsonl or .jsonl.gz files", at: location) }
        return files
    }

    static func download(_ location: String, scratch: String, environment: [String: String]) async throws -> [String] {
        let rest = location.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count + 1))
        guard !bucket.isEmpty else { throw PipelineError(.config, "an S3 location is s3://bucket/prefix/", at: location) }
        let client = AWSClient(region: AWSClient.resolveRegion(environment: environment) ?? "us-east-1", environment: environment)
        defer { client.shutdown() }
        let s3 = try S3Client(client: client)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        var keys: [String] = []
        var token: String?
        repeat {
            let page = try await s3.listObjectsV2(bucket: bucket, prefix: prefix, continuationToken: token)
            keys += page.objects.map(\.key).filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") || $0.hasSuffix(".gz") }
            token = page.nextContinuationToken
        } while token != nil
        guard !keys.isEmpty else { throw PipelineError(.io, "no .jsonl or .jsonl.gz objects", at: location) }
        var files: [String] = []
        for (i, key) in keys.sorted().enumerated() {
            let object = try await s3.getObject(bucket: bucket, key: key)
            let path = scratch + "/\(i)" + (key.hasSuffix(".gz") ? ".jsonl.gz" : ".jsonl")
            try Data(object.body).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        return files
    }
}
