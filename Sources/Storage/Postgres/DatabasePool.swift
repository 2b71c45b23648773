import Synchronization

/// At most `size` PostgreSQL connections, lent one job at a time; the job itself runs on `BlockingPool`
/// (a blocking libpq call never runs on the cooperative pool).
///
/// `run` waits for a free connection (first come, first served), then runs the closure with it. Connections
/// open lazily, so a server that is down does not stop start-up; one that has lost its server is replaced
/// on its next job.
public final class DatabasePool: Sendable {
    private struct State {
        var idle: [PostgresConnection] = []
        var lent = 0
        var waiting: [CheckedContinuation<PostgresConnection?, any Error>] = []
        var stopped = false
    }

    private let url: String
    private let state = Mutex(State())
    public let size: Int

    public init(url: String, size: Int = 4) {
        precondition(size > 0)
        self.url = url
        self.size = size
    }

    /// Runs `body` with a connection on the blocking pool and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let lent = try await self.borrow()
        let url = self.url
        do {
            let (value, connection) = try await blocking {
                let connection = try lent.flatMap { $0.isHealthy ? $0 : nil } ?? PostgresConnection(url: url)
                do {
                    return (try body(connection), connection)
                } catch {
                    throw Failed(error: error, connection: connection)
                }
            }
            self.giveBack(connection)
            return value
        } catch let failure as Failed {
            self.giveBack(failure.connection)
            throw failure.error
        } catch {  // the connection could not be opened
            self.giveBack(nil)
            throw error
        }
    }

    /// Fails waiting and later `run` calls and closes the idle connections; jobs under way finish.
    public func stop() {
        let waiting = self.state.withLock { state in
            state.stopped = true
            state.idle.removeAll()
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for waiter in waiting { waiter.resume(throwing: Self.stopped) }
    }

    private static let stopped = PostgresError(sqlState: nil, message: "the database pool is stopped")

    private struct Failed: Error {
        let error: any Error
        let connection: PostgresConnection
    }

    /// A connection to use (nil: open one), after waiting for a free place when all `size` are lent.
    private func borrow() async throws -> PostgresConnection? {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<PostgresConnection?, any Error>? = self.state.withLock { state in
                if state.stopped { return .failure(Self.stopped) }
                if state.lent < self.size {
                    state.lent += 1
                    return .success(state.idle.popLast())
                }
                state.waiting.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Hands the place (and the connection, when healthy) to the next waiter, else back to the pool.
    private func giveBack(_ connection: PostgresConnection?) {
        let usable = connection?.isHealthy == true ? connection : nil
        let waiter: CheckedContinuation<PostgresConnection?, any Error>? = self.state.withLock { state in
            if !state.waiting.isEmpty { return state.waiting.removeFirst() }
            state.lent -= 1
            if let usable, !state.stopped { state.idle.append(usable) }
            return nil
        }
        waiter?.resume(returning: usable)
    }
}
