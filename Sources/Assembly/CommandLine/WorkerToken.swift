import Foundation

/// The shared secret between `serve` and `worker` for the gateway's `/internal` routes.
public enum WorkerToken {
    public static func file(logDirectory: String) -> String { logDirectory + "/worker.token" }

    /// `STOCKBOOM_WORKER_TOKEN` if set; otherwise the token in `<log dir>/worker.token`, created (mode 0600,
    /// 32 random bytes) when missing. Never written to the log.
    public static func establish(environment: [String: String], logDirectory: String) throws -> String {
        if let token = environment["STOCKBOOM_WORKER_TOKEN"], !token.isEmpty { return token }
        return try Self.randomValue(in: Self.file(logDirectory: logDirectory), bytes: 32)
    }

    /// The value kept in `path`, or a new random one (hex, mode 0600) when the file is missing or empty.
    public static func randomValue(in path: String, bytes: Int) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        ), !existing.isEmpty {
            return existing
        }
        var generator = SystemRandomNumberGenerator()
        let value = (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }
            .joined()
        guard
            FileManager.default.createFile(
                atPath: path,
                contents: Data((value + "\n").utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return value
    }

    /// What a worker uses: the environment's token or the file's; nil when neither exists.
    public static func read(environment: [String: String], logDirectory: String) -> String? {
        if let token = environment["STOCKBOOM_WORKER_TOKEN"], !token.isEmpty { return token }
        return (try? String(contentsOfFile: Self.file(logDirectory: logDirectory), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// This installation's id, in every session token it issues (`SessionClaims.ins`). Kept in
/// `<log dir>/INSTALLATION`, which backups do not copy: a log restored from a backup (or a new log) is a new
/// installation, and tokens issued before are refused there — its user ids may belong to other people.
public enum Installation {
    public static func id(logDirectory: String) throws -> String {
        try WorkerToken.randomValue(in: logDirectory + "/INSTALLATION", bytes: 16)
    }
}
