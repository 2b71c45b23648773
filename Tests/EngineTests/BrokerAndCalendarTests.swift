import Foundation
import Runtime
import Simulation
import Storage
import Synchronization
import Testing

@testable import Engine

final class TestClock: Sendable {
    let now = Mutex<Int64>(KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 9, minute: 30))
    var micros: Int64 { self.now.withLock { $0 } }
}

@Suite struct BrokerAndCalendarTests {
    /// The engine's order lifecycle driven through the `Broker` protocol against the simulator.
    @Test func anOrderTravelsThroughTheBrokerProtocol() async throws {
        var (world, account) = try World.standard()
        let clock = TestClock()
        let broker: any Broker = SimulatedBroker(
            configuration: .init(participationPercent: 50),
            clock: { clock.micros }
        )
        let (order, _) = try world.place(account, .buy, 30, at: 71_000)
        try world.run(.recordSubmitted(order))
        let number = try await broker.submit(BrokerOrderRequest(world.order(order)))
        try world.run(.recordAccepted(order, brokerOrderNumber: number))
        let simulator = try #require(broker as? SimulatedBroker)
        await simulator.onCandle(minute(KST.day(year: 2025, month: 1, day: 3), 9, 30, l: 70_900, v: 40))
        await simulator.onCandle(minute(KST.day(year: 2025, month: 1, day: 3), 9, 31, l: 70_900, v: 1_000))
        let status = try await broker.orderStatus(brokerOrderNumber: number)
        #expect(status.state == .filled)
        for fill in status.fills {
            try world.run(.recordFill(order, quantity: fill.quantity, price: fill.price, fillID: fill.fillID))
        }
        #expect(world.order(order).status == .filled)
        #expect(world.order(order).filledQuantity == 30)
        #expect(try await broker.balance(account: account).positions[World.samsung] == 30)
        await #expect(throws: BrokerError.self) { try await broker.cancel(brokerOrderNumber: number) }
    }

    @Test func theShippedHolidayFileParsesAndClosesTheMarket() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/krx-holidays.txt").path
        let calendar = try TradingCalendar(parsing: try String(contentsOfFile: path, encoding: .utf8))
        #expect(calendar.holidays.count > 40)
        let seollal = KST.day(year: 2025, month: 1, day: 29)
        #expect(!calendar.isTradingDay(seollal))
        #expect(!calendar.isOpen(at: KST.instant(day: seollal, hour: 10)))
        #expect(calendar.isOpen(at: KST.instant(day: KST.day(year: 2025, month: 1, day: 31), hour: 10)))
        #expect(
            calendar.nextTradingDay(after: KST.day(year: 2025, month: 1, day: 24))
                == KST.day(year: 2025, month: 1, day: 31)
        )
    }

    @Test func badCalendarLinesAreReported() {
        do {
            _ = try TradingCalendar(parsing: "20250101\n2025-13-01\n")
            Issue.record("a bad date was accepted")
        } catch {
            #expect(error.message.contains("line 2"))
        }
    }
}
