public import Engine
import Foundation
import Storage

/// What a worker asks the engine to record: a job's outcome. The engine process owns the log (one writer),
/// so the worker sends these to the gateway's internal endpoint (`POST /internal/commands`); each becomes an
/// engine command, is decided against the current state and appended durably before the answer. All are
/// idempotent where a retried job may send them twice (fills carry the broker's fill id, notifications
/// their id, acceptances are refused once past).
public enum WireCommand: Codable, Sendable, Equatable {
    case submitted(order: String)
    /// The order (SUBMITTED) is sent to the broker again: its last send (`lastSend`, the order's `updatedAt`
    /// as the worker saw it) was not taken. Refused (409) if another worker sent it again meanwhile.
    case resending(order: String, lastSend: Int64? = nil)
    /// `organization`: the answer's `KRX_FWDG_ORD_ORGNO`, which a cancel or revision of the order names.
    case accepted(order: String, brokerOrderNumber: String, organization: String? = nil)
    /// Still resting at the broker when its day ended: expired (unfilled quantity released).
    case expired(order: String)
    case brokerRejected(order: String, reason: String, message: String)
    case fill(order: String, quantity: Int64, price: Int64, fillID: String)
    case cancelled(order: String)
    case failed(order: String, reason: String, message: String)
    case tokenIssued(account: String, expiresAt: Int64)
    case tokenExpired(account: String)
    case candle(
        stock: String,
        timeframe: String,
        start: Int64,
        open: Int64,
        high: Int64,
        low: Int64,
        close: Int64,
        volume: Int64
    )
    case notificationSent(notification: String, channel: String, detail: String)
    case notificationFailed(notification: String, channel: String, detail: String)
    case halt(account: String, reason: String)
    /// KRX halted trading in a stock (`temp_stop_yn`), interrupted it for volatility (`vi_cls_code`), or resumed
    /// it, as KIS's quote showed; nothing is recorded when the engine already knows. (`volatilityInterruption`
    /// absent: a worker from before VIs were read — its `halted` alone.)
    case stockStatus(stock: String, halted: Bool, reason: String, volatilityInterruption: Bool? = nil)
    /// A stock's price from KIS's quote at `at` (µs, the worker's session clock), for the triggers armed on it.
    case quote(stock: String, price: Int64, at: Int64)
    /// With `expectedCash` (the engine's cash the amount was computed from), refused (409) if it moved since.
    case deposit(account: String, amount: Int64, expectedCash: Int64? = nil)
    /// A small signed move of the cash that is no deposit: reconciliation following the broker's rounding of fees.
    /// Refused (409) unless the cash is still `expectedCash`.
    case adjustCash(account: String, amount: Int64, expectedCash: Int64, reason: String)
    /// A strategy's order: a market order with `clientOrderID` as its idempotency key.
    case placeOrder(account: String, stock: String, side: String, quantity: Int64, clientOrderID: String)
    /// A KRX listing (`stockboom stocks import`): listed, or its name and market updated; the same again is a
    /// no-op.
    case listStock(stock: String, name: String, market: String, previousClose: Int64)
    case signal(account: String, stock: String, strategy: String, side: String, reason: String)
    /// A strategy's order (`OrderIntent` resolved): market (`price` 0) or limit, with a bracket's levels, the
    /// strategy and the bar it decided on — the engine records `SignalGenerated` with the order, or
    /// `SignalSkipped` when the bar is older than its stale-bar limit. `clientOrderID`: its idempotency key.
    case strategyOrder(
        account: String,
        stock: String,
        side: String,
        quantity: Int64,
        price: Int64,
        clientOrderID: String,
        strategy: String,
        reason: String,
        barStart: Int64,
        stopLossPrice: Int64? = nil,
        takeProfitPrice: Int64? = nil,
        trailBasisPoints: Int64? = nil,
        stopLossBasisPoints: Int64? = nil,
        takeProfitBasisPoints: Int64? = nil
    )
    /// A strategy's intent that placed nothing (`SignalSkipped`). `key`, as a strategy order's client order id:
    /// the same intent sent again (a retried job) records nothing more.
    case skipped(account: String, stock: String, strategy: String, side: String, reason: String, key: String? = nil)
    /// A strategy cancels one of its working orders (one its view listed).
    case cancelOrder(order: String)
    /// One bar's indicator values by name (`IndicatorSet.columns`).
    case indicators(stock: String, timeframe: String, start: Int64, values: [String: Double])
    case notify(user: String, kind: String, title: String, message: String)
    /// `stockboom users operator grant|revoke`: the operator role, from the engine's host only (the worker token).
    case grantOperator(user: String, by: String)
    case revokeOperator(user: String, by: String)

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// The command as its `Codable` form reads (`{"<case>":{<fields>}}`). Indicator batches — most of a trading
    /// day's commands, one per analysed bar — are written by hand; the rest by `JSONEncoder`. A value JSON
    /// cannot carry (NaN, ±∞) is an `EncodingError`, as it is for the encoder.
    public func json() throws -> String {
        guard case .indicators(let stock, let timeframe, let start, let values) = self else {
            return String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
        }
        var named = JSONObjectWriter()
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard value.isFinite else {
                throw EncodingError.invalidValue(
                    value,
                    EncodingError.Context(codingPath: [], debugDescription: "indicator \(name) of \(stock) is \(value)")
                )
            }
            named.field(name, value)
        }
        var fields = JSONObjectWriter()
        fields.field("stock", stock)
        fields.field("timeframe", timeframe)
        fields.field("start", start)
        fields.raw("values", named.finish())
        var command = JSONObjectWriter()
        command.raw("indicators", fields.finish())
        return command.finish()
    }

    /// The engine command, or `Invalid` naming the field.
    public func command() throws -> Command {
        func order(_ text: String) throws -> OrderID {
            guard let id = OrderID(text) else {
                throw Invalid(description: "order must be an order id like ord-0000000001; got '\(text)'")
            }
            return id
        }
        func user(_ text: String) throws -> UserID {
            guard let id = UserID(text) else {
                throw Invalid(description: "user must be a user id like user-0000000001; got '\(text)'")
            }
            return id
        }
        func account(_ text: String) throws -> AccountID {
            guard let id = AccountID(text) else {
                throw Invalid(description: "account must be an account id like acc-0000000001; got '\(text)'")
            }
            return id
        }
        func reason(_ text: String) throws -> RejectionReason {
            guard let reason = RejectionReason(rawValue: text) else {
                throw Invalid(
                    description:
                        "reason must be one of \(RejectionReason.allCases.map(\.rawValue).joined(separator: ", ")); got '\(text)'"
                )
            }
            return reason
        }
        func stockCode(_ text: String) throws -> StockCode {
            guard let code = StockCode(text) else {
                throw Invalid(description: "stock must be a 6-digit code; got '\(text)'")
            }
            return code
        }
        func orderSide(_ text: String) throws -> OrderSide {
            guard let side = OrderSide(text: text) else {
                throw Invalid(description: "side must be BUY or SELL; got '\(text)'")
            }
            return side
        }
        func timeframeOf(_ text: String) throws -> Timeframe {
            guard let frame = Timeframe(text: text) else {
                throw Invalid(description: "timeframe must be 1m, 5m, 15m, 1h or 1d; got '\(text)'")
            }
            return frame
        }
        func notification(_ text: String) throws -> NotificationID {
            guard let id = NotificationID(text) else {
                throw Invalid(description: "notification must be an id like ntf-0000000001; got '\(text)'")
            }
            return id
        }
        switch self {
        case .submitted(let id): return .recordSubmitted(try order(id))
        case .resending(let id, let lastSend): return .recordResending(try order(id), lastSend: lastSend)
        case .accepted(let id, let number, let organization):
            return .recordAccepted(try order(id), brokerOrderNumber: number, organization: organization ?? "")
        case .expired(let id): return .recordExpired(try order(id))
        case .brokerRejected(let id, let text, let message):
            return .recordBrokerRejected(try order(id), reason: try reason(text), message: message)
        case .fill(let id, let quantity, let price, let fillID):
            return .recordFill(try order(id), quantity: quantity, price: price, fillID: fillID)
        case .cancelled(let id): return .recordCancelled(try order(id))
        case .failed(let id, let text, let message):
            return .recordFailed(try order(id), reason: try reason(text), message: message)
        case .tokenIssued(let id, let expiresAt): return .issueToken(account: try account(id), expiresAt: expiresAt)
        case .tokenExpired(let id): return .expireToken(account: try account(id))
        case .candle(let stock, let timeframe, let start, let open, let high, let low, let close, let volume):
            let code = try stockCode(stock)
            let frame = try timeframeOf(timeframe)
            return .ingestCandle(
                Candle(
                    stock: code,
                    timeframe: frame,
                    start: start,
                    open: open,
                    high: high,
                    low: low,
                    close: close,
                    volume: volume
                )
            )
        case .notificationSent(let id, let channel, let detail):
            return .recordNotificationSent(try notification(id), channel: channel, detail: detail)
        case .notificationFailed(let id, let channel, let detail):
            return .recordNotificationFailed(try notification(id), channel: channel, detail: detail)
        case .halt(let id, let text): return .haltAccount(try account(id), reason: text)
        case .quote(let stock, let price, let at):
            return .recordQuote(stock: try stockCode(stock), price: price, at: at)
        case .stockStatus(let stock, let halted, let reason, let interruption):
            let status: StockTradingStatus =
                halted ? .halted : interruption == true ? .volatilityInterruption : .trading
            return .setStockStatus(stock: try stockCode(stock), status: status, reason: reason)
        case .grantOperator(let id, let by): return .grantOperator(try user(id), by: by)
        case .revokeOperator(let id, let by): return .revokeOperator(try user(id), by: by)
        case .deposit(let id, let amount, let expectedCash):
            return .depositCash(account: try account(id), amount: amount, expectedCash: expectedCash)
        case .adjustCash(let id, let amount, let expectedCash, let reason):
            return .adjustCash(account: try account(id), amount: amount, expectedCash: expectedCash, reason: reason)
        case .listStock(let stock, let name, let market, let previousClose):
            guard ["KOSPI", "KOSDAQ", "KONEX"].contains(market) else {
                throw Invalid(description: "market must be KOSPI, KOSDAQ or KONEX; got '\(market)'")
            }
            return .listStock(code: try stockCode(stock), name: name, market: market, previousClose: previousClose)
        case .placeOrder(let id, let stock, let sideText, let quantity, let clientOrderID):
            let code = try stockCode(stock)
            let side = try orderSide(sideText)
            return .placeOrder(
                PlaceOrder(
                    account: try account(id),
                    stock: code,
                    side: side,
                    type: .market,
                    quantity: quantity,
                    price: 0,
                    source: .strategy,
                    clientOrderID: clientOrderID
                )
            )
        case .indicators(let stock, let timeframe, let start, let values):
            let code = try stockCode(stock)
            let frame = try timeframeOf(timeframe)
            return .recordIndicators(
                values.sorted { $0.key < $1.key }.map {
                    IndicatorComputed(stock: code, timeframe: frame, start: start, name: $0.key, value: $0.value)
                }
            )
        case .signal(let id, let stock, let strategy, let sideText, let reason):
            let code = try stockCode(stock)
            let side = try orderSide(sideText)
            return .recordSignal(
                SignalGenerated(account: try account(id), stock: code, strategy: strategy, side: side, reason: reason)
            )
        case .strategyOrder(
            let id,
            let stock,
            let sideText,
            let quantity,
            let price,
            let clientOrderID,
            let strategy,
            let reason,
            let barStart,
            let stopLoss,
            let takeProfit,
            let trail,
            let stopLossDistance,
            let takeProfitDistance
        ):
            let code = try stockCode(stock)
            let account = try account(id)
            var request = PlaceOrder(
                account: account,
                stock: code,
                side: try orderSide(sideText),
                type: price == 0 ? .market : .limit,
                quantity: quantity,
                price: price,
                source: .strategy,
                clientOrderID: clientOrderID
            )
            func exit(_ kind: TriggerKind, price: Int64 = 0, trail: Int64 = 0, offset: Int64 = 0) -> ArmTrigger {
                ArmTrigger(
                    account: account,
                    stock: code,
                    kind: kind,
                    quantity: quantity,
                    triggerPrice: price,
                    trailBasisPoints: trail,
                    offsetBasisPoints: offset
                )
            }
            // A stop or target as a price, or as a distance from the entry's fill (the engine sets its level then).
            if let stopLossDistance {
                request.bracket.append(exit(.stopLoss, offset: stopLossDistance))
            } else if let stopLoss {
                request.bracket.append(exit(.stopLoss, price: stopLoss))
            }
            if let takeProfitDistance {
                request.bracket.append(exit(.takeProfit, offset: takeProfitDistance))
            } else if let takeProfit {
                request.bracket.append(exit(.takeProfit, price: takeProfit))
            }
            if let trail { request.bracket.append(exit(.trailingStop, trail: trail)) }
            request.signal = StrategySignal(strategy: strategy, reason: reason, barStart: barStart, timeframe: .minute1)
            return .placeOrder(request)
        case .skipped(let id, let stock, let strategy, let sideText, let reason, let key):
            return .recordSkipped(
                SignalGenerated(
                    account: try account(id),
                    stock: try stockCode(stock),
                    strategy: strategy,
                    side: try orderSide(sideText),
                    reason: reason,
                    key: key ?? ""
                )
            )
        case .cancelOrder(let id):
            return .cancelOrder(try order(id))
        case .notify(let id, let kind, let title, let message):
            return .notify(user: try user(id), kind: kind, title: title, message: message)
        }
    }
}

