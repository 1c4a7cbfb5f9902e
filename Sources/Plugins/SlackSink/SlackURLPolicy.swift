import Foundation

/// Which URLs the Slack sink may post to: https only, so a webhook URL or bot token never crosses the network
/// in clear text and a spec or secret cannot point alerts at a plain-http endpoint. The one exception, for
/// tests and local fakes, is plain http to the loopback interface when `PIPELINE_HOST_ALLOW_HTTP_LOOPBACK=1`
/// is set in the host's environment.
enum SlackURLPolicy {
    static let overrideVariable = "PIPELINE_HOST_ALLOW_HTTP_LOOPBACK"

    /// What is wrong with `url` ("is not an https URL", ...), or nil when it may be used. The text never
    /// repeats the URL: for a webhook it is the secret.
    static func problem(_ url: String, allowLoopbackHTTP: Bool) -> String? {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), let host = parts.host, !host.isEmpty else {
            return "is not a URL"
        }
        if scheme == "https" { return nil }
        if scheme == "http" {
            let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased())
            if loopback && allowLoopbackHTTP { return nil }
            return loopback
                ? "is plain http: only https is allowed (\(overrideVariable)=1 allows http to the loopback interface, for tests)"
                : "is plain http: only https is allowed"
        }
        return "is not an https URL (scheme \(scheme))"
    }
}
