/// A listed stock.
public struct StockInfo: Sendable, Hashable {
    public var code: StockCode
    public var name: String
    public var market: String
    public var marketData: StockMarketData
    /// Start of the newest one-minute bar whose indicators are recorded — the bar the strategies last decided
    /// on. The dispatcher hands no older bar to data-analysis again (after a Redis flush or a queue rebuild,
    /// which derive jobs from offset 0): strategies never trade on a bar that was already analysed.
    public var lastAnalysedMinute: Int64?
    /// How KRX trades the stock, as `StockStatusChanged` last recorded it: halted, no order is taken; halted or
    /// in a volatility interruption, its triggers wait.
    public var tradingStatus: StockTradingStatus = .trading
    /// Why (as the data said it); "" while it trades.
    public var statusReason = ""
}

/// A notification's delivery state.
public struct NotificationState: Sendable, Hashable {
    public var user: UserID
    public var kind: String
    public var delivered = false
    public var read = false
}

/// The whole state of the trading domain: a pure fold of the events (`apply`).
///
/// Memory sketch: ~200 B per order, ~150 B per position, ~400 B per stock; a day of 2,700 stocks and
/// 100,000 orders is ~25 MB.
public struct EngineState: Sendable, Hashable {
    public var stocks: [StockCode: StockInfo] = [:]
    /// Each user's contact reference as `UserRegistered` recorded it: a sealed address (`sealed:<key>:<data>`,
    /// readable only while the person's key exists outside the log) or, in logs older than erasure, the address
    /// itself. Empty once the person is erased.
    public var users: [UserID: String] = [:]
    public var accounts: [AccountID: Account] = [:]
    public var orders: [OrderID: Order] = [:]
    public var notifications: [NotificationID: NotificationState] = [:]
    public var nextOrder: UInt64 = 1
    public var nextAccount: UInt64 = 1
    public var nextUser: UInt64 = 1
    public var nextNotification: UInt64 = 1
    public var anomalies: UInt64 = 0
    /// The number of events applied.
    public var eventCount: UInt64 = 0
    /// Client order ids already used, per account (idempotent order placement).
    public var clientOrderIDs: [AccountID: [String: OrderID]] = [:]
    /// Keys of the requests recorded as `SignalSkipped`, per account: the same request again adds nothing.
    public var skippedSignals: [AccountID: Set<String>] = [:]
    /// Users with the operator role (`OperatorGranted`, from the command line only).
    public var operators: Set<UserID> = []
    /// Set while an operator has halted trading for every account (the reason and who).
    public var tradingHalt: String?
    /// Protective orders the engine watches (`TriggerArmed`), armed or ended.
    public var triggers: [TriggerID: Trigger] = [:]
    /// Each person's rule sets by name: every version's source, oldest first (version n at n − 1).
    public var ruleSets: [UserID: [String: [String]]] = [:]
    public var nextTrigger: UInt64 = 1
    /// The armed triggers of each stock: what a closed bar of that stock is checked against. Derived from
    /// `triggers`; a snapshot rebuilds it.
    public var armedTriggers: [StockCode: [TriggerID]] = [:]
    /// Brackets' exits waiting for their entry order to fill. Derived from `triggers`; a snapshot rebuilds it.
    public var waitingTriggers: [OrderID: [TriggerID]] = [:]
    /// Which of our orders holds each broker order number, per account and KST day of the order: a broker
    /// order belongs to at most one of ours (`recordAccepted` refuses a second), and numbers of other days
    /// are not confused with today's. Derived from `orders`; a snapshot rebuilds it instead of storing it.
    public var brokerOrders: [AccountID: [BrokerOrderKey: OrderID]] = [:]
    /// The orders not ended yet: what the session's close expires (a scan of every order each day made a long
    /// backtest quadratic). Derived from `orders`; a snapshot rebuilds it.
    public var workingOrders: Set<OrderID> = []

    /// The orders still working (not terminal), through `workingOrders`: not a pass over every order ever held.
    public var working: [Order] { self.workingOrders.compactMap { self.orders[$0] } }
    /// Trading costs. Part of the state (and of its digest): a replay must use the same schedule.
    public var fees: FeeSchedule

    public init(fees: FeeSchedule = FeeSchedule()) {
        self.fees = fees
    }