/// The answer for one `WireCommand`.
public struct WireCommandResult: Codable, Sendable, Equatable {
    /// The HTTP-like status: 200 recorded (or nothing to record), 404 unknown id, 409 not legal now, 422 invalid.
    public var status: Int
    public var offsets: [UInt64]
    public var error: String?

    public init(status: Int, offsets: [UInt64] = [], error: String? = nil) {
        self.status = status
        self.offsets = offsets
        self.error = error
    }

    /// Whether this command appended events: false when it was refused, or when what it records was already
    /// so (a retried report). A side effect that must happen once follows only an `appended` transition.
    public var appended: Bool { self.status == 200 && !self.offsets.isEmpty }
}

/// A notification to deliver (`GET /internal/notifications/{id}?offset=`): recipient and text from the
/// engine, never from the job. `email` is nil when the person is gone (erased).
public struct WorkerNotificationView: Codable, Sendable, Equatable {
    public var notification: String
    public var user: String
    public var email: String?
    public var kind: String
    public var title: String
    public var message: String
    public var delivered: Bool

    public init(
        notification: String,
        user: String,
        email: String?,
        kind: String,
        title: String,
        message: String,
        delivered: Bool
    ) {
        self.notification = notification
        self.user = user
        self.email = email
        self.kind = kind
        self.title = title
        self.message = message
        self.delivered = delivered
    }
}

