import Foundation

/// The INI dialect of `~/.aws/credentials` and `~/.aws/config`.
///
/// In the config file profiles are `[profile name]` (except `[default]`); in the credentials file they are
/// `[name]`. Comment lines start with `#` or `;`; indented lines are sub-properties (e.g. `s3 =` blocks) and
/// are skipped.
public struct ProfileFile: Sendable {
    public enum Kind: Sendable { case credentials, config }

    /// Profile name → lower-cased key → value.
    public private(set) var profiles: [String: [String: String]] = [:]

    public init(text: String, kind: Kind) {
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if let first = rawLine.first, first == " " || first == "\t" { continue }
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else { current = nil; continue }
                let header = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                current = Self.profileName(header, kind: kind)
                if let current, profiles[current] == nil { profiles[current] = [:] }
                continue
            }
            guard let current, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            profiles[current, default: [:]][key] = value
        }
    }

    static func profileName(_ header: String, kind: Kind) -> String? {
        switch kind {
        case .credentials:
            return header.isEmpty ? nil : header
        case .config:
            if header == "default" { return header }
            guard header.hasPrefix("profile ") || header.hasPrefix("profile\t") else { return nil }
            let name = header.dropFirst("profile".count).trimmingCharacters(in: .whitespaces)
            return name.isEmpty ? nil : name
        }
    }

    /// Reads a file; a missing file is an empty profile set (the SDKs treat it the same way).
    public static func load(path: String, kind: Kind) -> ProfileFile {
        guard let data = FileManager.default.contents(atPath: path) else { return ProfileFile(text: "", kind: kind) }
        return ProfileFile(text: String(decoding: data, as: UTF8.self), kind: kind)
    }
}

/// Where the shared files and the selected profile are, from the environment.
public struct ProfileLocation: Sendable {
    public var profile: String
    public var credentialsPath: String
    public var configPath: String

    public init(profile: String? = nil, credentialsPath: String? = nil, configPath: String? = nil, environment: [String: String]) {
        let home = environment["HOME"] ?? NSHomeDirectory()
        func expand(_ p: String) -> String { p.hasPrefix("~/") ? home + p.dropFirst(1) : p }
        self.profile = profile ?? environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        self.credentialsPath = expand(credentialsPath ?? environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "~/.aws/credentials")
        self.configPath = expand(configPath ?? environment["AWS_CONFIG_FILE"] ?? "~/.aws/config")
    }

    /// Settings of the selected profile: config file first, credentials file overriding it.
    public func settings() -> [String: String] {
        var merged = ProfileFile.load(path: configPath, kind: .config).profiles[profile] ?? [:]
        for (k, v) in ProfileFile.load(path: credentialsPath, kind: .credentials).profiles[profile] ?? [:] { merged[k] = v }
        return merged
    }
}
