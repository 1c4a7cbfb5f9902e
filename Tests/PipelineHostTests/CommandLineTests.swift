import Foundation
import Testing
import TestSupport

/// What an operator types, run against the real binary: a misspelt option value is refused with the values it
/// takes instead of running with a default (a bad LOG_LEVEL warns); `lint` is `validate`; a run that dead-letters every record says so.
@Suite struct CommandLineTests {
    static func run(_ args: [String], environment: [String: String] = [:]) async throws -> ChildProcess.Result {
        try await ChildProcess.run(HostProcess.binary, args, directory: TestFiles.path("."), environment: environment, timeout: 120)
    }

    @Test func misspeltOptionValuesAreRefused() async throws {
        let loud = try await Self.run(["run", "pipelines/local.json", "--log-level", "LOUD"])
        #expect(loud.status == 64, "\(loud.output)")
        #expect(loud.stderr.contains(#"--log-level "LOUD" is not a log level (trace, debug, info, notice, warning, error, critical)"#), "\(loud.stderr)")
        // From the environment (a Lambda function's, a task's) a bad level only warns: the run goes on at info.
        let dir = TestFiles.scratch("log-level")
        let env = try await Self.run(["run", "pipelines/local.json", "--quiet"],
                                     environment: ["LOG_LEVEL": "verbose", "OUT": dir + "/out", "CHECKPOINT_DIR": dir + "/cp"])
        #expect(env.status == 0 && env.stderr.contains(#"LOG_LEVEL \"verbose\" is not a log level"#), "\(env.stderr)")
        #expect(env.stderr.contains(#""msg":"pipeline finished""#), "\(env.stderr)")
        let fresh = try await Self.run(["run", "pipelines/local.json", "--fresh-state", "rollng"])
        #expect(fresh.status == 64, "\(fresh.output)")
        #expect(fresh.stderr.contains(#"the spec has no transform "rollng"; did you mean "rolling"?"#), "\(fresh.stderr)")
        let plugin = try await Self.run(["plugins", "slak"])
        #expect(plugin.status == 2 && plugin.stderr.contains(#"did you mean "slack"?"#) && plugin.stderr.contains("rolling_aggregates"), "\(plugin.stderr)")
    }

    @Test func anUnreadableSpecSaysWhy() async throws {
        let missing = try await Self.run(["validate", "/nonexistent/spec.json"])
        #expect(missing.status == 78 && missing.stderr.contains("cannot read the spec file: No such file or directory"), "\(missing.output)")
        let directory = try await Self.run(["validate", "pipelines"])
        #expect(directory.status == 78 && directory.stderr.contains("cannot read the spec file: it is a directory"), "\(directory.output)")
    }

    @Test func lintIsValidateAndWarnIsALevel() async throws {
        let lint = try await Self.run(["lint", "pipelines/local.json"], environment: ["LOG_LEVEL": "warn"])
        #expect(lint.status == 0 && lint.stdout.contains("pipelines/local.json: valid"), "\(lint.output)")
    }

    /// A misspelt key field: every record is dead-lettered with its reason, the run ends well, and one warning
    /// says that nothing reached a sink.
    @Test func aRunThatDeadLettersEverythingSaysSo() async throws {
        let dir = TestFiles.scratch("all-dead")
        let spec = try String(contentsOfFile: TestFiles.path("pipelines/local.json"), encoding: .utf8)
            .replacingOccurrences(of: #""key_field": "user_id""#, with: #""key_field": "usr_id""#)
        TestFiles.write(spec, to: dir + "/spec.json")
        let out = try await Self.run(["run", dir + "/spec.json", "--quiet"], environment: ["OUT": dir + "/out", "CHECKPOINT_DIR": dir + "/cp"])
        #expect(out.status == 0, "\(out.output)")
        #expect(out.stderr.contains("every record was dead-lettered: nothing reached a sink"), "\(out.stderr)")
        #expect(TestFiles.lines(dir + "/out/scored.jsonl").isEmpty)
        let dead = TestFiles.lines(dir + "/out/dead-letter.jsonl")
        #expect(dead.count == 20_003 && dead.contains { $0.contains(#"missing key field \"usr_id\""#) }, "\(dead.count) \(dead.prefix(2))")
        // The staging run itself (3 bad lines of 20,003) does not warn.
        let good = try await Self.run(["run", "pipelines/local.json", "--quiet"], environment: ["OUT": dir + "/good", "CHECKPOINT_DIR": dir + "/cp-good"])
        #expect(good.status == 0 && !good.stderr.contains("every record was dead-lettered"), "\(good.stderr)")
    }
}
