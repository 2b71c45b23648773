import Runtime
import Simulation
import Storage
import Testing

@testable import Engine

@Suite struct RiskCheckTests {
    func rejection(_ world: World, _ order: OrderID) -> (RejectionReason?, RejectedBy?, String) {
        let state = world.order(order)
        return (state.failureReason, state.rejectedBy, state.failureMessage)
    }

    @Test func aValidOrderPassesAndReserves() throws {
        var (world, account) = try World.standard()
        let (order, events) = try world.place(account, .buy, 10, at: 71_000)
        #expect(events == ["OrderRequested"])
        #expect(world.order(order).status == .pending)
        let reserved = 710_000 + FeeSchedule().commission(710_000)
        #expect(world.account(account).reservedCash == reserved)
        #expect(world.account(account).availableCash == 10_000_000 - reserved)
    }

    @Test func insufficientCashCountsReservationsAndFees() throws {
        var (world, account) = try World.standard(cash: 1_420_197)  // two reservations of 710,099 need 1,420,198
        _ = try world.place(account, .buy, 10, at: 71_000)  // reserves 710,099
        let (second, events) = try world.place(account, .buy, 10, at: 71_000)
        #expect(events == ["OrderRejected", "NotificationCreated"])
        let (reason, by, message) = self.rejection(world, second)
        #expect(reason == .insufficientBalance)
        #expect(by == .risk)
        #expect(message.contains("710099"))
        #expect(world.order(second).status == .rejected)
        #expect(world.account(account).ordersThatDay == 1, "a rejected order does not count toward the daily limit")
    }

