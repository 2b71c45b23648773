import Runtime
import Simulation
import Storage
import Testing

@testable import Engine

/// Runs commands through `decide` + `apply`, as the runtime does, keeping every event.
struct World {
    var engine = Engine(calendar: TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)]))
    var state = EngineState()
    var events: [EventEnvelope] = []
    /// 2025-01-02 10:00 KST, a Thursday and a trading day (not the year's first session's 10:00 open issue).
    var now: Int64 = KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 10)

    static let samsung = StockCode("005930")!
    static let hynix = StockCode("000660")!

    /// A listed stock, a user and a simulated account holding `cash`.
    static func standard(cash: Int64 = 10_000_000) throws -> (World, AccountID) {
        var world = World()
        try world.run(.listStock(code: Self.samsung, name: "삼성전자", market: "KOSPI", previousClose: 71_000))
        try world.run(.listStock(code: Self.hynix, name: "SK하이닉스", market: "KOSPI", previousClose: 128_500))
        try world.run(.registerUser(email: "trader@example.com"))
        let account = AccountID(
            value: try world.run(
                .registerAccount(
                    user: UserID(value: 1),
                    broker: .simulated,
                    accountNumber: "5012345601",
                    dailyOrderLimit: 100
                )
            ).created!
        )
        try world.run(.depositCash(account: account, amount: cash))
        return (world, account)
    }

    @discardableResult
    mutating func run(_ command: Command, at time: Int64? = nil) throws(EngineError) -> Decision {
        let context = CommandContext(time: time ?? self.now, correlationID: "test")
        let decision = try self.engine.decide(self.state, command, context: context)
        for event in decision.events {
            let envelope = EventEnvelope(
                offset: UInt64(self.events.count),
                timestamp: context.time,
                correlationID: "test",
                event: event
            )
            self.events.append(envelope)
            self.state.apply(envelope)
        }
        return decision
    }

    /// Places an order and returns its id and the event types it produced.
    mutating func place(
        _ account: AccountID,
        _ side: OrderSide,
        _ quantity: Int64,
        at price: Int64,
        type: OrderType = .limit,
        stock: StockCode = World.samsung,
        client: String = ""
    ) throws -> (OrderID, [String]) {
        let decision = try self.run(
            .placeOrder(
                PlaceOrder(
                    account: account,
                    stock: stock,
                    side: side,
                    type: type,
                    quantity: quantity,
                    price: price,
                    clientOrderID: client
                )
            )
        )
        return (decision.order!, decision.events.map(\.typeName))
    }

    /// Takes an order through submit and accept.
    mutating func accept(_ order: OrderID) throws {
        try self.run(.recordSubmitted(order))
        try self.run(.recordAccepted(order, brokerOrderNumber: "00000\(order.value)"))
    }

    func order(_ id: OrderID) -> Order { self.state.orders[id]! }
    func account(_ id: AccountID) -> Account { self.state.accounts[id]! }

    /// Replays every event into a fresh state: must equal the live one.
    func replayed() -> EngineState {
        var state = EngineState(fees: self.state.fees)
        for event in self.events { state.apply(event) }
        return state
    }
}

