import Synchronization

/// A field name a stage binds once, when it is built, that remembers where in a record it was last found.
///
/// Records from one source share their layout (the parsed fields in document order, then the fields the
/// transforms add, always in the same order), so a lookup checks that position first and scans the record's
/// names only when the layout differs. `record[key]` reads what `record[key.name]` reads.
public final class FieldKey: Sendable {
    public let name: String
    /// Relaxed: a stale position costs one comparison and a scan, never a wrong answer.
    private let lastIndex = Atomic<Int>(-1)

    public init(_ name: String) {
        self.name = name
    }

    @inline(__always)
    var hint: Int { lastIndex.load(ordering: .relaxed) }

    @inline(__always)
    func remember(_ index: Int) {
        if lastIndex.load(ordering: .relaxed) != index { lastIndex.store(index, ordering: .relaxed) }
    }
}
