import Synchronization

/// Acknowledges a delivery once every batch holding one of its records has been sent, after handing the records
/// the destination refused to the dead-letter output.
///
/// Every holder takes a hold (the write placing the records takes one too, so a batch sent mid-write cannot
/// complete a delivery whose later records are still unplaced) and releases it with the refusals it saw.
/// Holds are released by the sending tasks, concurrently: the state is behind a lock.
public final class DeliveryFinalizer: Sendable {
    private struct Open {
        var delivery: Delivery
        var holds: Int
        var refused: [(index: Int, reason: String)] = []
    }
    private let open = Mutex<[ObjectIdentifier: Open]>([:])

    public init() {}

    public func hold(_ delivery: Delivery, count: Int = 1) {
        open.withLock { open in
            let id = ObjectIdentifier(delivery)
            if open[id] == nil { open[id] = Open(delivery: delivery, holds: 0) }
            open[id]!.holds += count
        }
    }

    /// Deliveries with a hold on them.
    public var openCount: Int { open.withLock { $0.count } }

    /// Releases one hold on each of `deliveries` (each at most once in the list), noting the records `refused`
    /// (index in their delivery, reason); dead-letters the refusals of the deliveries this completes, then
    /// acknowledges them.
    public func release(_ deliveries: [Delivery], refused: [(delivery: Delivery, index: Int, reason: String)] = []) async throws {
        let done: [Open] = open.withLock { open in
            for r in refused { open[ObjectIdentifier(r.delivery)]?.refused.append((r.index, r.reason)) }
            var done: [Open] = []
            for d in deliveries {
                let id = ObjectIdentifier(d)
                guard var state = open[id] else { continue }
                state.holds -= 1
                if state.holds <= 0 {
                    open[id] = nil
                    done.append(state)
                } else {
                    open[id] = state
                }
            }
            return done
        }
        for state in done {
            try await Self.deadLetter(state.refused, of: state.delivery)
            state.delivery.acknowledge()
        }
    }

    /// One dead-letter write per distinct reason, in the order the reasons first occur.
    public static func deadLetter(_ refused: [(index: Int, reason: String)], of delivery: Delivery) async throws {
        guard !refused.isEmpty else { return }
        var byReason: [String: [Int]] = [:]
        var order: [String] = []
        for (i, reason) in refused {
            if byReason[reason] == nil { order.append(reason) }
            byReason[reason, default: []].append(i)
        }
        for reason in order { try await delivery.reject(byReason[reason]!, reason: reason) }
    }
}
