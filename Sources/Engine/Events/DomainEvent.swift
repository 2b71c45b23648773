// The domain's events. Each has a stable numeric type id (never reused), a type name and a schema version;
// older versions decode by upcasting (see `EventCodec`). Money and prices are integer KRW.

public struct StockListed: Sendable, Hashable {
    public var stock: StockCode
    public var name: String
    public var market: String
    /// Base price for the daily limit band until the first session close the engine sees.
    public var previousClose: Int64
    public init(stock: StockCode, name: String, market: String, previousClose: Int64) {
        self.stock = stock
        self.name = name
        self.market = market
        self.previousClose = previousClose
    }
}

public struct UserRegistered: Sendable, Hashable {
    public var user: UserID
    /// Contact address for notifications (credentials never enter the log).
    public var email: String
    public init(user: UserID, email: String) {
        self.user = user
        self.email = email
    }
}

public struct BrokerAccountRegistered: Sendable, Hashable {
    public var account: AccountID
    public var user: UserID
    public var broker: BrokerKind
    /// The broker account number with all but the last digits masked; app keys never enter the log.
    public var maskedAccountNumber: String
    public var dailyOrderLimit: Int64
    public init(
        account: AccountID,
        user: UserID,
        broker: BrokerKind,
        maskedAccountNumber: String,
        dailyOrderLimit: Int64
    ) {
        self.account = account
        self.user = user
        self.broker = broker
        self.maskedAccountNumber = maskedAccountNumber
        self.dailyOrderLimit = dailyOrderLimit
    }
}

public struct CashDeposited: Sendable, Hashable {
    public var account: AccountID
    public var amount: Int64
    public init(account: AccountID, amount: Int64) {
        self.account = account
        self.amount = amount
    }
}

/// The account's cash set to the broker's by a small difference that is no deposit or withdrawal: the broker's
/// rounding of commission and tax differing from the engine's (`amount` is signed), with why.
public struct CashAdjusted: Sendable, Hashable {
    public var account: AccountID
    public var amount: Int64
    public var reason: String
    public init(account: AccountID, amount: Int64, reason: String) {
        self.account = account
        self.amount = amount
        self.reason = reason
    }
}

