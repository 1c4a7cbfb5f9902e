import Foundation
import Synchronization

/// A record's top-level field name as a number: its position in the process's `FieldNames` table, or (with
/// the top bit set) in the record's own list of names the table had no room for.
///
/// Why not the name itself: a name longer than 15 bytes is a shared heap object, so a record parsed, copied,
/// written and freed retained and released each of its names, atomic operations on cache lines both cores
/// write. On Flink's job that was a third of the process's CPU (perf). An id is a plain integer: a record's
/// names cost nothing to copy or free, and comparing two is one integer comparison.
public struct FieldID: Hashable, Sendable {
    let raw: UInt32

    static let localBit: UInt32 = 1 << 31

    /// An id of the table, the same for the name in every record.
    init(shared index: Int) { raw = UInt32(index) }

    /// The `index`-th of one record's own names (see `Record`): means nothing outside that record.
    init(local index: Int) { raw = Self.localBit | UInt32(index) }

    var isLocal: Bool { raw & Self.localBit != 0 }
    /// The id's bit in a record's `idBits`.
    var bit: UInt64 { 1 &<< (raw & 63) }
    var index: Int { Int(raw & ~Self.localBit) }
}

/// Every distinct top-level field name the process has seen, once each, numbered in order of first sight.
/// Append-only: an id means the same name for the life of the process, so ids can be bound when a stage is
/// built (`FieldKey`) and compared across records and threads.
///
/// At most `capacity` names: a stream that invents field names without end (an object used as a map at the
/// top level) must not grow the process without bound. Names after that are kept by the record that has
/// them (`FieldID(local:)`), which is slower but right.
final class FieldNames: @unchecked Sendable {
    // @unchecked: `names` is a buffer written only under `ids`' lock, at a slot no id refers to yet; a slot is
    // read only through an id, and an id reaches another thread only through that lock or through a record
    // handed over by a channel (which synchronises), so the write happens before every read.
    static let shared = FieldNames(capacity: capacityFromEnvironment() ?? 1 << 20)

    /// `PIPELINE_HOST_MAX_FIELD_NAMES`: how many distinct names the table holds (a memory bound; the default, about a
    /// million, costs nothing until used).
    static func capacityFromEnvironment() -> Int? {
        guard let text = ProcessInfo.processInfo.environment["PIPELINE_HOST_MAX_FIELD_NAMES"], let n = Int(text), n >= 0 else { return nil }
        return n
    }

    let capacity: Int
    /// Reserved at full capacity up front (the pages are touched only as names arrive), so a slot never moves
    /// and reading one needs no lock.
    private let names: UnsafeMutablePointer<String>
    private let ids = Mutex<[String: UInt32]>([:])

    init(capacity: Int) {
        self.capacity = capacity
        names = .allocate(capacity: capacity)
    }

    deinit {
        let n = ids.withLock { $0.count }
        names.deinitialize(count: n)
        names.deallocate()
    }

    /// The id of `name`, added when new; nil when the table is full and does not have it.
    func intern(_ name: String) -> FieldID? {
        ids.withLock { ids in
            if let i = ids[name] { return FieldID(shared: Int(i)) }
            let i = ids.count
            guard i < capacity else { return nil }
            (names + i).initialize(to: name)
            ids[name] = UInt32(i)
            return FieldID(shared: i)
        }
    }

    /// The name of a shared id.
    @inline(__always)
    func name(_ id: FieldID) -> String { names[id.index] }

    /// Whether a shared id is `name`, without copying (retaining) the table's string. Lengths are compared first:
    /// names mostly differ in length, and a length is read without touching the bytes.
    @inline(__always)
    func id(_ id: FieldID, is name: String, length: Int) -> Bool {
        let p = names + id.index
        return p.pointee.utf8.count == length && p.pointee == name
    }
}

/// A source file's path in a record's origin (`RecordOrigin.line`), held as a number in a table of paths.
///
/// Why: every record of a file names it, and a path is a shared heap string that each record retained when it
/// was parsed and released when it was written, from two cores at once once the source parses on both.
public struct SourceFile: Sendable, Equatable, CustomStringConvertible {
    private let id: FieldID?
    /// The path itself, when the table was full.
    private let spilled: String?

    /// Paths of files read by this process; a source that follows files rotated every minute for a month
    /// stays far below the bound, past which paths are simply kept in the records.
    private static let table = FieldNames(capacity: 1 << 16)

    public init(_ path: String) {
        id = Self.table.intern(path)
        spilled = id == nil ? path : nil
    }

    public var path: String { id.map { Self.table.name($0) } ?? spilled ?? "" }
    public var description: String { path }
}