    /// Moves the trailing marks of the armed triggers of `bar`'s stock that see it (`Trigger.sees`).
    private mutating func moveTrailingMarks(after bar: Candle, quote: Bool = false) {
        guard let armed = self.armedTriggers[bar.stock] else { return }
        self.moveTrailingMarks(armed, after: bar, quote: quote)
    }

    private mutating func moveTrailingMarks(_ armed: [TriggerID], after bar: Candle, quote: Bool = false) {
        for id in armed {
            Self.modify(&self.triggers, id) { if $0.sees(bar, quote: quote) { $0.water = $0.water(after: bar) } }
        }
    }

    /// Applies one event. Total: every event of a valid log applies; a broker report that cannot apply to
    /// its order was recorded as `AnomalyRecorded` instead, by `decide`.
    public mutating func apply(_ envelope: EventEnvelope) {
        self.eventCount += 1
        let time = envelope.timestamp
        switch envelope.event {
        case .stockListed(let e):
            self.stocks[e.stock] = StockInfo(
                code: e.stock,
                name: e.name,
                market: e.market,
                marketData: StockMarketData(code: e.stock, basePrice: e.previousClose)
            )
        case .userRegistered(let e):
            self.users[e.user] = e.email
            self.nextUser = max(self.nextUser, e.user.value + 1)
        case .brokerAccountRegistered(let e):
            self.accounts[e.account] = Account(
                id: e.account,
                user: e.user,
                broker: e.broker,
                maskedAccountNumber: e.maskedAccountNumber,
                dailyOrderLimit: e.dailyOrderLimit
            )
            self.nextAccount = max(self.nextAccount, e.account.value + 1)
        case .cashDeposited(let e):
            Self.modify(&self.accounts, e.account) { $0.cash = $0.cash.saturatingAdd(e.amount) }
        case .cashAdjusted(let e):
            Self.modify(&self.accounts, e.account) { $0.cash = $0.cash.saturatingAdd(e.amount) }
        case .orderRequested(let e):
            self.applyRequested(e, time: time)
        case .orderRejected(let e):
            if let request = e.request {
                // Refused by risk: recorded for the operator (trades.status REJECTED), reserving nothing.
                var order = Order(
                    id: e.order,
                    account: request.account,
                    stock: request.stock,
                    side: request.side,
                    type: request.type,
                    quantity: request.quantity,
                    price: request.price,
                    source: request.source,
                    clientOrderID: request.clientOrderID,
                    createdAt: time,
                    updatedAt: time
                )
                order.status = .rejected
                order.rejectedBy = e.rejectedBy
                order.failureReason = e.reason
                order.failureMessage = e.message
                self.orders[e.order] = order
                self.workingOrders.remove(e.order)
                self.nextOrder = max(self.nextOrder, e.order.value + 1)
                if !request.clientOrderID.isEmpty {
                    self.clientOrderIDs[request.account, default: [:]][request.clientOrderID] = e.order
                }
                return
            }
            self.finish(e.order, time: time) { order in
                order.status = .rejected
                order.rejectedBy = e.rejectedBy
                order.failureReason = e.reason
                order.failureMessage = e.message
            }
        case .orderSubmitted(let e):
            self.changeOrder(e.order) {
                $0.status = .submitted
                $0.updatedAt = time
                $0.sendMark = envelope.correlationID
            }
        case .orderAccepted(let e):
            let held = self.changeOrder(e.order) { order -> (account: AccountID, key: BrokerOrderKey) in
                order.status = .accepted
                order.brokerOrderNumber = e.brokerOrderNumber
                order.brokerOrganization = e.brokerOrganization
                order.updatedAt = time
                return (order.account, BrokerOrderKey(order))
            }
            if let held { self.indexBrokerOrder(held.account, held.key, e.order) }
        case .orderPartiallyFilled(let fill), .orderFilled(let fill):
            self.applyFill(fill, time: time)
        case .orderCancelRequested(let e):
            self.changeOrder(e.order) {
                $0.status = .cancelRequested
                $0.cancelRequested = true
                $0.updatedAt = time
            }
        case .orderCancelled(let e):
            self.finish(e.order, time: time) { $0.status = .cancelled }
        case .orderFailed(let e):
            self.finish(e.order, time: time) { order in
                order.status = .failed
                order.failureReason = e.reason
                order.failureMessage = e.message
            }
        case .orderExpired(let e):
            self.finish(e.order, time: time) { $0.status = .expired }
        case .candleClosed(let candle):
            self.closeCandles(CollectionOfOne(candle))
        case .indicatorsComputed(let e) where e.timeframe == .minute1:
            self.analysed(e.stock, e.start)
        case .indicatorComputed(let e) where e.timeframe == .minute1:
            self.analysed(e.stock, e.start)
        case .signalSkipped(let e) where !e.key.isEmpty:
            self.skippedSignals[e.account, default: []].insert(e.key)
        case .indicatorComputed, .indicatorsComputed, .signalGenerated, .signalSkipped:
            break
        case .quoteRecorded(let e):
            self.moveTrailingMarks(after: e.point, quote: true)  // as after a bar, once the quote was checked
        case .notificationCreated(let e):
            self.notifications[e.notification] = NotificationState(user: e.user, kind: e.kind)
            self.nextNotification = max(self.nextNotification, e.notification.value + 1)
        case .notificationSent(let e):
            self.notifications[e.notification]?.delivered = true
        case .notificationFailed:
            break
        case .notificationRead(let e):
            self.notifications[e.notification]?.read = true
        case .brokerTokenIssued(let e):
            self.accounts[e.account]?.tokenExpiresAt = e.expiresAt
        case .brokerTokenExpired(let e):
            let current = self.accounts[e.account]?.tokenExpiresAt ?? time
            self.accounts[e.account]?.tokenExpiresAt = min(current, time)
        case .strategyEnabled(let e):
            self.accounts[e.account]?.strategies[e.strategy + "@" + e.stock.description] = e
        case .strategyDisabled(let e):
            self.accounts[e.account]?.strategies[e.strategy + "@" + e.stock.description] = nil
        case .anomalyRecorded:
            self.anomalies += 1
        case .accountHalted(let e):
            self.accounts[e.account]?.haltReason = e.reason
        case .brokerAccountClosed(let e):
            self.accounts[e.account]?.closedAt = envelope.timestamp
        case .userErased(let e):
            if self.users[e.user] != nil { self.users[e.user] = "" }
        case .accountResumed(let e):
            self.accounts[e.account]?.haltReason = nil
        case .operatorGranted(let e): self.operators.insert(e.user)
        case .operatorRevoked(let e): self.operators.remove(e.user)
        case .tradingHalted(let e): self.tradingHalt = "\(e.reason) (\(e.by))"
        case .stockStatusChanged(let e):
            Self.modify(&self.stocks, e.stock) {
                $0.tradingStatus = e.status
                $0.statusReason = e.reason
            }
        case .tradingResumed: self.tradingHalt = nil
        case .strategyDefined(let e):
            if UInt64(self.ruleSets[e.user]?[e.name]?.count ?? 0) + 1 == e.version {
                self.ruleSets[e.user, default: [:]][e.name, default: []].append(e.source)
            } else {
                self.anomalies += 1  // a version out of order: not applied
            }
        case .triggerArmed(let e):
            var trigger = Trigger(id: e.trigger, request: e.request, water: e.water)
            trigger.armedAt = time
            self.nextTrigger = max(self.nextTrigger, e.trigger.value + 1)
            if let entry = e.request.entry {
                trigger.active = false
                self.triggers[e.trigger] = trigger
                self.waitingTriggers[entry, default: []].append(e.trigger)
            } else {
                self.triggers[e.trigger] = trigger
                self.armedTriggers[e.request.stock, default: []].append(e.trigger)
            }
        case .triggerFired(let e):
            self.endTrigger(e.trigger) {
                $0.status = .fired
                $0.order = e.order
            }
        case .triggerCancelled(let e):
            self.endTrigger(e.trigger) {
                $0.status = .cancelled
                $0.reason = e.reason
            }
        }
    }