/// Schema v2 (v1 had no `type` and `source`: it was limit-only and user-only).
public struct OrderRequested: Sendable, Hashable {
    public var order: OrderID
    public var account: AccountID
    public var stock: StockCode
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Int64
    /// Limit price; for market orders the price reserved against (the upper limit for buys), 0 for sells.
    public var price: Int64
    public var source: OrderSource
    public var clientOrderID: String
    public init(
        order: OrderID,
        account: AccountID,
        stock: StockCode,
        side: OrderSide,
        type: OrderType,
        quantity: Int64,
        price: Int64,
        source: OrderSource,
        clientOrderID: String
    ) {
        self.order = order
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

/// An order refused by our risk checks (`request` set: it never became PENDING and reserved nothing) or by
/// the broker (`request` nil: the order was requested and submitted before).
public struct OrderRejected: Sendable, Hashable {
    public var order: OrderID
    public var rejectedBy: RejectedBy
    public var reason: RejectionReason
    public var message: String
    public var request: OrderRequested?
    public init(
        order: OrderID,
        rejectedBy: RejectedBy,
        reason: RejectionReason,
        message: String,
        request: OrderRequested? = nil
    ) {
        self.order = order
        self.rejectedBy = rejectedBy
        self.reason = reason
        self.message = message
        self.request = request
    }
}

/// An event that names only an order (submitted, cancel requested, expired).
public struct OrderReference: Sendable, Hashable {
    public var order: OrderID
    public init(order: OrderID) { self.order = order }
}

public struct OrderAccepted: Sendable, Hashable {
    public var order: OrderID
    public var brokerOrderNumber: String
    /// `KRX_FWDG_ORD_ORGNO` of the order's answer (empty: not known, e.g. adopted from the day's list; v2).
    public var brokerOrganization: String
    public init(order: OrderID, brokerOrderNumber: String, brokerOrganization: String = "") {
        self.order = order
        self.brokerOrderNumber = brokerOrderNumber
        self.brokerOrganization = brokerOrganization
    }
}

/// A fill: `OrderPartiallyFilled` when quantity remains, `OrderFilled` when none does.
public struct OrderFill: Sendable, Hashable {
    public var order: OrderID
    public var quantity: Int64
    public var price: Int64
    public var commission: Int64
    public var tax: Int64
    /// The broker's fill identifier (idempotency: the same fill reported twice is applied once).
    public var fillID: String
    public init(order: OrderID, quantity: Int64, price: Int64, commission: Int64, tax: Int64, fillID: String) {
        self.order = order
        self.quantity = quantity
        self.price = price
        self.commission = commission
        self.tax = tax
        self.fillID = fillID
    }
}

public struct OrderCancelled: Sendable, Hashable {
    public var order: OrderID
    public var cancelledQuantity: Int64
    public init(order: OrderID, cancelledQuantity: Int64) {
        self.order = order
        self.cancelledQuantity = cancelledQuantity
    }
}

public struct OrderFailed: Sendable, Hashable {
    public var order: OrderID
    public var reason: RejectionReason
    public var message: String
    public init(order: OrderID, reason: RejectionReason, message: String) {
        self.order = order
        self.reason = reason
        self.message = message
    }
}

public struct IndicatorComputed: Sendable, Hashable {
    public var stock: StockCode
    public var timeframe: Timeframe
    public var start: Int64
    /// Column name such as `rsi_14` or `macd_12_26_9`.
    public var name: String
    /// Stored as the IEEE-754 bit pattern so the event stays `Hashable` and exact.
    public var valueBits: UInt64
    public var value: Double { Double(bitPattern: self.valueBits) }
    public init(stock: StockCode, timeframe: Timeframe, start: Int64, name: String, value: Double) {
        self.stock = stock
        self.timeframe = timeframe
        self.start = start
        self.name = name
        self.valueBits = value.bitPattern
    }
}

/// The indicator values of one bar, recorded together: data-analysis records a bar's `IndicatorSet` as one
/// event (an `IndicatorComputed` per value — the older form, still read — made a dozen events of every bar).
public struct IndicatorsComputed: Sendable, Hashable {
    public var stock: StockCode
    public var timeframe: Timeframe
    public var start: Int64
    /// The values, in the order recorded (names unique).
    public var values: [IndicatorValue]
    public init(stock: StockCode, timeframe: Timeframe, start: Int64, values: [IndicatorValue]) {
        self.stock = stock
        self.timeframe = timeframe
        self.start = start
        self.values = values
    }

    /// Each value as the one-value event (what the `indicators` read model keeps a row of).
    public var each: [IndicatorComputed] {
        self.values.map {
            IndicatorComputed(
                stock: self.stock,
                timeframe: self.timeframe,
                start: self.start,
                name: $0.name,
                value: $0.value
            )
        }
    }
}

/// One named indicator value.
public struct IndicatorValue: Sendable, Hashable {
    /// Column name such as `rsi_14` or `macd_12_26_9`.
    public var name: String
    /// Stored as the IEEE-754 bit pattern so the event stays `Hashable` and exact.
    public var valueBits: UInt64
    public var value: Double { Double(bitPattern: self.valueBits) }
    public init(name: String, value: Double) {
        self.name = name
        self.valueBits = value.bitPattern
    }
}

/// A person's rule set (`RuleSet`) stored under a name of theirs, as its next version: strategies as data.
public struct StrategyDefined: Sendable, Hashable {
    public var user: UserID
    public var name: String
    public var version: UInt64
    public var source: String
    public init(user: UserID, name: String, version: UInt64, source: String) {
        self.user = user
        self.name = name
        self.version = version
        self.source = source
    }
}

public struct SignalGenerated: Sendable, Hashable {
    public var account: AccountID
    public var stock: StockCode
    public var strategy: String
    public var side: OrderSide
    public var reason: String
    /// `SignalSkipped` only (schema v2): the key of the request skipped — a strategy order's client order id —
    /// so that the same request again (a retried job) records nothing more. Empty: none (v1, a backtest).
    public var key: String
    public init(
        account: AccountID,
        stock: StockCode,
        strategy: String,
        side: OrderSide,
        reason: String,
        key: String = ""
    ) {
        self.account = account
        self.stock = stock
        self.strategy = strategy
        self.side = side
        self.reason = reason
        self.key = key
    }
}

public struct NotificationCreated: Sendable, Hashable {
    public var notification: NotificationID
    public var user: UserID
    /// `ORDER_FILLED`, `ORDER_FAILED`, `ORDER_REJECTED`, `PRICE_ALERT`, `ACCOUNT_HALTED`…
    public var kind: String
    public var title: String
    public var message: String
    public init(notification: NotificationID, user: UserID, kind: String, title: String, message: String) {
        self.notification = notification
        self.user = user
        self.kind = kind
        self.title = title
        self.message = message
    }
}

public struct NotificationDelivery: Sendable, Hashable {
    public var notification: NotificationID
    /// `email`, `webhook`.
    public var channel: String
    public var detail: String
    public init(notification: NotificationID, channel: String, detail: String) {
        self.notification = notification
        self.channel = channel
        self.detail = detail
    }
}

public struct NotificationReference: Sendable, Hashable {
    public var notification: NotificationID
    public init(notification: NotificationID) { self.notification = notification }
}

public struct BrokerTokenIssued: Sendable, Hashable {
    public var account: AccountID
    /// When the token stops working (the token itself is a secret and never enters the log).
    public var expiresAt: Int64
    public init(account: AccountID, expiresAt: Int64) {
        self.account = account
        self.expiresAt = expiresAt
    }
}

public struct AccountReference: Sendable, Hashable {
    public var account: AccountID
    public init(account: AccountID) { self.account = account }
}

public struct UserReference: Sendable, Hashable {
    public var user: UserID
    public init(user: UserID) { self.user = user }
}

public struct StrategyEnabled: Sendable, Hashable {
    public var account: AccountID
    public var stock: StockCode
    /// `ma-cross` or `rsi-reversion`.
    public var strategy: String
    /// Parameters as `key=value` pairs separated by commas (`fast=5,slow=20,quantity=10`).
    public var parameters: String
    public init(account: AccountID, stock: StockCode, strategy: String, parameters: String) {
        self.account = account
        self.stock = stock
        self.strategy = strategy
        self.parameters = parameters
    }
}

public struct StrategyDisabled: Sendable, Hashable {
    public var account: AccountID
    public var stock: StockCode
    public var strategy: String
    public init(account: AccountID, stock: StockCode, strategy: String) {
        self.account = account
        self.stock = stock
        self.strategy = strategy
    }
}

/// Something that happened but cannot be applied (a fill for a cancelled order…): kept for the operator.
public struct AnomalyRecorded: Sendable, Hashable {
    public var order: OrderID?
    public var account: AccountID?
    public var message: String
    public init(order: OrderID?, account: AccountID?, message: String) {
        self.order = order
        self.account = account
        self.message = message
    }
}

public struct AccountHalted: Sendable, Hashable {
    public var account: AccountID
    public var reason: String
    public init(account: AccountID, reason: String) {
        self.account = account
        self.reason = reason
    }
}

/// A halted account takes orders again: `by` is who resumed it (its owner), `agreement` what showed the
/// engine's books agree with the broker's (a reconciliation for a KIS account; the engine's own books for a
/// simulated one).
public struct AccountResumed: Sendable, Hashable {
    public var account: AccountID
    public var by: UserID
    public var agreement: String
    public init(account: AccountID, by: UserID, agreement: String) {
        self.account = account
        self.by = by
        self.agreement = agreement
    }
}

/// A user given (or relieved of) the operator role: by the command line on the engine's host
/// (`stockboom users operator`), never through the API. `by` names who ran it there.
public struct OperatorRole: Sendable, Hashable {
    public var user: UserID
    public var by: String
    public init(user: UserID, by: String) {
        self.user = user
        self.by = by
    }
}

/// Trading halted (or resumed) for every account at once by an operator: the global kill switch.
public struct TradingHalt: Sendable, Hashable {
    public var by: UserID
    public var reason: String
    public init(by: UserID, reason: String) {
        self.by = by
        self.reason = reason
    }
}

/// How KRX trades a stock, as KIS's quote shows it.
public enum StockTradingStatus: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Continuous trading.
    case trading = 0
    /// A trading halt (`거래정지`, `temp_stop_yn = Y`): KRX takes no order.
    case halted = 1
    /// A volatility interruption (VI, `vi_cls_code` other than `N`): about two minutes of single-price auction.
    /// KRX takes orders into the auction; the engine's triggers wait for continuous trading (an exit sent into
    /// the auction would fill at a price nobody can bound).
    case volatilityInterruption = 2

    public var description: String {
        switch self {
        case .trading: "TRADING"
        case .halted: "HALTED"
        case .volatilityInterruption: "VI"
        }
    }
}

/// `StockStatusChanged`: KRX halted trading in a stock (a `거래정지`), interrupted it for volatility (VI), or
/// resumed it, as KIS's quote shows it. While halted the engine takes no order for the stock; while halted or
/// interrupted its triggers wait.
public struct StockStatusChanged: Sendable, Hashable {
    public var stock: StockCode
    public var status: StockTradingStatus
    /// Why (as the data said it); "" when trading resumed.
    public var reason: String
    public var halted: Bool { self.status == .halted }
    public init(stock: StockCode, status: StockTradingStatus, reason: String) {
        self.stock = stock
        self.status = status
        self.reason = reason
    }
}

/// `QuoteRecorded`: a stock's price as KIS's quote showed it at `at`, between its one-minute bars — recorded only
/// for a stock with armed triggers, which check it as they check a bar (a point: open, high, low and close the
/// price), so an exit need not wait for the minute's bar.
public struct QuoteRecorded: Sendable, Hashable {
    public var stock: StockCode
    public var price: Int64
    /// When the quote was taken (µs, the worker's session clock).
    public var at: Int64
    public init(stock: StockCode, price: Int64, at: Int64) {
        self.stock = stock
        self.price = price
        self.at = at
    }

