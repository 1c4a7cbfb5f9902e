import Synchronization

/// A field name a stage binds once, when it is built: its id in the process's name table, and where in a
/// record it was last found.
///
/// Records from one source share their layout (the parsed fields in document order, then the fields the
/// transforms add, always in the same order), so a lookup checks that position first and compares ids along
/// the record only when the layout differs. `record[key]` reads and writes what `record[key.name]` does.
public final class FieldKey: Sendable {
    public let name: String
    /// nil only when the table was full before this name arrived: lookups then compare names.
    let id: FieldID?
    /// Relaxed: a stale position costs one comparison and a scan, never a wrong answer.
    private let lastIndex = Atomic<Int>(-1)

    public init(_ name: String) {
        self.name = name
        id = FieldNames.shared.intern(name)
    }

    @inline(__always)
    var hint: Int { lastIndex.load(ordering: .relaxed) }

    @inline(__always)
    func remember(_ index: Int) {
        if lastIndex.load(ordering: .relaxed) != index { lastIndex.store(index, ordering: .relaxed) }
    }
}

/// Field names a stage writes together (a joined row, a window's aggregates), bound once when it is built.
/// `Record.set(_:_:)` writes them reading their ids from a plain array: writing each through its own `FieldKey`
/// retained and released the key object for every field of every record.
public struct FieldList: Sendable {
    public let names: [String]
    /// nil when the table had no room for one of the names: the list is then written by name.
    let ids: [FieldID]?

    public init(_ names: [String]) {
        self.names = names
        let ids = names.compactMap { FieldNames.shared.intern($0) }
        self.ids = ids.count == names.count ? ids : nil
    }
}