    /// Applies `CandleClosed` events in order, as `apply` does each: for a caller holding the candles rather than
    /// their envelopes (a backtest's bar closes one to five of its stock's at once).
    public mutating func applyCandlesClosed(_ candles: [Candle]) {
        self.eventCount += UInt64(candles.count)
        self.closeCandles(candles)
    }

    /// What `CandleClosed` events change: the trailing marks of their stock's armed triggers, then its market
    /// data — with one lookup of each table per run of one stock's candles (the triggers are another table: the
    /// index stays valid; moving marks arms or ends none). A candle of a stock not listed changes nothing.
    private mutating func closeCandles(_ candles: some Collection<Candle>) {
        var current: (stock: StockCode, index: Dictionary<StockCode, StockInfo>.Index?, armed: [TriggerID]?)?
        for candle in candles {
            if current?.stock != candle.stock {
                current = (candle.stock, self.stocks.index(forKey: candle.stock), self.armedTriggers[candle.stock])
            }
            guard let index = current?.index else { continue }
            // Trailing marks move after the bar was checked (`Engine.fireTriggers` saw the marks before it).
            // (A one-minute bar is always watched: no copy of the stock out of the table to ask.)
            if let armed = current?.armed,
                candle.timeframe == .minute1 || self.stocks.values[index].marketData.watchesTriggers(candle)
            {
                self.moveTrailingMarks(armed, after: candle)
            }
            self.stocks.values[index].marketData.apply(candle)  // as `applyMarketData`, with the index at hand
        }
    }

