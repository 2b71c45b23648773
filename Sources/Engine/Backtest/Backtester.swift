public import Ledger

/// What a backtest found.
public struct BacktestReport: Sendable {
    public var strategy: String
    public var bars = 0
    public var events: UInt64 = 0
    public var ordersByStatus: [String: Int] = [:]
    public var rejectionsByReason: [String: Int] = [:]
    public var fills = 0
    public var roundTrips = 0
    public var winningTrips = 0
    public var initialEquity: Int64 = 0
    public var finalEquity: Int64 = 0
    public var realizedProfit: Int64 = 0
    public var commission: Int64 = 0
    public var tax: Int64 = 0
    public var maxDrawdownPercent: Double = 0
    public var sharpeRatio: Double = 0
    /// Equity (KRW) at each session close: (KST day, equity).
    public var equityCurve: [(day: Int64, equity: Int64)] = []
    /// Buy-and-hold of the same stocks at each session close: the initial cash split equally, each share bought
    /// at its stock's first open (cash not yet invested counts as cash).
    public var buyAndHoldCurve: [(day: Int64, equity: Int64)] = []

    public var profit: Int64 { self.finalEquity - self.initialEquity }
    public var returnPercent: Double {
        self.initialEquity == 0 ? 0 : Double(self.profit) / Double(self.initialEquity) * 100
    }
    public var winRatePercent: Double {
        self.roundTrips == 0 ? 0 : Double(self.winningTrips) / Double(self.roundTrips) * 100
    }
}

/// Replays historical candles through the live engine, its risk checks and the simulated exchange.
///
/// Per bar: the intents the strategy returned on the previous bar become orders at the session open (or at the
/// bar's start for intraday bars) and go through `decide` like anyone's — with the `SignalGenerated` the engine
/// records, or a `SignalSkipped` (a stale bar, a size under one share); the exchange fills working orders
/// against the bar (at its open for a market order: never at the close the strategy saw); the bar is ingested
/// as `CandleClosed`, which fires the engine's armed triggers (their exits go to the exchange for the next bar);
/// day orders expire at the close; the strategy's context takes the bar in and the strategy returns its intents.
/// Many stocks share one account's cash. Every event is recorded (`EventRecorder`) so each backtest is an
/// auditable log. Sketch: ~5 events per traded bar, ~1–2 per quiet bar; no per-bar allocation besides the events.
public struct Backtester: Sendable {
    public let engine: Engine
    public private(set) var state: EngineState
    public private(set) var exchange: SimulatedExchange
    /// Encodes what `takeRecords` hands out.
    private var recorder: EventRecorder
    /// The events decided and not handed over yet, in order, while `defersEncoding`.
    private var unrecorded: [EventEnvelope] = []
    /// Whether events are kept unencoded until they are taken (the default): by `takeEvents`, for the caller to
    /// encode on another core — encoding is about a tenth of a backtest's work, worth moving when a core is idle
    /// (one search run) — or by `takeRecords`, encoded then. Set to false, each event is encoded as it is recorded
    /// (the ones kept so far first): when every core runs a backtest, the copies deferring costs are not worth it.
    public var defersEncoding = true {
        didSet {
            guard !self.defersEncoding else { return }
            for index in self.unrecorded.indices { self.recorder.record(self.unrecorded[index]) }
            self.unrecorded.removeAll(keepingCapacity: true)
        }
    }
    /// Events recorded so far (the offset the next one will have in the backtest's own log).
    public private(set) var recordedEvents: UInt64 = 0
    public private(set) var report: BacktestReport
    public let account: AccountID
    // Per-stock state in dense arrays (one dictionary lookup per bar, for the index).
    private var index: [StockCode: Int] = [:]
    private var codes: [StockCode] = []
    /// The slot of the last bar's stock.
    private var lastSlot = 0
    private var runners: [StrategyRunner] = []
    /// Each runner's strategy name (asked of the runner, it was copied whole out of the array for every order).
    private var strategyNames: [String] = []
    /// The intents of each stock's previous bar and that bar, placed at the next bar.
    private var pending: [[StrategyIntent]] = []
    private var pendingBar: [Candle?] = []
    private var lastClose: [Int64] = []
    /// Each stock's first open (buy-and-hold's price), 0 before its first bar.
    private var firstOpen: [Int64] = []
    /// What each stock's strategy sees of the account, refreshed from the state only when order events touch it.
    private var holdings: [Holding] = []
    /// Orders each stock's strategy placed that may still be working.
    private var working: [[OrderID]] = []
    private var tripStartProfit: [Int64?] = []
    /// The account's cash (reserved included, and what a new buy may use) and its holdings at the last closes:
    /// equity, kept per bar.
    private var totalCash: Int64 = 0
    private var availableCash: Int64 = 0
    private var marketValue: Int64 = 0
    private var currentDay: Int64 = .min
    /// Each stock's last daily bar, recorded at the next session's open rather than at its own close: the
    /// triggers it fires place their exits then, into an open market, as the strategies' orders decided on it
    /// are placed (nil: none waiting).
    private var unrecordedDay: [Candle?] = []
    /// The candles the bar being recorded closes (one buffer for every bar).
    private var closed: [Candle] = []