    @Test func insufficientSharesCountsOpenSells() throws {
        var (world, account) = try World.standard()
        let (buy, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(buy)
        try world.run(.recordFill(buy, quantity: 10, price: 71_000, fillID: "b"))
        let (firstSell, _) = try world.place(account, .sell, 6, at: 72_000)
        #expect(world.order(firstSell).status == .pending)
        let (secondSell, _) = try world.place(account, .sell, 5, at: 72_000)
        #expect(self.rejection(world, secondSell).0 == .insufficientShares)
    }

    @Test(arguments: [
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 8, minute: 59), true),
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 9), false),
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 15, minute: 29), false),
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 15, minute: 30), true),
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 4), hour: 10), true),  // Saturday
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 1), hour: 10), true),  // New Year holiday
        // first session of 2025 opens at 10:00
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 2), hour: 9, minute: 30), true),
        (KST.instant(day: KST.day(year: 2025, month: 1, day: 2), hour: 10), false),
    ])
    func marketHours(time: Int64, closed: Bool) throws {
        var (world, account) = try World.standard()
        world.now = time
        let (order, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect((self.rejection(world, order).0 == .marketClosed) == closed, "\(ISOTime.kst(time))")
    }

    @Test(arguments: [
        (71_050 as Int64, RejectionReason.priceNotOnTick), (92_400, .priceOutOfRange), (49_600, .priceOutOfRange),
        (92_300, nil), (49_700, nil),
    ])
    func priceTicksAndTheDailyBand(price: Int64, expected: RejectionReason?) throws {
        // Base 71,000: band 49,700...92,300 (49,700 = 71,000 x 0.7 rounded up; 92,300 = x 1.3 rounded down).
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 1, at: price)
        #expect(self.rejection(world, order).0 == expected)
    }

    @Test func dailyOrderLimitPerAccountAndDay() throws {
        var world = World()
        try world.run(.listStock(code: World.samsung, name: "삼성전자", market: "KOSPI", previousClose: 71_000))
        try world.run(.registerUser(email: "t@example.com"))
        let account = AccountID(
            value: try world.run(
                .registerAccount(user: UserID(value: 1), broker: .simulated, accountNumber: "1", dailyOrderLimit: 2)
            ).created!
        )
        try world.run(.depositCash(account: account, amount: 10_000_000))
        _ = try world.place(account, .buy, 1, at: 71_000)
        _ = try world.place(account, .buy, 1, at: 71_000)
        let (third, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect(world.order(third).failureReason == .dailyLimitExceeded)
        world.now += KST.dayMicros * 4  // the next Tuesday
        let (nextDay, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect(world.order(nextDay).status == .pending)
    }

    @Test func expiredBrokerTokenRejectsKISOrders() throws {
        var world = World()
        try world.run(.listStock(code: World.samsung, name: "삼성전자", market: "KOSPI", previousClose: 71_000))
        try world.run(.registerUser(email: "t@example.com"))
        let account = AccountID(
            value: try world.run(
                .registerAccount(
                    user: UserID(value: 1),
                    broker: .kisPaper,
                    accountNumber: "50123456-01",
                    dailyOrderLimit: 10
                )
            ).created!
        )
        try world.run(.depositCash(account: account, amount: 10_000_000))
        let (withoutToken, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect(world.order(withoutToken).failureReason == .tokenExpired)
        try world.run(.issueToken(account: account, expiresAt: world.now + 86_400_000_000))
        let (withToken, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect(world.order(withToken).status == .pending)
        try world.run(.expireToken(account: account))
        let (afterExpiry, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect(world.order(afterExpiry).failureReason == .tokenExpired)
        #expect(
            world.account(account).maskedAccountNumber == "*******6-01",
            "account numbers are masked before they reach the log"
        )
    }

    @Test func haltedAccountsCannotTrade() throws {
        var (world, account) = try World.standard()
        try world.run(.haltAccount(account, reason: "reconciliation mismatch"))
        let (order, _) = try world.place(account, .buy, 1, at: 71_000)
        #expect(world.order(order).failureReason == .accountHalted)
    }

    /// Two reconcilers (two worker processes) seeing the same mismatch halt the account once and notify its
    /// owner once; the first reason stands.
    @Test func anAccountIsHaltedOnceAndItsOwnerToldOnce() throws {
        var (world, account) = try World.standard()
        let first = try world.run(.haltAccount(account, reason: "reconciliation mismatch: cash"))
        #expect(first.events.map(\.typeName) == ["AccountHalted", "NotificationCreated"])
        guard case .notificationCreated(let notice) = first.events.last else {
            Issue.record("no notification")
            return
        }
        #expect(
            notice.title == "계좌 거래 중지" && notice.message.contains("reconciliation mismatch: cash")
                && notice.message.contains(world.account(account).maskedAccountNumber)
        )
        #expect(try world.run(.haltAccount(account, reason: "reconciliation mismatch: shares")).events.isEmpty)
        #expect(world.account(account).haltReason == "reconciliation mismatch: cash")
        #expect(world.state.notifications.count == 1)
    }

    /// Reconciliation adopts the broker's cash against the cash it compared: a second reconciler that compared
    /// the same balance is refused, so the difference is deposited once.
    @Test func aDepositAgainstAnOutdatedBalanceIsRefused() throws {
        var (world, account) = try World.standard(cash: 10_000_000)
        try world.run(.depositCash(account: account, amount: 5_000_000, expectedCash: 10_000_000))
        #expect(world.account(account).cash == 15_000_000)
        let before = world.state
        do {
            try world.run(.depositCash(account: account, amount: 5_000_000, expectedCash: 10_000_000))
            Issue.record("a deposit computed from an outdated balance was taken")
        } catch {
            #expect(error.code == .conflict && error.message.contains("15000000"), "\(error.message)")
        }
        #expect(world.state == before)
        try world.run(.depositCash(account: account, amount: 1))  // a deposit without a balance to check
        #expect(world.account(account).cash == 15_000_001)
    }

    @Test func malformedOrdersAreErrorsNotEvents() throws {
        var (world, account) = try World.standard()
        let before = world.events.count
        #expect(throws: EngineError.self) { try world.place(account, .buy, 0, at: 71_000) }
        #expect(throws: EngineError.self) { try world.place(account, .buy, -5, at: 71_000) }
        #expect(throws: EngineError.self) { try world.place(account, .buy, 1, at: 0) }
        #expect(throws: EngineError.self) { try world.place(account, .buy, 1, at: 71_000, stock: StockCode("123456")!) }
        #expect(throws: EngineError.self) { try world.place(AccountID(value: 99), .buy, 1, at: 71_000) }
        #expect(world.events.count == before)
    }

    @Test func clientOrderIDsMakePlacementIdempotent() throws {
        var (world, account) = try World.standard()
        let (first, events) = try world.place(account, .buy, 1, at: 71_000, client: "retry-me")
        let (second, again) = try world.place(account, .buy, 1, at: 71_000, client: "retry-me")
        #expect(first == second)
        #expect(events == ["OrderRequested"])
        #expect(again.isEmpty)
    }
}

@Suite struct PortfolioTests {
    @Test func buysAndSellsKeepCashPositionsAndProfitExact() throws {
        var (world, account) = try World.standard(cash: 10_000_000)
        let fees = FeeSchedule()
        let (buy, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(buy)
        try world.run(.recordFill(buy, quantity: 4, price: 70_900, fillID: "b1"))
        try world.run(.recordFill(buy, quantity: 6, price: 71_000, fillID: "b2"))
        let buyCost = 4 * 70_900 + fees.commission(4 * 70_900) + 6 * 71_000 + fees.commission(6 * 71_000)
        #expect(world.account(account).cash == 10_000_000 - buyCost)
        #expect(world.account(account).reservedCash == 0)
        let position = try #require(world.account(account).positions[World.samsung])
        #expect(position.quantity == 10)
        #expect(position.costBasis == buyCost)
        #expect(position.averagePrice == buyCost / 10)

        let (sell, _) = try world.place(account, .sell, 10, at: 72_000)
        try world.accept(sell)
        try world.run(.recordFill(sell, quantity: 10, price: 72_000, fillID: "s1"))
        let proceeds = 720_000 - fees.commission(720_000) - fees.sellTax(720_000)
        #expect(fees.sellTax(720_000) == 1_440, "0.20% sell-side tax")
        #expect(world.account(account).cash == 10_000_000 - buyCost + proceeds)
        #expect(world.account(account).realizedProfit == proceeds - buyCost)
        #expect(world.account(account).positions[World.samsung] == nil)
        #expect(world.account(account).taxPaid == 1_440)
        #expect(world.replayed() == world.state)
    }

    @Test func terminalStatesReleaseReservations() throws {
        var (world, account) = try World.standard()
        let (cancelled, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.run(.cancelOrder(cancelled))
        let (failed, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.run(.recordFailed(failed, reason: .brokerUnreachable, message: "timeout"))
        let (expired, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(expired)
        try world.run(.recordFill(expired, quantity: 3, price: 71_000, fillID: "e"))
        try world.run(.expireDayOrders)
        #expect(world.order(expired).status == .expired)
        #expect(world.account(account).reservedCash == 0)
        #expect(world.account(account).positions[World.samsung]?.quantity == 3)
    }

    @Test func feesAreTruncatedIntegerArithmetic() {
        let fees = FeeSchedule()
        #expect(fees.commission(710_000) == 99)  // 710,000 x 0.0140527% = 99.77
        #expect(fees.sellTax(999) == 1)  // 1.998 truncated
        #expect(fees.commission(Int64(1) << 60) > 0, "no overflow on huge notionals")
    }

    @Test func fillsNotifyTheOwner() throws {
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 2, at: 71_000)
        try world.accept(order)
        let decision = try world.run(.recordFill(order, quantity: 2, price: 71_000, fillID: "n"))
        #expect(decision.events.map(\.typeName) == ["OrderFilled", "NotificationCreated"])
        #expect(world.state.notifications.values.contains { $0.kind == "ORDER_FILLED" && $0.user == UserID(value: 1) })
    }
}

@Suite struct PortfolioViewTests {
    @Test func unrealizedProfitUsesTheLastClose() throws {
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(order)
        try world.run(.recordFill(order, quantity: 10, price: 71_000, fillID: "v"))
        try world.run(
            .ingestCandle(
                minute(KST.day(year: 2025, month: 1, day: 3), 10, 1, o: 71_000, h: 72_500, l: 71_000, c: 72_000)
            )
        )
        let portfolio = try #require(world.state.portfolio(account))
        let cost = 710_000 + FeeSchedule().commission(710_000)
        #expect(portfolio.holdings.map(\.stock) == [World.samsung])
        #expect(portfolio.holdings[0].lastPrice == 72_000)
        #expect(portfolio.unrealizedProfit == 720_000 - cost)
        #expect(portfolio.equity == 10_000_000 - cost + 720_000)
        #expect(world.state.portfolio(AccountID(value: 99)) == nil)
    }
}
