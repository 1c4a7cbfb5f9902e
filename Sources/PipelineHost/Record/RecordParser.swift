import CYajl

/// Parses one JSON-lines record at a time with a reused yajl handle.
///
/// The handle runs with `yajl_allow_multiple_values`, so consecutive lines are fed to one parser
/// without reallocating it; a line that does not hold exactly one complete object is an error for that
/// line only, after which the handle is replaced.
public final class RecordParser {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    fileprivate enum Frame {
        case object([(String, JSONValue)], key: String?)
        case array([JSONValue])
    }

    private var handle: yajl_handle?
    fileprivate var stack: [Frame] = []
    fileprivate var result: [(String, JSONValue)]?
    fileprivate var error: String?

    public init() {}

    deinit { if let handle { yajl_free(handle) } }

    private func freshHandle() -> yajl_handle {
        if let handle { yajl_free(handle) }
        let h = yajl_alloc(recordCallbacks, nil, Unmanaged.passUnretained(self).toOpaque())!
        _ = cyajl_config_bool(h, yajl_allow_multiple_values, 1)
        handle = h
        return h
    }

    /// Returns the fields of the object on this line, nil for a blank line, or throws what is wrong with it.
    public func parse(_ line: UnsafeRawBufferPointer) throws(ParseError) -> [(String, JSONValue)]? {
        var blank = true
        for c in line where !(c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A) { blank = false; break }
        if blank { return nil }
        let h = handle ?? freshHandle()
        stack.removeAll(keepingCapacity: true)
        result = nil
        error = nil
        let base = line.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var status = yajl_parse(h, base, line.count)
        if status == yajl_status_ok && result == nil && error == nil {
            // A bare number needs a delimiter before yajl will report it.
            var nl: UInt8 = 0x0A
            status = yajl_parse(h, &nl, 1)
        }
        if let error {
            _ = freshHandle()
            throw ParseError(message: error)
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
        guard let result else {
            _ = freshHandle()
            throw ParseError(message: "truncated JSON: the line ends inside a value")
        }
        return result
    }

    public func parse(_ bytes: [UInt8]) throws(ParseError) -> [(String, JSONValue)]? {
        let outcome: Result<[(String, JSONValue)]?, ParseError> = bytes.withUnsafeBytes { buf in
            do throws(ParseError) { return .success(try parse(buf)) } catch { return .failure(error) }
        }
        return try outcome.get()
    }

    @inline(__always)
    fileprivate func add(_ value: JSONValue) -> Int32 {
        guard let top = stack.popLast() else {
            if result != nil { error = "more than one JSON value on the line" } else {
                error = "a record must be a JSON object, got \(value.typeName)"
            }
            return 0
        }
        switch top {
        case .object(var fields, let key):
            fields.append((key ?? "", value))
            stack.append(.object(fields, key: nil))
        case .array(var items):
            items.append(value)
            stack.append(.array(items))
        }
        return 1
    }
}

private func parser(_ ctx: UnsafeMutableRawPointer?) -> RecordParser {
    Unmanaged<RecordParser>.fromOpaque(ctx!).takeUnretainedValue()
}

nonisolated(unsafe) private let recordCallbacks: UnsafeMutablePointer<yajl_callbacks> = {
    let p = UnsafeMutablePointer<yajl_callbacks>.allocate(capacity: 1)
    p.initialize(to: yajl_callbacks(
        yajl_null: { ctx in parser(ctx).add(.null) },
        yajl_boolean: { ctx, v in parser(ctx).add(.bool(v != 0)) },
        yajl_integer: nil,
        yajl_double: nil,
        yajl_number: { ctx, ptr, len in
            parser(ctx).add(NumberParsing.parse(UnsafeRawBufferPointer(start: ptr, count: len)).json)
        },
        yajl_string: { ctx, ptr, len in
            parser(ctx).add(.string(String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self)))
        },
        yajl_start_map: { ctx in
            let p = parser(ctx)
            if p.stack.isEmpty && p.result != nil {
                p.error = "more than one JSON value on the line"
                return 0
            }
            var fields: [(String, JSONValue)] = []
            fields.reserveCapacity(16)
            p.stack.append(.object(fields, key: nil))
            return 1
        },
        yajl_map_key: { ctx, ptr, len in
            let p = parser(ctx)
            guard case .object(let fields, _) = p.stack.popLast()! else { return 0 }
            p.stack.append(.object(fields, key: String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self)))
            return 1
        },
        yajl_end_map: { ctx in
            let p = parser(ctx)
            guard case .object(let fields, _) = p.stack.popLast()! else { return 0 }
            if p.stack.isEmpty {
                p.result = fields
                return 1
            }
            return p.add(.object(fields))
        },
        yajl_start_array: { ctx in
            let p = parser(ctx)
            if p.stack.isEmpty {
                p.error = "a record must be a JSON object, got array"
                return 0
            }
            p.stack.append(.array([]))
            return 1
        },
        yajl_end_array: { ctx in
            let p = parser(ctx)
            guard case .array(let items) = p.stack.popLast()! else { return 0 }
            return p.add(.array(items))
        }
    ))
    return p
}()
