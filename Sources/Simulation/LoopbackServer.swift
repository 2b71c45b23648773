public import Hummingbird
import Logging
import Runtime
import ServiceLifecycle
import Synchronization

/// Serves a router (a fake broker) on a free loopback port for as long as `body` runs.
public enum LoopbackServer {
    public struct NotStarted: Error {}

    /// How long `with` waits for the graceful shutdown (connections finishing their request) before it returns
    /// without it.
    public static let shutdownGrace: Duration = .seconds(5)

    public static func with<T: Sendable>(
        _ router: Router<BasicRequestContext>,
        _ body: @Sendable (_ port: Int) async throws -> T
    ) async throws -> T {
        let port = Mutex<Int?>(nil)
        let logger = Logger(label: "loopback-server")
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port }
            },
            logger: logger
        )
        // Stopped by a graceful shutdown, never by cancelling its task: cancelling a task that runs with an executor
        // preference while its connections' task group ran cancellation handlers once deadlocked in the concurrency
        // runtime (RELIABILITY.md).
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger)
        )
        let server = Task(executorPreference: DedicatedExecutor.servers) { try await group.run() }
        let result: Result<T, any Error>
        do {
            for _ in 0..<500 where port.withLock({ $0 }) == nil { try await Task.sleep(nanoseconds: 10_000_000) }
            guard let bound = port.withLock({ $0 }) else { throw NotStarted() }
            result = .success(try await body(bound))
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        // A request still running after `shutdownGrace` (a handler delaying its answer to a client the test has
        // killed) is left to finish by itself, and the server's shutdown with it; `with` returns.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = ResumeOnce(continuation)
            Task {
                _ = await server.result
                waiting.resume()
            }
            Task {
                try? await Task.sleep(for: Self.shutdownGrace)
                waiting.resume()
            }
        }
        return try result.get()
    }
}

/// A continuation the first of several callers resumes.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>

    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }

    func resume() { self.continuation.withLock { $0.take() }?.resume() }
}
