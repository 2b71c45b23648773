/// The deterministic core: `decide` turns a command into events (or refuses it), `EngineState.apply` folds
/// events into state. No clock, randomness or I/O inside: replaying the log reproduces the state exactly.
public struct Engine: Sendable {
    public var calendar: TradingCalendar
    /// The stale-bar guard: a strategy's order is decided only if its bar closed at most this long (µs) before
    /// the decision; an older bar records `SignalSkipped`. nil: two intervals of the bar's timeframe (a daily
    /// bar: until the close of the next trading session).
    public var maxBarAge: Int64?

    public init(calendar: TradingCalendar = TradingCalendar(), maxBarAge: Int64? = nil) {
        self.calendar = calendar
        self.maxBarAge = maxBarAge
    }

    /// What `decide(.ingestCandle(candle))` decides when no trigger armed on the stock crosses on the bar — the
    /// candles the bar closes, in order (none for a duplicate) — for a caller that owns `state` and applies them
    /// next (a backtest): the same admission and the same `StockMarketData.ingest`, but the stock's market data is
    /// read where the table stores it (an `inout` access) rather than copied out of it with its arrays' retains,
    /// as `decide`'s read of a dictionary value does. nil when an armed trigger sees the bar cross its level (the
    /// first test `fireTriggers` makes): `decide` takes the bar then, and fires it. `state` is not changed.
    public func closedCandles(_ state: inout EngineState, _ candle: Candle) throws(EngineError) -> [Candle]? {
        var candles: [Candle] = []
        return try self.closedCandles(&state, candle, into: &candles) ? candles : nil
    }

    /// `closedCandles` appending to `output` (a backtest reuses one buffer: no allocation per bar); false where
    /// that returns nil.
    public func closedCandles(_ state: inout EngineState, _ candle: Candle, into output: inout [Candle])
        throws(EngineError) -> Bool
    {
        if let armed = state.armedTriggers[candle.stock] {
            for id in armed {
                // Read in place (the triggers are borrowed through a modify access, not copied out with their
                // strings): only asked, never changed.
                guard let index = state.triggers.index(forKey: id) else { continue }
                let fires = try Self.inPlace(&state.triggers.values[index]) { trigger throws(EngineError) in
                    trigger.sees(candle) && trigger.crossing(candle) != nil
                }
                if fires { return false }
            }
        }
        try Bounds.admit(candle)
        guard let index = state.stocks.index(forKey: candle.stock) else { throw Self.notListed(candle.stock) }
        try Self.inPlace(&state.stocks.values[index].marketData) { data throws(EngineError) in
            try data.ingest(candle, into: &output)
        }
        return true
    }

    private static func notListed(_ stock: StockCode) -> EngineError { .notFound("stock \(stock) is not listed") }

    /// Runs `body` on `value` through a modify access: a read that does not copy the value out (the accessor a
    /// dictionary's `get` would use does).
    @inline(__always)
    private static func inPlace<T, R>(_ value: inout T, _ body: (inout T) throws(EngineError) -> R)
        throws(EngineError) -> R
    {
        try body(&value)
    }

