import Synchronization

/// Live taps on a running pipeline (`pipeline-host tap`, the admin server's `/tap`): a sample of the records
/// leaving a stage, as JSON lines.
///
/// Nobody tapping costs one relaxed atomic load per batch. A tap is bounded: a token bucket caps the records it
/// takes per second, and its buffer holds at most `buffer` lines (a slow reader loses the newest, counted), so a
/// tap can never hold the pipeline back. Values that look like secrets (Slack webhook URLs and tokens, AWS keys,
/// bearer credentials, fields named like secrets) are replaced before a line leaves the host.
public final class TapHub: Sendable {
    public static let maxTaps = 4

    public struct Settings: Sendable {
        public var stage: String
        /// Records per second at most.
        public var rate: Double
        /// Only these fields (in this order); nil: all.
        public var fields: [String]?
        public var buffer: Int

        public init(stage: String, rate: Double, fields: [String]? = nil, buffer: Int = 1000) {
            self.stage = stage
            self.rate = rate
            self.fields = fields
            self.buffer = buffer
        }
    }

    /// One client's tap. `lines` yields JSON lines (and an empty one now and then, so a writer notices a reader
    /// that has gone away even when nothing flows).
    public final class Subscription: Sendable {
        public let settings: Settings
        public let lines: AsyncStream<[UInt8]>
        let continuation: AsyncStream<[UInt8]>.Continuation
        private let bucket: Mutex<(tokens: Double, last: Double)>
        private let droppedCount = Atomic<Int>(0)

        init(settings: Settings) {
            self.settings = settings
            (lines, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingOldest(max(1, settings.buffer)))
            bucket = Mutex((min(settings.rate, 1), MonotonicClock.seconds()))
        }

        /// Lines lost to a full buffer.
        public var dropped: Int { droppedCount.load(ordering: .relaxed) }

        /// How many of `n` records the rate allows now.
        func take(_ n: Int) -> Int {
            bucket.withLock { b in
                let now = MonotonicClock.seconds()
                // At most one second of tokens saved up: a burst is bounded too.
                b.tokens = min(max(settings.rate, 1), b.tokens + (now - b.last) * settings.rate)
                b.last = now
                let k = min(n, Int(b.tokens))
                b.tokens -= Double(k)
                return k
            }
        }

        func send(_ line: [UInt8]) {
            if case .dropped = continuation.yield(line) { droppedCount.add(1, ordering: .relaxed) }
        }

        public func heartbeat() { continuation.yield([]) }

        public func finish() { continuation.finish() }
    }

    private let active = Atomic<Int>(0)
    private let subscriptions = Mutex<[Subscription]>([])
    /// Lines the taps closed so far lost to full buffers.
    private let droppedByClosed = Atomic<Int>(0)
    private let closed = Atomic<Bool>(false)

    public init() {}

    /// Taps open now.
    public var openCount: Int { active.load(ordering: .relaxed) }

    /// Lines lost to full buffers by every tap since the host started, open ones included.
    public var droppedLines: Int {
        droppedByClosed.load(ordering: .relaxed) + subscriptions.withLock { $0.reduce(0) { $0 + $1.dropped } }
    }

    /// A new tap, or nil when `maxTaps` are open already or the host is stopping (`isClosed`).
    public func subscribe(_ settings: Settings) -> Subscription? {
        let s = Subscription(settings: settings)
        let added = subscriptions.withLock { subs -> Bool in
            guard subs.count < Self.maxTaps, !isClosed else { return false }
            subs.append(s)
            return true
        }
        guard added else { return nil }
        active.add(1, ordering: .relaxed)
        return s
    }

    public func unsubscribe(_ s: Subscription) {
        let removed = subscriptions.withLock { subs -> Bool in
            guard let i = subs.firstIndex(where: { $0 === s }) else { return false }
            subs.remove(at: i)
            // Under the lock: a scrape in between would see the total fall (a counter reset to Prometheus).
            droppedByClosed.add(s.dropped, ordering: .relaxed)
            return true
        }
        if removed { active.subtract(1, ordering: .relaxed) }
        s.finish()
    }

    /// Ends every open tap (their readers see the stream end): at shutdown, so the admin server's graceful stop
    /// does not wait for tap responses that would otherwise stream on.
    public func finishAll() {
        closed.store(true, ordering: .relaxed)
        for s in subscriptions.withLock({ $0 }) { s.finish() }
    }

    /// True once `finishAll` ran: the host is stopping and takes no new tap.
    public var isClosed: Bool { closed.load(ordering: .relaxed) }

    /// Records leaving `stage`: each open tap on it takes what its rate allows.
    @inline(__always)
    func offer(stage: String, _ records: [Record]) {
        guard active.load(ordering: .relaxed) > 0, !records.isEmpty else { return }
        offerSlow(stage: stage, records)
    }

    private func offerSlow(stage: String, _ records: [Record]) {
        let taps = subscriptions.withLock { $0.filter { $0.settings.stage == stage } }
        for tap in taps {
            let n = tap.take(records.count)
            guard n > 0 else { continue }
            // Spread over the batch rather than its first records.
            let step = Double(records.count) / Double(n)
            for k in 0..<n {
                tap.send(Self.line(records[Int(Double(k) * step)], fields: tap.settings.fields))
            }
        }
    }

    static func line(_ record: Record, fields: [String]?) -> [UInt8] {
        var pairs: [(String, JSONValue)]
        if let fields {
            pairs = fields.compactMap { f in record[f].map { (f, $0) } }
        } else {
            pairs = record.fields
        }
        pairs = pairs.map { ($0.0, SecretScrubber.scrub($0.1, name: $0.0)) }
        var w = JSONWriter(capacity: 256)
        w.writeObject(pairs)
        w.append("\n")
        return w.bytes
    }
}

/// Replaces values that look like credentials, in data that leaves the host for people (taps).
public enum SecretScrubber {
    public static let replacement = "[redacted]"
    static let secretNames = ["secret", "token", "password", "passwd", "webhook", "authorization", "api_key", "apikey", "credential"]
    static let secretMarkers = ["hooks.slack.com/", "xoxb-", "xoxp-", "xoxa-", "xoxs-", "xapp-", "Bearer ", "AWS4-HMAC-SHA256", "aws_secret_access_key"]

    public static func scrub(_ value: JSONValue, name: String = "") -> JSONValue {
        let lower = name.lowercased()
        if !lower.isEmpty, secretNames.contains(where: { lower.contains($0) }), !value.isNull {
            return .string(replacement)
        }
        switch value {
        case .string(let s):
            return looksSecret(s) ? .string(replacement) : value
        case .array(let items):
            return .array(items.map { scrub($0) })
        case .object(let pairs):
            return .object(pairs.map { ($0.0, scrub($0.1, name: $0.0)) })
        default:
            return value
        }
    }

    static func looksSecret(_ s: String) -> Bool {
        if secretMarkers.contains(where: { s.contains($0) }) { return true }
        // An AWS access key id: AKIA/ASIA and 16 upper-case letters or digits.
        for prefix in ["AKIA", "ASIA"] {
            var rest = Substring(s)
            while let r = rest.range(of: prefix) {
                let tail = rest[r.upperBound...].prefix(16)
                if tail.count == 16 && tail.allSatisfy({ ($0.isUppercase && $0.isASCII) || $0.isNumber }) { return true }
                rest = rest[r.upperBound...]
            }
        }
        return false
    }
}