/// A job's view of an order (`GET /internal/orders/{id}`).
public struct WorkerOrderView: Codable, Sendable, Equatable {
    public var id: String
    public var account: String
    public var broker: String
    public var user: String
    public var stock: String
    public var side: String
    public var type: String
    public var quantity: Int64
    public var price: Int64
    public var status: String
    public var filledQuantity: Int64
    public var filledNotional: Int64
    public var brokerOrderNumber: String
    /// `KRX_FWDG_ORD_ORGNO` of the broker's answer to the order (empty when not known).
    public var brokerOrganization: String
    public var cancelRequested: Bool
    public var createdAt: Int64
    /// The last change; for a SUBMITTED order, its latest send to the broker.
    public var updatedAt: Int64
    /// The correlation id of the order's latest send mark (SUBMITTED, or a send again): a worker that marked a
    /// send with its own id and lost the answer knows the mark for its own, and that it never sent it. (nil from a
    /// gateway older than the field.)
    public var sendMark: String?
    public var fillIDs: [String]
    /// Broker order numbers the account's other orders hold on this order's KST day (a SUBMITTED order is matched
    /// only to a broker order none of them holds; KIS numbers orders per day).
    public var otherBrokerOrderNumbers: [String]

    public init(_ order: Order, account: Account?, otherBrokerOrderNumbers: [String] = []) {
        self.otherBrokerOrderNumbers = otherBrokerOrderNumbers
        self.id = order.id.description
        self.account = order.account.description
        self.broker = account?.broker.description ?? ""
        self.user = account?.user.description ?? ""
        self.stock = order.stock.description
        self.side = order.side.description
        self.type = order.type.description
        self.quantity = order.quantity
        self.price = order.price
        self.status = order.status.description
        self.filledQuantity = order.filledQuantity
        self.filledNotional = order.filledNotional
        self.brokerOrderNumber = order.brokerOrderNumber
        self.brokerOrganization = order.brokerOrganization
        self.cancelRequested = order.cancelRequested
        self.createdAt = order.createdAt
        self.updatedAt = order.updatedAt
        self.sendMark = order.sendMark
        self.fillIDs = order.fillIDs.sorted()
    }
}

