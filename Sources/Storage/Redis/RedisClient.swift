import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A Redis connection that reconnects: a call on a lost connection throws (the caller cannot know whether
/// the command ran) and drops it; the next call connects again, no sooner than the back-off allows
/// (0.1 s doubling to 5 s while connecting keeps failing). `AUTH` and `SELECT` come from the endpoint
/// (`REDIS_URL`). Blocking: use it from a thread of its own, never from the cooperative pool.
public final class RedisClient: Sendable {
    public let endpoint: RedisEndpoint
    private struct State {
        var connection: RedisConnection?
        var failures = 0
        var nextAttempt: UInt64 = 0
    }
    private let state = Mutex(State())
    public let timeoutSeconds: Int

    public init(endpoint: RedisEndpoint, timeoutSeconds: Int = 5) {
        self.endpoint = endpoint
        self.timeoutSeconds = timeoutSeconds
    }

    /// Whether a connection is open now (after the last call).
    public var isConnected: Bool { self.state.withLock { $0.connection != nil } }

    private func connection() throws(RedisError) -> RedisConnection {
        try self.state.withLock { state throws(RedisError) -> RedisConnection in
            if let connection = state.connection { return connection }
            let now = Self.monotonicNanos()
            guard now >= state.nextAttempt else {
                throw RedisError(
                    message:
                        "not connected to \(self.endpoint.host):\(self.endpoint.port) (retrying in \((state.nextAttempt - now) / 1_000_000) ms)"
                )
            }
            do throws(RedisError) {
                let connection = try RedisConnection(endpoint: self.endpoint, timeoutSeconds: self.timeoutSeconds)
                state.connection = connection
                state.failures = 0
                return connection
            } catch {
                state.failures += 1
                state.nextAttempt = now + min(100_000_000 << UInt64(min(state.failures - 1, 6)), 5_000_000_000)
                throw error
            }
        }
    }

    private func drop(_ connection: RedisConnection) {
        self.state.withLock { state in
            if state.connection === connection { state.connection = nil }
        }
    }

    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        let connection = try self.connection()
        do throws(RedisError) {
            return try connection.pipeline(commands)
        } catch {
            self.drop(connection)
            throw error
        }
    }

    public func command(bytes arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        try self.pipeline([arguments])[0]
    }

    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try self.command(bytes: arguments.map { Array($0.utf8) })
    }

    static func monotonicNanos() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
