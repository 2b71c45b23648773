/// An order a person or a strategy asks for.
public struct PlaceOrder: Sendable, Hashable {
    public var account: AccountID
    public var stock: StockCode
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Int64
    /// Limit price in KRW (ignored for market orders).
    public var price: Int64
    public var source: OrderSource
    /// Idempotency: the same id for the same account places the order once.
    public var clientOrderID: String
    /// Exits armed with the order, watched once it fills (a bracket: stop and target, one-cancels-the-other).
    /// Their account, stock, side, quantity, entry and group are the order's: only kind and levels are read.
    public var bracket: [ArmTrigger] = []
    /// A strategy's order: the engine records its `SignalGenerated` with it, or — when the bar it was decided on
    /// is older than the stale-bar limit (`Engine.maxBarAge`) as the order is decided — a `SignalSkipped` instead
    /// of the order.
    public var signal: StrategySignal?

    public init(
        account: AccountID,
        stock: StockCode,
        side: OrderSide,
        type: OrderType = .limit,
        quantity: Int64,
        price: Int64,
        source: OrderSource = .user,
        clientOrderID: String = ""
    ) {
        self.account = account
        self.stock = stock
        self.side = side
        self.type = type
        self.quantity = quantity
        self.price = price
        self.source = source
        self.clientOrderID = clientOrderID
    }
}

/// Which strategy asked for an order, why, and on which bar.
public struct StrategySignal: Sendable, Hashable {
    public var strategy: String
    public var reason: String
    /// The bar the strategy decided on.
    public var barStart: Int64
    public var timeframe: Timeframe

    public init(strategy: String, reason: String, barStart: Int64, timeframe: Timeframe) {
        self.strategy = strategy
        self.reason = reason
        self.barStart = barStart
        self.timeframe = timeframe
    }

    /// When the bar closed.
    public var barEnd: Int64 { self.barStart.saturatingAdd(self.timeframe.minutes * KST.minuteMicros) }
}

