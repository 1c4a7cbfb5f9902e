import CoreMetrics
import Synchronization

/// A swift-metrics backend that keeps every counter's total and every gauge's last value in memory, so the
/// host can read its plugins' metrics back: the CloudWatch reporter (scorer errors, shard lag, reference-table
/// age) and the status page. Multiplexed next to the Prometheus backend (`MultiplexMetricsHandler`).
public final class MetricsStore: MetricsFactory, Sendable {
    public enum Kind: String, Sendable { case counter, gauge, timer }

    /// One metric series: a name and its dimensions.
    public struct Series: Hashable, Sendable {
        public let label: String
        public let dimensions: [String: String]
    }

    /// One series' value, updated by its handler without touching the store's dictionary.
    final class Cell: Sendable {
        let kind: Kind
        let value = Mutex(0.0)
        init(kind: Kind) { self.kind = kind }
    }

    private let cells = Mutex<[Series: Cell]>([:])

    public init() {}

    /// Every series with its current value (a counter's total, a gauge's last value, a timer's last seconds).
    public func snapshot() -> [(series: Series, kind: Kind, value: Double)] {
        cells.withLock { $0.map { $0 } }.map { ($0.key, $0.value.kind, $0.value.value.withLock { $0 }) }
    }

    /// The series named `label`, with their values.
    public func series(_ label: String) -> [(dimensions: [String: String], value: Double)] {
        snapshot().filter { $0.series.label == label }.map { ($0.series.dimensions, $0.value) }
    }

    /// The sum over all series named `label` (0 when none).
    public func sum(_ label: String) -> Double { series(label).reduce(0) { $0 + $1.value } }

    /// The largest value of the series named `label` (nil when none).
    public func max(_ label: String) -> Double? { series(label).map(\.value).max() }

    /// The cell of a series (the existing one when the same name and dimensions were made before).
    fileprivate func cell(_ series: Series, kind: Kind) -> Cell {
        cells.withLock { c in
            if let existing = c[series] { return existing }
            let new = Cell(kind: kind)
            c[series] = new
            return new
        }
    }

    static func series(_ label: String, _ dimensions: [(String, String)]) -> Series {
        Series(label: label, dimensions: Dictionary(dimensions, uniquingKeysWith: { _, b in b }))
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        StoreCounter(cell: cell(Self.series(label, dimensions), kind: .counter))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        StoreGauge(cell: cell(Self.series(label, dimensions), kind: .gauge))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        StoreTimer(cell: cell(Self.series(label, dimensions), kind: .timer))
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}
}

private final class StoreCounter: CounterHandler, Sendable {
    let cell: MetricsStore.Cell
    init(cell: MetricsStore.Cell) { self.cell = cell }
    func increment(by amount: Int64) { cell.value.withLock { $0 += Double(amount) } }
    func reset() { cell.value.withLock { $0 = 0 } }
}

private final class StoreGauge: RecorderHandler, Sendable {
    let cell: MetricsStore.Cell
    init(cell: MetricsStore.Cell) { self.cell = cell }
    func record(_ value: Int64) { cell.value.withLock { $0 = Double(value) } }
    func record(_ value: Double) { cell.value.withLock { $0 = value } }
}

private final class StoreTimer: TimerHandler, Sendable {
    let cell: MetricsStore.Cell
    init(cell: MetricsStore.Cell) { self.cell = cell }
    func recordNanoseconds(_ duration: Int64) { cell.value.withLock { $0 = Double(duration) / 1e9 } }
}
