import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOHTTP1
import Runtime
import Simulation
import Synchronization
import TestSupport
import Testing

/// A fake served inside the test process answers on threads of its own (`DedicatedExecutor`): the stop of
/// 2026-12-07 lost two CI runs to a KIS fake that took over 10 s to issue a token while other suites held
/// both threads of the cooperative pool.
/// Serialized: the first test fills the cooperative pool on purpose, which would stall the other's body.
@Suite(.serialized) struct LoopbackServerTests {
    @Test func aFakeAnswersWhileEveryCooperativeThreadIsBusy() async throws {
        let answered = Flag()
        let onServersExecutor = Flag()
        let router = Router()
        router.get("ping") { _, _ in
            let own = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
            if own == DedicatedExecutor.servers.asUnownedTaskExecutor() { onServersExecutor.raise() }
            answered.raise()
            return "pong"
        }
        try await LoopbackServer.with(router) { port in
            // Sent on NIO's threads; the answer needs the server's handler to run somewhere.
            let response = HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/ping")
            // The cooperative pool held, as a long test or a CPU-bound projection would, until the answer exists.
            let endedByAnswer = await spinEveryCooperativeThread(until: answered)
            #expect(endedByAnswer, "the handler waited for the cooperative pool")
            let body = try await response.get().body.map { String(buffer: $0) }
            #expect(body == "pong")
            #expect(onServersExecutor.isRaised)
        }
    }

    /// The server stops by a graceful shutdown, not by the cancellation that once deadlocked (RELIABILITY.md):
    /// with a client's pooled keep-alive connection open, the port stops taking connections — when `with` returns,
    /// or soon after if the stop outlasted its wait (how long depends on the cooperative pool, where Hummingbird
    /// runs its shutdown: under a full test run it took 6.8 s once) — and an error of the body comes out as it was
    /// thrown.
    @Test func itStopsGracefullyWithAKeepAliveConnectionOpen() async throws {
        struct Failed: Error {}
        let router = Router()
        router.get("ping") { _, _ in "pong" }
        let served = Mutex(0)
        do {
            try await LoopbackServer.with(router) { port in
                served.withLock { $0 = port }
                #expect(loopbackPortAccepts(port))
                for _ in 0..<3 {  // one pooled connection, kept alive between the requests
                    let response = try await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/ping").get()
                    #expect(response.status == .ok)
                }
                throw Failed()
            }
            Issue.record("the body's error was lost")
        } catch is Failed {}
        let port = served.withLock { $0 }
        let deadline = ContinuousClock.now + .seconds(60)
        while loopbackPortAccepts(port), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!loopbackPortAccepts(port), "the server still listens a minute after the body's end")
    }
}
