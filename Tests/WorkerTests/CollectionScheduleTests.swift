import Engine
import Foundation
import Jobs
import Projections
import Runtime
import Simulation
import Storage
import Testing

@testable import Worker

/// Which stocks a data-collection tick fetches, up to which minute, and when the ticks come: strategy stocks at
/// every tick, watched ones when enough minutes are due (spread by code), everything at the closing auction and
/// after the close, ticks just after a bar closes.
@Suite struct CollectionScheduleTests {
    static let day = KST.day(yyyymmdd: "20250106")!  // a Monday
    static let calendar = TradingCalendar()
    static func at(_ hour: Int64, _ minute: Int64, _ second: Int64 = 0) -> Int64 {
        KST.instant(day: Self.day, hour: hour, minute: minute) + second * 1_000_000
    }

    static func account(_ id: String, halted: Bool = false) throws -> WorkerAccountView {
        let json =
            #"{"id":"\#(id)","broker":"KIS_PAPER","user":"u","cash":0,"reservedCash":0,"positions":{},"halted":\#(halted),"workingOrders":0}"#
        return try JSONDecoder().decode(WorkerAccountView.self, from: Data(json.utf8))
    }

    @Test func aTickCollectsUpToTheLastClosedMinuteAndTheCloseAfterTheSession() {
        let minute = { (now: Int64) in CollectionSchedule.minute(endingAt: now, calendar: Self.calendar) }
        #expect(minute(Self.at(8, 59, 59)) == nil, "before the open")
        #expect(minute(Self.at(9, 0, 30)) == nil, "the first bar has not closed")
        #expect(minute(Self.at(9, 1, 5)) == Self.at(9, 0))
        #expect(minute(Self.at(10, 15, 30)) == Self.at(10, 14))
        #expect(minute(Self.at(15, 21, 5)) == Self.at(15, 20), "the continuous session's last bar")
        #expect(minute(Self.at(15, 26, 5)) == Self.at(15, 20), "the closing auction's flat minutes wait for the close")
        #expect(minute(Self.at(15, 31, 5)) == Self.at(15, 30), "the closing auction's bar")
        #expect(
            minute(Self.at(18, 0)) == Self.at(15, 30),
            "a worker started after the close still gets the day's last bars"
        )
        #expect(minute(Self.at(18, 0) + 5 * KST.dayMicros) == nil, "a Saturday")
        // The year's first trading day opens at 10:00.
        let first = KST.day(yyyymmdd: "20250102")!
        let holidays = TradingCalendar(holidays: [KST.day(yyyymmdd: "20250101")!])
        #expect(
            CollectionSchedule.minute(endingAt: KST.instant(day: first, hour: 9, minute: 30), calendar: holidays) == nil
        )
        #expect(
            CollectionSchedule.minute(endingAt: KST.instant(day: first, hour: 10, minute: 1), calendar: holidays)
                == KST.instant(day: first, hour: 10)
        )
    }

    @Test func ticksComeJustAfterABarClosesOnTheIntervalsGrid() {
        let fiveMinutes: Int64 = 300_000_000
        #expect(CollectionSchedule.nextTick(after: Self.at(9, 0), interval: fiveMinutes) == Self.at(9, 1, 5))
        #expect(CollectionSchedule.nextTick(after: Self.at(9, 1, 5), interval: fiveMinutes) == Self.at(9, 6, 5))
        #expect(CollectionSchedule.nextTick(after: Self.at(15, 19), interval: fiveMinutes) == Self.at(15, 21, 5))
        #expect(CollectionSchedule.nextTick(after: Self.at(10, 0), interval: 20_000_000) == Self.at(10, 0, 5))
        var random = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let interval = Int64.random(in: 1...600, using: &random) * 1_000_000
            let now = Self.at(9, 0) + Int64.random(in: 0..<(7 * 3_600_000_000), using: &random)
            let next = CollectionSchedule.nextTick(after: now, interval: interval)
            #expect(next > now && next - now <= interval)
            #expect((next + KST.offsetMicros - 65_000_000) % interval == 0)
        }
    }

    @Test func strategyStocksAtEveryTickWatchedOnesWhenTheirMinutesAreDue() throws {
        let accounts = [try Self.account("acc-1"), try Self.account("acc-2", halted: true)]
        let minute = Self.at(11, 0)
        let stocks = [
            WorkerStockView(stock: "000001", lastMinuteStart: Self.at(10, 59), strategyAccounts: []),  // 1 minute due
            WorkerStockView(stock: "000002", lastMinuteStart: Self.at(10, 59), strategyAccounts: ["acc-1"]),
            // nothing new
            WorkerStockView(stock: "000003", lastMinuteStart: Self.at(11, 0), strategyAccounts: ["acc-1"]),
            WorkerStockView(stock: "000004", lastMinuteStart: Self.at(10, 36), strategyAccounts: []),  // 24 due
            WorkerStockView(stock: "000005", lastMinuteStart: Self.at(10, 35), strategyAccounts: []),  // 25 due
            // halted: watched
            WorkerStockView(stock: "000006", lastMinuteStart: Self.at(10, 0), strategyAccounts: ["acc-2"]),
            WorkerStockView(stock: "000007", lastMinuteStart: Self.at(10, 0), strategyAccounts: []),
        ]
        let due = CollectionSchedule.due(
            stocks,
            accounts: accounts,
            minute: minute,
            calendar: Self.calendar,
            watch: ["all"],
            watchEvery: 25
        )
        #expect(
            due.map(\.stock) == ["000002", "000005", "000006", "000007"],
            "traded first, then watched with ≥ 25 minutes due"
        )
        #expect(due.map(\.account) == ["acc-1", "acc-1", "acc-1", "acc-1"])
        #expect(due.first?.last == Self.at(10, 59))

        let listed = CollectionSchedule.due(
            stocks,
            accounts: accounts,
            minute: minute,
            calendar: Self.calendar,
            watch: ["000007"],
            watchEvery: 25
        )
        #expect(listed.map(\.stock) == ["000002", "000007"], "only the watch list besides strategy stocks")
        let everyTick = CollectionSchedule.due(
            stocks,
            accounts: accounts,
            minute: minute,
            calendar: Self.calendar,
            watch: ["all"],
            watchEvery: 1
        )
        #expect(
            everyTick.map(\.stock) == ["000002", "000001", "000004", "000005", "000006", "000007"],
            "watch-every 1: whatever has a minute due"
        )
        let closing = CollectionSchedule.due(
            stocks + [WorkerStockView(stock: "000008", lastMinuteStart: Self.at(15, 20), strategyAccounts: [])],
            accounts: accounts,
            minute: Self.at(15, 20),
            calendar: Self.calendar,
            watch: ["all"],
            watchEvery: 25
        )
        #expect(
            closing.map(\.stock) == ["000002", "000003", "000001", "000004", "000005", "000006", "000007"],
            "from the closing auction every stock with a minute due"
        )
        #expect(
            CollectionSchedule.due(
                stocks,
                accounts: [accounts[1]],
                minute: minute,
                calendar: Self.calendar,
                watch: ["all"],
                watchEvery: 25
            ).isEmpty,
            "no account that may fetch"
        )
        // Behind (the last schedule's jobs not all started): strategy stocks only, until the closing auction.
        let behind = CollectionSchedule.due(
            stocks,
            accounts: accounts,
            minute: minute,
            calendar: Self.calendar,
            watch: ["all"],
            watchEvery: 1,
            backlogged: true
        )
        #expect(behind.map(\.stock) == ["000002"])
        let behindAtTheClose = CollectionSchedule.due(
            stocks,
            accounts: accounts,
            minute: Self.at(15, 20),
            calendar: Self.calendar,
            watch: ["all"],
            watchEvery: 25,
            backlogged: true
        )
        #expect(behindAtTheClose.count == 7)
    }

    /// A whole day of ticks every 5 minutes over a simulated engine: every stock ends with every minute through the
    /// close, each fetch asks for at least one minute, strategy stocks are never more than one tick behind, a
    /// watched stock's fetch fits one KIS page (≤ 30 minutes), and the watched stocks' fetches spread over the ticks.
    @Test func aDayOfTicksCoversEveryMinuteInPagesAndSpreadsTheWatchedStocks() throws {
        let accounts = [try Self.account("acc-1")]
        var stocks = (0..<500).map { index in
            WorkerStockView(
                stock: String(format: "%06d", 5_930 + index * 7),
                lastMinuteStart: nil,
                strategyAccounts: index % 10 == 0 ? ["acc-1"] : []
            )
        }
        var watchedPerTick: [(minute: Int64, count: Int)] = []
        var now = CollectionSchedule.nextTick(after: Self.at(8, 50), interval: 300_000_000)
        while now < Self.at(16, 0) {
            if let minute = CollectionSchedule.minute(endingAt: now, calendar: Self.calendar) {
                let due = CollectionSchedule.due(
                    stocks,
                    accounts: accounts,
                    minute: minute,
                    calendar: Self.calendar,
                    watch: ["all"],
                    watchEvery: 25
                )
                var watched = 0
                for stock in due {
                    let index = try #require(stocks.firstIndex { $0.stock == stock.stock })
                    let since = stocks[index].lastMinuteStart.map { $0 + KST.minuteMicros } ?? Self.at(9, 0)
                    let minutes = (minute - since) / KST.minuteMicros + 1
                    #expect(minutes >= 1, "\(stock.stock) fetched with nothing due")
                    if stocks[index].strategyAccounts.isEmpty {
                        watched += 1
                        #expect(
                            minutes <= 30,
                            "\(stock.stock): \(minutes) minutes in one fetch at \(ISOTime.kst(minute))"
                        )
                    } else if minute > Self.at(9, 0) && minute <= Self.at(15, 20) {
                        #expect(minutes <= 5, "a strategy stock \(minutes) minutes behind at \(ISOTime.kst(minute))")
                    }
                    stocks[index].lastMinuteStart = minute
                }
                watchedPerTick.append((minute, watched))
            }
            now = CollectionSchedule.nextTick(after: now, interval: 300_000_000)
        }
        #expect(
            stocks.allSatisfy { $0.lastMinuteStart == Self.at(15, 30) },
            "every stock through the closing auction's bar"
        )
        // 450 watched stocks over 25-minute cycles of 5-minute ticks: about 90 a tick, never all at once before
        // the closing auction (when every stock's last bars are due together).
        let session = watchedPerTick.filter { $0.minute < Self.at(15, 20) }.map(\.count)
        #expect(
            session.count == 76 && session.max()! < 200 && session.min()! > 0,
            "watched fetches per tick: \(session)"
        )
        #expect(
            watchedPerTick.map(\.count).reduce(0, +) < 450 * 20,
            "≈ 381 / 25 fetches per watched stock, not one a tick"
        )
    }
}
