public import Projections
import Foundation

/// A fixed set of PostgreSQL connections, each owned by a thread of its own, serving blocking libpq work
/// off the cooperative pool (SWIFT-NOTES: a blocking C call must never run on one of its two threads).
///
/// `run` queues the closure; the next free thread runs it with its connection. A connection that has
/// lost its server is replaced on the next job.
public final class DatabasePool: @unchecked Sendable {
    // @unchecked: `jobs` and `stopped` are only touched with `condition` locked.
    private typealias Job = (body: @Sendable (PostgresConnection) -> Void, fail: @Sendable (any Error) -> Void)

    private let url: String
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var stopped = false
    public let size: Int

    /// Starts `size` threads; connections open lazily, so a server that is down does not stop start-up.
    public init(url: String, size: Int = 4) {
        precondition(size > 0)
        self.url = url
        self.size = size
        for number in 0..<size {
            let thread = Thread { [self] in self.work() }
            thread.name = "db-\(number)"
            thread.start()
        }
    }

    /// Runs `body` with a connection on a pool thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: Job = (
                body: { connection in
                    do { continuation.resume(returning: try body(connection)) } catch { continuation.resume(throwing: error) }
                },
                fail: { continuation.resume(throwing: $0) }
            )
            self.condition.lock()
            let accepted = !self.stopped
            if accepted {
                self.jobs.append(job)
                self.condition.signal()
            }
            self.condition.unlock()
            if !accepted { job.fail(problem(503, "the database pool is stopped")) }
        }
    }

    /// Stops the threads after the queued jobs; later `run` calls fail.
    public func stop() {
        self.condition.lock()
        self.stopped = true
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// The next job, waiting for one; nil once stopped and drained.
    private func next() -> Job? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.jobs.isEmpty && !self.stopped { self.condition.wait() }
        return self.jobs.isEmpty ? nil : self.jobs.removeFirst()
    }

    private func work() {
        var connection: PostgresConnection?
        while let job = self.next() {
            if connection?.isHealthy != true {
                do {
                    connection = try PostgresConnection(url: self.url)
                } catch {
                    connection = nil
                    job.fail(error)
                    continue
                }
            }
            job.body(connection!)  // set just above
        }
    }
}
