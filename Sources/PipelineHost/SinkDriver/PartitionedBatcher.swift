/// The batches a sink is filling, one per key (S3: time partition and source partition; SNS: one key), each
/// closed by count, bytes or age, with at most `maxOpen` open at once.
///
/// Each batch knows which deliveries it holds records of and where each item came from, so the driver can
/// release those deliveries, and dead-letter the exact records a destination refused, when it is sent.
public struct PartitionedBatcher<Key: Hashable, Batch: SinkBatch> {
    /// A batch being filled, with the origins of its items.
    public struct Filling {
        public let batch: Batch
        public let openedAt: Double
        /// Order of opening: the oldest is closed first (several open at one `openedAt`).
        let sequence: Int
        /// Deliveries with records in the batch, each once, in order.
        public private(set) var deliveries: [Delivery] = []
        /// Per item: its delivery (an index into `deliveries`) and its record's index in that delivery.
        public private(set) var origins: [(delivery: Int32, index: Int32)] = []

        /// True when `delivery` is new to this batch.
        mutating func add(_ item: Batch.Item, of delivery: Delivery, index: Int) throws -> Bool {
            let new = deliveries.last !== delivery
            if new { deliveries.append(delivery) }
            origins.append((Int32(deliveries.count - 1), Int32(index)))
            try batch.append(item)
            return new
        }
    }

    public let settings: BatchSettings
    public let maxOpen: Int
    private var open: [Key: Filling] = [:]
    private var opened = 0

    public init(settings: BatchSettings, maxOpen: Int = 1) {
        precondition(maxOpen >= 1, "at least one open batch")
        self.settings = settings
        self.maxOpen = maxOpen
    }

    public var openCount: Int { open.count }

    /// Adds `item` (record `index` of `delivery`) to `key`'s batch, opening one with `make` when there is none.
    /// Batches this closes go to `closed`, in order: the batch the item does not fit, the oldest open one when
    /// `maxOpen` are open, the batch the item fills. Returns the batch appended to, and whether it holds records
    /// of `delivery` for the first time.
    public mutating func append(_ item: Batch.Item, key: Key, of delivery: Delivery, index: Int, now: Double,
                                closed: inout [Filling], make: (Key) throws -> Batch) throws -> (batch: Batch, newDelivery: Bool) {
        if let current = open[key], current.batch.count > 0, !current.batch.fits(item) {
            closed.append(open.removeValue(forKey: key)!)
        }
        if open[key] == nil {
            if open.count >= maxOpen, let oldest = open.min(by: { $0.value.sequence < $1.value.sequence })?.key {
                closed.append(open.removeValue(forKey: oldest)!)
            }
            opened += 1
            open[key] = Filling(batch: try make(key), openedAt: now, sequence: opened)
        }
        let newDelivery = try open[key]!.add(item, of: delivery, index: index)
        let batch = open[key]!.batch
        if batch.count >= settings.maxEvents || batch.bytes >= settings.maxBytes {
            // Cut by count or size only: the same records give the same cut on a replay (S3's object names rely on it).
            closed.append(open.removeValue(forKey: key)!)
        }
        return (batch, newDelivery)
    }

    public func isOpen(_ batch: Batch) -> Bool { open.values.contains { $0.batch === batch } }

    /// When the oldest open batch was opened.
    public var oldestOpenedAt: Double? { open.values.map(\.openedAt).min() }

    /// Closes the batches that have waited `max_age` by `now`, oldest first.
    public mutating func closeDue(now: Double) -> [Filling] {
        guard let oldest = oldestOpenedAt, now - oldest >= settings.maxAge else { return [] }
        let maxAge = settings.maxAge
        return close { now - $0.openedAt >= maxAge }
    }

    /// Closes every open batch, oldest first.
    public mutating func closeAll() -> [Filling] { close { _ in true } }

    private mutating func close(where due: (Filling) -> Bool) -> [Filling] {
        let keys = open.filter { due($0.value) }.sorted { $0.value.sequence < $1.value.sequence }.map(\.key)
        return keys.map { open.removeValue(forKey: $0)! }
    }
}
