/// A small non-validating XML parser for AWS replies (Query, REST-XML and error bodies).
///
/// Handles the prolog, comments, processing instructions, DOCTYPE (skipped), CDATA, attributes and the five
/// predefined entities plus numeric character references. No FoundationXML: it is not available everywhere
/// on Linux, and AWS replies need only this subset. Malformed input throws; it never traps.
public struct XMLReader {
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { "XML syntax error at byte \(offset): \(message)" }
    }

    private let bytes: [UInt8]
    private var i = 0
    /// Deep nesting cannot blow the stack: parsing is iterative, and depth is capped anyway.
    private let maxDepth = 256

    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> XMLNode {
        var reader = XMLReader(bytes: bytes)
        return try reader.document()
    }

    public static func parse(_ text: String) throws(SyntaxError) -> XMLNode { try parse(Array(text.utf8)) }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func fail(_ message: String) -> SyntaxError { SyntaxError(offset: i, message: message) }

    private func peek(_ s: StaticString) -> Bool {
        let n = s.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        return s.withUTF8Buffer { buf in
            for k in 0..<n where bytes[i + k] != buf[k] { return false }
            return true
        }
    }

    /// Moves past the next occurrence of `terminator`.
    private mutating func skip(past terminator: StaticString) throws(SyntaxError) {
        while i < bytes.count {
            if peek(terminator) { i += terminator.utf8CodeUnitCount; return }
            i += 1
        }
        throw fail("unterminated construct, expected \(terminator)")
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, isSpace(bytes[i]) { i += 1 }
    }

    private func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    /// Skips the prolog and misc items around the root element.
    private mutating func skipMisc() throws(SyntaxError) {
        while true {
            skipWhitespace()
            if peek("<?") { try skip(past: "?>") }
            else if peek("<!--") { try skip(past: "-->") }
            else if peek("<!DOCTYPE") { try skipDoctype() }
            else { return }
        }
    }

    private mutating func skipDoctype() throws(SyntaxError) {
        var bracket = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "["): bracket += 1
            case UInt8(ascii: "]"): bracket -= 1
            case UInt8(ascii: ">") where bracket <= 0: i += 1; return
            default: break
            }
            i += 1
        }
        throw fail("unterminated DOCTYPE")
    }

    private mutating func document() throws(SyntaxError) -> XMLNode {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }  // UTF-8 BOM
        try skipMisc()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "<") else { throw fail("expected a root element") }
        let root = try element()
        try skipMisc()
        guard i == bytes.count else { throw fail("content after the root element") }
        return root
    }

    private struct Open {
        var node: XMLNode
        var rawName: String
        var text: [UInt8] = []
    }

    /// Parses one element starting at `<`, iteratively.
    private mutating func element() throws(SyntaxError) -> XMLNode {
        var stack: [Open] = []
        while true {
            guard i < bytes.count else { throw fail("unexpected end of document") }
            if bytes[i] == UInt8(ascii: "<") {
                if peek("</") {
                    i += 2
                    let name = try readName()
                    skipWhitespace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw fail("expected '>'") }
                    i += 1
                    guard var open = stack.popLast() else { throw fail("unexpected closing tag </\(name)>") }
                    guard open.rawName == name else { throw fail("</\(name)> does not close <\(open.rawName)>") }
                    open.node.text = String(decoding: open.text, as: UTF8.self)
                    if stack.isEmpty { return open.node }
                    stack[stack.count - 1].node.children.append(open.node)
                } else if peek("<!--") {
                    try skip(past: "-->")
                } else if peek("<![CDATA[") {
                    i += 9
                    let start = i
                    try skip(past: "]]>")
                    guard !stack.isEmpty else { throw fail("CDATA outside an element") }
                    stack[stack.count - 1].text.append(contentsOf: bytes[start..<(i - 3)])
                } else if peek("<?") {
                    try skip(past: "?>")
                } else {
                    i += 1
                    let (open, selfClosing) = try startTag()
                    if selfClosing {
                        if stack.isEmpty { return open.node }
                        stack[stack.count - 1].node.children.append(open.node)
                    } else {
                        guard stack.count < maxDepth else { throw fail("elements nested too deeply") }
                        stack.append(open)
                    }
                }
            } else {
                guard !stack.isEmpty else { throw fail("text outside an element") }
                let chunk = try characterData()
                stack[stack.count - 1].text.append(contentsOf: chunk)
            }
        }
    }

    private mutating func startTag() throws(SyntaxError) -> (Open, Bool) {
        let raw = try readName()
        var attributes: [(String, String)] = []
        while true {
            skipWhitespace()
            guard i < bytes.count else { throw fail("unterminated start tag <\(raw)") }
            if bytes[i] == UInt8(ascii: ">") {
                i += 1
                return (Open(node: XMLNode(name: Self.localName(raw), attributes: attributes), rawName: raw), false)
            }
            if peek("/>") {
                i += 2
                return (Open(node: XMLNode(name: Self.localName(raw), attributes: attributes), rawName: raw), true)
            }
            let attrName = try readName()
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw fail("expected '=' after attribute \(attrName)") }
            i += 1
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
                throw fail("expected a quoted attribute value")
            }
            let quote = bytes[i]
            i += 1
            let start = i
            while i < bytes.count, bytes[i] != quote { i += 1 }
            guard i < bytes.count else { throw fail("unterminated attribute value") }
            let value = try Self.decodeEntities(bytes[start..<i])
            i += 1
            attributes.append((attrName, String(decoding: value, as: UTF8.self)))
        }
    }

    private mutating func readName() throws(SyntaxError) -> String {
        let start = i
        while i < bytes.count {
            let c = bytes[i]
            if isSpace(c) || c == UInt8(ascii: ">") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=")
                || c == UInt8(ascii: "<")
            { break }
            i += 1
        }
        guard i > start else { throw fail("expected a name") }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func characterData() throws(SyntaxError) -> [UInt8] {
        let start = i
        while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
        return try Self.decodeEntities(bytes[start..<i])
    }

    static func localName(_ raw: String) -> String {
        guard let colon = raw.lastIndex(of: ":") else { return raw }
        return String(raw[raw.index(after: colon)...])
    }

    static func decodeEntities(_ slice: ArraySlice<UInt8>) throws(SyntaxError) -> [UInt8] {
        guard slice.contains(UInt8(ascii: "&")) else { return Array(slice) }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count)
        var k = slice.startIndex
        while k < slice.endIndex {
            let c = slice[k]
            guard c == UInt8(ascii: "&") else { out.append(c); k += 1; continue }
            guard let semi = slice[k...].firstIndex(of: UInt8(ascii: ";")), semi - k <= 12 else {
                throw SyntaxError(offset: k, message: "unterminated entity reference")
            }
            let entity = String(decoding: slice[(k + 1)..<semi], as: UTF8.self)
            switch entity {
            case "amp": out.append(UInt8(ascii: "&"))
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                var scalarValue: UInt32?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    scalarValue = UInt32(entity.dropFirst(2), radix: 16)
                } else if entity.hasPrefix("#") {
                    scalarValue = UInt32(entity.dropFirst(), radix: 10)
                }
                guard let v = scalarValue, let scalar = Unicode.Scalar(v) else {
                    throw SyntaxError(offset: k, message: "unknown entity &\(entity);")
                }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            }
            k = semi + 1
        }
        return out
    }
}
