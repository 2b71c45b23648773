import Engine
import Foundation
import Jobs
import Simulation
import Synchronization
import TestSupport
import Testing
import Worker

/// What the trade-execution tests share: a real `serve` with a trader whose KIS account a worker process has
/// reconciled (token issued, cash adopted), the strict KIS fake — 200 requests a second, orders resting, answers
/// held back `orderDelay` seconds — and trade-execution handlers as a worker process has them.
struct BrokerRig: Sendable {
    let rig: WorkerEndToEndTests.Rig
    let mock: KISFake
    /// The fake's port.
    let kis: Int
    let token: String
    let account: String
    let workerToken: String
    /// The engine as the worker reaches it (`/internal`, the worker token).
    let engine: EngineClient

    /// Runs `body` on a fresh rig (its own database and Redis database `redisDatabase`); `serve` is stopped after
    /// it, and must exit 0.
    static func with(
        _ tag: String,
        redisDatabase: Int,
        serveArguments: [String] = [],
        orderDelay: Double = 0,
        _ body: @Sendable (BrokerRig) async throws -> Void
    ) async throws {
        let (rig, sink) = try await WorkerEndToEndTests.rig(tag, redisDatabase: redisDatabase)
        defer { sink.killed() }
        let mock = KISFake(now: WorkerEndToEndTests.session)
        mock.state.withLock {
            $0.rateLimit = 200
            $0.bucket.tokens = 200
            $0.fillImmediately = false
            $0.orderDelay = orderDelay
        }
        try await withServer(mock.router()) { kis in
            let serve = try await WorkerEndToEndTests.serve(rig, extra: serveArguments)
            let (token, account, workerToken) = try await WorkerEndToEndTests.reconciledTrader(rig, mock, kis: kis)
            try await body(
                BrokerRig(
                    rig: rig,
                    mock: mock,
                    kis: kis,
                    token: token,
                    account: account,
                    workerToken: workerToken,
                    engine: EngineClient(baseURL: rig.url, token: workerToken)
                )
            )
            #expect(await serve.stop() == 0)
        }
    }

    /// A broker directory of its own, as a worker process has.
    func brokers() throws -> BrokerDirectory {
        try WorkerEndToEndTests.brokers(self.rig, kis: self.kis, workerToken: self.workerToken)
    }

    /// The account as reconciliation sees it now.
    func accountView() async throws -> WorkerAccountView? {
        try await self.engine.accounts().first { $0.id == self.account }
    }

    /// A trade-execution handler with turns and a broker directory of its own, as a worker process has, reaching
    /// the engine through `engine` (nil: the rig's); on `clock` (nil: the session's fixed minute).
    func handler(engine: EngineClient? = nil, clock: (@Sendable () -> Int64)? = nil) throws -> TradeExecutionHandler {
        TradeExecutionHandler(
            engine: engine ?? self.engine,
            brokers: try self.brokers(),
            pollSeconds: 0.1,
            clock: clock ?? { WorkerEndToEndTests.session }
        )
    }

    /// One limit buy through the API; its order id.
    func buy(_ stock: String, quantity: Int, price: Int) async throws -> String {
        try await WorkerEndToEndTests.buy(
            self.rig,
            self.token,
            self.account,
            count: 1,
            stock: stock,
            quantity: quantity,
            price: price
        )[0]
    }

    /// Orders the fake has taken (cancels and revisions not counted).
    var brokerOrders: Int { self.mock.state.withLock { $0.orders.filter { $0.original.isEmpty }.count } }

    /// The trade-execution job of `order`.
    static func job(_ order: String) -> Job {
        Job(queue: .tradeExecution, id: "trade-\(order)", data: #"{"order":"\#(order)"}"#)
    }
}
