import AsyncHTTPClient
import Engine
import Foundation
import Hummingbird
import Jobs
import NIOCore
import NIOHTTP1
import Simulation
import Synchronization
import TestSupport
import Testing
import Worker

/// A send mark whose answer was lost. trade-execution records SUBMITTED before it sends; when the node that
/// appended the mark dies before answering (a failover), the worker must still send the order — it made the mark
/// and never sent it — and never send one twice. Before marks carried the worker's own id, such an order stayed
/// SUBMITTED all day: indistinguishable from another worker's send that KIS had not listed yet, and with no later
/// order to prove it absent (the replication suite's failover saw one of forty orders stuck so).
@Suite struct LostSendMarkTests {
    /// A gateway in front of the real one that forwards everything, but answers the first `lose` SUBMITTED marks
    /// with a 503 after the engine appended them, as a primary killed between its append and its answer.
    final class LosingProxy: Sendable {
        let target: String
        let lose: Mutex<Int>
        let lost = Mutex(0)

        init(target: String, lose: Int) {
            self.target = target
            self.lose = Mutex(lose)
        }

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            let forward: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
                var outbound = HTTPClientRequest(url: self.target + request.uri.description)
                outbound.method = .init(rawValue: request.method.rawValue)
                for field in request.headers where ["authorization", "content-type"].contains(field.name.rawName) {
                    outbound.headers.add(name: field.name.rawName, value: field.value)
                }
                let body = try await request.body.collect(upTo: 1 << 20)
                if request.method == .post { outbound.body = .bytes(body) }
                let answer = try await HTTPClient.shared.execute(outbound, timeout: .seconds(30))
                let bytes = try await answer.body.collect(upTo: 16 << 20)
                let isMark = String(buffer: body).contains(#"{"submitted":"#)
                let loseThis =
                    isMark && answer.status == .ok
                    && self.lose.withLock { left in
                        guard left > 0 else { return false }
                        left -= 1
                        return true
                    }
                if loseThis {
                    self.lost.withLock { $0 += 1 }
                    return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "down")))
                }
                return Response(
                    status: .init(code: Int(answer.status.code)),
                    headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: bytes)
                )
            }
            router.get("**", use: forward)
            router.post("**", use: forward)
            return router
        }
    }

    @Test func anOrderWhoseMarkLostItsAnswerIsSentOnceAndNotLeftSubmitted() async throws {
        try await BrokerRig.with("lostmark", redisDatabase: 36) { broker in
            let engine = broker.engine
            let proxy = LosingProxy(target: broker.rig.url, lose: 2)
            try await withServer(proxy.router()) { port in
                let viaProxy = "http://127.0.0.1:\(port)"
                // 1. One node, which appends the mark and does not answer: the attempt fails (its job is retried).
                let alone = try broker.handler(engine: EngineClient(baseURL: viaProxy, token: broker.workerToken))
                let first = try await broker.buy("005930", quantity: 1, price: 54_000)
                await #expect(throws: (any Error).self) { try await alone.handle(BrokerRig.job(first)) }
                #expect(proxy.lost.withLock { $0 } == 1)
                #expect(try await engine.order(first).status == "SUBMITTED", "the mark was appended")
                #expect(broker.brokerOrders == 0, "and nothing sent")
                // The retry sees its own mark: it sends now instead of waiting all day for a proof.
                #expect(try await alone.handle(BrokerRig.job(first)) == .later(seconds: 0.1))
                let sent = try await engine.order(first)
                #expect(sent.status == "ACCEPTED" && !sent.brokerOrderNumber.isEmpty, "\(sent.status)")
                #expect(broker.brokerOrders == 1)

                // 2. Two nodes: the first appends and does not answer, the worker's retry on the second finds the
                // order already SUBMITTED (409). The next look knows the mark for its own.
                let pair = try broker.handler(
                    engine: EngineClient(baseURL: viaProxy + "," + broker.rig.url, token: broker.workerToken)
                )
                let second = try await broker.buy("000660", quantity: 2, price: 180_000)
                #expect(try await pair.handle(BrokerRig.job(second)) == .later(seconds: 0))
                #expect(proxy.lost.withLock { $0 } == 2)
                #expect(try await engine.order(second).status == "SUBMITTED")
                #expect(broker.brokerOrders == 1)
                #expect(try await pair.handle(BrokerRig.job(second)) == .later(seconds: 0.1))
                #expect(try await engine.order(second).status == "ACCEPTED")
                #expect(broker.brokerOrders == 2)

                // 3. Another worker process (its own marks) finds the first handler's unsent mark: not its own, so
                // unknown — it neither sends nor adopts (nothing at the broker matches), and waits for a proof.
                let third = try await broker.buy("005930", quantity: 3, price: 53_900)
                proxy.lose.withLock { $0 = 1 }
                await #expect(throws: (any Error).self) { try await alone.handle(BrokerRig.job(third)) }
                let other = try broker.handler()
                #expect(try await other.handle(BrokerRig.job(third)) == .later(seconds: 0.1))
                #expect(try await engine.order(third).status == "SUBMITTED")
                #expect(broker.brokerOrders == 2, "another process does not send on a mark it did not make")
                // A mark's sender never sends twice: once sent, the same order's mark is no longer unsent.
                #expect(try await alone.handle(BrokerRig.job(third)) == .later(seconds: 0.1))
                #expect(try await engine.order(third).status == "ACCEPTED")
                #expect(try await alone.handle(BrokerRig.job(third)) == .later(seconds: 0.1))
                #expect(broker.brokerOrders == 3, "each order once at the broker")
            }
        }
    }
}