    /// Decides what a command does in `state`.
    ///
    /// - Returns: the events to append in order. A refusal the operator must see (a risk check) is an event
    ///   (`OrderRejected`); a malformed command or a missing entity throws instead and appends nothing.
    public func decide(_ state: EngineState, _ command: Command, context: CommandContext) throws(EngineError)
        -> Decision
    {
        // Every value inside its bounds, free text made safe: what is decided below can always be applied.
        let command = try Bounds.admit(command)
        switch command {
        case .listStock(let code, let name, let market, let previousClose):
            guard previousClose > 0 else { throw .invalid("previous close must be positive") }
            if let existing = state.stocks[code], existing.name == name, existing.market == market {
                return Decision(events: [])
            }
            return Decision(events: [
                .stockListed(StockListed(stock: code, name: name, market: market, previousClose: previousClose))
            ])
        case .registerUser(let email):
            // A sealed reference (the gateway's: `sealed:<key id>:<data>`, see PersonalData) or, from tools and older
            // callers, an address in clear.
            guard email.hasPrefix("sealed:") || (email.contains("@") && email.utf8.count <= 254) else {
                throw .invalid("the e-mail reference is neither sealed nor an address")
            }
            let user = UserID(value: state.nextUser)
            return Decision(events: [.userRegistered(UserRegistered(user: user, email: email))], created: user.value)
        case .registerAccount(let user, let broker, let accountNumber, let dailyOrderLimit, let initialCash):
            guard state.isActiveUser(user) else { throw .notFound("user \(user) does not exist") }
            guard dailyOrderLimit > 0 else { throw .invalid("the daily order limit must be positive") }
            guard initialCash >= 0 else { throw .invalid("the initial cash cannot be negative") }
            let account = AccountID(value: state.nextAccount)
            let event = BrokerAccountRegistered(
                account: account,
                user: user,
                broker: broker,
                maskedAccountNumber: Self.mask(accountNumber),
                dailyOrderLimit: dailyOrderLimit
            )
            var events: [DomainEvent] = [.brokerAccountRegistered(event)]
            if initialCash > 0 { events.append(.cashDeposited(CashDeposited(account: account, amount: initialCash))) }
            return Decision(events: events, created: account.value)
        case .depositCash(let account, let amount, let expectedCash):
            guard let existing = state.accounts[account] else { throw .notFound("account \(account) does not exist") }
            guard existing.closedAt == nil else { throw .conflict("account \(account) is closed") }
            guard amount > 0 else { throw .invalid("a deposit must be positive") }
            guard existing.cash <= Bounds.maxAmount - amount else {
                throw .invalid("account \(account) would hold more than \(Bounds.maxAmount) KRW after this deposit")
            }
            if let expectedCash, expectedCash != existing.cash {
                throw .conflict(
                    "account \(account) holds \(existing.cash) KRW, not the \(expectedCash) the deposit was computed from"
                )
            }
            return Decision(events: [.cashDeposited(CashDeposited(account: account, amount: amount))])
        case .adjustCash(let account, let amount, let expectedCash, let reason):
            guard let existing = state.accounts[account] else { throw .notFound("account \(account) does not exist") }
            guard existing.closedAt == nil else { throw .conflict("account \(account) is closed") }
            guard amount != 0 else { throw .invalid("an adjustment of 0 KRW changes nothing") }
            guard expectedCash == existing.cash else {
                throw .conflict(
                    "account \(account) holds \(existing.cash) KRW, not the \(expectedCash) the adjustment was computed from"
                )
            }
            // (An older log's cash may be anything: the sum is checked, not trusted.)
            let (after, overflow) = existing.cash.addingReportingOverflow(amount)
            guard !overflow, (0...Bounds.maxAmount).contains(after) else {
                throw .invalid("account \(account) would hold \(after) KRW after this adjustment")
            }
            return Decision(events: [
                .cashAdjusted(CashAdjusted(account: account, amount: amount, reason: reason))
            ])
        case .placeOrder(let request):
            guard let signal = request.signal else { return try self.decidePlace(state, request, context: context) }
            return try self.decideSignal(state, request, signal, context: context)
        case .cancelOrder(let id):
            let order = try Self.order(state, id)
            switch order.status {
            case .pending:
                return Decision(
                    events: [.orderCancelled(OrderCancelled(order: id, cancelledQuantity: order.quantity))],
                    order: id
                )
            case .accepted, .partiallyFilled:
                return Decision(events: [.orderCancelRequested(OrderReference(order: id))], order: id)
            case .cancelRequested: return Decision(events: [], order: id)
            default: throw .conflict("order \(id) is \(order.status) and can no longer be cancelled")
            }
        case .recordSubmitted(let id):
            return try self.transition(state, id, .submit, .orderSubmitted(OrderReference(order: id)))
        case .recordResending(let id, let lastSend):
            let order = try Self.order(state, id)
            guard order.status == .submitted else {
                throw .conflict("order \(id) is \(order.status): only a SUBMITTED order is sent again")
            }
            if let lastSend, lastSend != order.updatedAt {
                throw .conflict(
                    "order \(id) was sent again at \(ISOTime.utc(order.updatedAt)) since the send at \(ISOTime.utc(lastSend))"
                )
            }
            return Decision(events: [.orderSubmitted(OrderReference(order: id))], order: id)
        case .recordAccepted(let id, let number, let organization):
            guard !number.isEmpty else { throw .invalid("a broker order number is required") }
            // One broker order is one of ours: two workers looking for twins (same stock, side, quantity and
            // price) at once must not both take the same one. The one refused looks again.
            let order = try Self.order(state, id)
            if let holder = state.brokerOrders[order.account]?[BrokerOrderKey(order, number: number)], holder != id {
                throw .conflict("broker order \(number) is already order \(holder)'s")
            }
            return try self.transition(
                order,
                .accept,
                .orderAccepted(OrderAccepted(order: id, brokerOrderNumber: number, brokerOrganization: organization))
            )
        case .recordExpired(let id):
            return try self.transition(state, id, .expire, .orderExpired(OrderReference(order: id)))
        case .recordBrokerRejected(let id, let reason, let message):
            var decision = try self.transition(
                state,
                id,
                .brokerReject,
                .orderRejected(OrderRejected(order: id, rejectedBy: .broker, reason: reason, message: message))
            )
            decision.events += self.notification(
                state,
                order: state.orders[id],
                kind: "ORDER_REJECTED",
                title: "주문 거부",
                message: "\(message) (\(reason.rawValue))",
                offset: 0
            )
            return decision
        case .recordFill(let id, let quantity, let price, let fillID):
            return try self.decideFill(state, id, quantity: quantity, price: price, fillID: fillID)
        case .recordCancelled(let id):
            let order = try Self.order(state, id)
            return try self.transition(
                state,
                id,
                .cancel,
                .orderCancelled(OrderCancelled(order: id, cancelledQuantity: order.remainingQuantity))
            )
        case .recordFailed(let id, let reason, let message):
            var decision = try self.transition(
                state,
                id,
                .fail,
                .orderFailed(OrderFailed(order: id, reason: reason, message: message))
            )
            decision.events += self.notification(
                state,
                order: state.orders[id],
                kind: "ORDER_FAILED",
                title: "주문 실패",
                message: "\(message) (\(reason.rawValue))",
                offset: 0
            )
            return decision
        case .expireDayOrders:
            let close = self.calendar.close(ofDayContaining: context.time)
            let expiring = state.workingOrders.filter { id in
                guard let order = state.orders[id] else { return false }
                return (order.status == .accepted || order.status == .partiallyFilled) && order.createdAt < close
                    && !order.cancelRequested
            }.sorted()
            return Decision(events: expiring.map { .orderExpired(OrderReference(order: $0)) })
        case .ingestCandle(let candle):
            guard let index = state.stocks.index(forKey: candle.stock) else { throw Self.notListed(candle.stock) }
            let candles = try state.stocks.values[index].marketData.ingest(candle)
            var closed: [DomainEvent] = []
            closed.reserveCapacity(candles.count + 3)  // room for a fired trigger's first events
            for candle in candles { closed.append(.candleClosed(candle)) }
            // A new bar checks the stock's armed triggers (`fireTriggers` says which bars they watch; no trigger:
            // nothing more is done per candle); a bar seen before closes nothing and checks nothing.
            guard !closed.isEmpty, state.armedTriggers[candle.stock] != nil else { return Decision(events: closed) }
            let fired = try self.fireTriggers(state, candle, closed: closed, context: context)
            if !fired.isEmpty { closed += fired }
            return Decision(events: closed)
        case .recordQuote(let code, let price, let at):
            guard let index = state.stocks.index(forKey: code) else { throw .notFound("stock \(code) is not listed") }
            guard at <= context.time + KST.minuteMicros else {
                throw .invalid("a quote of \(ISOTime.utc(at)) is ahead of the engine's clock")
            }
            // Only what can fire an exit is worth a record: armed triggers, a stock trading continuously today
            // (bars of the day seen, before the closing auction), and news after the newest bar's minute.
            let data = state.stocks.values[index].marketData
            let day = KST.day(at)
            // (A day of longer bars only has no last minute: no quote is taken then.)
            guard state.armedTriggers[code]?.isEmpty == false, data.currentDay == day,
                at < KST.instant(day: day, hour: 15, minute: 20), let last = data.lastMinuteStart,
                at >= last + KST.minuteMicros
            else { return Decision(events: []) }
            let quote = QuoteRecorded(stock: code, price: price, at: at)
            let recorded: [DomainEvent] = [.quoteRecorded(quote)]
            return Decision(
                events: recorded
                    + (try self.fireTriggers(state, quote.point, closed: recorded, context: context, quote: true))
            )
        case .issueToken(let account, let expiresAt):
            guard state.accounts[account] != nil else { throw .notFound("account \(account) does not exist") }
            guard expiresAt > context.time else { throw .invalid("a token must expire in the future") }
            return Decision(events: [.brokerTokenIssued(BrokerTokenIssued(account: account, expiresAt: expiresAt))])
        case .expireToken(let account):
            guard state.accounts[account] != nil else { throw .notFound("account \(account) does not exist") }
            return Decision(events: [.brokerTokenExpired(AccountReference(account: account))])
        case .enableStrategy(let account, let stock, let strategy, var parameters):
            guard let owner = state.accounts[account] else { throw .notFound("account \(account) does not exist") }
            guard state.stocks[stock] != nil else { throw .notFound("stock \(stock) is not listed") }
            if let name = StrategyFactory.ruleName(strategy) {
                // A rule set of the account's owner, pinned to a version (the newest unless one is named).
                let version = try StrategyFactory.ruleSet(name, of: owner.user, parameters: parameters, in: state)
                    .version
                parameters = "version=\(version)"
            } else {
                _ = try StrategyFactory.make(name: strategy, parameters: parameters)
            }
            return Decision(events: [
                .strategyEnabled(
                    StrategyEnabled(account: account, stock: stock, strategy: strategy, parameters: parameters)
                )
            ])
        case .disableStrategy(let account, let stock, let strategy):
            guard state.accounts[account]?.strategies[strategy + "@" + stock.description] != nil else {
                throw .notFound("\(strategy) is not enabled for \(stock) on \(account)")
            }
            return Decision(events: [
                .strategyDisabled(StrategyDisabled(account: account, stock: stock, strategy: strategy))
            ])
        case .recordIndicators(let values):
            guard values.count <= 64 else { throw .invalid("at most 64 indicator values at a time") }
            for value in values {
                guard state.stocks[value.stock] != nil else { throw .notFound("stock \(value.stock) is not listed") }
                guard value.value.isFinite, !value.name.isEmpty, value.name.utf8.count <= 64 else {
                    throw .invalid("indicator \(value.name) needs a name and a finite value")
                }
            }
            // One event per bar: the values of one (stock, timeframe, start) together, in the order given.
            var bars: [IndicatorsComputed] = []
            for value in values {
                if let last = bars.indices.last, bars[last].stock == value.stock,
                    bars[last].timeframe == value.timeframe, bars[last].start == value.start
                {
                    guard !bars[last].values.contains(where: { $0.name == value.name }) else {
                        throw .invalid("indicator \(value.name) given twice for one bar")
                    }
                    bars[last].values.append(IndicatorValue(name: value.name, value: value.value))
                } else {
                    bars.append(
                        IndicatorsComputed(
                            stock: value.stock,
                            timeframe: value.timeframe,
                            start: value.start,
                            values: [IndicatorValue(name: value.name, value: value.value)]
                        )
                    )
                }
            }
            return Decision(events: bars.map { .indicatorsComputed($0) })
        case .recordSignal(let signal):
            guard state.accounts[signal.account] != nil else {
                throw .notFound("account \(signal.account) does not exist")
            }
            return Decision(events: [.signalGenerated(signal)])
        case .defineStrategy(let user, let name, let source):
            guard state.isActiveUser(user) else { throw .notFound("user \(user) does not exist") }
            do { _ = try RuleSet(parsing: source) } catch { throw .invalid("\(error)") }
            let versions = state.ruleSets[user]?[name] ?? []
            if versions.last == source { return Decision(events: [], created: UInt64(versions.count)) }
            guard !versions.isEmpty || (state.ruleSets[user]?.count ?? 0) < RuleSet.maxPerUser else {
                throw .conflict("at most \(RuleSet.maxPerUser) rule sets per person; reuse a name for a new version")
            }
            guard versions.count < RuleSet.maxVersions else {
                throw .conflict("'\(name)' has \(RuleSet.maxVersions) versions, the most kept; choose another name")
            }
            let version = UInt64(versions.count) + 1
            return Decision(
                events: [.strategyDefined(StrategyDefined(user: user, name: name, version: version, source: source))],
                created: version
            )
        case .recordSkipped(let signal):
            guard state.accounts[signal.account] != nil else {
                throw .notFound("account \(signal.account) does not exist")
            }
            if state.hasSkipped(signal.key, of: signal.account) { return Decision(events: []) }
            return Decision(events: [.signalSkipped(signal)])
        case .notify(let user, let kind, let title, let message):
            guard state.isActiveUser(user) else { throw .notFound("user \(user) does not exist") }
            let id = NotificationID(value: state.nextNotification)
            return Decision(
                events: [
                    .notificationCreated(
                        NotificationCreated(notification: id, user: user, kind: kind, title: title, message: message)
                    )
                ],
                created: id.value
            )
        case .recordNotificationSent(let id, let channel, let detail):
            guard let notification = state.notifications[id] else {
                throw .notFound("notification \(id) does not exist")
            }
            if notification.delivered { return Decision(events: []) }  // a retried job reporting again
            return Decision(events: [
                .notificationSent(NotificationDelivery(notification: id, channel: channel, detail: detail))
            ])
        case .recordNotificationFailed(let id, let channel, let detail):
            guard state.notifications[id] != nil else { throw .notFound("notification \(id) does not exist") }
            return Decision(events: [
                .notificationFailed(NotificationDelivery(notification: id, channel: channel, detail: detail))
            ])
        case .markNotificationRead(let id, let user):
            guard let notification = state.notifications[id], notification.user == user else {
                throw .notFound("notification \(id) does not exist")
            }
            if notification.read { return Decision(events: []) }
            return Decision(events: [.notificationRead(NotificationReference(notification: id))])
        case .haltAccount(let account, let reason):
            guard let existing = state.accounts[account] else { throw .notFound("account \(account) does not exist") }
            // Halted once: a second halt (another reconciler, a retried report) adds nothing, and the owner
            // hears of it once. The first reason stands.
            if existing.haltReason != nil { return Decision(events: []) }
            var events: [DomainEvent] = [.accountHalted(AccountHalted(account: account, reason: reason))]
            events += self.notification(
                state,
                user: existing.user,
                kind: "ACCOUNT_HALTED",
                title: "계좌 거래 중지",
                message: "계좌 \(existing.maskedAccountNumber): \(reason). 확인 후 관리자에게 문의하세요.",
                offset: 0
            )
            return Decision(events: events)
        case .killSwitch(let account, let user):
            guard let existing = state.accounts[account], existing.user == user else {
                throw .notFound("account \(account) does not exist")
            }
            var events: [DomainEvent] = existing.strategies.keys.sorted().compactMap { key in
                existing.strategies[key].map {
                    .strategyDisabled(StrategyDisabled(account: account, stock: $0.stock, strategy: $0.strategy))
                }
            }
            for order in state.working.filter({ $0.account == account }).sorted(by: { $0.id < $1.id }) {
                switch order.status {
                case .pending, .accepted, .partiallyFilled:
                    events += try self.decide(state, .cancelOrder(order.id), context: context).events
                default: continue  // ended, a cancel already requested, or in flight to the broker
                }
            }
            for id in state.triggers.keys.sorted() {
                guard let trigger = state.triggers[id], trigger.request.account == account, trigger.status == .armed
                else { continue }
                events.append(
                    .triggerCancelled(TriggerCancelled(trigger: id, reason: "kill switch pressed by \(user)"))
                )
            }
            if existing.haltReason == nil {
                events.append(.accountHalted(AccountHalted(account: account, reason: "kill switch pressed by \(user)")))
                events += self.notification(
                    state,
                    user: user,
                    kind: "ACCOUNT_HALTED",
                    title: "긴급 정지",
                    message: "계좌 \(existing.maskedAccountNumber): 모든 전략을 끄고 미체결 주문을 취소했습니다.",
                    offset: 0
                )
            }
            return Decision(events: events)
        case .armTrigger(let request):
            return try self.decideArm(state, request)
        case .cancelTrigger(let id, let user):
            guard let trigger = state.triggers[id], state.accounts[trigger.request.account]?.user == user else {
                throw .notFound("trigger \(id) does not exist")
            }
            guard trigger.status == .armed else { throw .conflict("trigger \(id) is \(trigger.status)") }
            return Decision(events: [.triggerCancelled(TriggerCancelled(trigger: id, reason: "cancelled by \(user)"))])
        case .grantOperator(let user, let by):
            guard state.isActiveUser(user) else { throw .notFound("user \(user) does not exist") }
            if state.operators.contains(user) { return Decision(events: []) }
            return Decision(events: [.operatorGranted(OperatorRole(user: user, by: by))])
        case .revokeOperator(let user, let by):
            guard state.operators.contains(user) else { return Decision(events: []) }
            return Decision(events: [.operatorRevoked(OperatorRole(user: user, by: by))])
        case .setStockStatus(let code, let status, let reason):
            guard let stock = state.stocks[code] else { throw .notFound("stock \(code) is not listed") }
            let text =
                switch status {
                case .trading: ""
                case .halted: reason.isEmpty ? "trading halted" : reason
                case .volatilityInterruption: reason.isEmpty ? "volatility interruption" : reason
                }
            guard stock.tradingStatus != status || stock.statusReason != text else {
                return Decision(events: [])
            }
            return Decision(events: [.stockStatusChanged(StockStatusChanged(stock: code, status: status, reason: text))]
            )
        case .haltTrading(let by, let reason):
            guard state.operators.contains(by) else { throw .notFound("\(by) is not an operator") }
            if state.tradingHalt != nil { return Decision(events: []) }
            return Decision(events: [.tradingHalted(TradingHalt(by: by, reason: reason))])
        case .resumeTrading(let by, let reason):
            guard state.operators.contains(by) else { throw .notFound("\(by) is not an operator") }
            guard state.tradingHalt != nil else { return Decision(events: []) }
            return Decision(events: [.tradingResumed(TradingHalt(by: by, reason: reason))])
        case .resumeAccount(let account, let user, let agreement):
            // The owner, or an operator on the owner's behalf.
            guard let existing = state.accounts[account], existing.user == user || state.operators.contains(user)
            else {
                throw .notFound("account \(account) does not exist")
            }
            guard existing.closedAt == nil else { throw .conflict("account \(account) is closed") }
            guard existing.haltReason != nil else { return Decision(events: []) }
            var events: [DomainEvent] = [
                .accountResumed(AccountResumed(account: account, by: user, agreement: agreement))
            ]
            events += self.notification(
                state,
                user: existing.user,
                kind: "ACCOUNT_RESUMED",
                title: "계좌 거래 재개",
                message: "계좌 \(existing.maskedAccountNumber): 거래를 다시 시작합니다 (\(agreement)).",
                offset: 0
            )
            return Decision(events: events)
        case .eraseUser(let user):
            guard let contact = state.users[user] else { throw .notFound("user \(user) does not exist") }
            if contact.isEmpty { return Decision(events: []) }  // erased already
            if let open = state.accounts.values.filter({ $0.user == user && $0.closedAt == nil }).min(by: {
                $0.id < $1.id
            }) {
                throw .conflict(
                    "user \(user) still has the open account \(open.id); close every account first (sell or transfer holdings)"
                )
            }
            return Decision(events: [.userErased(UserReference(user: user))])
        case .closeAccount(let account, let user):
            guard let existing = state.accounts[account], existing.user == user else {
                throw .notFound("account \(account) does not exist")
            }
            if existing.closedAt != nil { return Decision(events: []) }
            if let working = state.working.filter({ $0.account == account }).min(by: { $0.id < $1.id }) {
                throw .conflict(
                    "account \(account) has a working order (\(working.id), \(working.status)); cancel it first"
                )
            }
            if let held = existing.positions.first(where: { $0.value.quantity > 0 }) {
                throw .conflict(
                    "account \(account) holds \(held.value.quantity) shares of \(held.key); sell or transfer them first"
                )
            }
            return Decision(events: [.brokerAccountClosed(AccountReference(account: account))])
        }
    }

