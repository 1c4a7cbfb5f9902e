/// An XML element as the AWS XML protocols need it: local name, attributes, child elements and text.
public struct XMLNode: Sendable, Equatable {
    /// Local name (namespace prefix removed: AWS replies are matched by local name).
    public var name: String
    public var attributes: [(String, String)]
    public var children: [XMLNode]
    /// Concatenated character data directly inside this element (entities decoded, CDATA included).
    public var text: String

    public init(name: String, attributes: [(String, String)] = [], children: [XMLNode] = [], text: String = "") {
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

    public static func == (lhs: XMLNode, rhs: XMLNode) -> Bool {
        lhs.name == rhs.name && lhs.text == rhs.text && lhs.children == rhs.children
            && lhs.attributes.elementsEqual(rhs.attributes, by: { $0 == $1 })
    }

    /// First child element with this name.
    public func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }

    /// All child elements with this name.
    public func children(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }

    /// Follows a path of child names: `node["ListBucketResult", "Contents"]`-style lookups without optionals chains.
    public func path(_ names: String...) -> XMLNode? {
        var node: XMLNode? = self
        for n in names { node = node?.child(n) }
        return node
    }

    /// Text of the first child with this name.
    public func string(_ name: String) -> String? { child(name)?.text }

    /// First element with this name anywhere below (depth first), self included.
    public func find(_ name: String) -> XMLNode? {
        if self.name == name { return self }
        for c in children { if let hit = c.find(name) { return hit } }
        return nil
    }
}