/// A KIS account as reconciliation needs it (`GET /internal/accounts`).
public struct WorkerAccountView: Codable, Sendable, Equatable {
    public var id: String
    public var broker: String
    public var user: String
    public var cash: Int64
    public var reservedCash: Int64
    /// Shares held per stock code.
    public var positions: [String: Int64]
    public var tokenExpiresAt: Int64?
    public var halted: Bool
    /// Orders not final yet (their fills may still move cash and shares).
    public var workingOrders: Int

    public init(_ account: Account, workingOrders: Int) {
        self.id = account.id.description
        self.broker = account.broker.description
        self.user = account.user.description
        self.cash = account.cash
        self.reservedCash = account.reservedCash
        self.positions = Dictionary(
            uniqueKeysWithValues: account.positions.filter { $0.value.quantity != 0 }.map {
                ($0.key.description, $0.value.quantity)
            }
        )
        self.tokenExpiresAt = account.tokenExpiresAt
        self.halted = account.haltReason != nil
        self.workingOrders = workingOrders
    }
}

/// A listed stock as data collection needs it (`GET /internal/stocks`).
public struct WorkerStockView: Codable, Sendable, Equatable {
    public var stock: String
    /// Start of the latest one-minute candle of the current day (µs), nil before any: collection resumes after it.
    public var lastMinuteStart: Int64?
    /// KIS accounts with a strategy enabled or a trigger armed on the stock (their broker can fetch its data;
    /// the stock is collected every minute).
    public var strategyAccounts: [String]
    /// Triggers armed on the stock (nil: none): its quote is fetched every collection and recorded for them.
    public var armedTriggers: Int?