    /// Sets up a fresh world: the stocks, one user, one simulated account with `initialCash`. `make` builds each
    /// stock's strategy (a Swift strategy of the caller's); nil: `StrategyFactory` by `strategy` and `parameters`,
    /// enabled on the account as a person enables one.
    public init(
        stocks: [(code: StockCode, name: String, previousClose: Int64)],
        strategy: String,
        parameters: String = "",
        initialCash: Int64 = 100_000_000,
        calendar: TradingCalendar,
        exchange: SimulatedExchange.Configuration,
        fees: FeeSchedule = FeeSchedule(),
        startTime: Int64,
        maxBarAge: Int64? = nil,
        make: (@Sendable () -> any Strategy)? = nil
    ) throws(EngineError) {
        self.engine = Engine(calendar: calendar, maxBarAge: maxBarAge)
        self.state = EngineState(fees: fees)
        self.exchange = SimulatedExchange(configuration: exchange)
        self.recorder = EventRecorder(nextOffset: 0)
        self.report = BacktestReport(strategy: strategy)
        self.unrecorded.reserveCapacity(Self.batchEvents + 64)  // a bar's events may go past the mark
        self.account = AccountID(value: 1)
        let context = CommandContext(time: startTime, correlationID: "backtest")
        for stock in stocks {
            try self.execute(
                .listStock(code: stock.code, name: stock.name, market: "KRX", previousClose: stock.previousClose),
                context
            )
            self.index[stock.code] = self.codes.count
            self.codes.append(stock.code)
            let made: any Strategy
            if let make {
                made = make()
            } else {
                made = try StrategyFactory.make(name: strategy, parameters: parameters)
            }
            self.runners.append(StrategyRunner(made))
            self.strategyNames.append(made.name)
            self.pending.append([])
            self.pendingBar.append(nil)
            self.unrecordedDay.append(nil)
            self.lastClose.append(stock.previousClose)
            self.firstOpen.append(0)
            self.holdings.append(Holding())
            self.working.append([])
            self.tripStartProfit.append(nil)
        }
        try self.execute(.registerUser(email: "backtest@stockboom.local"), context)
        try self.execute(
            .registerAccount(
                user: UserID(value: 1),
                broker: .simulated,
                accountNumber: "BACKTEST01",
                dailyOrderLimit: 1_000_000
            ),
            context
        )
        try self.execute(.depositCash(account: self.account, amount: initialCash), context)
        for stock in stocks where make == nil {
            try self.execute(
                .enableStrategy(account: self.account, stock: stock.code, strategy: strategy, parameters: parameters),
                context
            )
        }
        self.report.initialEquity = initialCash
        self.refreshAll()
    }

    /// Decides, records and applies one command; sends the orders it created that wait for the broker (a
    /// strategy's, a fired trigger's exit) to the exchange.
    @discardableResult
    mutating func execute(_ command: Command, _ context: CommandContext) throws(EngineError) -> Decision {
        let decision = try self.engine.decide(self.state, command, context: context)
        var requested: [OrderID] = []
        for event in decision.events {
            let envelope = EventEnvelope(
                timestamp: context.time,
                causation: context.causation,
                correlationID: context.correlationID,
                event: event
            )
            self.state.apply(envelope)
            // Asked of the envelope (the event moved into it): a binding of the request would copy it.
            if case .orderRequested = envelope.event, let id = envelope.event.orderID { requested.append(id) }
            self.record(envelope)
        }
        self.report.events += UInt64(decision.events.count)
        for id in requested { try self.submit(id, context) }
        return decision
    }

    private mutating func record(_ envelope: consuming EventEnvelope) {
        if self.defersEncoding {
            self.unrecorded.append(envelope)
        } else {
            self.recorder.record(envelope)
        }
        self.recordedEvents += 1
    }