    /// The quote as the bar the triggers check.
    public var point: Candle {
        Candle(
            stock: self.stock,
            timeframe: .minute1,
            start: self.at,
            open: self.price,
            high: self.price,
            low: self.price,
            close: self.price,
            volume: 0
        )
    }
}

/// Everything that can happen, as one closed set.
public enum DomainEvent: Sendable, Hashable {
    case stockListed(StockListed)
    case userRegistered(UserRegistered)
    case brokerAccountRegistered(BrokerAccountRegistered)
    case cashDeposited(CashDeposited)
    case orderRequested(OrderRequested)
    case orderRejected(OrderRejected)
    case orderSubmitted(OrderReference)
    case orderAccepted(OrderAccepted)
    case orderPartiallyFilled(OrderFill)
    case orderFilled(OrderFill)
    case orderCancelRequested(OrderReference)
    case orderCancelled(OrderCancelled)
    case orderFailed(OrderFailed)
    case orderExpired(OrderReference)
    case candleClosed(Candle)
    case indicatorComputed(IndicatorComputed)
    case indicatorsComputed(IndicatorsComputed)
    case signalGenerated(SignalGenerated)
    /// A strategy's intent that placed nothing: its bar too old when the decision was taken (the stale-bar
    /// guard), or a size under one share, or nothing to sell. Same fields as `SignalGenerated`.
    case signalSkipped(SignalGenerated)
    case strategyDefined(StrategyDefined)
    case notificationCreated(NotificationCreated)
    case notificationSent(NotificationDelivery)
    case notificationFailed(NotificationDelivery)
    case notificationRead(NotificationReference)
    case brokerTokenIssued(BrokerTokenIssued)
    case brokerTokenExpired(AccountReference)
    case strategyEnabled(StrategyEnabled)
    case strategyDisabled(StrategyDisabled)
    case anomalyRecorded(AnomalyRecorded)
    case accountHalted(AccountHalted)
    case brokerAccountClosed(AccountReference)
    /// A person was erased (PIPA art. 36, GDPR art. 17): their key is destroyed outside the log, so the sealed
    /// address their `UserRegistered` carries can no longer be read; the state forgets it too.
    case userErased(UserReference)
    case accountResumed(AccountResumed)
    case operatorGranted(OperatorRole)
    case operatorRevoked(OperatorRole)
    case tradingHalted(TradingHalt)
    case tradingResumed(TradingHalt)
    case triggerArmed(TriggerArmed)
    case triggerFired(TriggerFired)
    case triggerCancelled(TriggerCancelled)
    case stockStatusChanged(StockStatusChanged)
    case quoteRecorded(QuoteRecorded)
    case cashAdjusted(CashAdjusted)

