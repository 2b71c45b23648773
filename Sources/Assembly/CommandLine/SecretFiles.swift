import Foundation

/// Secrets from files as well as the environment (Docker secrets, systemd credentials): for each variable
/// below, `NAME_FILE=/run/secrets/name` sets `NAME` to the file's contents (one trailing newline dropped) before
/// any part of the program reads its environment. Setting both `NAME` and `NAME_FILE` is refused, as is a file
/// that is missing, empty, larger than 64 KiB or holds control characters: a secret is never half-read.
public enum SecretFiles {
    /// The variables that may come from a file.
    public static let names = [
        "JWT_SECRET", "JWT_SECRET_PREVIOUS", "STOCKBOOM_SECRETS_KEY", "STOCKBOOM_SECRETS_KEY_PREVIOUS",
        "STOCKBOOM_WORKER_TOKEN", "STOCKBOOM_WORKER_TOKEN_PREVIOUS", "STOCKBOOM_METRICS_TOKEN", "DATABASE_URL",
        "REDIS_URL", "SMTP_PASS", "KIS_APP_KEY", "KIS_APP_SECRET", "NOTIFY_WEBHOOK_URL",
    ]
    static let bytesMax = 64 << 10

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The values `environment`'s `NAME_FILE` variables give, by name (nothing is set).
    public static func values(_ environment: [String: String]) throws(Failure) -> [String: String] {
        var values: [String: String] = [:]
        for name in Self.names {
            guard let path = environment[name + "_FILE"], !path.isEmpty else { continue }
            if let direct = environment[name], !direct.isEmpty {
                throw Failure(description: "both \(name) and \(name)_FILE are set: keep one")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(description: "\(name)_FILE: cannot read \(path)")
            }
            guard data.count <= Self.bytesMax else {
                throw Failure(description: "\(name)_FILE: \(path) is larger than \(Self.bytesMax) bytes")
            }
            var text = String(decoding: data, as: UTF8.self)
            if text.last == "\n" || text.last == "\r\n" { text.removeLast() }  // "\r\n" is one Character
            guard !text.isEmpty else { throw Failure(description: "\(name)_FILE: \(path) is empty") }
            guard
                text.unicodeScalars.allSatisfy({ !CharacterSet.controlCharacters.contains($0) }),
                !text.contains("\u{FFFD}")
            else {
                throw Failure(
                    description: "\(name)_FILE: \(path) holds control characters or bytes that are not UTF-8"
                )
            }
            values[name] = text
        }
        return values
    }

    /// Sets every `NAME` its `NAME_FILE` gives, in this process's environment.
    public static func load() throws(Failure) {
        for (name, value) in try Self.values(ProcessInfo.processInfo.environment) { setenv(name, value, 1) }
    }
}