    static func order(_ state: EngineState, _ id: OrderID) throws(EngineError) -> Order {
        guard let order = state.orders[id] else { throw .notFound("order \(id) does not exist") }
        return order
    }

    /// An order transition reported by a worker: legal → the event; a repeat of the state already reached →
    /// nothing (idempotent retries); anything else → refused with the state named.
    private func transition(_ state: EngineState, _ id: OrderID, _ transition: OrderTransition, _ event: DomainEvent)
        throws(EngineError) -> Decision
    {
        try self.transition(Self.order(state, id), transition, event)
    }

    /// `transition` of an order already looked up.
    private func transition(_ order: borrowing Order, _ transition: OrderTransition, _ event: DomainEvent)
        throws(EngineError) -> Decision
    {
        if transition.isLegal(for: order) { return Decision(events: [event], order: order.id) }
        if order.status == transition.to { return Decision(events: [], order: order.id) }
        throw .conflict("order \(order.id) is \(order.status): \(transition) is not a legal transition from it")
    }

    /// Keeps the last four characters of an account number.
    static func mask(_ number: String) -> String {
        let characters = Array(number)
        guard characters.count > 4 else { return String(repeating: "*", count: characters.count) }
        return String(repeating: "*", count: characters.count - 4) + String(characters.suffix(4))
    }

    func notification(_ state: EngineState, order: Order?, kind: String, title: String, message: String, offset: UInt64)
        -> [DomainEvent]
    {
        guard let order, let account = state.accounts[order.account] else { return [] }
        return self.notification(
            state,
            user: account.user,
            kind: kind,
            title: title,
            message: "\(order.stock) \(order.side) \(order.quantity)주: \(message)",
            offset: offset
        )
    }

    /// A notification event; `offset` distinguishes several notifications in one decision.
    func notification(_ state: EngineState, user: UserID, kind: String, title: String, message: String, offset: UInt64)
        -> [DomainEvent]
    {
        guard state.isActiveUser(user) else { return [] }  // an erased person is told nothing more
        let id = NotificationID(value: state.nextNotification + offset)
        return [
            .notificationCreated(
                NotificationCreated(notification: id, user: user, kind: kind, title: title, message: message)
            )
        ]
    }
}