    /// The event's type name, as stored in audits and dumps.
    public var typeName: String { EventType(self).name }

    /// The stream the event belongs to: `order-<n>`, `account-<n>`, `stock-<code>`, `user-<n>`, `notification-<n>`.
    public var streamKey: String {
        switch self {
        case .stockListed(let event): "stock-\(event.stock)"
        case .candleClosed(let candle): "stock-\(candle.stock)"
        case .indicatorComputed(let event): "stock-\(event.stock)"
        case .indicatorsComputed(let event): "stock-\(event.stock)"
        case .userRegistered(let event): "user-\(event.user.value)"
        case .brokerAccountRegistered(let event): "account-\(event.account.value)"
        case .cashDeposited(let event): "account-\(event.account.value)"
        case .cashAdjusted(let event): "account-\(event.account.value)"
        case .brokerTokenIssued(let event): "account-\(event.account.value)"
        case .brokerTokenExpired(let event): "account-\(event.account.value)"
        case .strategyEnabled(let event): "account-\(event.account.value)"
        case .strategyDisabled(let event): "account-\(event.account.value)"
        case .signalGenerated(let event), .signalSkipped(let event): "account-\(event.account.value)"
        case .strategyDefined(let event): "user-\(event.user.value)"
        case .accountHalted(let event): "account-\(event.account.value)"
        case .accountResumed(let event): "account-\(event.account.value)"
        case .operatorGranted(let event), .operatorRevoked(let event): "user-\(event.user.value)"
        case .tradingHalted, .tradingResumed: "system"
        case .triggerArmed(let event): "trigger-\(event.trigger.value)"
        case .triggerFired(let event): "trigger-\(event.trigger.value)"
        case .triggerCancelled(let event): "trigger-\(event.trigger.value)"
        case .stockStatusChanged(let event): "stock-\(event.stock)"
        case .quoteRecorded(let event): "stock-\(event.stock)"
        case .brokerAccountClosed(let event): "account-\(event.account.value)"
        case .userErased(let event): "user-\(event.user.value)"
        case .orderRequested(let event): "order-\(event.order.value)"
        case .orderRejected(let event): "order-\(event.order.value)"
        case .orderSubmitted(let event), .orderCancelRequested(let event), .orderExpired(let event):
            "order-\(event.order.value)"
        case .orderAccepted(let event): "order-\(event.order.value)"
        case .orderPartiallyFilled(let event), .orderFilled(let event): "order-\(event.order.value)"
        case .orderCancelled(let event): "order-\(event.order.value)"
        case .orderFailed(let event): "order-\(event.order.value)"
        case .notificationCreated(let event): "user-\(event.user.value)"
        case .notificationSent(let event), .notificationFailed(let event): "notification-\(event.notification.value)"
        case .notificationRead(let event): "notification-\(event.notification.value)"
        case .anomalyRecorded(let event):
            event.order.map { "order-\($0.value)" } ?? event.account.map { "account-\($0.value)" } ?? "system"
        }
    }

