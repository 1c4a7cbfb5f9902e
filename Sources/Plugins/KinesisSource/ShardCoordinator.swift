import AWSCore
import Logging
import PipelineHost

/// Lists the shards now and every `shard_discovery_interval`, starts one reader per shard once its parents
/// are read to their end, and (with `stop_at_end`) returns when every reader has caught up or ended.
struct ShardCoordinator: Sendable {
    let api: KinesisStreamClient
    let settings: KinesisSource.Settings
    let checkpointed: [String: ShardPosition]
    let funnel: BatchFunnel
    let context: SourceContext

    private enum Event: Sendable {
        case reader(String, ShardReader.Outcome)
        case timer
    }

    func run() async throws {
        var lineage = ShardLineage(checkpointed: checkpointed, configuredStart: settings.start)
        var listed = false
        var listingFailures = 0
        try await withThrowingTaskGroup(of: Event.self) { group in
            defer { group.cancelAll() }
            var running = 0
            var timerPending = false
            var discoverNow = true
            // True while the listing is newer than the last reader start or end: with stop_at_end, finishing
            // needs a fresh listing showing nothing new to read.
            var freshListing = false
            while !context.isStopping {
                if discoverNow {
                    do {
                        lineage.update(try await api.listShards())
                        listed = true
                        listingFailures = 0
                        discoverNow = false
                        freshListing = true
                    } catch {
                        if Task.isCancelled { return }
                        listingFailures += 1
                        // The first listing must work (a wrong stream name or missing permission fails the run);
                        // later ones are retried at the next tick.
                        if !listed || RetryPolicy.classify(error) == .notRetryable || listingFailures >= settings.retry.maxAttempts {
                            throw PipelineError(.source, "ListShards failed: \(error)", at: settings.stream, underlying: error)
                        }
                        context.logger.warning("ListShards failed; retrying", metadata: ["error": "\(error)"])
                        try await Task.sleep(for: max(.milliseconds(200), settings.retry.backoff(retry: listingFailures - 1)))
                        continue
                    }
                }
                // Starting one shard can make another ready (a LATEST start skips closed parents).
                var startedAny = true
                while startedAny {
                    startedAny = false
                    for shard in lineage.ready() {
                        startedAny = true
                        guard let start = lineage.start(shard) else { continue }
                        freshListing = false
                        running += 1
                        let reader = ShardReader(shardID: shard.id, start: start, api: api, settings: settings, funnel: funnel, context: context)
                        group.addTask { .reader(shard.id, try await reader.run()) }
                    }
                }
                if settings.stopAtEnd && running == 0 {
                    if freshListing { return }
                    discoverNow = true
                    continue
                }
                if !timerPending {
                    timerPending = true
                    let interval = settings.discoveryInterval
                    group.addTask {
                        try? await Task.sleep(for: .seconds(interval))
                        return .timer
                    }
                }
                guard let event = try await group.next() else { return }
                switch event {
                case .timer:
                    timerPending = false
                    discoverNow = true
                case .reader(let id, let outcome):
                    running -= 1
                    freshListing = false
                    if outcome == .ended {
                        lineage.markEnded(id)
                        // Its children are in the listing by now (they exist before the parent closes).
                        discoverNow = true
                    }
                }
            }
        }
    }
}
