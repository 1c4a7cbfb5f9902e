import AWSCore
import Logging
import Metrics
import PipelineHost

/// Reads one shard with GetRecords, one batch per call, into the funnel.
struct ShardReader: Sendable {
    enum Outcome: Sendable, Equatable {
        /// NextShardIterator was null: the shard is closed and read to its end; its children may start.
        case ended
        /// `stop_at_end`: an empty reply with MillisBehindLatest 0.
        case caughtUp
        case stopped
    }

    let shardID: String
    let start: IteratorStart
    let api: KinesisStreamClient
    let settings: KinesisSource.Settings
    let funnel: BatchFunnel
    let context: SourceContext
    /// With leases: the tenure of the lease this reader reads in, and the lease's status in that tenure.
    var tenure: UInt64? = nil
    var lease: (@Sendable () -> LeaseKeeper.Status)? = nil

    /// Waits while the lease is lapsed (held, but its local deadline passed: another host may be about to take
    /// it); false once it is gone.
    private func leaseAllowsReading() async throws -> Bool {
        guard let lease else { return true }
        while true {
            switch lease() {
            case .current: return true
            case .gone: return false
            case .lapsed: try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    private var location: String { "\(api.stream)/\(shardID)" }

    func run() async throws -> Outcome {
        let behind = Gauge(label: "kinesis_millis_behind_latest", dimensions: [("shard", shardID)])
        let decoder = KinesisRecordDecoder(shardID: shardID, deaggregate: settings.deaggregate, addedFields: context.addedFields)
        var lastSequence: String?
        if case .afterSequence(let s) = start { lastSequence = s }
        var iterator = try await api.shardIterator(shardID, from: start)
        // Kinesis allows 5 GetRecords calls per second per shard, shared by every consumer of the shard:
        // never call more often than poll_interval (at least 200 ms), retries included.
        let minInterval = max(settings.pollInterval, 0.2)
        var lastCall = -Double.infinity
        var failures = 0
        var throttles = 0
        context.logger.debug("reading shard", metadata: ["shard": "\(shardID)", "start": "\(start)"])

        while !context.isStopping && !Task.isCancelled {
            // No read past the local lease deadline: another host may own the shard by now.
            guard try await leaseAllowsReading() else { return .stopped }
            let wait = lastCall + minInterval - MonotonicClock.seconds()
            if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
            lastCall = MonotonicClock.seconds()

            let result: GetRecordsResult
            do {
                result = try await api.getRecords(iterator, limit: settings.maxRecordsPerCall)
                failures = 0
                throttles = 0
            } catch let error as AWSError where error.code == "ExpiredIteratorException" {
                // Iterators live 5 minutes (a long backpressure stall can outlast one): continue right after
                // the last record emitted.
                iterator = try await api.shardIterator(shardID, from: lastSequence.map { .afterSequence($0) } ?? start)
                continue
            } catch {
                if Task.isCancelled { return .stopped }
                switch RetryPolicy.classify(error) {
                case .notRetryable:
                    throw PipelineError(.source, "GetRecords failed: \(error)", at: location, underlying: error)
                case .throttling:
                    // The shard's read capacity is shared; throttling is flow control, not failure: back off
                    // (full jitter) for as long as it lasts.
                    throttles += 1
                    if throttles == 1 || throttles % 20 == 0 {
                        context.logger.info("GetRecords throttled; backing off", metadata: ["shard": "\(shardID)", "times": "\(throttles)"])
                    }
                    try await Task.sleep(for: max(.seconds(minInterval), settings.retry.backoff(retry: throttles - 1)))
                case .transient, .timeout:
                    failures += 1
                    guard failures < settings.retry.maxAttempts else {
                        throw PipelineError(.source, "GetRecords failed \(failures) times in a row: \(error)", at: location, underlying: error)
                    }
                    context.logger.warning("GetRecords failed; retrying", metadata: ["shard": "\(shardID)", "error": "\(error)"])
                    try await Task.sleep(for: max(.seconds(minInterval), settings.retry.backoff(retry: failures - 1)))
                }
                continue
            }

            if let ms = result.millisBehindLatest { behind.record(ms) }
            let ended = result.nextIterator == nil
            if !result.records.isEmpty || ended {
                var records: [Record] = []
                var deadLetters: [DeadLetter] = []
                records.reserveCapacity(result.records.count)
                var bytes = 0
                for r in result.records { bytes += decoder.decode(r, into: &records, deadLetters: &deadLetters) }
                if let last = result.records.last { lastSequence = last.sequenceNumber }
                // The position is the last Kinesis record of the batch: an aggregate's user records always
                // travel in one batch, so a checkpoint never falls inside one.
                let position: ShardPosition = ended ? .closed(lastSequence: lastSequence) : .after(lastSequence!)
                let batch = SourceBatch(records: records, deadLetters: deadLetters, positions: [(shardID, position.json)], bytes: bytes)
                guard try await leaseAllowsReading() else { return .stopped }
                guard await funnel.put(batch, shard: shardID, tenure: tenure) else { return .stopped }
            }
            if ended {
                context.logger.info("shard read to its end", metadata: ["shard": "\(shardID)"])
                return .ended
            }
            iterator = result.nextIterator!
            if settings.stopAtEnd && result.records.isEmpty && result.millisBehindLatest == 0 { return .caughtUp }
        }
        return .stopped
    }
}
