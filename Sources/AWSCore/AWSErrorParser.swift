import Foundation
import PipelineHost

/// Turns a non-success reply into an `AWSError`, whatever the protocol: JSON (`__type`/`message`), XML
/// (`<Error><Code>` in Query, REST-XML and moto's auth errors even for JSON services) or a bare status.
enum AWSErrorParser {
    static func parse(_ response: HTTPResponse) -> AWSError {
        var code: String?
        var message = ""
        var requestID = response.header("x-amzn-requestid") ?? response.header("x-amz-request-id")
        let first = response.body.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        if first == UInt8(ascii: "{"), let json = try? DocumentParser.parseValue(response.body) {
            code = (json["__type"] ?? json["code"] ?? json["Code"])?.stringValue
            message = (json["message"] ?? json["Message"] ?? json["errorMessage"])?.stringValue ?? ""
        } else if first == UInt8(ascii: "<"), let xml = try? XMLReader.parse(response.body) {
            let error = xml.name == "Error" ? xml : xml.find("Error")
            code = error?.string("Code")
            message = error?.string("Message") ?? ""
            requestID = requestID ?? xml.find("RequestId")?.text ?? xml.find("RequestID")?.text
        } else if !response.body.isEmpty {
            // Not an AWS error document (an HTML page from a proxy, say): keep a bounded excerpt.
            message = String(String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        if code == nil || code?.isEmpty == true { code = response.header("x-amzn-errortype") }
        return AWSError(
            code: normalize(code) ?? fallbackCode(response.status), message: message, requestID: requestID,
            statusCode: response.status)
    }

    /// `com.amazon.coral.service#ThrottlingException` → `ThrottlingException`;
    /// `ValidationException:http://internal.amazon.com/` → `ValidationException`.
    static func normalize(_ code: String?) -> String? {
        guard var c = code?.trimmingCharacters(in: .whitespaces), !c.isEmpty else { return nil }
        if let hash = c.lastIndex(of: "#") { c = String(c[c.index(after: hash)...]) }
        if let colon = c.firstIndex(of: ":") { c = String(c[..<colon]) }
        return c.isEmpty ? nil : c
    }

    static func fallbackCode(_ status: Int) -> String {
        switch status {
        case 301: return "PermanentRedirect"
        case 304: return "NotModified"
        case 400: return "BadRequest"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 412: return "PreconditionFailed"
        case 429: return "TooManyRequestsException"
        case 500: return "InternalError"
        case 502: return "BadGateway"
        case 503: return "ServiceUnavailable"
        case 504: return "GatewayTimeout"
        default: return "HTTP\(status)"
        }
    }
}
