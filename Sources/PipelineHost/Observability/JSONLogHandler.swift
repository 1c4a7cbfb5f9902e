import Foundation
import Logging
import Synchronization

/// Logs as JSON lines on stderr: one object per line with time, level, message and metadata.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String
    private static let lock = Mutex(())

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let line = Self.line(event, handlerMetadata: metadata, timestamp: Self.timestamp())
        // One write(2) per line keeps lines whole when several threads log at once.
        Self.lock.withLock { _ in
            try? FileIO.writeAll(fd: STDERR_FILENO, line, path: "stderr")
        }
    }

    /// One log line: time, level, message, then the metadata (the event's over the handler's) sorted by key. An
    /// error the event carries (swift-log's `LogEvent.error`) is the `error` field unless the metadata names one.
    static func line(_ event: LogEvent, handlerMetadata: Logger.Metadata, timestamp: String) -> [UInt8] {
        var fields: [(String, JSONValue)] = [
            ("ts", .string(timestamp)),
            ("level", .string(event.level.rawValue)),
            ("msg", .string(event.message.description)),
        ]
        var merged = handlerMetadata.merging(event.metadata ?? [:]) { $1 }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        for (k, v) in merged.sorted(by: { $0.key < $1.key }) { fields.append((k, .string(v.description))) }
        var w = JSONWriter(capacity: 256)
        w.writeObject(fields)
        w.append("\n")
        return w.bytes
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &t)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                      t.tm_hour, t.tm_min, t.tm_sec, Int(ts.tv_nsec / 1_000_000))
    }
}