    public init(stock: String, lastMinuteStart: Int64?, strategyAccounts: [String], armedTriggers: Int? = nil) {
        self.stock = stock
        self.lastMinuteStart = lastMinuteStart
        self.strategyAccounts = strategyAccounts
        self.armedTriggers = armedTriggers
    }

    /// The view as `JSONEncoder` with sorted keys writes it, written by hand: the gateway answers a
    /// data-collection group (and the schedule, every stock) each collection.
    public var json: String {
        var object = JSONObjectWriter()
        if let armedTriggers = self.armedTriggers { object.field("armedTriggers", armedTriggers) }
        if let lastMinuteStart = self.lastMinuteStart { object.field("lastMinuteStart", lastMinuteStart) }
        object.field("stock", self.stock)
        object.field("strategyAccounts", self.strategyAccounts)
        return object.finish()
    }
}

/// A strategy enabled on a stock, with what the strategy needs to decide (`GET /internal/strategies`).
public struct WorkerStrategyView: Codable, Sendable, Equatable {
    public var account: String
    public var stock: String
    public var strategy: String
    public var parameters: String
    /// Shares held now (sellable).
    public var position: Int64
    /// The rest of the strategy's context (`Holding`); absent from views of engines before it.
    public var quantity: Int64?
    public var averagePrice: Int64?
    public var cash: Int64?
    public var equity: Int64?
    public var workingOrders: [WorkerWorkingOrder]?
    /// A `rule:<name>` strategy's rule set (the version `parameters` names).
    public var rules: String?