    /// Records that have not been handed to a log yet, encoded: batches of about a megabyte (`EventRecorder.split`).
    public mutating func takeRecords() -> [AppendBatch] {
        defer { self.unrecorded.removeAll(keepingCapacity: true) }
        return self.recorder.split(self.unrecorded)  // after what the recorder holds already
    }

    /// The events not handed to a log yet, to encode elsewhere (`EventRecorder.record` in order; the first has
    /// offset `recordedEvents` minus their count). `spare`: events handed over before and done with, whose
    /// room the next ones take. Events already encoded (deferring was off) must be taken by `takeRecords` first.
    public mutating func takeEvents(reusing spare: consuming [EventEnvelope]? = nil) -> [EventEnvelope] {
        precondition(self.recorder.batch.isEmpty, "events encoded before these are still to be taken")
        var next = (consume spare) ?? []  // owned: emptied in place, not copied (a borrowed array would be)
        next.removeAll(keepingCapacity: true)
        swap(&next, &self.unrecorded)
        return next
    }

    /// Whether the events recorded and not taken yet are due to be handed over: 4,096 unencoded ones (a quarter
    /// of a megabyte of log records, 0.7 MB held here), or a megabyte encoded. One event is at most a few
    /// kilobytes (`Bounds`); a log frame takes 4 MiB.
    public var batchIsDue: Bool {
        self.unrecorded.count >= Self.batchEvents || self.recorder.batch.byteCount >= EventRecorder.batchBytes
    }
    static let batchEvents = 4_096

    /// Processes one bar (bars must come in time order).
    public mutating func process(_ bar: Candle) throws(EngineError) {
        // A run of one stock's bars (a single-stock backtest: all of them) finds its slot without a lookup.
        let slot: Int
        if self.lastSlot < self.codes.count, self.codes[self.lastSlot] == bar.stock {
            slot = self.lastSlot
        } else {
            guard let found = self.index[bar.stock] else {
                throw .notFound("stock \(bar.stock) is not part of this backtest")
            }
            slot = found
            self.lastSlot = found
        }
        let day = KST.day(bar.start)
        if bar.timeframe != .day1, self.currentDay != .min, day > self.currentDay {
            try self.closeSession(day: self.currentDay)
        }
        self.currentDay = day
        self.report.bars += 1
        if self.firstOpen[slot] == 0 { self.firstOpen[slot] = bar.open }
        let orderTime =
            bar.timeframe == .day1
            ? KST.instant(day: day, hour: 0) + self.engine.calendar.openMinute(day: day) * KST.minuteMicros
            : bar.start
        var ordersChanged = false
        if let previous = self.unrecordedDay[slot] {
            self.unrecordedDay[slot] = nil
            ordersChanged = try self.record(previous, at: orderTime)
        }
        if !self.pending[slot].isEmpty, let decided = self.pendingBar[slot] {
            let intents = self.pending[slot]
            self.pending[slot] = []
            for intent in intents { try self.act(on: intent, decided: decided, slot: slot, time: orderTime) }
            ordersChanged = true
        }
        for fill in self.exchange.onCandle(bar) {
            try self.execute(
                .recordFill(fill.order, quantity: fill.quantity, price: fill.price, fillID: fill.fillID),
                CommandContext(time: orderTime + 1, correlationID: fill.brokerOrderNumber)
            )
            self.report.fills += 1
            ordersChanged = true
        }
        if bar.timeframe == .day1 {
            self.unrecordedDay[slot] = bar
        } else if try self.record(bar, at: bar.start + bar.timeframe.minutes * KST.minuteMicros) {
            ordersChanged = true
        }
        self.marketValue = self.marketValue.saturatingAdd(
            self.holdings[slot].quantity.saturatingMultiply(bar.close - self.lastClose[slot])
        )
        self.lastClose[slot] = bar.close
        if ordersChanged { self.refresh(slot) }  // a bar's orders and fills are of its stock only
        let intents = self.runners[slot].step(bar, holding: self.holding(slot))
        if !intents.isEmpty {
            self.pending[slot] = intents
            self.pendingBar[slot] = bar
        }
        if bar.timeframe == .day1 { try self.closeSession(day: day) }
    }

