import Engine
import Foundation
import Jobs
import Projections
import Runtime
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing

@testable import Worker

/// Two worker processes at once on one account: a job taken over from a worker that stalled past its lock
/// while the stalled one goes on, or twin orders (same stock, side, quantity, price) handled in two processes.
/// Turns are per process, so here the engine's log is the fence: an order is sent only by the attempt whose
/// SUBMITTED (or send again, against the last send it saw) the log took, and a broker order is adopted by one
/// order only; reconciliation adopts the broker's cash against the cash it compared. Each handler and
/// reconciler pair below has its own turns and broker directory, as a process has; they share the
/// real `serve`, PostgreSQL (credentials, tokens) and the mock KIS.
@Suite struct TwoWorkersTests {
    @Test func twoWorkerProcessesNeverSendOrAdoptAnOrderTwice() async throws {
        // The session clock at 20x: the broker's list can then hold orders placed well after a send (see
        // `absenceProofSeconds`) without waiting for them in real time. A worker process has issued the KIS token
        // (kept sealed in PostgreSQL, shared by every process) and adopted the cash.
        try await BrokerRig.with("two", redisDatabase: 18, serveArguments: ["--clock-speed", "20"], orderDelay: 0.2) {
            broker in
            let (rig, mock, kis, token, account, workerToken) = (
                broker.rig, broker.mock, broker.kis, broker.token, broker.account, broker.workerToken
            )
            let engine = broker.engine
            func process() throws -> (TradeExecutionHandler, Reconciler) {
                let brokers = try WorkerEndToEndTests.brokers(rig, kis: kis, workerToken: workerToken)
                let engine = EngineClient(baseURL: rig.url, token: workerToken)
                return (
                    TradeExecutionHandler(
                        engine: engine,
                        brokers: brokers,
                        pollSeconds: 0.1,
                        clock: { WorkerEndToEndTests.session }
                    ), Reconciler(engine: engine, brokers: brokers, report: { _ in })
                )
            }
            let ((first, firstReconciler), (second, secondReconciler)) = (try process(), try process())
            func job(_ order: String) -> Job {
                Job(queue: .tradeExecution, id: "two-\(order)", data: #"{"order":"\#(order)"}"#)
            }
            func both(_ a: String, _ b: String) async throws -> (JobResult, JobResult) {
                async let one = first.handle(job(a))
                async let other = second.handle(job(b))
                return try await (one, other)
            }
            func brokerOrders(_ stock: String) -> [KISFake.Order] {
                mock.state.withLock { $0.orders.filter { $0.stock == stock && $0.original.isEmpty } }
            }
            /// Puts the mock's clock on the engine's (the serve runs a session clock from 10:00).
            func catchUp(_ order: String, plusSeconds: Int64 = 1) async throws {
                let view = try await engine.order(order)
                mock.state.withLock { $0.now = max($0.now, view.updatedAt + plusSeconds * 1_000_000) }
            }

            // 0. Money paid in at the broker, seen by both reconcilers at once: adopted once.
            mock.state.withLock { $0.cash += 5_000_000 }
            async let one = firstReconciler.reconcileAll()
            async let other = secondReconciler.reconcileAll()
            let lines = await [one, other].flatMap { $0 }
            let cash = try await engine.accounts().first { $0.id == account }?.cash
            #expect(cash == 105_000_000, "5,000,000 KRW adopted once, not twice: \(lines)")

            // 1. Each PENDING order handled by both at once (a job taken over from a stalled worker): sent once.
            let pending = try await WorkerEndToEndTests.buy(
                rig,
                token,
                account,
                count: 8,
                stock: "005930",
                quantity: 1,
                price: 55_000
            )
            for id in pending { _ = try await both(id, id) }
            #expect(
                brokerOrders("005930").count == 8,
                "eight orders, each sent once: \(brokerOrders("005930").map(\.number))"
            )
            for id in pending {
                let view = try await engine.order(id)
                #expect(view.status == "ACCEPTED" || view.status == "SUBMITTED", "\(id) \(view.status)")
            }
            // 1b. More cash at the broker while those orders work — as a sale KIS filled that the log has not heard
            //     of yet shows: not a deposit (it would count the sale twice once its fill is recorded, then halt
            //     the account for the engine's surplus; seen in loaded fault-suite runs). It waits for the fills.
            mock.state.withLock { $0.cash += 300_000 }
            let waiting = await firstReconciler.reconcileAll()
            #expect(try await engine.accounts().first { $0.id == account }?.cash == 105_000_000, "\(waiting)")
            #expect(waiting.contains { $0.contains("waits for the working orders' fills") }, "\(waiting)")
            mock.state.withLock { $0.cash -= 300_000 }

            // 2. Twins whose sends KIS took but whose answers were lost, looked up in two processes at once: each
            //    adopts a broker order of its own (the one refused looks again and finds its twin's).
            let twins = try await WorkerEndToEndTests.buy(
                rig,
                token,
                account,
                count: 2,
                stock: "000660",
                quantity: 3,
                price: 180_000
            )
            for id in twins { try await engine.record(.submitted(order: id)) }
            try await catchUp(twins[1])
            mock.state.withLock { state in
                for _ in twins {
                    _ = mock.order(
                        &state,
                        trID: "VTTC0802U",
                        json: ["PDNO": "000660", "ORD_QTY": "3", "ORD_UNPR": "180000", "ORD_DVSN": "00"]
                    )
                }
            }
            _ = try await both(twins[0], twins[1])
            for _ in 0..<20 {
                let views = [try await engine.order(twins[0]), try await engine.order(twins[1])]
                if views.allSatisfy({ $0.status == "ACCEPTED" }) { break }
                for (index, view) in views.enumerated() where view.status == "SUBMITTED" {
                    _ = try await (index == 0 ? first : second).handle(job(twins[index]))
                }
            }
            let adopted = [
                try await engine.order(twins[0]).brokerOrderNumber, try await engine.order(twins[1]).brokerOrderNumber,
            ]
            #expect(
                Set(adopted) == Set(brokerOrders("000660").map(\.number)),
                "each twin holds one of the two broker orders: \(adopted)"
            )
            #expect(brokerOrders("000660").count == 2, "nothing sent again")

            // 3. An order whose send KIS never took (the list shows a newer order, not it), judged lost by both at
            //    once: sent again once.
            let (_, lost) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json: #"{"brokerAccountId":"\#(account)","stockId":"005930","side":"BUY","quantity":7,"price":54900}"#
            )
            let lostID = try #require(lost["id"] as? String)
            try await engine.record(.submitted(order: lostID))
            // Another order reaches the broker 15 session seconds after that send (the engine's clock is past it).
            try await Task.sleep(for: .seconds(1))
            try await catchUp(lostID, plusSeconds: 15)
            mock.state.withLock { state in
                _ = mock.order(
                    &state,
                    trID: "VTTC0802U",
                    json: ["PDNO": "000660", "ORD_QTY": "1", "ORD_UNPR": "180000", "ORD_DVSN": "00"]
                )
            }
            _ = try await both(lostID, lostID)
            let resent = brokerOrders("005930").filter { $0.quantity == 7 }
            #expect(resent.count == 1, "sent again once, not by both: \(resent.map(\.number))")
            #expect(try await engine.order(lostID).brokerOrderNumber == resent.first?.number)
        }
    }

    /// The absence proof's slack is the client's wall-clock wait seen on the session clock. At `--clock-speed
    /// 30` it was 12 session seconds, 0.4 wall seconds: a send stopped between its fence and its request (the
    /// fault suite's frozen worker, 5.5–7.5 s) could be "proven" not taken, sent again by the other worker, and
    /// sent by the thawed one too — the one path found to the broker order no engine order held that 2 of 12
    /// runs of the fault suite showed on 2026-12-07.
    @Test func theAbsenceProofSpansTheClientsWaitOnTheSessionClock() {
        #expect(TradeExecutionHandler.absenceProofMicros(clockSpeed: 1) == 12_000_000, "a real session: 12 s")
        #expect(TradeExecutionHandler.absenceProofMicros(clockSpeed: 30) == 302_000_000, "2 s + 10 wall s at 30×")
        #expect(TradeExecutionHandler.absenceProofMicros(clockSpeed: 0.5) == 12_000_000, "never less than 12 s")
        #expect(TradeExecutionHandler.absenceProofMicros(clockSpeed: .infinity) == 1_000_002_000_000)
        #expect(TradeExecutionHandler.absenceProofMicros(clockSpeed: .nan) == 12_000_000)
    }
}