    /// What a `CandleClosed` changes besides the trailing marks: its stock's market data.
    mutating func applyMarketData(_ candle: Candle) {
        guard let index = self.stocks.index(forKey: candle.stock) else { return }
        self.stocks.values[index].marketData.apply(candle)
    }

    private mutating func endTrigger(_ id: TriggerID, _ body: (inout Trigger) -> Void) {
        guard let trigger = self.triggers[id] else { return }
        Self.modify(&self.triggers, id, body)
        let stock = trigger.request.stock
        self.armedTriggers[stock]?.removeAll { $0 == id }
        if self.armedTriggers[stock]?.isEmpty == true { self.armedTriggers[stock] = nil }
        if let entry = trigger.request.entry {
            self.waitingTriggers[entry]?.removeAll { $0 == id }
            if self.waitingTriggers[entry]?.isEmpty == true { self.waitingTriggers[entry] = nil }
        }
    }

    /// A bracket's entry has ended (filled, or cancelled/expired/failed/rejected): its exits are watched from now
    /// for the shares it filled, from its average price (a trailing mark, and the level of an exit placed as a
    /// distance from the fill), or — nothing filled — cancelled. Derived in `apply`
    /// from the entry's own events, so a replay does the same.
    private mutating func entryEnded(_ order: Order) {
        guard let waiting = self.waitingTriggers.removeValue(forKey: order.id) else { return }
        for id in waiting {
            if order.filledQuantity > 0 {
                Self.modify(&self.triggers, id) {
                    $0.active = true
                    $0.request.quantity = order.filledQuantity
                    $0.water = order.filledNotional / order.filledQuantity
                    if $0.request.offsetBasisPoints != 0 {
                        $0.request.triggerPrice = $0.request.level(fromFill: $0.water)
                    }
                }
                self.armedTriggers[order.stock, default: []].append(id)
            } else {
                Self.modify(&self.triggers, id) {
                    $0.status = .cancelled
                    $0.reason = "entry \(order.id) ended unfilled"
                }
            }
        }
    }

    /// Whether `user` exists and has not been erased.
    public func isActiveUser(_ user: UserID) -> Bool { !(self.users[user] ?? "").isEmpty }

    /// Whether a request with this key (non-empty) was already recorded as `SignalSkipped` for the account.
    func hasSkipped(_ key: String, of account: AccountID) -> Bool {
        !key.isEmpty && self.skippedSignals[account]?.contains(key) == true
    }

    /// Changes one order in place (one lookup) and keeps `workingOrders` in step with its status: every change
    /// of an order's status goes through here (or adds or replaces the order whole, and sets the index then).
    @discardableResult
    private mutating func changeOrder<Result>(_ id: OrderID, _ body: (inout Order) -> Result) -> Result? {
        guard let index = self.orders.index(forKey: id) else { return nil }
        let wasTerminal = self.orders.values[index].status.isTerminal
        let result = body(&self.orders.values[index])
        let isTerminal = self.orders.values[index].status.isTerminal
        if isTerminal != wasTerminal {
            if isTerminal { self.workingOrders.remove(id) } else { self.workingOrders.insert(id) }
        }
        return result
    }

