public import Engine

/// A seeded, state-aware generator of plausible command streams: the workload of the property tests, the
/// crash tests and the engine benchmark. Deterministic for a seed and the states it is shown.
///
/// It starts by listing stocks, registering users and accounts (simulated and KIS paper, with tokens) and
/// depositing cash; then it mixes order placement (some off tick, outside the band or too large: risk
/// rejections), worker reports for pending and working orders (submit, accept, broker reject, fail, partial
/// and full fills), cancels, candles, tokens and notifications, moving time through KRX sessions.
public struct CommandGenerator: Sendable {
    private var random: UInt64
    public private(set) var time: Int64
    private let stockCount: Int
    private let accountCount: Int
    private var setup: [Command] = []
    private var fillSequence: UInt64 = 0

    public init(
        seed: UInt64,
        stocks: Int = 20,
        accounts: Int = 10,
        start: Int64 = KST.instant(day: KST.day(year: 2025, month: 3, day: 3), hour: 9, minute: 1)
    ) {
        precondition(stocks > 0 && accounts > 0)
        self.random = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        self.time = start
        self.stockCount = stocks
        self.accountCount = accounts
        for index in 0..<stocks {
            let price = Int64(5_000 + (index * 7_919) % 300_000)
            self.setup.append(
                .listStock(
                    code: Self.stock(index),
                    name: "종목\(index)",
                    market: index % 2 == 0 ? "KOSPI" : "KOSDAQ",
                    previousClose: price - price % KRXPriceRules.tickSize(at: price)
                )
            )
        }
        for user in 0..<max(1, accounts / 2) { self.setup.append(.registerUser(email: "user\(user)@example.com")) }
        for account in 0..<accounts {
            let user = UserID(value: UInt64(account % max(1, accounts / 2)) + 1)
            self.setup.append(
                .registerAccount(
                    user: user,
                    broker: account % 3 == 2 ? .kisPaper : .simulated,
                    accountNumber: "5000\(account)001",
                    dailyOrderLimit: 500
                )
            )
        }
        for account in 0..<accounts {
            self.setup.append(.depositCash(account: AccountID(value: UInt64(account) + 1), amount: 50_000_000))
            if account % 3 == 2 {
                self.setup.append(
                    .issueToken(account: AccountID(value: UInt64(account) + 1), expiresAt: start + 3 * KST.dayMicros)
                )
            }
        }
        self.setup.reverse()
    }

    static func stock(_ index: Int) -> StockCode { StockCode(value: UInt32(100_000 + index * 37)) }

    private mutating func next(_ bound: Int) -> Int {
        self.random ^= self.random << 13
        self.random ^= self.random >> 7
        self.random ^= self.random << 17
        return Int(self.random % UInt64(bound))
    }

    /// The next command and its context for the given state.
    public mutating func next(state: EngineState) -> (Command, CommandContext) {
        if let command = self.setup.popLast() {
            return (command, CommandContext(time: self.time, correlationID: "setup"))
        }
        self.advanceTime()
        let context = CommandContext(time: self.time, correlationID: "gen-\(self.next(1_000_000))")
        let roll = self.next(100)
        let open = state.orders.values.filter { !$0.status.isTerminal }.sorted { $0.id < $1.id }
        let pick = open.isEmpty ? nil : open[self.next(open.count)]
        switch roll {
        case 0..<32: return (.placeOrder(self.order(state)), context)
        case 32..<52:
            guard let order = pick else { return (.placeOrder(self.order(state)), context) }
            return (self.report(for: order), context)
        case 52..<56:
            guard let order = pick else { return (.expireDayOrders, context) }
            return (.cancelOrder(order.id), context)
        case 56..<84:
            return (.ingestCandle(self.candle(state)), context)
        case 84..<88:
            let account = AccountID(value: UInt64(self.next(self.accountCount)) + 1)
            let amount = Int64(self.next(5_000_000) + 1)
            // One in eight: reconciliation following the broker's rounding instead (a few won either way, against
            // the cash now), from the same draws.
            if amount % 8 == 0, let cash = state.accounts[account]?.cash {
                let won = amount / 8 % 1_001 - 500
                return (
                    .adjustCash(
                        account: account,
                        amount: won == 0 ? 1 : won,
                        expectedCash: cash,
                        reason: "fee rounding at the broker"
                    ), context
                )
            }
            return (.depositCash(account: account, amount: amount), context)
        case 88..<91:
            let account = AccountID(value: UInt64(self.next(self.accountCount)) + 1)
            return self.next(4) == 0
                ? (.expireToken(account: account), context)
                : (.issueToken(account: account, expiresAt: self.time + KST.dayMicros), context)
        case 91..<95:
            let user = UserID(value: UInt64(self.next(max(1, self.accountCount / 2))) + 1)
            return (
                .notify(user: user, kind: "PRICE_ALERT", title: "가격 알림", message: "alert \(self.next(1000))"), context
            )
        case 95..<98:
            let id = NotificationID(value: UInt64(self.next(Int(max(1, state.nextNotification)))) + 1)
            if let notification = state.notifications[id] {
                return self.next(2) == 0
                    ? (.recordNotificationSent(id, channel: "email", detail: "250 OK"), context)
                    : (.markNotificationRead(id, user: notification.user), context)
            }
            return (.expireDayOrders, context)
        default:
            return (
                .recordSignal(
                    SignalGenerated(
                        account: AccountID(value: 1),
                        stock: Self.stock(self.next(self.stockCount)),
                        strategy: "ma-cross",
                        side: .buy,
                        reason: "generated"
                    )
                ), context
            )
        }
    }