    /// Records `bar` at `time`; whether it fired triggers (their exits are then sent).
    private mutating func record(_ bar: Candle, at time: Int64) throws(EngineError) -> Bool {
        // Most bars: no trigger armed on the stock, the decision is the candles the bar closes — taken in place.
        self.closed.removeAll(keepingCapacity: true)
        if try self.engine.closedCandles(&self.state, bar, into: &self.closed) {
            self.state.applyCandlesClosed(self.closed)  // as `apply` of each envelope, with one lookup of the stock
            for candle in self.closed {
                self.record(EventEnvelope(timestamp: time, correlationID: "market-data", event: .candleClosed(candle)))
            }
            self.report.events += UInt64(self.closed.count)
            return false
        }
        let ingested = try self.execute(.ingestCandle(bar), CommandContext(time: time, correlationID: "market-data"))
        return ingested.events.count > 1
            && ingested.events.contains(where: { if case .triggerFired = $0 { true } else { false } })
    }

    /// One intent of the bar `decided`, acted on at `time`.
    private mutating func act(on intent: StrategyIntent, decided: Candle, slot: Int, time: Int64) throws(EngineError) {
        let context = CommandContext(time: time, correlationID: "strategy")
        let stock = self.codes[slot]
        switch intent {
        case .order(let order):
            let holding = self.holding(slot)
            switch order.order(account: self.account, stock: stock, holding: holding, close: self.lastClose[slot]) {
            case .failure(let skip):
                let event = SignalGenerated(
                    account: self.account,
                    stock: stock,
                    strategy: self.strategyNames[slot],
                    side: order.side,
                    reason: "\(order.reason); skipped: \(skip)"
                )
                try self.execute(.recordSkipped(event), context)
            case .success(var request):
                request.signal = StrategySignal(
                    strategy: self.strategyNames[slot],
                    reason: order.reason,
                    barStart: decided.start,
                    timeframe: decided.timeframe
                )
                if let id = try self.execute(.placeOrder(request), context).order { self.working[slot].append(id) }
            }
        case .cancel(let id, _):
            if self.working[slot].contains(id) { try self.cancel(id, context) }
        case .cancelAll:
            for id in self.working[slot] { try self.cancel(id, context) }
        }
    }

    private mutating func cancel(_ id: OrderID, _ context: CommandContext) throws(EngineError) {
        guard let order = self.state.orders[id], !order.status.isTerminal, order.status != .cancelRequested else {
            return
        }
        try self.execute(.cancelOrder(id), context)
        guard self.state.orders[id]?.status == .cancelRequested else { return }
        // Refused: filled meanwhile; the cancel request stays until the fill ends the order.
        guard (try? self.exchange.cancel(order.brokerOrderNumber)) != nil else { return }
        try self.execute(.recordCancelled(id), context)
    }

    /// Sends a PENDING order to the simulated exchange and records its answer.
    private mutating func submit(_ id: OrderID, _ context: CommandContext) throws(EngineError) {
        guard let order = self.state.orders[id], order.status == .pending else { return }
        do {
            let number = try self.exchange.submit(BrokerOrderRequest(order), at: context.time)
            try self.execute(.recordSubmitted(id), context)
            try self.execute(.recordAccepted(id, brokerOrderNumber: number), context)
        } catch let error as BrokerError {
            try self.execute(.recordSubmitted(id), context)
            try self.execute(.recordBrokerRejected(id, reason: error.reason, message: error.message), context)
        } catch let error as EngineError {
            throw error
        } catch {
            preconditionFailure("unexpected error \(error)")
        }
    }

    /// What the strategy of `slot` sees: its stock's holding with the account's cash and equity now.
    private func holding(_ slot: Int) -> Holding {
        var holding = self.holdings[slot]
        holding.cash = self.availableCash
        holding.equity = self.totalCash.saturatingAdd(self.marketValue)
        return holding
    }

