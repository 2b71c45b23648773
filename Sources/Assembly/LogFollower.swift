import Logging
import ServiceLifecycle
import Storage

/// A part that follows the log into another store (the projections into PostgreSQL, the dispatcher into
/// Redis), as a service: each pass runs on the blocking pool; between passes it waits `pollMilliseconds`
/// unless the pass stopped short of the head; a failed pass is logged, `recover` runs, and the next waits
/// with back-off (0.1 s doubling to 5 s). Graceful shutdown lets the pass under way finish (its checkpoint
/// commits), then returns.
struct LogFollower: Service {
    let name: String
    let logger: Logger
    let pollMilliseconds: Int
    let pass: @Sendable () throws -> Bool
    let recover: @Sendable () -> Void

    /// - Parameter pass: one pass; true when it stopped short of the head (go on at once).
    init(
        name: String,
        logger: Logger,
        pollMilliseconds: Int = 20,
        pass: @escaping @Sendable () throws -> Bool,
        recover: @escaping @Sendable () -> Void = {}
    ) {
        self.name = name
        self.logger = logger
        self.pollMilliseconds = pollMilliseconds
        self.pass = pass
        self.recover = recover
    }

    func run() async throws {
        var backoff = 100
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait = self.pollMilliseconds
            do {
                let pass = self.pass
                if try await blocking({ try pass() }) { wait = 0 }
                backoff = 100
            } catch {
                self.logger.error("\(self.name) error, retrying", metadata: ["error": "\(error)"])
                let recover = self.recover
                _ = try? await blocking { recover() }
                wait = backoff
                backoff = min(backoff * 2, 5_000)
            }
            if wait > 0 { try? await Task.sleep(for: .milliseconds(wait)) }
        }
    }
}
