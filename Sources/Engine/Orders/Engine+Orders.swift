extension Engine {
    /// A strategy's order: `SignalGenerated` and the order's events, or `SignalSkipped` if its bar is stale.
    /// The same request again (its client order id) adds nothing, as for any order.
    func decideSignal(_ state: EngineState, _ request: PlaceOrder, _ signal: StrategySignal, context: CommandContext)
        throws(EngineError) -> Decision
    {
        if !request.clientOrderID.isEmpty, let existing = state.clientOrderIDs[request.account]?[request.clientOrderID]
        {
            return Decision(events: [], order: existing)
        }
        var event = SignalGenerated(
            account: request.account,
            stock: request.stock,
            strategy: signal.strategy,
            side: request.side,
            reason: signal.reason
        )
        if let age = self.staleness(of: signal, at: context.time) {
            if state.hasSkipped(request.clientOrderID, of: request.account) { return Decision(events: []) }
            // (a fresh one is checked by `decidePlace`)
            guard state.accounts[request.account] != nil else {
                throw .notFound("account \(request.account) does not exist")
            }
            guard state.stocks[request.stock] != nil else { throw .notFound("stock \(request.stock) is not listed") }
            event.reason = Bounds.safeText(
                "\(signal.reason); skipped: the \(signal.timeframe) bar of \(ISOTime.kst(signal.barStart)) is \(age)",
                maxBytes: 512
            )
            event.key = request.clientOrderID
            return Decision(events: [.signalSkipped(event)])
        }
        var decision = try self.decidePlace(state, request, context: context)
        decision.events.insert(.signalGenerated(event), at: 0)
        return decision
    }

    /// Why a signal's bar is too old at `time` (nil: fresh enough). See `maxBarAge`.
    func staleness(of signal: StrategySignal, at time: Int64) -> String? {
        let age = time.saturatingSubtract(signal.barEnd)
        if let limit = self.maxBarAge {
            return age > limit ? "\(age / 1_000_000) s old (limit \(limit / 1_000_000) s)" : nil
        }
        if signal.timeframe == .day1 {
            let next = self.calendar.nextTradingDay(after: KST.day(signal.barStart))
            return KST.day(time) > next ? "older than the next trading session (\(KST.yyyymmdd(day: next)))" : nil
        }
        let limit = 2 * signal.timeframe.minutes * KST.minuteMicros
        return age > limit ? "\(age / 1_000_000) s old (limit: two bars, \(limit / 1_000_000) s)" : nil
    }

    /// Pre-trade risk checks, in this order (the first failure is the reason recorded):
    /// halted account, broker token expired, market closed, price off tick, price outside the daily band,
    /// daily order limit, insufficient cash (buys: price × quantity + commission against cash not already
    /// reserved) or shares (sells: against shares not already promised to open sells).
    func decidePlace(_ state: EngineState, _ request: PlaceOrder, context: CommandContext) throws(EngineError)
        -> Decision
    {
        guard let account = state.accounts[request.account] else {
            throw .notFound("account \(request.account) does not exist")
        }
        guard account.closedAt == nil else { throw .conflict("account \(request.account) is closed") }
        guard let stock = state.stocks[request.stock] else { throw .notFound("stock \(request.stock) is not listed") }
        // The quantity's range (1…10,000,000 shares) and the price's are checked once, by `Bounds.admit`.
        if request.type == .limit {
            guard request.price > 0 else { throw .invalid("a limit order needs a positive price") }
        }
        if !request.clientOrderID.isEmpty, let existing = state.clientOrderIDs[request.account]?[request.clientOrderID]
        {
            return Decision(events: [], order: existing)  // the same request again: already placed
        }
        let id = OrderID(value: state.nextOrder)
        let band = stock.marketData.priceLimits
        // Market buys reserve cash at the upper limit (what KIS does); market sells need no price.
        let price = request.type == .limit ? request.price : (request.side == .buy ? band.upperBound : 0)
        let requested = OrderRequested(
            order: id,
            account: request.account,
            stock: request.stock,
            side: request.side,
            type: request.type,
            quantity: request.quantity,
            price: price,
            source: request.source,
            clientOrderID: request.clientOrderID
        )
        if let (reason, message) = self.riskCheck(
            state,
            account: account,
            stock: stock,
            order: requested,
            time: context.time
        ) {
            var events: [DomainEvent] = [
                .orderRejected(
                    OrderRejected(order: id, rejectedBy: .risk, reason: reason, message: message, request: requested)
                )
            ]
            events += self.notification(
                state,
                user: account.user,
                kind: "ORDER_REJECTED",
                title: "주문 거부",
                message: "\(request.stock) \(request.side) \(request.quantity)주: \(message) (\(reason.rawValue))",
                offset: 0
            )
            return Decision(events: events, order: id)
        }
        var events: [DomainEvent] = [.orderRequested(requested)]
        // The exits, checked against the order they wait for (decided here, not in `state` yet).
        for (index, exit) in request.bracket.prefix(3).enumerated() {
            var arm = exit
            arm.account = request.account
            arm.stock = request.stock
            arm.side = request.side == .buy ? .sell : .buy
            arm.quantity = request.quantity
            arm.entry = id
            arm.group = "bracket:\(id)"
            events += try self.decideArm(state, arm, requested: requested, armedBefore: UInt64(index)).events
        }
        return Decision(events: events, order: id)
    }

    func riskCheck(_ state: EngineState, account: Account, stock: StockInfo, order: OrderRequested, time: Int64) -> (
        RejectionReason, String
    )? {
        if let halt = state.tradingHalt { return (.accountHalted, "trading is halted for every account: \(halt)") }
        if let halt = account.haltReason { return (.accountHalted, "trading is halted for this account: \(halt)") }
        if stock.tradingStatus == .halted {
            return (.stockHalted, "KRX has halted trading in \(stock.code): \(stock.statusReason)")
        }
        if account.broker.needsToken {
            guard let expiry = account.tokenExpiresAt, expiry > time else {
                return (.tokenExpired, "the broker access token has expired; renew it before trading")
            }
        }
        guard self.calendar.isOpen(at: time) else {
            return (
                .marketClosed,
                "the KRX regular session (09:00-15:30 KST, trading days) is closed at \(ISOTime.kst(time))"
            )
        }
        if order.type == .limit {
            guard KRXPriceRules.isOnTick(order.price) else {
                return (
                    .priceNotOnTick,
                    "\(order.price) KRW is not on the \(KRXPriceRules.tickSize(at: order.price)) KRW tick"
                )
            }
            let band = stock.marketData.priceLimits
            guard band.contains(order.price) else {
                return (
                    .priceOutOfRange,
                    "\(order.price) KRW is outside today's limits \(band.lowerBound)...\(band.upperBound) KRW"
                )
            }
        }
        let today = KST.day(time)
        guard account.ordersOn(day: today) < account.dailyOrderLimit else {
            return (.dailyLimitExceeded, "the daily limit of \(account.dailyOrderLimit) orders is reached")
        }
        switch order.side {
        case .buy:
            let needed = EngineState.buyReservation(quantity: order.quantity, price: order.price, fees: state.fees)
            guard needed <= account.availableCash else {
                return (.insufficientBalance, "needs \(needed) KRW, \(account.availableCash) KRW available")
            }
        case .sell:
            let sellable = account.positions[order.stock]?.sellable ?? 0
            guard order.quantity <= sellable else {
                return (.insufficientShares, "sells \(order.quantity) shares, \(sellable) sellable")
            }
        }
        return nil
    }

    /// A fill reported by the broker. It already happened, so it is never refused: a fill the order cannot
    /// take (unknown state, overfill) becomes an `AnomalyRecorded` event for the operator.
    func decideFill(_ state: EngineState, _ id: OrderID, quantity: Int64, price: Int64, fillID: String)
        throws(EngineError) -> Decision
    {
        let order = try Self.order(state, id)
        guard quantity > 0, price > 0 else { throw .invalid("a fill needs a positive quantity and price") }
        if !fillID.isEmpty, order.fillIDs.contains(fillID) { return Decision(events: [], order: id) }
        guard OrderTransition.fill.isLegal(for: order) else {
            let message = "fill of \(quantity) @ \(price) (\(fillID)) for an order that is \(order.status): not applied"
            return Decision(
                events: [.anomalyRecorded(AnomalyRecorded(order: id, account: order.account, message: message))],
                order: id
            )
        }
        guard quantity <= order.remainingQuantity else {
            let message =
                "fill of \(quantity) @ \(price) (\(fillID)) exceeds the remaining \(order.remainingQuantity): not applied"
            return Decision(
                events: [.anomalyRecorded(AnomalyRecorded(order: id, account: order.account, message: message))],
                order: id
            )
        }
        let notional = quantity * price
        let fill = OrderFill(
            order: id,
            quantity: quantity,
            price: price,
            commission: state.fees.commission(notional),
            tax: order.side == .sell ? state.fees.sellTax(notional) : 0,
            fillID: fillID
        )
        // A sell that leaves no shares ends the position's protective sells: nothing is left for them to sell
        // (they would fire into a refusal). A bracket's exits still waiting for their entry are not touched.
        var events: [DomainEvent] = []
        events.reserveCapacity(4)  // the fill, its notification, a closed position's two exits
        events.append(quantity == order.remainingQuantity ? .orderFilled(fill) : .orderPartiallyFilled(fill))
        if order.side == .sell, let armed = state.armedTriggers[order.stock],
            state.accounts[order.account]?.positions[order.stock]?.quantity == quantity
        {
            for trigger in armed.sorted() {
                guard let watched = state.triggers[trigger], watched.request.account == order.account,
                    watched.request.side == .sell, watched.status == .armed
                else { continue }
                events.append(
                    .triggerCancelled(TriggerCancelled(trigger: trigger, reason: "position closed by order \(id)"))
                )
            }
        }
        if quantity == order.remainingQuantity {
            let average = (order.filledNotional + notional) / order.quantity
            events += self.notification(
                state,
                order: order,
                kind: "ORDER_FILLED",
                title: "주문 체결",
                message: "평균 \(average)원 체결",
                offset: 0
            )
            return Decision(events: events, order: id)
        }
        return Decision(events: events, order: id)
    }
}
