public import Hummingbird
import Synchronization

/// Serves a router (a fake broker) on a free loopback port for as long as `body` runs.
public enum LoopbackServer {
    public struct NotStarted: Error {}

    public static func with<T: Sendable>(
        _ router: Router<BasicRequestContext>,
        _ body: @Sendable (_ port: Int) async throws -> T
    ) async throws -> T {
        let port = Mutex<Int?>(nil)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                port.withLock { $0 = channel.localAddress?.port }
            }
        )
        let server = Task(executorPreference: DedicatedExecutor.servers) { try await app.run() }
        defer { server.cancel() }
        for _ in 0..<500 where port.withLock({ $0 }) == nil { try await Task.sleep(nanoseconds: 10_000_000) }
        guard let bound = port.withLock({ $0 }) else { throw NotStarted() }
        return try await body(bound)
    }
}
