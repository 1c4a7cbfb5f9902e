import CYajl
import Foundation

/// Parses a whole JSON document with yajl into a `SpecNode` tree that keeps line:column of every value.
///
/// yajl reports how many bytes it has consumed when a callback fires (the end of the token); the start of
/// a token is found by skipping whitespace and `,` `:` from the end of the previous one.
public enum DocumentParser {
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var location: SourceLocation
        public var message: String
        public var description: String { "\(location): \(message)" }
    }

    /// The deepest nesting of arrays and objects either parser accepts. Values are trees that Swift builds,
    /// compares, writes and frees recursively: unbounded nesting (100k `[` in a 200 KB request body) overflows
    /// the stack and kills the process. Specs, records, checkpoints and models nest a handful of levels.
    public static let maxNestingDepth = 512

    static var tooDeep: String { "nesting deeper than \(maxNestingDepth) levels" }

    public static func parse(_ text: [UInt8]) throws(SyntaxError) -> SpecNode {
        let builder = NodeBuilder(text: text)
        let ctx = Unmanaged.passUnretained(builder).toOpaque()
        guard let handle = yajl_alloc(documentCallbacks, nil, ctx) else {
            throw SyntaxError(location: .init(line: 1, column: 1), message: "out of memory")
        }
        defer { yajl_free(handle) }
        builder.handle = handle
        var status = text.withUnsafeBufferPointer { buf in
            yajl_parse(handle, buf.baseAddress, buf.count)
        }
        if status == yajl_status_ok {
            builder.finishing = true
            status = yajl_complete_parse(handle)
        }
        if status != yajl_status_ok {
            let consumed = Int(yajl_get_bytes_consumed(handle))
            let message: String
            if let err = text.withUnsafeBufferPointer({ yajl_get_error(handle, 0, $0.baseAddress, $0.count) }) {
                message = Self.cleanMessage(String(cString: err))
                yajl_free_error(handle, err)
            } else {
                message = "invalid JSON"
            }
            if builder.failure == nil {
                // At the end, yajl has consumed nothing of the final call: the place is the document's last byte.
                var offset = max(0, min(consumed, text.count) - 1)
                if builder.finishing {
                    var end = text.count
                    while end > 0 && isSpace(text[end - 1]) { end -= 1 }
                    offset = max(0, end - 1)
                }
                throw SyntaxError(location: builder.location(ofOffset: offset), message: Self.explain(message, text: text, at: offset))
            }
        }
        if let failure = builder.failure { throw failure }
        guard let root = builder.root else {
            throw SyntaxError(location: .init(line: 1, column: 1), message: "empty document")
        }
        // yajl's final flush ignores an unterminated string after the value (`{"a": 1}"x`), which it otherwise
        // reports as trailing garbage: only whitespace may follow the value.
        if let extra = text[builder.rootEnd...].firstIndex(where: { !isSpace($0) }) {
            throw SyntaxError(location: builder.location(ofOffset: extra), message: "trailing garbage")
        }
        return root
    }

    public static func parse(_ text: String) throws(SyntaxError) -> SpecNode {
        try parse(Array(text.utf8))
    }

    /// Parses into a plain `JSONValue` (positions dropped).
    public static func parseValue(_ text: [UInt8]) throws(SyntaxError) -> JSONValue {
        try parse(text).json
    }

    /// yajl's words for the mistakes people make by hand, said the way they would say them.
    static func explain(_ message: String, text: [UInt8], at offset: Int) -> String {
        if message.hasPrefix("premature EOF") {
            if text.allSatisfy(isSpace) { return "the document is empty" }
            return "the document ends inside a value (a closing \", } or ] missing at the end?)"
        }
        // The byte before the one yajl stopped at, whitespace skipped: a comma means a trailing comma.
        var i = min(offset, text.count) - 1
        while i >= 0 && isSpace(text[i]) { i -= 1 }
        let afterComma = i >= 0 && text[i] == UInt8(ascii: ",")
        let at = offset < text.count ? text[offset] : 0
        if afterComma && (at == UInt8(ascii: "}") || at == UInt8(ascii: "]")) {
            return "a comma before \(at == UInt8(ascii: "}") ? "}" : "]") (JSON allows no trailing comma)"
        }
        return message
    }

    /// Space, tab, newline, vertical tab, form feed, carriage return: what may stand between tokens.
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }

    static func cleanMessage(_ raw: String) -> String {
        // yajl's terse messages look like "parse error: trailing garbage\n"; keep the part after the colon.
        var s = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.hasPrefix("parse error: ") { s.removeFirst("parse error: ".count) }
        if s.hasPrefix("lexical error: ") { s.removeFirst("lexical error: ".count) }
        return s
    }
}

final class NodeBuilder {
    /// An open array or object. A class, so appending mutates the one array in place: with the elements in an
    /// enum payload, taking them out to append copied the whole array every time (quadratic: an 80k-element
    /// array took minutes). `keys` makes the duplicate-key check O(1) per member instead of a scan.
    final class Frame {
        let isObject: Bool
        let location: SourceLocation
        var items: [SpecNode] = []
        var members: [SpecNode.Member] = []
        var keys: Set<String> = []
        var pendingKey: (String, SourceLocation)?

