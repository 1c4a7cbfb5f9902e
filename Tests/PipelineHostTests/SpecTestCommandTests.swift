import Foundation
import Testing
import TestSupport

/// `pipeline-host test`: the project's own spec tests pass; a wrong expectation fails with a diff that names the
/// output, the record and the field; broken test files get a clear error.
@Suite struct SpecTestCommandTests {
    static func run(_ args: [String]) async throws -> (status: Int32, output: String) {
        let r = try await ChildProcess.run(HostProcess.binary, args, directory: TestFiles.repoRoot)
        return (r.status, r.output)
    }

    @Test func theShippedSpecTestsPass() async throws {
        let r = try await Self.run(["test", "pipelines/local.tests.json", "pipelines/production.tests.json"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("6 passed, 0 failed"), "\(r.output)")
        #expect(r.output.contains("✓ a burst of large night purchases on a new account alerts"), "\(r.output)")
    }

    @Test func aWrongExpectationFailsWithADiff() async throws {
        let dir = TestFiles.scratch("spec-test-fail")
        TestFiles.write("""
            {"spec": "\(TestFiles.path("pipelines/local.json"))",
             "env": {"USERS": "\(TestFiles.path("samples/user_demographics.jsonl"))", "BUNDLE": "\(TestFiles.path("models/v1"))"},
             "cases": [
               {"name": "right", "input": [{"transaction_id": "a", "user_id": "u000000", "event_created_at_ts": 1722510000, "transaction_value": 5, "channel_code": 1}],
                "expect": {"scored": [{"transaction_id": "a", "age": 42}]}},
               {"name": "wrong", "input": [{"transaction_id": "a", "user_id": "u000000", "event_created_at_ts": 1722510000, "transaction_value": 5, "channel_code": 1}],
                "expect": {"scored": [{"transaction_id": "a", "fraud_score": {"approximately": 0.9, "tolerance": 0.01}, "age": {"absent": true}}],
                           "alerts": {"count": 1}, "nowhere": {"count": 0}}}
             ]}
            """, to: dir + "/t.json")
        let r = try await Self.run(["test", dir + "/t.json"])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("✓ right") && r.output.contains("✗ wrong"), "\(r.output)")
        #expect(r.output.contains("scored[0].fraud_score: expected 0.9 ± 0.01, got"), "\(r.output)")
        #expect(r.output.contains("scored[0].age: expected no field, got 42"), "\(r.output)")
        #expect(r.output.contains("alerts: expected 1 records, got 0"), "\(r.output)")
        #expect(r.output.contains("nowhere: no such output (outputs: alerts, dead_letter, scored)"), "\(r.output)")
        #expect(r.output.contains("1 passed, 1 failed"), "\(r.output)")
    }

    @Test func brokenTestFilesGetClearErrors() async throws {
        let dir = TestFiles.scratch("spec-test-broken")
        TestFiles.write(#"{"cases": []}"#, to: dir + "/nospec.json")
        let noSpec = try await Self.run(["test", dir + "/nospec.json"])
        #expect(noSpec.status == 2)
        #expect(noSpec.output.contains("$.spec"), "\(noSpec.output)")
        TestFiles.write("""
            {"spec": "\(TestFiles.path("pipelines/local.json"))", "stand_ins": {"demografics": {"table": []}},
             "cases": [{"name": "x", "input": [], "expect": {}}]}
            """, to: dir + "/standin.json")
        let standIn = try await Self.run(["test", dir + "/standin.json"])
        #expect(standIn.status == 2)
        #expect(standIn.output.contains(#"stand-in for "demografics", which is not a transform"#) && standIn.output.contains("demographics"), "\(standIn.output)")
    }
}
