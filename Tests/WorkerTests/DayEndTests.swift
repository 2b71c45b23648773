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

/// The end of a broker's day for trade-execution: once KIS's order list of that day is final (10 minutes
/// after the close), a SUBMITTED order the list does not hold never reached the broker — FAILED, not sent
/// again and not polled forever — and an order still resting unfilled has expired, after a last poll for its
/// fills. (The bench's day under faults once ended with two orders SUBMITTED after a lost send at 15:19,
/// no order after them to prove the send lost, and their jobs polling on past midnight.)
@Suite struct DayEndTests {
    @Test func aFinishedDayEndsItsOrdersInsteadOfPollingForever() async throws {
        try await BrokerRig.with("dayend", redisDatabase: 19) { broker in
            let (rig, mock, engine, token, account) = (
                broker.rig, broker.mock, broker.engine, broker.token, broker.account
            )
            let now = Mutex(KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 15, minute: 0))
            let handler = try broker.handler(clock: { now.withLock { $0 } })
            func job(_ order: String) -> Job { BrokerRig.job(order) }

            // A limit buy under the market rests at the broker; a third of it fills.
            let resting = try await WorkerEndToEndTests.buy(
                rig,
                token,
                account,
                count: 1,
                stock: "005930",
                quantity: 3,
                price: 54_000
            )[0]
            #expect(try await handler.handle(job(resting)) == .later(seconds: 0.1))
            let number = try await engine.order(resting).brokerOrderNumber
            #expect(!number.isEmpty)
            mock.fill(number, quantity: 1, price: 54_000)
            // A send that never reached KIS (recorded SUBMITTED, then the worker died): unknown while the day runs.
            let lost = try await WorkerEndToEndTests.buy(
                rig,
                token,
                account,
                count: 1,
                stock: "000660",
                quantity: 2,
                price: 180_000
            )[0]
            try await engine.record(.submitted(order: lost))
            // And a mark of this handler's own for it that never reached the log (its SUBMITTED refused: another
            // worker's came first): held until the order's job is done, then forgotten.
            _ = handler.marks.make(for: lost)
            #expect(try await handler.handle(job(lost)) == .later(seconds: 0.1), "15:00: unknown, looked at again")
            #expect(try await engine.order(lost).status == "SUBMITTED")
            #expect(try await handler.handle(job(resting)) == .later(seconds: 0.1), "15:00: still resting")
            #expect(try await engine.order(resting).status == "PARTIALLY_FILLED")

            // 15:40: the day's list is final.
            now.withLock { $0 = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 15, minute: 40) }
            mock.fill(number, quantity: 1, price: 54_000)  // a last fill the engine has not seen yet
            #expect(try await handler.handle(job(resting)) == .done)
            let expired = try await engine.order(resting)
            #expect(
                expired.status == "EXPIRED" && expired.filledQuantity == 2,
                "the last fill recorded, the rest expired: \(expired.status) \(expired.filledQuantity)"
            )
            #expect(try await handler.handle(job(lost)) == .done)
            #expect(handler.marks.count == 0, "a done order's unsent mark is still held")
            let failed = try await WorkerEndToEndTests.call(rig, "GET", "/api/orders/\(lost)", token: token).1
            #expect(failed["status"] as? String == "FAILED" && "\(failed)".contains("BROKER_UNREACHABLE"), "\(failed)")
            #expect(
                mock.state.withLock { $0.orders.filter { $0.original.isEmpty }.count } == 1,
                "the lost order was not sent at the end of the day"
            )
            // Nothing is reserved any more: both orders are final.
            let brokerAccount = try await WorkerEndToEndTests.call(
                rig,
                "GET",
                "/api/broker-accounts/\(account)",
                token: token
            ).1
            #expect(brokerAccount["reservedCash"] as? Int == 0, "\(brokerAccount)")
        }
    }
}
