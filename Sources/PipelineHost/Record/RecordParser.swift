import CYajl

/// Parses one JSON-lines record at a time with a reused yajl handle.
///
/// The handle runs with `yajl_allow_multiple_values`, so consecutive lines are fed to one parser
/// without reallocating it; a line that does not hold exactly one complete object is an error for that
/// line only, after which the handle is replaced.
///
/// This is the hottest code of a file replay. The parse state is a struct behind a raw pointer (no dynamic
/// exclusivity checks, which a class property would pay on every callback), top-level fields are appended
/// straight to the result, and keys are interned by position: records of one stream repeat their keys in
/// the same order, so a key longer than Swift's 15-byte small-string form is allocated once, not per record.
public final class RecordParser {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        /// Set when the record repeats this top-level key.
        public var duplicateKey: String?
        public var description: String { message }
        public init(message: String, duplicateKey: String? = nil) {
            self.message = message
            self.duplicateKey = duplicateKey
        }
    }

    private var handle: yajl_handle?
    private let state: UnsafeMutablePointer<ParseState>

    /// `addedFields`: how many fields the stages after the source add to a record. Each record's field array is
    /// allocated once for the fields parsed plus these, instead of growing (a reallocation and a copy) at the
    /// stages that add them.
    public init(addedFields: Int = 0) {
        state = .allocate(capacity: 1)
        state.initialize(to: ParseState())
        state.pointee.added = max(0, addedFields)
    }

    deinit {
        if let handle { yajl_free(handle) }
        state.deinitialize(count: 1)
        state.deallocate()
    }

    private func freshHandle() -> yajl_handle {
        if let handle { yajl_free(handle) }
        let h = yajl_alloc(recordCallbacks, nil, UnsafeMutableRawPointer(state))!
        _ = cyajl_config_bool(h, yajl_allow_multiple_values, 1)
        handle = h
        return h
    }

    /// Parses the line into `state`; nil for a blank line.
    private func parseLine(_ line: UnsafeRawBufferPointer) throws(ParseError) -> Void? {
        var blank = true
        for c in line where !(c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A) { blank = false; break }
        if blank { return nil }
        let h = handle ?? freshHandle()
        state.pointee.reset()
        let base = line.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var status = yajl_parse(h, base, line.count)
        if status == yajl_status_ok && state.pointee.error == nil {
            // A bare number needs a delimiter before yajl will report it. After a complete object it is needed
            // too: a token that follows the object on the line (`{...}2`, `{...}"x`, `{...}tr`) is otherwise
            // left in yajl's lexer buffer, the line is accepted and the token corrupts the next line.
            var nl: UInt8 = 0x0A
            status = yajl_parse(h, &nl, 1)
        }
        if let error = state.pointee.error {
            _ = freshHandle()
            throw ParseError(message: error, duplicateKey: state.pointee.duplicate)
        }
        if status != yajl_status_ok {
            var message = "malformed JSON"
            if let err = yajl_get_error(h, 0, base, line.count) {
                message = "malformed JSON: " + DocumentParser.cleanMessage(String(cString: err))
                yajl_free_error(h, err)
            }
            _ = freshHandle()
            throw ParseError(message: message)
        }
        guard state.pointee.done else {
            _ = freshHandle()
            throw ParseError(message: "truncated JSON: the line ends inside a value")
        }
        return ()
    }

    /// Returns the fields of the object on this line, nil for a blank line, or throws what is wrong with it.
    public func parse(_ line: UnsafeRawBufferPointer) throws(ParseError) -> [(String, JSONValue)]? {
        guard try parseLine(line) != nil else { return nil }
        return state.pointee.takeRecord(raw: nil, origin: .none).fields
    }

    /// The record on this line (`raw`: the line's bytes, unless not `keepingBytes`: a record that is only read,
    /// never written out), nil for a blank line, or throws what is wrong with it. Its names are the process's
    /// field ids (`FieldNames`), found by position without hashing.
    public func parseRecord(_ line: UnsafeRawBufferPointer, origin: RecordOrigin, keepingBytes: Bool = true) throws(ParseError) -> Record? {
        guard try parseLine(line) != nil else { return nil }
        return state.pointee.takeRecord(raw: keepingBytes ? Array(line) : nil, origin: origin)
    }

    /// `parseRecord` of a payload that is the record's raw bytes as it is.
    public func parseRecord(_ bytes: [UInt8], origin: RecordOrigin) throws(ParseError) -> Record? {
        let outcome: Result<Void?, ParseError> = bytes.withUnsafeBytes { buf in
            do throws(ParseError) { return .success(try parseLine(buf)) } catch { return .failure(error) }
        }
        guard try outcome.get() != nil else { return nil }
        return state.pointee.takeRecord(raw: bytes, origin: origin)
    }

    public func parse(_ bytes: [UInt8]) throws(ParseError) -> [(String, JSONValue)]? {
        let outcome: Result<[(String, JSONValue)]?, ParseError> = bytes.withUnsafeBytes { buf in
            do throws(ParseError) { return .success(try parse(buf)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }
}

/// Builder state shared with the C callbacks through yajl's context pointer.
private struct ParseState {
    /// A container below the top-level object. A class, so appending mutates its array in place: taken out
    /// of an enum payload to append, the array was copied on every element (quadratic in the container size).
    final class Frame {
        let isObject: Bool
        var key = ""
        var members: [(String, JSONValue)] = []
        var items: [JSONValue] = []
        init(isObject: Bool) { self.isObject = isObject }
    }

    /// Fields of the top-level object, and the names of it the process's table had no room for.
    var fields: [(FieldID, JSONValue)] = []
    var localNames: [String] = []
    var key = FieldID(shared: 0)
    /// Containers below the top-level object (depth 2 and deeper).
    var nested: [Frame] = []
    /// 0 before the record, 1 inside the top-level object, more inside nested containers.
    var depth = 0
    var done = false
    var error: String?
    var duplicate: String?
    /// The most top-level fields a record has had, and how many the stages add (see `RecordParser.init`).
    var parsed = 8
    var added = 0
    /// Top-level keys by field position, and their ids.
    var keyBytes: [[UInt8]] = []
    var keyIDs: [FieldID] = []
    /// How many leading interned keys are known to be pairwise distinct: a record whose keys so far are exactly
    /// the interned ones needs no duplicate check below this position.
    var distinct = 0
    /// The record's keys so far are the interned ones at their positions.
    var layoutMatches = true

    mutating func reset() {
        fields = []
        fields.reserveCapacity(parsed + added)
        if !localNames.isEmpty { localNames = [] }
        nested.removeAll(keepingCapacity: true)
        depth = 0
        done = false
        error = nil
        duplicate = nil
        layoutMatches = true
    }

    mutating func takeRecord(raw: [UInt8]?, origin: RecordOrigin) -> Record {
        parsed = max(parsed, fields.count)
        // Every key of this record was checked or known distinct. With the interned layout kept, the known
        // prefix only grows; after a divergence the interned keys start with this record's.
        let interned = min(fields.count, keyBytes.count)
        distinct = layoutMatches ? max(distinct, interned) : interned
        // Moved out, not copied: a copy would retain the array here and release it at the next reset.
        var taken: [(FieldID, JSONValue)] = []
        swap(&taken, &fields)
        return Record(ids: taken, localNames: localNames, raw: raw, origin: origin)
    }

    /// The id of the key at the next field position; nil (with `error` set) when the record already has it. A
    /// record holds each name once, so a stage's field lookup has one answer (`FieldKey` relies on it).
    mutating func internKey(_ ptr: UnsafePointer<UInt8>, _ len: Int) -> FieldID? {
        let position = fields.count
        if position < keyBytes.count {
            let cached = keyBytes[position]
            if cached.count == len && cached.withUnsafeBufferPointer({ memcmp($0.baseAddress!, ptr, len) == 0 }) {
                if layoutMatches && position < distinct { return keyIDs[position] }
                return unique(keyIDs[position])
            }
        }
        if layoutMatches {
            // The interned keys from here on are about to be replaced by this record's.
            layoutMatches = false
            distinct = min(distinct, position)
        }
        let name = String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self)
        guard let id = FieldNames.shared.intern(name) else {
            // The table is full: the record keeps the name itself. Such a name is never in the table, so it
            // equals only other names of this kind, and it is not cached by position.
            for n in localNames where n == name { return duplicate(name) }
            localNames.append(name)
            return FieldID(local: localNames.count - 1)
        }
        guard let unique = unique(id) else { return nil }
        if position < keyBytes.count {
            keyBytes[position] = Array(UnsafeBufferPointer(start: ptr, count: len))
            keyIDs[position] = unique
        } else if position == keyBytes.count && position < 64 {
            keyBytes.append(Array(UnsafeBufferPointer(start: ptr, count: len)))
            keyIDs.append(unique)
        }
        return unique
    }

    private mutating func unique(_ id: FieldID) -> FieldID? {
        for f in fields where f.0 == id { return duplicate(FieldNames.shared.name(id)) }
        return id
    }

    private mutating func duplicate(_ name: String) -> FieldID? {
        error = "duplicate key \"\(name)\" in the record"
        duplicate = name
        return nil
    }

    @inline(__always)
    mutating func add(_ value: JSONValue) -> Int32 {
        if depth == 1 {
            fields.append((key, value))
            return 1
        }
        if depth == 0 {
            error = done ? "more than one JSON value on the line" : "a record must be a JSON object, got \(value.typeName)"
            return 0
        }
        let frame = nested[nested.count - 1]
        if frame.isObject { frame.members.append((frame.key, value)) } else { frame.items.append(value) }
        return 1
    }

    mutating func setNestedKey(_ k: String) {
        nested[nested.count - 1].key = k
    }
}

import Glibc

@inline(__always)
private func state(_ ctx: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<ParseState> {
    ctx!.assumingMemoryBound(to: ParseState.self)
}

nonisolated(unsafe) private let recordCallbacks: UnsafeMutablePointer<yajl_callbacks> = {
    let p = UnsafeMutablePointer<yajl_callbacks>.allocate(capacity: 1)
    p.initialize(to: yajl_callbacks(
        yajl_null: { ctx in state(ctx).pointee.add(.null) },
        yajl_boolean: { ctx, v in state(ctx).pointee.add(.bool(v != 0)) },
        yajl_integer: nil,
        yajl_double: nil,
        yajl_number: { ctx, ptr, len in
            state(ctx).pointee.add(NumberParsing.parse(UnsafeRawBufferPointer(start: ptr, count: len)).json)
        },
        yajl_string: { ctx, ptr, len in
            state(ctx).pointee.add(.string(String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self)))
        },
        yajl_start_map: { ctx in
            let s = state(ctx)
            if s.pointee.depth == 0 {
                if s.pointee.done {
                    s.pointee.error = "more than one JSON value on the line"
                    return 0
                }
            } else {
                guard s.pointee.depth < DocumentParser.maxNestingDepth else {
                    s.pointee.error = DocumentParser.tooDeep
                    return 0
                }
                s.pointee.nested.append(ParseState.Frame(isObject: true))
            }
            s.pointee.depth += 1
            return 1
        },
        yajl_map_key: { ctx, ptr, len in
            let s = state(ctx)
            if s.pointee.depth == 1 {
                guard let key = s.pointee.internKey(ptr!, len) else { return 0 }
                s.pointee.key = key
            } else {
                s.pointee.setNestedKey(String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self))
            }
            return 1
        },
        yajl_end_map: { ctx in
            let s = state(ctx)
            s.pointee.depth -= 1
            if s.pointee.depth == 0 {
                s.pointee.done = true
                return 1
            }
            let frame = s.pointee.nested.removeLast()
            guard frame.isObject else { return 0 }
            return s.pointee.add(.object(frame.members))
        },
        yajl_start_array: { ctx in
            let s = state(ctx)
            if s.pointee.depth == 0 {
                s.pointee.error = s.pointee.done ? "more than one JSON value on the line" : "a record must be a JSON object, got array"
                return 0
            }
            guard s.pointee.depth < DocumentParser.maxNestingDepth else {
                s.pointee.error = DocumentParser.tooDeep
                return 0
            }
            s.pointee.nested.append(ParseState.Frame(isObject: false))
            s.pointee.depth += 1
            return 1
        },
        yajl_end_array: { ctx in
            let s = state(ctx)
            s.pointee.depth -= 1
            let frame = s.pointee.nested.removeLast()
            guard !frame.isObject else { return 0 }
            return s.pointee.add(.array(frame.items))
        }
    ))
    return p
}()
