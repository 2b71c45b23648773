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
        let (rig, sink) = try await WorkerEndToEndTests.rig("lostmark", redisDatabase: 36)
        defer { sink.killed() }
        let mock = KISFake(now: WorkerEndToEndTests.session)
        mock.state.withLock {
            $0.rateLimit = 200
            $0.bucket.tokens = 200
            $0.fillImmediately = false
        }
        try await withServer(mock.router()) { kis in
            let serve = try await WorkerEndToEndTests.serve(rig)
            let (token, account, workerToken) = try await WorkerEndToEndTests.reconciledTrader(rig, mock, kis: kis)
            let engine = EngineClient(baseURL: rig.url, token: workerToken)
            let brokerOrders: @Sendable () -> Int = {
                mock.state.withLock { $0.orders.filter { $0.original.isEmpty }.count }
            }
            @Sendable func job(_ order: String) -> Job {
                Job(queue: .tradeExecution, id: "lostmark-\(order)", data: #"{"order":"\#(order)"}"#)
            }
            let proxy = LosingProxy(target: rig.url, lose: 2)
            try await withServer(proxy.router()) { port in
                let viaProxy = "http://127.0.0.1:\(port)"
                // 1. One node, which appends the mark and does not answer: the attempt fails (its job is retried).
                let alone = TradeExecutionHandler(
                    engine: EngineClient(baseURL: viaProxy, token: workerToken),
                    brokers: try WorkerEndToEndTests.brokers(rig, kis: kis, workerToken: workerToken),
                    pollSeconds: 0.1,
                    clock: { WorkerEndToEndTests.session }
                )
                let first = try await WorkerEndToEndTests.buy(
                    rig,
                    token,
                    account,
                    count: 1,
                    stock: "005930",
                    quantity: 1,
                    price: 54_000
                )[0]
                await #expect(throws: (any Error).self) { try await alone.handle(job(first)) }
                #expect(proxy.lost.withLock { $0 } == 1)
                #expect(try await engine.order(first).status == "SUBMITTED", "the mark was appended")
                #expect(brokerOrders() == 0, "and nothing sent")
                // The retry sees its own mark: it sends now instead of waiting all day for a proof.
                #expect(try await alone.handle(job(first)) == .later(seconds: 0.1))
                let sent = try await engine.order(first)
                #expect(sent.status == "ACCEPTED" && !sent.brokerOrderNumber.isEmpty, "\(sent.status)")
                #expect(brokerOrders() == 1)

                // 2. Two nodes: the first appends and does not answer, the worker's retry on the second finds the
                // order already SUBMITTED (409). The next look knows the mark for its own.
                let pair = TradeExecutionHandler(
                    engine: EngineClient(baseURL: viaProxy + "," + rig.url, token: workerToken),
                    brokers: try WorkerEndToEndTests.brokers(rig, kis: kis, workerToken: workerToken),
                    pollSeconds: 0.1,
                    clock: { WorkerEndToEndTests.session }
                )
                let second = try await WorkerEndToEndTests.buy(
                    rig,
                    token,
                    account,
                    count: 1,
                    stock: "000660",
                    quantity: 2,
                    price: 180_000
                )[0]
                #expect(try await pair.handle(job(second)) == .later(seconds: 0))
                #expect(proxy.lost.withLock { $0 } == 2)
                #expect(try await engine.order(second).status == "SUBMITTED")
                #expect(brokerOrders() == 1)
                #expect(try await pair.handle(job(second)) == .later(seconds: 0.1))
                #expect(try await engine.order(second).status == "ACCEPTED")
                #expect(brokerOrders() == 2)

                // 3. Another worker process (its own marks) finds the first handler's unsent mark: not its own, so
                // unknown — it neither sends nor adopts (nothing at the broker matches), and waits for a proof.
                let third = try await WorkerEndToEndTests.buy(
                    rig,
                    token,
                    account,
                    count: 1,
                    stock: "005930",
                    quantity: 3,
                    price: 53_900
                )[0]
                proxy.lose.withLock { $0 = 1 }
                await #expect(throws: (any Error).self) { try await alone.handle(job(third)) }
                let other = TradeExecutionHandler(
                    engine: engine,
                    brokers: try WorkerEndToEndTests.brokers(rig, kis: kis, workerToken: workerToken),
                    pollSeconds: 0.1,
                    clock: { WorkerEndToEndTests.session }
                )
                #expect(try await other.handle(job(third)) == .later(seconds: 0.1))
                #expect(try await engine.order(third).status == "SUBMITTED")
                #expect(brokerOrders() == 2, "another process does not send on a mark it did not make")
                // A mark's sender never sends twice: once sent, the same order's mark is no longer unsent.
                #expect(try await alone.handle(job(third)) == .later(seconds: 0.1))
                #expect(try await engine.order(third).status == "ACCEPTED")
                #expect(try await alone.handle(job(third)) == .later(seconds: 0.1))
                #expect(brokerOrders() == 3, "each order once at the broker")
            }
            #expect(await serve.stop() == 0)
        }
    }
}