    /// Mutates a stored value in place with one hash lookup (no copy: an `Account` copy would copy its
    /// positions on write, the measured hot spot of replay).
    @inline(__always)
    private static func modify<Key: Hashable, Value>(
        _ table: inout [Key: Value],
        _ key: Key,
        _ body: (inout Value) -> Void
    ) {
        guard let index = table.index(forKey: key) else { return }
        body(&table.values[index])
    }

    private mutating func applyRequested(_ e: OrderRequested, time: Int64) {
        var order = Order(
            id: e.order,
            account: e.account,
            stock: e.stock,
            side: e.side,
            type: e.type,
            quantity: e.quantity,
            price: e.price,
            source: e.source,
            clientOrderID: e.clientOrderID,
            createdAt: time,
            updatedAt: time
        )
        self.nextOrder = max(self.nextOrder, e.order.value + 1)
        if e.side == .buy {
            order.reservedCash = Self.buyReservation(quantity: e.quantity, price: e.price, fees: self.fees)
        }
        let reserved = order.reservedCash
        self.orders[e.order] = order
        self.workingOrders.insert(e.order)
        let day = KST.day(time)
        Self.modify(&self.accounts, e.account) { account in
            if account.orderDay != day {
                account.orderDay = day
                account.ordersThatDay = 0
            }
            account.ordersThatDay += 1
            if e.side == .buy {
                account.reservedCash = account.reservedCash.saturatingAdd(reserved)
            } else {
                account.positions[e.stock, default: Position()].reservedForSale.saturatingIncrease(by: e.quantity)
            }
        }
        if !e.clientOrderID.isEmpty { self.clientOrderIDs[e.account, default: [:]][e.clientOrderID] = e.order }
    }

    /// `value × part / whole` with a 128-bit intermediate (a cost basis times shares can exceed Int64).
    static func proportion(_ value: Int64, _ part: Int64, _ whole: Int64) -> Int64 {
        let (product, overflow) = value.multipliedReportingOverflow(by: part)
        if !overflow { return product / whole }
        let exact = Int128(value) * Int128(part) / Int128(whole)
        return Int64(clamping: exact)
    }

    /// Cash a buy order reserves: notional at the order's price plus the commission on it.
    static func buyReservation(quantity: Int64, price: Int64, fees: FeeSchedule) -> Int64 {
        let notional = quantity.saturatingMultiply(price)
        return notional.saturatingAdd(fees.commission(notional))
    }

    private mutating func applyFill(_ fill: OrderFill, time: Int64) {
        let fees = self.fees
        // What the account's change needs of the order (a copy of the order whole would retain its strings and
        // fill ids for every fill).
        var updated: (account: AccountID, stock: StockCode, side: OrderSide, filled: Bool)?
        var release: Int64 = 0
        self.changeOrder(fill.order) { order in
            order.filledQuantity = order.filledQuantity.saturatingAdd(fill.quantity)
            order.filledNotional = order.filledNotional.saturatingAdd(fill.quantity.saturatingMultiply(fill.price))
            order.commission = order.commission.saturatingAdd(fill.commission)
            order.tax = order.tax.saturatingAdd(fill.tax)
            if !fill.fillID.isEmpty { order.fillIDs.insert(fill.fillID) }
            order.status = order.filledQuantity >= order.quantity ? .filled : .partiallyFilled
            order.updatedAt = time
            if order.side == .buy {
                // Release the reservation for this part of the order; spend what it actually cost.
                release =
                    order.status == .filled
                    ? order.reservedCash
                    : min(
                        order.reservedCash,
                        Self.buyReservation(quantity: fill.quantity, price: order.price, fees: fees)
                    )
                order.reservedCash = order.reservedCash.saturatingSubtract(release)
            }
            updated = (order.account, order.stock, order.side, order.status == .filled)
        }
        guard let order = updated else { return }
        defer {
            if order.filled, self.waitingTriggers[fill.order] != nil, let entry = self.orders[fill.order] {
                self.entryEnded(entry)
            }
        }
        let notional = fill.quantity.saturatingMultiply(fill.price)
        Self.modify(&self.accounts, order.account) { account in
            account.commissionPaid = account.commissionPaid.saturatingAdd(fill.commission)
            account.taxPaid = account.taxPaid.saturatingAdd(fill.tax)
            var position = account.positions.removeValue(forKey: order.stock) ?? Position()
            switch order.side {
            case .buy:
                account.reservedCash = account.reservedCash.saturatingSubtract(release)
                account.cash = account.cash.saturatingSubtract(notional.saturatingAdd(fill.commission))
                position.quantity = position.quantity.saturatingAdd(fill.quantity)
                position.costBasis = position.costBasis.saturatingAdd(notional.saturatingAdd(fill.commission))
            case .sell:
                let costPortion =
                    position.quantity == 0 ? 0 : Self.proportion(position.costBasis, fill.quantity, position.quantity)
                position.quantity = position.quantity.saturatingSubtract(fill.quantity)
                position.reservedForSale = position.reservedForSale.saturatingSubtract(fill.quantity)
                position.costBasis = position.costBasis.saturatingSubtract(costPortion)
                account.cash = account.cash.saturatingAdd(
                    notional.saturatingSubtract(fill.commission).saturatingSubtract(fill.tax)
                )
                account.realizedProfit = account.realizedProfit.saturatingAdd(
                    notional.saturatingSubtract(fill.commission).saturatingSubtract(fill.tax).saturatingSubtract(
                        costPortion
                    )
                )
            }
            if position.quantity != 0 || position.reservedForSale != 0 { account.positions[order.stock] = position }
        }
    }

