/// Calls under way, at most `limit` at once, oldest first. Owned by one task or actor, which waits for the
/// oldest (`takeOldest()`) before starting a call beyond the limit; a call's failure is rethrown there.
///
/// Oldest first, not first finished: a failure stops the pipeline at the earliest batch that failed.
public struct BoundedCalls {
    public let limit: Int
    private var running: [Task<Void, any Error>] = []

    public init(limit: Int) {
        precondition(limit >= 1, "at least one call")
        self.limit = limit
    }

    public var isFull: Bool { running.count >= limit }
    public var count: Int { running.count }

    public mutating func add(_ call: Task<Void, any Error>) { running.append(call) }

    /// The oldest call, for the owner to await (its value rethrows the call's failure).
    public mutating func takeOldest() -> Task<Void, any Error>? {
        running.isEmpty ? nil : running.removeFirst()
    }

    /// Runs `body` for 0..<count with at most `limit` calls at once and returns the results in index order:
    /// ordered async I/O for a transform's requests (a scorer's chunks of one batch).
    public static func map<T: Sendable>(_ count: Int, limit: Int, _ body: @escaping @Sendable (Int) async -> T) async -> [T] {
        var results = [T?](repeating: nil, count: count)
        await withTaskGroup(of: (Int, T).self) { group in
            var next = 0
            while next < min(limit, count) {
                let i = next
                group.addTask { (i, await body(i)) }
                next += 1
            }
            while let (i, value) = await group.next() {
                results[i] = value
                if next < count {
                    let j = next
                    group.addTask { (j, await body(j)) }
                    next += 1
                }
            }
        }
        return results.map { $0! }
    }
}
