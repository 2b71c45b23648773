import Engine
import Foundation
import Jobs
import Simulation
import Synchronization
import TestSupport
import Testing
import Worker

/// The broker's report of an order's fills is input like any other: trade-execution derives each fill's price from
/// the reported total (average × filled quantity) less what the engine already holds. An average near Int64's top
/// made that product overflow — a trap that stopped the worker, and every worker after it that took the job — and
/// a fill reported without an average was booked at 1 KRW. Both are now refused (the attempt fails and is retried);
/// once the broker reports sense again, the fill is recorded at its price.
@Suite struct BrokerReportTests {
    @Test func nonsenseFillFiguresAreRefusedNotTrappedOrBooked() async throws {
        try await BrokerRig.with("brokerreport", redisDatabase: 38) { broker in
            let handler = try broker.handler()
            let order = try await broker.buy("005930", quantity: 5, price: 54_000)
            let job = BrokerRig.job(order)
            #expect(try await handler.handle(job) == .later(seconds: 0.1))
            let number = try await broker.engine.order(order).brokerOrderNumber
            #expect(!number.isEmpty)

            for (filled, average) in [
                ("2", "9223372036854775807"),  // average × 2 overflows
                ("5", "4611686018427387904"),  // 2^62 × 5 overflows
                ("1", "0"),  // a fill without a price
                ("3", "-54000"),
                ("2", "nan"),  // reads 0
            ] {
                broker.mock.state.withLock {
                    $0.reportOverrides[number] = ["tot_ccld_qty": filled, "avg_prvs": average]
                }
                await #expect(throws: KISError.self, "\(filled) at \(average)") { try await handler.handle(job) }
                let unchanged = try await broker.engine.order(order)
                #expect(unchanged.status == "ACCEPTED" && unchanged.filledQuantity == 0, "\(filled) at \(average)")
            }
            // A filled quantity below what the engine holds (here the most negative Int64) adds nothing.
            broker.mock.state.withLock {
                $0.reportOverrides[number] = ["tot_ccld_qty": "-9223372036854775808", "avg_prvs": "54000"]
            }
            #expect(try await handler.handle(job) == .later(seconds: 0.1))
            #expect(try await broker.engine.order(order).filledQuantity == 0)

            // Sense again: two shares at 54,000, recorded once at their price.
            broker.mock.state.withLock { $0.reportOverrides = [:] }
            broker.mock.fill(number, quantity: 2, price: 54_000)
            #expect(try await handler.handle(job) == .later(seconds: 0.1))
            let filled = try await broker.engine.order(order)
            #expect(filled.status == "PARTIALLY_FILLED" && filled.filledQuantity == 2, "\(filled.status)")
            #expect(filled.filledNotional == 108_000)
        }
    }
}