    /// The order this event is about, if any.
    public var orderID: OrderID? {
        switch self {
        case .orderRequested(let event): event.order
        case .orderRejected(let event): event.order
        case .orderSubmitted(let event), .orderCancelRequested(let event), .orderExpired(let event): event.order
        case .orderAccepted(let event): event.order
        case .triggerFired(let event): event.order
        case .orderPartiallyFilled(let event), .orderFilled(let event): event.order
        case .orderCancelled(let event): event.order
        case .orderFailed(let event): event.order
        case .anomalyRecorded(let event): event.order
        default: nil
        }
    }
}

/// The stable identity of each event type: numeric id (on disk), name, current schema version.
public struct EventType: Sendable, Hashable {
    public let id: UInt8
    public let name: String
    public let version: UInt8

    public static let all: [EventType] = [
        EventType(id: 1, name: "StockListed", version: 1),
        EventType(id: 2, name: "UserRegistered", version: 1),
        EventType(id: 3, name: "BrokerAccountRegistered", version: 1),
        EventType(id: 4, name: "CashDeposited", version: 1),
        EventType(id: 5, name: "OrderRequested", version: 2),
        EventType(id: 6, name: "OrderRejected", version: 1),
        EventType(id: 7, name: "OrderSubmitted", version: 1),
        EventType(id: 8, name: "OrderAccepted", version: 2),
        EventType(id: 9, name: "OrderPartiallyFilled", version: 1),
        EventType(id: 10, name: "OrderFilled", version: 1),
        EventType(id: 11, name: "OrderCancelRequested", version: 1),
        EventType(id: 12, name: "OrderCancelled", version: 1),
        EventType(id: 13, name: "OrderFailed", version: 1),
        EventType(id: 14, name: "OrderExpired", version: 1),
        EventType(id: 15, name: "CandleClosed", version: 1),
        EventType(id: 16, name: "IndicatorComputed", version: 1),
        EventType(id: 17, name: "SignalGenerated", version: 1),
        EventType(id: 18, name: "NotificationCreated", version: 1),
        EventType(id: 19, name: "NotificationSent", version: 1),
        EventType(id: 20, name: "NotificationFailed", version: 1),
        EventType(id: 21, name: "NotificationRead", version: 1),
        EventType(id: 22, name: "BrokerTokenIssued", version: 1),
        EventType(id: 23, name: "BrokerTokenExpired", version: 1),
        EventType(id: 24, name: "StrategyEnabled", version: 1),
        EventType(id: 25, name: "StrategyDisabled", version: 1),
        EventType(id: 26, name: "AnomalyRecorded", version: 1),
        EventType(id: 27, name: "AccountHalted", version: 1),
        EventType(id: 28, name: "BrokerAccountClosed", version: 1),
        EventType(id: 29, name: "IndicatorsComputed", version: 1),
        EventType(id: 30, name: "UserErased", version: 1),
        EventType(id: 31, name: "AccountResumed", version: 1),
        EventType(id: 32, name: "OperatorGranted", version: 1),
        EventType(id: 33, name: "OperatorRevoked", version: 1),
        EventType(id: 34, name: "TradingHalted", version: 1),
        EventType(id: 35, name: "TradingResumed", version: 1),
        EventType(id: 36, name: "TriggerArmed", version: 2),  // v2: offsetBasisPoints
        EventType(id: 37, name: "TriggerFired", version: 1),
        EventType(id: 38, name: "TriggerCancelled", version: 1),
        EventType(id: 39, name: "SignalSkipped", version: 2),
        EventType(id: 40, name: "StrategyDefined", version: 1),
        EventType(id: 41, name: "StockStatusChanged", version: 1),
        EventType(id: 42, name: "QuoteRecorded", version: 1),
        EventType(id: 43, name: "CashAdjusted", version: 1),
    ]