/// One sample of every event type, for codec tests.
func sampleEvents() -> [DomainEvent] {
    let stock = StockCode("005930")!
    let order = OrderID(value: 42)
    let account = AccountID(value: 7)
    let request = OrderRequested(
        order: order,
        account: account,
        stock: stock,
        side: .buy,
        type: .market,
        quantity: 10,
        price: 92_300,
        source: .strategy,
        clientOrderID: "c-1"
    )
    return [
        .stockListed(StockListed(stock: stock, name: "삼성전자", market: "KOSPI", previousClose: 71_000)),
        .userRegistered(UserRegistered(user: UserID(value: 3), email: "a@b.kr")),
        .brokerAccountRegistered(
            BrokerAccountRegistered(
                account: account,
                user: UserID(value: 3),
                broker: .kisPaper,
                maskedAccountNumber: "******5601",
                dailyOrderLimit: 50
            )
        ),
        .cashDeposited(CashDeposited(account: account, amount: 5_000_000)),
        .orderRequested(request),
        .orderRejected(
            OrderRejected(
                order: order,
                rejectedBy: .risk,
                reason: .marketClosed,
                message: "closed \"now\"\n",
                request: request
            )
        ),
        .orderRejected(
            OrderRejected(order: order, rejectedBy: .broker, reason: .brokerRejected, message: "모의투자 상/하한가 오류")
        ),
        .orderSubmitted(OrderReference(order: order)),
        .orderAccepted(OrderAccepted(order: order, brokerOrderNumber: "0001569157")),
        .orderPartiallyFilled(
            OrderFill(order: order, quantity: 3, price: 71_000, commission: 29, tax: 0, fillID: "f1")
        ),
        .orderFilled(OrderFill(order: order, quantity: 7, price: 71_100, commission: 69, tax: 995, fillID: "f2")),
        .orderCancelRequested(OrderReference(order: order)),
        .orderCancelled(OrderCancelled(order: order, cancelledQuantity: 4)),
        .orderFailed(OrderFailed(order: order, reason: .timeout, message: "no answer in 10 s")),
        .orderExpired(OrderReference(order: order)),
        .candleClosed(
            Candle(
                stock: stock,
                timeframe: .minute5,
                start: KST.instant(day: 20_000, hour: 9, minute: 5),
                open: 71_000,
                high: 71_500,
                low: 70_900,
                close: 71_200,
                volume: 123_456
            )
        ),
        .indicatorComputed(
            IndicatorComputed(
                stock: stock,
                timeframe: .day1,
                start: KST.instant(day: 20_000, hour: 0),
                name: "rsi_14",
                value: 57.123456789
            )
        ),
        .signalGenerated(
            SignalGenerated(account: account, stock: stock, strategy: "ma-cross", side: .sell, reason: "cross")
        ),
        .strategyDefined(
            StrategyDefined(user: UserID(value: 1), name: "dip", version: 1, source: "entry: rsi_14 < 30\nstop: 3%")
        ),
        .signalSkipped(
            SignalGenerated(
                account: account,
                stock: stock,
                strategy: "rule:dip",
                side: .buy,
                reason: "stale bar",
                key: "signal-812-acc-0000000007-rule:dip"
            )
        ),
        .indicatorsComputed(
            IndicatorsComputed(
                stock: stock,
                timeframe: .minute1,
                start: KST.instant(day: 20_000, hour: 9),
                values: [
                    IndicatorValue(name: "sma_5", value: 71_020.4), IndicatorValue(name: "rsi_14", value: 57.123456789),
                    IndicatorValue(name: "macd_12_26_9", value: -3.25e-7),
                ]
            )
        ),
        .notificationCreated(
            NotificationCreated(
                notification: NotificationID(value: 9),
                user: UserID(value: 3),
                kind: "ORDER_FILLED",
                title: "주문 체결",
                message: "005930 10주"
            )
        ),
        .notificationSent(
            NotificationDelivery(notification: NotificationID(value: 9), channel: "email", detail: "250 OK")
        ),
        .notificationFailed(
            NotificationDelivery(notification: NotificationID(value: 9), channel: "webhook", detail: "timeout")
        ),
        .notificationRead(NotificationReference(notification: NotificationID(value: 9))),
        .brokerTokenIssued(BrokerTokenIssued(account: account, expiresAt: 1_800_000_000_000_000)),
        .brokerTokenExpired(AccountReference(account: account)),
        .strategyEnabled(
            StrategyEnabled(account: account, stock: stock, strategy: "rsi-reversion", parameters: "period=14")
        ),
        .strategyDisabled(StrategyDisabled(account: account, stock: stock, strategy: "rsi-reversion")),
        .anomalyRecorded(AnomalyRecorded(order: order, account: nil, message: "fill for a cancelled order")),
        .anomalyRecorded(AnomalyRecorded(order: nil, account: account, message: "balance mismatch")),
        .accountHalted(AccountHalted(account: account, reason: "reconciliation mismatch")),
        .brokerAccountClosed(AccountReference(account: account)),
        .userErased(UserReference(user: UserID(value: 1))),
        .operatorGranted(OperatorRole(user: UserID(value: 1), by: "cli:root@host")),
        .operatorRevoked(OperatorRole(user: UserID(value: 1), by: "cli:\u{0}")),
        .tradingHalted(TradingHalt(by: UserID(value: 1), reason: "시장 급변 \u{202E}")),
        .stockStatusChanged(
            StockStatusChanged(stock: World.samsung, status: .halted, reason: "거래정지 (KIS temp_stop_yn=Y)")
        ),
        .stockStatusChanged(
            StockStatusChanged(stock: World.hynix, status: .volatilityInterruption, reason: "VI \u{202E}")
        ),
        .quoteRecorded(QuoteRecorded(stock: World.samsung, price: 69_900, at: 1_736_132_400_000_000)),
        .cashAdjusted(CashAdjusted(account: account, amount: -3, reason: "fee rounding at the broker: 3 KRW less")),
        .tradingResumed(TradingHalt(by: UserID(value: 1), reason: "")),
        .accountResumed(
            AccountResumed(account: account, by: UserID(value: 1), agreement: "reconciled: 한글 \u{202E} \"q\"")
        ),
        .triggerArmed(
            TriggerArmed(
                trigger: TriggerID(value: 3),
                request: ArmTrigger(
                    account: account,
                    stock: StockCode("005930")!,
                    side: .sell,
                    kind: .trailingStop,
                    quantity: 10,
                    trailBasisPoints: 250,
                    limitPrice: 69_900,
                    group: "bracket:ord-1 \u{202E}"
                ),
                water: 71_000
            )
        ),
        .triggerFired(
            TriggerFired(
                trigger: TriggerID(value: 3),
                order: OrderID(value: 9),
                barStart: 1_736_121_600_000_000,
                level: 69_200,
                observed: 69_100
            )
        ),
        .triggerCancelled(TriggerCancelled(trigger: TriggerID(value: 4), reason: "one-cancels-the-other: trg-3")),
    ]
}