    /// Moves an order to a terminal state and releases whatever it still reserved.
    private mutating func finish(_ id: OrderID, time: Int64, _ change: (inout Order) -> Void) {
        var finished: Order?
        var released: Int64 = 0
        self.changeOrder(id) { order in
            change(&order)
            order.updatedAt = time
            if order.side == .buy {
                released = order.reservedCash
                order.reservedCash = 0
            }
            finished = order
        }
        guard let order = finished else { return }
        if self.waitingTriggers[order.id] != nil { self.entryEnded(order) }
        Self.modify(&self.accounts, order.account) { account in
            if order.side == .buy {
                account.reservedCash = account.reservedCash.saturatingSubtract(released)
            } else if var position = account.positions.removeValue(forKey: order.stock) {
                position.reservedForSale = position.reservedForSale.saturatingSubtract(order.remainingQuantity)
                if position.quantity != 0 || position.reservedForSale != 0 { account.positions[order.stock] = position }
            }
        }
    }
}

extension EngineState {
    /// Orders per status name (`FILLED` …); with `everyStatus`, statuses without orders are listed with 0 (a
    /// gauge must fall back to 0, not keep its last value).
    public func ordersByStatus(everyStatus: Bool = false) -> [String: Int] {
        var counts =
            everyStatus ? Dictionary(uniqueKeysWithValues: OrderStatus.allCases.map { ($0.description, 0) }) : [:]
        for order in self.orders.values { counts[order.status.description, default: 0] += 1 }
        return counts
    }
}

/// A broker order number on the KST day its order was placed (KIS numbers orders per day).
public struct BrokerOrderKey: Sendable, Hashable {
    public var day: Int64
    public var number: String

    public init(day: Int64, number: String) {
        self.day = day
        self.number = number
    }

    /// The key of the broker order `order` holds (or would hold as `number`).
    public init(_ order: Order, number: String? = nil) {
        self.init(day: KST.day(order.createdAt), number: number ?? order.brokerOrderNumber)
    }
}

extension EngineState {
    mutating func analysed(_ stock: StockCode, _ start: Int64) {
        guard let index = self.stocks.index(forKey: stock) else { return }
        if self.stocks.values[index].lastAnalysedMinute.map({ $0 < start }) ?? true {
            self.stocks.values[index].lastAnalysedMinute = start
        }
    }

    mutating func indexBrokerOrder(_ order: Order) {
        self.indexBrokerOrder(order.account, BrokerOrderKey(order), order.id)
    }

    mutating func indexBrokerOrder(_ account: AccountID, _ key: BrokerOrderKey, _ id: OrderID) {
        guard !key.number.isEmpty else { return }
        self.brokerOrders[account, default: [:]][key] = id
    }

    /// The broker order numbers that orders of `order`'s account other than it hold on its day.
    public func brokerOrderNumbers(besides order: Order) -> [String] {
        let day = KST.day(order.createdAt)
        return (self.brokerOrders[order.account] ?? [:]).compactMap { key, holder in
            key.day == day && holder != order.id ? key.number : nil
        }.sorted()
    }
}
