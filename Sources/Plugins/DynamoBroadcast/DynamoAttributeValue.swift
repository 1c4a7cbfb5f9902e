import PipelineHost

/// DynamoDB's typed attribute values (`{"S": "x"}`, `{"N": "1.5"}`, …) as plain JSON values.
enum DynamoAttributeValue {
    static func json(_ attribute: JSONValue) -> JSONValue {
        guard let pairs = attribute.objectValue, let (type, v) = pairs.first else { return .null }
        switch type {
        case "S": return v
        case "N": return number(v.stringValue ?? "")
        case "BOOL": return v
        case "NULL": return .null
        case "M": return .object((v.objectValue ?? []).map { ($0.0, json($0.1)) })
        case "L": return .array((v.arrayValue ?? []).map(json))
        case "SS", "BS": return v
        case "NS": return .array((v.arrayValue ?? []).map { number($0.stringValue ?? "") })
        case "B": return v
        default: return .null
        }
    }

    static func number(_ text: String) -> JSONValue {
        if let i = Int64(text) { return .int(i) }
        if let d = Double(text) { return .double(d) }
        return .string(text)
    }

    /// An item (attribute name → typed value) as named plain values.
    static func item(_ item: JSONValue) -> [(String, JSONValue)] {
        (item.objectValue ?? []).map { ($0.0, json($0.1)) }
    }
}