    private mutating func advanceTime() {
        self.time += Int64(self.next(20_000_000))
        let day = KST.day(self.time)
        let minute = KST.timeOfDay(self.time) / KST.minuteMicros
        if minute >= 15 * 60 + 30 || KST.weekday(day: day) >= 5 {
            var next = day + 1
            while KST.weekday(day: next) >= 5 { next += 1 }
            self.time = KST.instant(day: next, hour: 9, minute: 1)
        }
    }

    private mutating func order(_ state: EngineState) -> PlaceOrder {
        let index = self.next(self.stockCount)
        let stock = Self.stock(index)
        let base = state.stocks[stock]?.marketData.basePrice ?? 10_000
        let tick = KRXPriceRules.tickSize(at: base)
        var price = base + Int64(self.next(21) - 10) * tick
        if self.next(20) == 0 { price += tick / 2 + 1 }  // off tick
        if self.next(25) == 0 { price = base * 2 }  // outside the band
        let side: OrderSide = self.next(3) == 0 ? .sell : .buy
        let quantity = Int64(self.next(40) + 1) * (self.next(50) == 0 ? 10_000 : 1)
        let type: OrderType = self.next(5) == 0 ? .market : .limit
        let client = self.next(10) == 0 ? "client-\(self.next(50))" : ""
        return PlaceOrder(
            account: AccountID(value: UInt64(self.next(self.accountCount)) + 1),
            stock: stock,
            side: side,
            type: type,
            quantity: quantity,
            price: max(price, 1),
            clientOrderID: client
        )
    }

    private mutating func report(for order: Order) -> Command {
        switch order.status {
        case .pending:
            return self.next(15) == 0
                ? .recordFailed(order.id, reason: .brokerUnreachable, message: "timeout") : .recordSubmitted(order.id)
        case .submitted:
            switch self.next(10) {
            case 0: return .recordBrokerRejected(order.id, reason: .brokerRejected, message: "모의투자 주문가능금액이 부족합니다.")
            case 1: return .recordFailed(order.id, reason: .timeout, message: "no answer")
            default: return .recordAccepted(order.id, brokerOrderNumber: "\(1_000_000 + order.id.value)")
            }
        default:
            self.fillSequence += 1
            let price = order.price > 0 ? order.price : (self.next(2) == 0 ? 10_000 : 12_000)
            let quantity = self.next(3) == 0 ? order.remainingQuantity : max(1, order.remainingQuantity / 2)
            if order.status == .cancelRequested && self.next(2) == 0 { return .recordCancelled(order.id) }
            return .recordFill(order.id, quantity: quantity, price: price, fillID: "gf-\(self.fillSequence)")
        }
    }

    private mutating func candle(_ state: EngineState) -> Candle {
        let stock = Self.stock(self.next(self.stockCount))
        let base = state.stocks[stock]?.marketData.lastClose ?? 10_000
        let tick = KRXPriceRules.tickSize(at: base)
        let open = max(tick, base + Int64(self.next(5) - 2) * tick)
        let close = max(tick, open + Int64(self.next(5) - 2) * tick)
        let start = self.time - self.time % KST.minuteMicros - Int64(self.next(3)) * KST.minuteMicros
        return Candle(
            stock: stock,
            timeframe: .minute1,
            start: start,
            open: open,
            high: max(open, close) + tick,
            low: max(1, min(open, close) - tick),
            close: close,
            volume: Int64(self.next(100_000))
        )
    }
}
