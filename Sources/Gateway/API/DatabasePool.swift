public import Projections
import Foundation
import Synchronization

/// A fixed set of PostgreSQL connections, each owned by a thread of its own, serving blocking libpq work
/// off the cooperative pool (SWIFT-NOTES: a blocking C call must never run on one of its two threads).
///
/// `run` queues the closure; the next free thread runs it with its connection. A connection that fails
/// with a connection-level error is replaced on the next job.
public final class DatabasePool: Sendable {
    private struct Job: Sendable {
        let body: @Sendable (PostgresConnection) -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var jobs: [Job] = []
        var head = 0
        var stopped = false
    }

    private let url: String
    private let state = Mutex(State())
    private let condition = NSCondition()
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
            let job = Job(
                body: { connection in
                    do { continuation.resume(returning: try body(connection)) } catch { continuation.resume(throwing: error) }
                },
                fail: { continuation.resume(throwing: $0) }
            )
            let accepted = self.state.withLock { state -> Bool in
                guard !state.stopped else { return false }
                state.jobs.append(job)
                return true
            }
            guard accepted else {
                job.fail(problem(503, "the database pool is stopped"))
                return
            }
            self.condition.lock()
            self.condition.signal()
            self.condition.unlock()
        }
    }

    /// Stops the threads after the queued jobs; later `run` calls fail.
    public func stop() {
        self.state.withLock { $0.stopped = true }
        self.condition.lock()
        self.condition.broadcast()
        self.condition.unlock()
    }

    private func take() -> Job?? {
        self.state.withLock { state -> Job?? in
            if state.head < state.jobs.count {
                let job = state.jobs[state.head]
                state.head += 1
                if state.head > 1024 && state.head * 2 > state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return .some(job)
            }
            return state.stopped ? .none : .some(nil)
        }
    }

    private func work() {
        var connection: PostgresConnection?
        while true {
            self.condition.lock()
            var next = self.take()
            while case .some(nil) = next {
                self.condition.wait()
                next = self.take()
            }
            self.condition.unlock()
            guard case .some(.some(let job)) = next else { return }
            if connection == nil || connection?.isHealthy == false {
                do {
                    connection = try PostgresConnection(url: self.url)
                } catch {
                    connection = nil
                    job.fail(error)
                    continue
                }
            }
            job.body(connection!)
        }
    }
}
