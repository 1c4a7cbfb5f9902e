/// A batch a sink fills record by record and sends as one request once the driver closes it: a PublishBatch
/// call's entries, an S3 object's compressed lines.
///
/// A class because a batch may hold a resource (a compressor) that must not be copied. It never leaves the
/// driver's actor: what crosses to the sending task is the `Sendable` request the writer makes of it.
public protocol SinkBatch: AnyObject {
    associatedtype Item
    /// Items appended.
    var count: Int { get }
    /// Bytes appended, as `batch.max_bytes` counts them.
    var bytes: Int { get }
    /// Whether `item` may still join this batch: false for a destination's hard limit per request (SNS's 256 KiB),
    /// so the batch is closed before the item instead of after. Not asked of an empty batch.
    func fits(_ item: Item) -> Bool
    /// Throws when the batch cannot take the item (its compressor failed): the pipeline stops.
    func append(_ item: Item) throws
}

extension SinkBatch {
    public func fits(_ item: Item) -> Bool { true }
}
