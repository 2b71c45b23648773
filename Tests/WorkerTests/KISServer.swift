import Foundation
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// Runs a router on a loopback port until `body` returns.
func withServer<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (Int) async throws -> T)
    async throws -> T
{
    let port = Mutex<Int?>(nil)
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            port.withLock { $0 = channel.localAddress?.port }
        }
    )
    let server = Task { try await app.run() }
    defer { server.cancel() }
    for _ in 0..<500 where port.withLock({ $0 }) == nil { try await Task.sleep(nanoseconds: 10_000_000) }
    let bound = try #require(port.withLock { $0 })
    return try await body(bound)
}
