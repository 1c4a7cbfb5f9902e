import Foundation
import Logging
import PipelineHost
import Testing
import TestSupport

/// The stages' CPU meters (`pipeline_stage_cpu_seconds_total`, `run --profile`): each stage is charged the CPU
/// its batches ran, not what the pool's threads ran for other stages.
@Suite struct StageCPUTests {
    @Test func eachStageIsChargedItsOwnCPU() async throws {
        let dir = TestFiles.scratch("stage-cpu")
        // 20 batches of 10; the spin burns 3 ms of its thread's CPU per batch, the others almost nothing.
        let text = """
            {"name": "cpu", "source": {"type": "generator", "count": 200, "batch_size": 10},
             "transforms": [{"type": "passthrough", "id": "before"}, {"type": "spin", "id": "spin", "micros_per_batch": 3000},
                            {"type": "passthrough", "id": "after"}],
             "sinks": [{"type": "recording", "id": "stage-cpu-sink"}],
             "dead_letter": {"type": "file", "path": "\(dir)/dlq.jsonl"}, "checkpoint": {"dir": "\(dir)/cp"}}
            """
        let spec = try PipelineSpec.parse(Array(text.utf8), file: "cpu.json", registry: TestRegistry.registry, environment: [:])
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let runner = PipelineRunner(spec: spec, registry: TestRegistry.registry, logger: logger, environment: [:])
        let summary = try await runner.run()
        #expect(summary.recordsIn == 200)
        let stages = Dictionary(uniqueKeysWithValues: runner.stats.telemetry.stages.map { ($0.id, $0) })
        let spin = try #require(stages["spin"]?.cpuMicrosecondsPerRecord)
        // 3 ms per batch of 10 records; the spin never suspends, so every batch is measured.
        #expect(spin >= 300 && spin < 1500, "spin: \(spin) µs per record")
        #expect(try #require(stages["spin"]).cpuSeconds >= 0.06)
        for id in ["before", "after", "stage-cpu-sink"] {
            let other = try #require(stages[id]?.cpuMicrosecondsPerRecord, "\(id) was never measured")
            #expect(other < spin / 5, "\(id): \(other) µs per record against the spin's \(spin)")
        }
        let metrics = runner.stats.telemetry.prometheusText(pipeline: "cpu")
        let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix(#"pipeline_stage_cpu_seconds_total{pipeline="cpu",stage="spin"} "#) })
        #expect(try #require(Double(line.split(separator: " ").last ?? "")) >= 0.06)
        #expect(metrics.contains("# TYPE pipeline_stage_cpu_seconds_total counter"))
        let profile = StageProfile.text(telemetry: runner.stats.telemetry, recordsIn: summary.recordsIn,
                                        processCPUSeconds: StageProfile.processCPUSeconds())
        let row = try #require(profile.split(separator: "\n").first { $0.contains("spin") && $0.contains(" spin ") })
        #expect(row.contains("200"), "\(profile)")
        #expect(profile.contains("rest of the process") && profile.contains("whole process"), "\(profile)")
    }
}
