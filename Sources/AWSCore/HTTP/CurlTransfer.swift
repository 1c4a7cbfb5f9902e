import CCurl
import Foundation
import Synchronization

/// One request on one curl easy handle, plus the buffers curl reads from and writes to.
///
/// After `CurlMultiLoop.submit`, only the loop thread touches the mutable fields; `cancelled` is the one
/// field other threads write, hence atomic. That single-owner rule is why `@unchecked Sendable` is sound.
final class CurlTransfer: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// curl does not copy CURLOPT_POSTFIELDS: the body must outlive the transfer, so the transfer owns it.
    private let requestBody: UnsafeMutableBufferPointer<UInt8>
    private var errorBuffer: UnsafeMutablePointer<CChar>

    var status = 0
    var responseHeaders: [(String, String)] = []
    var responseBody: [UInt8] = []
    let maxResponseBytes: Int
    /// Set by the body callback when the cap was hit (curl then ends the transfer with a write error).
    var tooLarge = false
    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    let cancelled = Atomic<Bool>(false)

    init(_ request: HTTPRequest) throws(HTTPClientError) {
        guard let easy = curl_easy_init() else { throw HTTPClientError(.other, "curl_easy_init failed") }
        self.easy = easy
        maxResponseBytes = request.maxResponseBytes
        requestBody = .allocate(capacity: max(request.body.count, 1))
        _ = requestBody.initialize(from: request.body)
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        try configure(request)
    }

    deinit {
        curl_easy_cleanup(easy)
        curl_slist_free_all(headerList)
        requestBody.deallocate()
        errorBuffer.deallocate()
    }

    private func check(_ code: CURLcode, _ what: String) throws(HTTPClientError) {
        guard code == CURLE_OK else {
            throw HTTPClientError(.invalidRequest, "\(what): \(String(cString: curl_easy_strerror(code)))", curlCode: Int(code.rawValue))
        }
    }

    private func configure(_ request: HTTPRequest) throws(HTTPClientError) {
        try check(ccurl_easy_setopt_string(easy, CURLOPT_URL, request.url), "URL")
        let method = request.method.uppercased()
        let hasBody = !request.body.isEmpty || ["POST", "PUT", "PATCH"].contains(method)
        switch method {
        case "GET" where !hasBody:
            try check(ccurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1), "GET")
        case "HEAD":
            try check(ccurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1), "HEAD")
        default:
            if method != "POST" { try check(ccurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method), "method") }
        }
        if hasBody {
            try check(ccurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)), "body size")
            try check(ccurl_easy_setopt_pointer(easy, CURLOPT_POSTFIELDS, requestBody.baseAddress), "body")
        }

        var list: UnsafeMutablePointer<curl_slist>?
        var hasContentType = false
        for (name, value) in request.headers {
            if name.lowercased() == "content-type" { hasContentType = true }
            // "Name;" is curl's syntax for a header with an empty value ("Name:" would remove the header).
            let line = value.isEmpty ? "\(name);" : "\(name): \(value)"
            list = curl_slist_append(list, line)
        }
        // No "Expect: 100-continue" round trip, and no form content type curl would invent for POSTFIELDS.
        list = curl_slist_append(list, "Expect:")
        if hasBody && !hasContentType { list = curl_slist_append(list, "Content-Type:") }
        headerList = list
        try check(ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "headers")

        try check(ccurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout.milliseconds)), "connect timeout")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds)), "timeout")
        // TLS verification stays on whatever the caller asks: these options are set, never relaxed.
        try check(ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 1), "verify peer")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 2), "verify host")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "nosignal")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1), "keepalive")
        try check(ccurl_easy_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0), "redirects")
        // Only http and https, whatever a URL from the environment or a spec says (no file://, gopher://, …).
        try check(ccurl_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"), "protocols")
        try check(ccurl_easy_setopt_string(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"), "redirect protocols")
        // A declared Content-Length over the cap fails before the body is read.
        try check(ccurl_easy_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maxResponseBytes)), "response size cap")
        try check(ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer), "error buffer")

        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(ccurl_easy_setopt_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteBody), "write callback")
        try check(ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, me), "write data")
        try check(ccurl_easy_setopt_callback(easy, CURLOPT_HEADERFUNCTION, curlWriteHeader), "header callback")
        try check(ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, me), "header data")
    }

    /// Called on the loop thread when curl reports the transfer done.
    func complete(_ code: CURLcode) {
        guard let continuation else { return }
        self.continuation = nil
        if code == CURLE_OK {
            var responseCode = 0
            _ = ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &responseCode)
            continuation.resume(returning: HTTPResponse(status: responseCode, headers: responseHeaders, body: responseBody))
        } else {
            continuation.resume(throwing: error(for: code))
        }
    }

    func fail(_ error: HTTPClientError) {
        guard let continuation else { return }
        self.continuation = nil
        continuation.resume(throwing: error)
    }

    private func error(for code: CURLcode) -> HTTPClientError {
        if tooLarge || code == CURLE_FILESIZE_EXCEEDED {
            return HTTPClientError(.responseTooLarge, "the response body is larger than \(maxResponseBytes) bytes", curlCode: Int(code.rawValue))
        }
        let detail = errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        let kind: HTTPClientError.Kind
        switch code {
        case CURLE_COULDNT_CONNECT: kind = .connectFailed
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .dnsFailure
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            kind = .connectionReset
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR:
            kind = .tls
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: kind = .invalidRequest
        default: kind = .other
        }
        return HTTPClientError(kind, detail, curlCode: Int(code.rawValue))
    }

    fileprivate func appendHeaderLine(_ line: UnsafeRawBufferPointer) {
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("HTTP/") {
            // A new status line (after 100 Continue or a proxy CONNECT): headers so far belong to another response.
            responseHeaders.removeAll()
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = text[..<colon].lowercased()
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        responseHeaders.append((name, value))
    }
}

// C callbacks live here, in a library file (not main.swift), so they carry no actor isolation.

private let curlWriteBody: ccurl_data_callback = { data, size, count, context in
    let length = size * count
    guard let data, let context, length > 0 else { return length }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    // A chunked body declares no length: count as it arrives, and stop the transfer (a short count) at the cap.
    guard transfer.responseBody.count + length <= transfer.maxResponseBytes else {
        transfer.tooLarge = true
        return 0
    }
    transfer.responseBody.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}

private let curlWriteHeader: ccurl_data_callback = { data, size, count, context in
    let length = size * count
    guard let data, let context, length > 0 else { return length }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    transfer.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
    return length
}
