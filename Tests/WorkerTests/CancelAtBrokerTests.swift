import Engine
import Foundation
import Jobs
import Simulation
import Synchronization
import Testing
import Worker

/// A cancel names the organization the order's own answer gave (`KRX_FWDG_ORD_ORGNO`, stored with the order by
/// `OrderAccepted`), not the day's list's ordering branch (`ord_gno_brno`): the strict fake refuses the latter,
/// as KIS's samples show the two differ.
@Suite struct CancelAtBrokerTests {
    @Test func aRestingOrderIsCancelledUnderItsForwardingOrganization() async throws {
        try await BrokerRig.with("cancelorg", redisDatabase: 29) { broker in
            let (rig, mock, engine, token) = (broker.rig, broker.mock, broker.engine, broker.token)
            let handler = try broker.handler(clock: { mock.now })
            let order = try await broker.buy("005930", quantity: 3, price: 54_000)
            let job = BrokerRig.job(order)
            #expect(try await handler.handle(job) == .later(seconds: 0.1), "resting at the broker")
            let accepted = try await engine.order(order)
            #expect(accepted.brokerOrganization == KISFake.forwardingOrganization, "stored from the answer")
            let listed = try await WorkerEndToEndTests.call(rig, "GET", "/api/orders/\(order)/audit", token: token).1
            #expect("\(listed)".contains(KISFake.forwardingOrganization), "OrderAccepted carries it in the log")

            let cancelled = try await WorkerEndToEndTests.call(rig, "POST", "/api/orders/\(order)/cancel", token: token)
            #expect(cancelled.0 == 200, "\(cancelled)")
            var status = ""
            for _ in 0..<20 where status != "CANCELLED" {
                _ = try await handler.handle(job)
                status = try await engine.order(order).status
            }
            #expect(status == "CANCELLED")
            #expect(mock.state.withLock { $0.violations } == [], "the cancel named the order's organization")
            #expect(mock.state.withLock { $0.orders.contains { $0.original == accepted.brokerOrderNumber } })
        }
    }
}