/// Everything the engine can be asked to do. Commands from outside (people, the gateway) and reports from
/// the workers (broker answers, fills, deliveries) alike: each is validated against the current state.
public enum Command: Sendable, Hashable {
    case listStock(code: StockCode, name: String, market: String, previousClose: Int64)
    case registerUser(email: String)
    /// Opens an account; `initialCash` > 0 deposits it in the same decision (one atomic append: an account
    /// never exists without the cash it was opened with).
    case registerAccount(
        user: UserID,
        broker: BrokerKind,
        accountNumber: String,
        dailyOrderLimit: Int64,
        initialCash: Int64 = 0
    )
    /// With `expectedCash`, refused unless the account's cash is still that (reconciliation adopting the
    /// broker's cash: two reconcilers comparing the same balance must not both deposit the difference).
    case depositCash(account: AccountID, amount: Int64, expectedCash: Int64? = nil)
    /// The cash moved by a small signed `amount` that is no deposit (reconciliation following the broker's rounding
    /// of fees), refused unless the cash is still `expectedCash`.
    case adjustCash(account: AccountID, amount: Int64, expectedCash: Int64, reason: String)
    case placeOrder(PlaceOrder)
    case cancelOrder(OrderID)
    case recordSubmitted(OrderID)
    /// A SUBMITTED order is about to be sent to the broker again, because the broker's order list shows that
    /// the last send was not taken. Records `OrderSubmitted` once more: the order's `updatedAt` is then the
    /// latest send, the instant a later look at the broker's list must be newer than. With `lastSend` (the
    /// `updatedAt` the sender saw), refused when the order was sent again since: two workers that both judged
    /// the same send lost do not both send again.
    case recordResending(OrderID, lastSend: Int64? = nil)
    case recordAccepted(OrderID, brokerOrderNumber: String, organization: String = "")
    /// The broker's day is over and the order still rests there unfilled (day orders end with the session).
    case recordExpired(OrderID)
    case recordBrokerRejected(OrderID, reason: RejectionReason, message: String)
    case recordFill(OrderID, quantity: Int64, price: Int64, fillID: String)
    case recordCancelled(OrderID)
    case recordFailed(OrderID, reason: RejectionReason, message: String)
    /// Expires every day order still working at the close of the KST day containing the command's time.
    case expireDayOrders
    case ingestCandle(Candle)
    case issueToken(account: AccountID, expiresAt: Int64)
    case expireToken(account: AccountID)
    case enableStrategy(account: AccountID, stock: StockCode, strategy: String, parameters: String)
    case disableStrategy(account: AccountID, stock: StockCode, strategy: String)
    case recordSignal(SignalGenerated)
    /// A strategy's intent that placed nothing (a size under one share, nothing to sell): `SignalSkipped`.
    case recordSkipped(SignalGenerated)
    /// A person's rule set stored under `name` as its next version (`StrategyDefined`); the same source as the
    /// newest version adds nothing. Enabled as the strategy `rule:<name>`.
    case defineStrategy(user: UserID, name: String, source: String)
    /// Indicator values of one bar, computed outside the engine by its own `IndicatorSet` (data-analysis).
    case recordIndicators([IndicatorComputed])
    case notify(user: UserID, kind: String, title: String, message: String)
    case recordNotificationSent(NotificationID, channel: String, detail: String)
    case recordNotificationFailed(NotificationID, channel: String, detail: String)
    case markNotificationRead(NotificationID, user: UserID)
    case haltAccount(AccountID, reason: String)
    /// The owner's kill switch: in one decision every strategy of the account is disabled, every working order
    /// that can be cancelled is (a PENDING one at once, one at the broker by a cancel request), and the account
    /// is halted, so nothing new is sent. An order in flight to the broker (SUBMITTED, RESENDING) cannot be
    /// cancelled before the broker answers: pressing the switch again then cancels it.
    case killSwitch(AccountID, user: UserID)
    /// The owner resumes a halted account; `agreement` is what showed its books agree with the broker's (the
    /// caller's reconciliation). Refused for a closed account; a repeat records nothing.
    case resumeAccount(AccountID, user: UserID, agreement: String)
    /// The operator role, given or taken by the command line on the engine's host (`by`: who ran it).
    case grantOperator(UserID, by: String)
    case revokeOperator(UserID, by: String)
    /// The global kill switch, an operator's: every account refuses new orders until it is resumed.
    case haltTrading(by: UserID, reason: String)
    /// KRX halted or interrupted (VI) trading in a stock, or resumed it (the worker, from KIS's quote): no
    /// events when unchanged.
    case setStockStatus(stock: StockCode, status: StockTradingStatus, reason: String)
    /// A stock's price from KIS's quote at `at` (the worker, for stocks with armed triggers): recorded and checked
    /// against the triggers only while it adds something — armed triggers, continuous trading (09:00–15:20 KST of
    /// a session the stock has bars of), newer than the stock's last bar.
    case recordQuote(stock: StockCode, price: Int64, at: Int64)
    /// A protective order the engine watches (stop-loss, take-profit, trailing stop).
    case armTrigger(ArmTrigger)
    /// Its owner cancels an armed trigger.
    case cancelTrigger(TriggerID, user: UserID)
    case resumeTrading(by: UserID, reason: String)
    /// The owner closes an account: refused while it has working orders or holds shares.
    case closeAccount(AccountID, user: UserID)
    /// Erases a person (their key outside the log is destroyed by the caller): refused while they have an open
    /// account; once erased, nothing more is recorded for them.
    case eraseUser(UserID)
}

/// When and why a command happens: time comes from here, never from a clock inside the engine.
public struct CommandContext: Sendable, Hashable {
    public var time: Int64
    public var correlationID: String
    public var causation: UInt64?

    public init(time: Int64, correlationID: String = "", causation: UInt64? = nil) {
        self.time = time
        self.correlationID = correlationID
        self.causation = causation
    }
}

/// What a command decided: the events to append (possibly none, for an idempotent repeat) and the order
/// the command concerns, if any.
public struct Decision: Sendable, Hashable {
    public var events: [DomainEvent]
    public var order: OrderID?
    /// The entity a registration created (account or user id value), if any.
    public var created: UInt64?

    public init(events: [DomainEvent], order: OrderID? = nil, created: UInt64? = nil) {
        self.events = events
        self.order = order
        self.created = created
    }
}