        init(isObject: Bool, at location: SourceLocation) {
            self.isObject = isObject
            self.location = location
        }
    }

    let text: [UInt8]
    var handle: yajl_handle?
    var stack: [Frame] = []
    var root: SpecNode?
    /// Offset just past the root value; `finishing` is set during yajl_complete_parse, whose offsets refer to
    /// its own flush buffer (a root that completes then ends at the end of the text).
    var rootEnd = 0
    var finishing = false
    var failure: DocumentParser.SyntaxError?
    private var previousEnd = 0
    // Tokens arrive in document order, so positions are computed by walking forward from the last one:
    // linear in the document, even for a one-line 600 KB model file.
    private var cursorOffset = 0
    private var cursorLine = 1
    private var cursorColumn = 1

    init(text: [UInt8]) { self.text = text }

    func location(ofOffset offset: Int) -> SourceLocation {
        let target = min(max(0, offset), text.count)
        if target < cursorOffset {
            cursorOffset = 0
            cursorLine = 1
            cursorColumn = 1
        }
        while cursorOffset < target {
            let c = text[cursorOffset]
            if c == 0x0A {
                cursorLine += 1
                cursorColumn = 1
            } else if c & 0xC0 != 0x80 {
                // Columns count characters: UTF-8 continuation bytes do not start one.
                cursorColumn += 1
            }
            cursorOffset += 1
        }
        return SourceLocation(line: cursorLine, column: cursorColumn)
    }

    /// Location of the token yajl just consumed.
    func tokenLocation() -> SourceLocation {
        let end = Int(yajl_get_bytes_consumed(handle))
        var start = previousEnd
        while start < end {
            let c = text[start]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 || c == UInt8(ascii: ",") || c == UInt8(ascii: ":") {
                start += 1
            } else { break }
        }
        previousEnd = end
        return location(ofOffset: start)
    }

    func add(_ node: SpecNode) {
        guard let top = stack.last else {
            root = node
            rootEnd = finishing ? text.count : min(text.count, Int(yajl_get_bytes_consumed(handle)))
            return
        }
        if top.isObject {
            if let (key, keyLoc) = top.pendingKey {
                if !top.keys.insert(key).inserted && failure == nil {
                    failure = .init(location: keyLoc, message: "duplicate key \"\(key)\"")
                }
                top.members.append(.init(key: key, keyLocation: keyLoc, value: node))
                top.pendingKey = nil
            }
        } else {
            top.items.append(node)
        }
    }

    /// Opens a container, or refuses it past the nesting limit (returning 0 stops yajl).
    func open(object: Bool) -> Int32 {
        let loc = tokenLocation()
        guard stack.count < DocumentParser.maxNestingDepth else {
            if failure == nil { failure = .init(location: loc, message: DocumentParser.tooDeep) }
            return 0
        }
        stack.append(Frame(isObject: object, at: loc))
        return 1
    }

    /// Closes the innermost container and adds it to its parent.
    func close(object: Bool) -> Int32 {
        _ = tokenLocation()
        guard let top = stack.popLast(), top.isObject == object else { return 0 }
        add(SpecNode(object ? .object(top.members) : .array(top.items), at: top.location))
        return 1
    }

    func key(_ k: String) {
        let loc = tokenLocation()
        guard let top = stack.last, top.isObject else { return }
        top.pendingKey = (k, loc)
    }
}

private func builder(_ ctx: UnsafeMutableRawPointer?) -> NodeBuilder {
    Unmanaged<NodeBuilder>.fromOpaque(ctx!).takeUnretainedValue()
}

/// Allocated once for the life of the process: yajl keeps the pointer, not a copy.
nonisolated(unsafe) private let documentCallbacks: UnsafeMutablePointer<yajl_callbacks> = {
    let p = UnsafeMutablePointer<yajl_callbacks>.allocate(capacity: 1)
    p.initialize(to: yajl_callbacks(
        yajl_null: { ctx in
            let b = builder(ctx); b.add(SpecNode(.null, at: b.tokenLocation())); return 1
        },
        yajl_boolean: { ctx, v in
            let b = builder(ctx); b.add(SpecNode(.bool(v != 0), at: b.tokenLocation())); return 1
        },
        yajl_integer: nil,
        yajl_double: nil,
        yajl_number: { ctx, ptr, len in
            let b = builder(ctx)
            let loc = b.tokenLocation()
            let raw = UnsafeRawBufferPointer(start: ptr, count: len)
            b.add(SpecNode(NumberParsing.parse(raw).map(int: { .int($0) }, double: { .double($0) }), at: loc))
            return 1
        },
        yajl_string: { ctx, ptr, len in
            let b = builder(ctx)
            let s = String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self)
            b.add(SpecNode(.string(s, interpolated: false), at: b.tokenLocation()))
            return 1
        },
        yajl_start_map: { ctx in
            builder(ctx).open(object: true)
        },
        yajl_map_key: { ctx, ptr, len in
            builder(ctx).key(String(decoding: UnsafeBufferPointer(start: ptr, count: len), as: UTF8.self))
            return 1
        },
        yajl_end_map: { ctx in builder(ctx).close(object: true) },
        yajl_start_array: { ctx in
            builder(ctx).open(object: false)
        },
        yajl_end_array: { ctx in builder(ctx).close(object: false) }
    ))
    return p
}()
