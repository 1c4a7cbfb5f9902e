import ArgumentParser
import Foundation
import ModelCore
import PipelineHost

/// `pipeline-host score`: offline scoring of JSON lines with a model bundle, for checks and backtests.
struct ScoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Scores JSON lines of named raw feature values with a model bundle and writes them back with fraud_score.",
        discussion: """
            Each input line is an object of raw feature values by name (null or absent means missing). A value \
            present in the input is used as given; derived features (hour_of_day) are computed only when absent. \
            A line that cannot be scored is reported on stderr with its line number and skipped; the exit status \
            is then 1.
            """)

    @Option(help: "Model bundle (manifest.json, scaler.json, model.json): a directory, or an S3 prefix s3://bucket/prefix/vN/ (endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).")
    var bundle: String
    @Option(help: "Input JSONL file (default: standard input).") var input: String?

    func run() async throws {
        let b: ModelBundle
        do { b = try await ModelBundle.load(bundle, environment: ProcessInfo.processInfo.environment) } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        let assembler = FeatureAssembler(names: b.features)
        let reader: ByteReader
        do { reader = try ByteReader(path: input ?? "/dev/stdin") } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        let parser = RecordParser()
        var out = JSONWriter(capacity: 1 << 16)
        var failures = 0
        let name = input ?? "stdin"
        try reader.forEachLine { lineNo, line in
            do {
                guard let fields = try parser.parse(Array(line)) else { return }
                var record = Record(fields: fields)
                let raw = try assembler.raw { record[$0] }
                let p = b.model.predict(b.scaler.transform(raw))
                record[ScoreFields.score] = .double(Double(p))
                record.write(to: &out)
                out.append("\n")
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("\(name):\(lineNo): \(error)\n".utf8))
            }
            if out.bytes.count > 1 << 16 {
                try FileIO.writeAll(fd: STDOUT_FILENO, out.bytes, path: "stdout")
                out.removeAll()
            }
        }
        try FileIO.writeAll(fd: STDOUT_FILENO, out.bytes, path: "stdout")
        if failures > 0 { throw ExitCode(1) }
    }
}
