import Hummingbird
import Simulation

/// Runs a router on a loopback port until `body` returns.
func withServer<T: Sendable>(_ router: Router<BasicRequestContext>, _ body: @Sendable (Int) async throws -> T)
    async throws -> T
{
    try await LoopbackServer.with(router, body)
}
