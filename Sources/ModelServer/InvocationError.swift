import Hummingbird
import PipelineHost

/// A request the server refuses, with the HTTP status, a kind for the errors metric, and the field (and, in a
/// batch, the record index) it is about. Rendered as `{"error": "...", "field": "...", "index": n}`.
struct InvocationError: Error, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable, CaseIterable {
        case malformedJSON = "malformed_json"
        case malformedCSV = "malformed_csv"
        case notAnObject = "not_an_object"
        case missingField = "missing_field"
        case nullField = "null_field"
        case wrongType = "wrong_type"
        case nonFinite = "non_finite"
        case duplicateField = "duplicate_field"
        case emptyBody = "empty_body"
        case bodyTooLarge = "body_too_large"
        case bodyTooSlow = "body_too_slow"
        case unsupportedMediaType = "unsupported_media_type"
        case notAcceptable = "not_acceptable"
        case notReady = "not_ready"
        case busy

        var status: HTTPResponse.Status {
            switch self {
            case .bodyTooLarge: return .contentTooLarge
            case .bodyTooSlow: return .requestTimeout
            case .unsupportedMediaType: return .unsupportedMediaType
            case .notAcceptable: return .notAcceptable
            case .notReady, .busy: return .serviceUnavailable
            default: return .badRequest
            }
        }
    }

    var kind: Kind
    var message: String
    var field: String?
    var index: Int?

    init(_ kind: Kind, _ message: String, field: String? = nil, index: Int? = nil) {
        self.kind = kind
        self.message = message
        self.field = field
        self.index = index
    }

    var status: HTTPResponse.Status { kind.status }

    /// The same error about record `index` of a batch.
    func at(index: Int) -> InvocationError {
        var e = self
        e.index = index
        return e
    }

    var description: String {
        var s = message
        if let field { s = "field \"\(field)\": " + s }
        if let index { s = "record \(index): " + s }
        return s
    }

    /// The JSON error body.
    var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("error", .string(message)), ("kind", .string(kind.rawValue))]
        if let field { pairs.append(("field", .string(field))) }
        if let index { pairs.append(("index", .int(Int64(index)))) }
        return .object(pairs)
    }
}