    public init(
        account: String,
        stock: String,
        strategy: String,
        parameters: String,
        position: Int64,
        holding: Holding? = nil
    ) {
        self.account = account
        self.stock = stock
        self.strategy = strategy
        self.parameters = parameters
        self.position = position
        if let holding {
            self.quantity = holding.quantity
            self.averagePrice = holding.averagePrice
            self.cash = holding.cash
            self.equity = holding.equity
            self.workingOrders = holding.workingOrders.map {
                WorkerWorkingOrder(
                    id: $0.id.description,
                    side: $0.side.description,
                    type: $0.type.description,
                    price: $0.price,
                    remaining: $0.remaining
                )
            }
        }
    }

    /// What the strategy's context reads of its account (orders it cannot parse are left out).
    public var holding: Holding {
        var holding = Holding()
        holding.sellable = self.position
        holding.quantity = self.quantity ?? self.position
        holding.averagePrice = self.averagePrice ?? 0
        holding.cash = self.cash ?? 0
        holding.equity = self.equity ?? 0
        holding.workingOrders = (self.workingOrders ?? []).compactMap { order in
            guard let id = OrderID(order.id), let side = OrderSide(text: order.side),
                let type = OrderType(text: order.type)
            else { return nil }
            return WorkingOrder(id: id, side: side, type: type, price: order.price, remaining: order.remaining)
        }
        return holding
    }

    /// The view as `JSONEncoder` with sorted keys writes it, written by hand (every data-analysis job asks).
    public var json: String {
        var object = JSONObjectWriter()
        object.field("account", self.account)
        if let averagePrice { object.field("averagePrice", averagePrice) }
        if let cash { object.field("cash", cash) }
        if let equity { object.field("equity", equity) }
        object.field("parameters", self.parameters)
        object.field("position", self.position)
        if let quantity { object.field("quantity", quantity) }
        object.field("stock", self.stock)
        object.field("strategy", self.strategy)
        if let rules { object.field("rules", rules) }
        if let workingOrders {
            object.raw("workingOrders", "[" + workingOrders.map(\.json).joined(separator: ",") + "]")
        }
        return object.finish()
    }
}

/// One of `WorkerStrategyView.workingOrders`.
public struct WorkerWorkingOrder: Codable, Sendable, Equatable {
    public var id: String
    public var side: String
    public var type: String
    public var price: Int64
    public var remaining: Int64

    var json: String {
        var object = JSONObjectWriter()
        object.field("id", self.id)
        object.field("price", self.price)
        object.field("remaining", self.remaining)
        object.field("side", self.side)
        object.field("type", self.type)
        return object.finish()
    }
}
