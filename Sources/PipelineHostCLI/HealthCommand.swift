import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `pipeline-host health`: the container health check (the image has no curl). GETs /health from the admin
/// server and exits 0 on HTTP 200, 1 otherwise with one line on stderr saying why.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health", abstract: "Checks a running host's /health (exit 0 when healthy, 1 otherwise); for container health checks.")

    @Option(name: .long, help: "host:port of the admin server (default: $ADMIN_ADDRESS, else 127.0.0.1:9090; 0.0.0.0 is probed on 127.0.0.1).")
    var address: String?
    @Option(name: .long, help: "Seconds to wait for the answer.") var timeout: Double = 3

    func run() async throws {
        let target = address ?? ProcessInfo.processInfo.environment["ADMIN_ADDRESS"] ?? "127.0.0.1:9090"
        do {
            let status = try HealthProbe.get(address: target, path: "/health", timeout: timeout)
            guard status == 200 else {
                FileHandle.standardError.write(Data("unhealthy: GET http://\(target)/health answered HTTP \(status)\n".utf8))
                throw ExitCode(1)
            }
        } catch let e as HealthProbe.Failure {
            FileHandle.standardError.write(Data("unhealthy: GET http://\(target)/health: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// A minimal HTTP/1.1 GET over a socket with a deadline, returning the status code.
enum HealthProbe {
    struct Failure: Error { let message: String }

    /// A socket connected to the admin server at `address` (host:port; 0.0.0.0 and :: are probed on loopback),
    /// with `timeout` on connect, send and receive; and the host name for the Host header.
    static func connect(address: String, timeout: Double) throws -> (Int32, String) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw Failure(message: "expected host:port, got \"\(address)\"")
        }
        var host = String(address[..<colon])
        if host == "0.0.0.0" || host.isEmpty { host = "127.0.0.1" }
        if host == "::" || host == "[::]" { host = "::1" }
        host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))

        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let info = list else {
            throw Failure(message: "cannot resolve \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(message: "socket: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // connect(2) honours SO_SNDTIMEO on Linux, so a host that drops SYNs fails within the timeout too.
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(message: "cannot connect: \(reason)")
        }
        return (fd, host)
    }

    static func get(address: String, path: String, timeout: Double) throws -> Int {
        let (fd, host) = try connect(address: address, timeout: timeout)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw Failure(message: "cannot send: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !response.contains(0x0A) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw Failure(message: errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within \(timeout)s" : String(cString: strerror(errno))) }
            if n == 0 { break }
            response += buffer[0..<n]
        }
        let line = String(decoding: response.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw Failure(message: "not an HTTP answer: \"\(line.prefix(80))\"")
        }
        return status
    }
}