    /// Rereads one stock's holding and working orders and the account's cash from the state, keeps the
    /// holdings' value, and counts round trips (flat → holding → flat).
    private mutating func refresh(_ slot: Int) {
        guard let account = self.state.accounts[self.account] else { return }
        self.totalCash = account.cash
        self.availableCash = account.availableCash
        let position = account.positions[self.codes[slot]]
        let quantity = position?.quantity ?? 0
        self.marketValue = self.marketValue.saturatingAdd(
            (quantity - self.holdings[slot].quantity).saturatingMultiply(self.lastClose[slot])
        )
        self.holdings[slot].quantity = quantity
        self.holdings[slot].sellable = position?.sellable ?? 0
        self.holdings[slot].averagePrice = position?.averagePrice ?? 0
        if !self.working[slot].isEmpty {
            self.working[slot].removeAll { self.state.orders[$0]?.status.isTerminal ?? true }
        }
        if !self.working[slot].isEmpty || !self.holdings[slot].workingOrders.isEmpty {
            self.holdings[slot].workingOrders = self.working[slot].compactMap {
                self.state.orders[$0].map(WorkingOrder.init)
            }
        }
        if quantity > 0, self.tripStartProfit[slot] == nil {
            self.tripStartProfit[slot] = account.realizedProfit
        } else if quantity == 0, let start = self.tripStartProfit[slot] {
            self.tripStartProfit[slot] = nil
            self.report.roundTrips += 1
            if account.realizedProfit > start { self.report.winningTrips += 1 }
        }
    }

    private mutating func refreshAll() { for slot in self.codes.indices { self.refresh(slot) } }

    private mutating func closeSession(day: Int64) throws(EngineError) {
        let close = KST.instant(
            day: day,
            hour: self.engine.calendar.closeMinute / 60,
            minute: self.engine.calendar.closeMinute % 60
        )
        _ = self.exchange.expire(at: close)
        let expired = try self.execute(.expireDayOrders, CommandContext(time: close, correlationID: "session-close"))
        if !expired.events.isEmpty { self.refreshAll() }
        self.report.equityCurve.append((day, self.equity()))
        self.report.buyAndHoldCurve.append((day, self.buyAndHold()))
    }

    /// The initial cash split equally over the stocks, each part in shares at its stock's first open.
    public func buyAndHold() -> Int64 {
        guard !self.codes.isEmpty else { return self.report.initialEquity }
        let part = self.report.initialEquity / Int64(self.codes.count)
        var value = self.report.initialEquity - part * Int64(self.codes.count)
        for slot in self.codes.indices {
            let price = self.firstOpen[slot]
            guard price > 0 else {
                value = value.saturatingAdd(part)
                continue
            }
            let shares = part / price
            value = value.saturatingAdd(part - shares * price).saturatingAdd(
                shares.saturatingMultiply(self.lastClose[slot])
            )
        }
        return value
    }

    /// Cash plus holdings at the last closes.
    public func equity() -> Int64 {
        guard let account = self.state.accounts[self.account] else { return 0 }
        return account.positions.reduce(account.cash) {
            $0.saturatingAdd($1.value.quantity.saturatingMultiply(self.index[$1.key].map { self.lastClose[$0] } ?? 0))
        }
    }

    /// Closes the last session and computes the summary figures.
    public mutating func finish() throws(EngineError) -> BacktestReport {
        if self.currentDay != .min, self.report.equityCurve.last?.day != self.currentDay {
            try self.closeSession(day: self.currentDay)
        }
        // The last daily bars, recorded at their close: the log holds every bar (what they fire now is refused
        // in a closed market, as it would be).
        for slot in self.codes.indices {
            guard let bar = self.unrecordedDay[slot] else { continue }
            self.unrecordedDay[slot] = nil
            _ = try self.record(bar, at: self.engine.calendar.close(ofDayContaining: bar.start))
        }
        let account = self.state.accounts[self.account]
        self.report.finalEquity = self.equity()
        self.report.realizedProfit = account?.realizedProfit ?? 0
        self.report.commission = account?.commissionPaid ?? 0
        self.report.tax = account?.taxPaid ?? 0
        self.report.ordersByStatus = self.state.ordersByStatus()
        for order in self.state.orders.values where order.status == .rejected {
            if let reason = order.failureReason { self.report.rejectionsByReason[reason.rawValue, default: 0] += 1 }
        }
        let equities = self.report.equityCurve.map { Double($0.equity) }
        var peak = equities.first ?? 0
        var drawdown = 0.0
        for equity in equities {
            peak = max(peak, equity)
            if peak > 0 { drawdown = max(drawdown, (peak - equity) / peak) }
        }
        self.report.maxDrawdownPercent = drawdown * 100
        var returns: [Double] = []
        var previous = Double(self.report.initialEquity)
        for equity in equities {
            if previous > 0 { returns.append(equity / previous - 1) }
            previous = equity
        }
        if returns.count > 1 {
            let mean = returns.reduce(0, +) / Double(returns.count)
            let variance = returns.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(returns.count - 1)
            self.report.sharpeRatio = variance > 0 ? mean / variance.squareRoot() * 252.0.squareRoot() : 0
        }
        return self.report
    }
}
