import AWSCore
import PipelineHost

/// A failure talking to the Runtime API itself (not a function error): the loop cannot go on.
public struct LambdaRuntimeError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "lambda runtime API: \(message)" }
}

/// The four calls of the Lambda Runtime API (2018-06-01) over the host's libcurl client.
///
/// `GET /runtime/invocation/next` has no client timeout: Lambda freezes the process between invocations and
/// the call returns when the next event arrives.
public final class LambdaRuntimeClient: Sendable {
    public let baseURL: String
    let http: HTTPClient

    /// - Parameter api: the value of `AWS_LAMBDA_RUNTIME_API` (`host:port`).
    public init(api: String, http: HTTPClient) {
        baseURL = "http://\(api)/2018-06-01"
        self.http = http
    }

    public func next() async throws -> LambdaInvocation {
        let response = try await http.execute(
            HTTPRequest(method: "GET", url: baseURL + "/runtime/invocation/next", timeout: .seconds(365 * 86400)))
        guard response.status == 200 else {
            throw LambdaRuntimeError("GET /runtime/invocation/next answered HTTP \(response.status): \(Self.snippet(response.body))")
        }
        guard let id = response.header("Lambda-Runtime-Aws-Request-Id"), !id.isEmpty else {
            throw LambdaRuntimeError("GET /runtime/invocation/next answered without Lambda-Runtime-Aws-Request-Id")
        }
        return LambdaInvocation(
            requestID: id,
            deadlineMs: response.header("Lambda-Runtime-Deadline-Ms").flatMap { Int64($0) },
            functionARN: response.header("Lambda-Runtime-Invoked-Function-Arn"),
            traceID: response.header("Lambda-Runtime-Trace-Id"),
            event: response.body)
    }

    public func respond(requestID: String, body: [UInt8]) async throws {
        try await post("/runtime/invocation/\(Self.pathSegment(requestID))/response", body: body, headers: [])
    }

    public func fail(requestID: String, errorType: String, errorMessage: String) async throws {
        try await post("/runtime/invocation/\(Self.pathSegment(requestID))/error",
                       body: Self.errorBody(errorType: errorType, errorMessage: errorMessage),
                       headers: [("Lambda-Runtime-Function-Error-Type", errorType)])
    }

    public func initError(errorType: String, errorMessage: String) async throws {
        try await post("/runtime/init/error", body: Self.errorBody(errorType: errorType, errorMessage: errorMessage),
                       headers: [("Lambda-Runtime-Function-Error-Type", errorType)])
    }

    static func errorBody(errorType: String, errorMessage: String) -> [UInt8] {
        var w = JSONWriter()
        w.write(.object([("errorMessage", .string(errorMessage)), ("errorType", .string(errorType)), ("stackTrace", .array([]))]))
        return w.bytes
    }

    private func post(_ path: String, body: [UInt8], headers: [(String, String)]) async throws {
        let response = try await http.execute(
            HTTPRequest(method: "POST", url: baseURL + path, headers: [("Content-Type", "application/json")] + headers, body: body,
                        timeout: .seconds(30)))
        // 202 Accepted; 400/403/413 (payload too large) and 500 are reported, not retried: the invocation is lost
        // to the runtime either way, and Lambda will time it out and retry the event.
        guard (200..<300).contains(response.status) else {
            throw LambdaRuntimeError("POST \(path) answered HTTP \(response.status): \(Self.snippet(response.body))")
        }
    }

    /// Request ids are UUIDs; anything else is percent-encoded so it cannot change the path.
    static func pathSegment(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isLetter && b < 0x80 || c.isNumber && b < 0x80 || c == "-" || c == "_" || c == "." || c == "~" { out.append(c) } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    static func snippet(_ body: [UInt8]) -> String {
        let s = String(decoding: body.prefix(200), as: UTF8.self)
        return s.isEmpty ? "(empty body)" : s
    }
}

extension String {
    fileprivate func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
