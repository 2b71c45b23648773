import Foundation

/// The shared secret between `serve` and `worker` for the gateway's `/internal` routes.
enum WorkerToken {
    static func file(logDirectory: String) -> String { logDirectory + "/worker.token" }

    /// `STOCKBOOM_WORKER_TOKEN` if set; otherwise the token in `<log dir>/worker.token`, created (mode 0600,
    /// 32 random bytes) when missing. Never written to the log.
    static func establish(environment: [String: String], logDirectory: String) throws -> String {
        if let token = environment["STOCKBOOM_WORKER_TOKEN"], !token.isEmpty { return token }
        let path = Self.file(logDirectory: logDirectory)
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return token
    }

    /// What a worker uses: the environment's token or the file's; nil when neither exists.
    static func read(environment: [String: String], logDirectory: String) -> String? {
        if let token = environment["STOCKBOOM_WORKER_TOKEN"], !token.isEmpty { return token }
        return (try? String(contentsOfFile: Self.file(logDirectory: logDirectory), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