    private init(id: UInt8, name: String, version: UInt8) {
        self.id = id
        self.name = name
        self.version = version
    }

    static func byID(_ id: UInt8) -> EventType? {
        id >= 1 && Int(id) <= Self.all.count ? Self.all[Int(id) - 1] : nil
    }

    /// Borrowed: an initializer takes its arguments owned, and the encoder, which has the event borrowed, paid
    /// a copy of it (its strings retained and released) per event for the type alone.
    init(_ event: borrowing DomainEvent) {
        let index: Int
        switch event {
        case .stockListed: index = 1
        case .userRegistered: index = 2
        case .brokerAccountRegistered: index = 3
        case .cashDeposited: index = 4
        case .orderRequested: index = 5
        case .orderRejected: index = 6
        case .orderSubmitted: index = 7
        case .orderAccepted: index = 8
        case .orderPartiallyFilled: index = 9
        case .orderFilled: index = 10
        case .orderCancelRequested: index = 11
        case .orderCancelled: index = 12
        case .orderFailed: index = 13
        case .orderExpired: index = 14
        case .candleClosed: index = 15
        case .indicatorComputed: index = 16
        case .signalGenerated: index = 17
        case .notificationCreated: index = 18
        case .notificationSent: index = 19
        case .notificationFailed: index = 20
        case .notificationRead: index = 21
        case .brokerTokenIssued: index = 22
        case .brokerTokenExpired: index = 23
        case .strategyEnabled: index = 24
        case .strategyDisabled: index = 25
        case .anomalyRecorded: index = 26
        case .accountHalted: index = 27
        case .brokerAccountClosed: index = 28
        case .indicatorsComputed: index = 29
        case .userErased: index = 30
        case .accountResumed: index = 31
        case .operatorGranted: index = 32
        case .operatorRevoked: index = 33
        case .tradingHalted: index = 34
        case .tradingResumed: index = 35
        case .triggerArmed: index = 36
        case .triggerFired: index = 37
        case .triggerCancelled: index = 38
        case .signalSkipped: index = 39
        case .strategyDefined: index = 40
        case .stockStatusChanged: index = 41
        case .quoteRecorded: index = 42
        case .cashAdjusted: index = 43
        }
        self = Self.all[index - 1]
    }
}

/// An event with its envelope (DESIGN.md "Contracts shared by every part").
public struct EventEnvelope: Sendable, Hashable {
    /// The log offset; nil until the event is appended.
    public var offset: UInt64?
    /// When it happened (µs, UTC); also the log record's timestamp.
    public var timestamp: Int64
    /// The offset of the event or command that led to it (nil for outside input).
    public var causation: UInt64?
    /// One id per user request or job, shared by every event it produced.
    public var correlationID: String
    public var event: DomainEvent

    public init(
        offset: UInt64? = nil,
        timestamp: Int64,
        causation: UInt64? = nil,
        correlationID: String = "",
        event: DomainEvent
    ) {
        self.offset = offset
        self.timestamp = timestamp
        self.causation = causation
        self.correlationID = correlationID
        self.event = event
    }

    public var typeName: String { self.event.typeName }
    public var schemaVersion: Int { Int(EventType(self.event).version) }
    public var streamKey: String { self.event.streamKey }
}
