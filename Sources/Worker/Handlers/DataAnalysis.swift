public import Engine
import Foundation
public import Jobs

/// data-analysis: for closed one-minute bars of stocks with strategies enabled, records each bar's indicators
/// (`IndicatorComputed`, the engine's `IndicatorSet`) and runs each strategy (the engine's own `Strategy` code,
/// as the backtester and the demo do) and, when a bar gives a signal, places the strategy's market order —
/// through the engine, so the same risk checks as a person's — and records the `SignalGenerated`.
///
/// A job carries the bars of one dispatcher pass (`JobDerivation.analysisBatches`), each with its event
/// offset. The order's idempotency key is the bar's (offset, account, strategy): a bar analysed twice (a job
/// run again, or derived again after a flush) places one order and records one signal. Indicators and
/// strategies advance a bar at a time in an `AnalysisBook` kept between jobs; a bar that does not follow the
/// kept ones (a gap, jobs taken out of order, a restarted worker) reads the stock's history from the engine.
public struct DataAnalysisHandler: JobHandler {
    let engine: EngineClient
    /// Bars a stock's analysis is rebuilt from when it cannot go on from the kept ones.
    let history: Int
    let book: AnalysisBook

    public init(engine: EngineClient, history: Int = 300) {
        self.engine = engine
        self.history = history
        self.book = AnalysisBook(capacity: history)
    }

    /// A bar as the dispatcher put it in the job.
    struct Bar: Decodable {
        /// The `CandleClosed` event's offset (jobs of one bar have it as their id instead).
        var offset: UInt64?
        var stock: String
        var start: Int64
        // The bar (jobs from before it was carried have none: it is read from the engine).
        var open: Int64?
        var high: Int64?
        var low: Int64?
        var close: Int64?
        var volume: Int64?

        var candle: Candle? {
            guard let code = StockCode(self.stock), let open, let high, let low, let close, let volume else {
                return nil
            }
            return Candle(
                stock: code,
                timeframe: .minute1,
                start: self.start,
                open: open,
                high: high,
                low: low,
                close: close,
                volume: volume
            )
        }
    }

    /// `{"bars": [...]}`, or the single bar's fields at the top (jobs of one bar).
    static func bars(of job: Job) throws -> [Bar] {
        struct Batch: Decodable { var bars: [Bar] }
        let data = Foundation.Data(job.data.utf8)
        if let batch = try? JSONDecoder().decode(Batch.self, from: data) { return batch.bars }
        var bar = try JSONDecoder().decode(Bar.self, from: data)
        bar.offset = bar.offset ?? UInt64(job.id)
        return [bar]
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let bars = try Self.bars(of: job)
        guard !bars.isEmpty else { return .done }
        let enabled = Dictionary(grouping: try await self.engine.strategies(), by: \.stock)
        var indicators: [WireCommand] = []
        var decisions: [WireCommand] = []
        for bar in bars {
            guard let strategies = enabled[bar.stock], !strategies.isEmpty, let offset = bar.offset else { continue }
            let step: AnalysisBook.Step
            if let candle = bar.candle, let next = try await self.book.advance(candle, strategies: strategies) {
                step = next
            } else {
                let history = try await self.engine.candles(
                    stock: bar.stock,
                    to: bar.start + KST.minuteMicros,
                    limit: self.history
                )
                // the bar is not readable yet: nothing to decide on
                guard let newest = history.last, newest.start == bar.start else { continue }
                step = try await self.book.reset(history, strategies: strategies)
            }
            if !step.indicators.isEmpty {
                indicators.append(
                    .indicators(stock: bar.stock, timeframe: "1m", start: bar.start, values: step.indicators)
                )
            }
            for (view, name, intents) in step.decisions {
                decisions += Self.commands(intents, of: view, strategy: name, bar: step.bar, key: "signal-\(offset)")
            }
        }
        // What the strategies decided first (orders with their signals, skips, cancels), the indicators last: a
        // bar's indicators mark it analysed (`StockInfo.lastAnalysedMinute`, never handed to data-analysis again),
        // so they are written only once its decisions are in the log.
        if !decisions.isEmpty {
            for result in try await self.engine.send(decisions, correlation: "strategy")
            where result.status != 200 && result.status != 409 {
                throw EngineClient.Failure(
                    description: "the engine refused a strategy's decision: \(result.status) \(result.error ?? "")"
                )
            }
        }
        // Indicators in requests of 100 (~40 kB of JSON; the gateway takes up to 64 KiB).
        for chunk in stride(from: 0, to: indicators.count, by: 100) {
            for result in try await self.engine.send(
                Array(indicators[chunk..<min(indicators.count, chunk + 100)]),
                correlation: "analysis"
            )
            where result.status != 200 && result.status != 409 {
                throw EngineClient.Failure(
                    description: "the engine refused indicators: \(result.status) \(result.error ?? "")"
                )
            }
        }
        return .done
    }

    /// A strategy's intents on `bar` as engine commands: orders sized from the view's holding (keyed by the bar,
    /// the account, the strategy and the intent's place, so a bar analysed twice places each once; the engine
    /// records the signal with the order or skips a stale bar), skips, cancels of orders the view listed.
    static func commands(
        _ intents: [StrategyIntent],
        of view: WorkerStrategyView,
        strategy: String,
        bar: Candle,
        key: String
    )
        -> [WireCommand]
    {
        guard let account = AccountID(view.account) else { return [] }
        let holding = view.holding
        var commands: [WireCommand] = []
        for (position, intent) in intents.enumerated() {
            // The intent's key, the same in every attempt of the job: an order's client order id, a skip's key.
            let suffix = position == 0 ? "" : "-\(position)"
            let intentKey = String("\(key)-\(view.account)-\(strategy)".prefix(64 - suffix.count)) + suffix
            switch intent {
            case .order(let order):
                switch order.order(account: account, stock: bar.stock, holding: holding, close: bar.close) {
                case .failure(let skip):
                    commands.append(
                        .skipped(
                            account: view.account,
                            stock: view.stock,
                            strategy: strategy,
                            side: order.side.description,
                            reason: "\(order.reason); skipped: \(skip)",
                            key: intentKey
                        )
                    )
                case .success(let request):
                    func exit(_ kind: TriggerKind) -> ArmTrigger? { request.bracket.first { $0.kind == kind } }
                    // A fixed level as a price; a distance from the fill as basis points (its level is the engine's
                    // to set when the entry fills).
                    func level(_ kind: TriggerKind) -> Int64? {
                        exit(kind).flatMap {
                            kind == .trailingStop
                                ? $0.trailBasisPoints : $0.offsetBasisPoints == 0 ? $0.triggerPrice : nil
                        }
                    }
                    func distance(_ kind: TriggerKind) -> Int64? {
                        exit(kind).flatMap { $0.offsetBasisPoints == 0 ? nil : $0.offsetBasisPoints }
                    }
                    commands.append(
                        .strategyOrder(
                            account: view.account,
                            stock: view.stock,
                            side: order.side.description,
                            quantity: request.quantity,
                            price: request.price,
                            clientOrderID: intentKey,
                            strategy: strategy,
                            reason: order.reason,
                            barStart: bar.start,
                            stopLossPrice: level(.stopLoss),
                            takeProfitPrice: level(.takeProfit),
                            trailBasisPoints: level(.trailingStop),
                            stopLossBasisPoints: distance(.stopLoss),
                            takeProfitBasisPoints: distance(.takeProfit)
                        )
                    )
                }
            case .cancel(let id, _):
                if holding.workingOrders.contains(where: { $0.id == id }) {
                    commands.append(.cancelOrder(order: id.description))
                }
            case .cancelAll:
                commands += holding.workingOrders.map { .cancelOrder(order: $0.id.description) }
            }
        }
        return commands
    }
}

/// Each analysed stock's newest one-minute bars, its `IndicatorSet` and its strategies' state, advanced a bar
/// at a time — what the backtester does over a day, kept between data-analysis jobs so a bar costs its own
/// update, not a pass over the history. One-minute bars never change once recorded (the engine ignores a
/// minute it has), so the kept state stays true; a bar that does not follow the kept ones is refused
/// (`advance` answers nil) and the caller rebuilds the stock from its history (`reset`).
public actor AnalysisBook {
    /// What one bar gave: the indicators' values (finite ones, by `IndicatorSet.columns` name) and the
    /// signals of the strategies it was run for.
    public struct Step: Sendable {
        public var bar: Candle
        public var indicators: [String: Double]
        /// Each strategy run for the bar: its view, its name and its intents (the bars with none left out).
        public var decisions: [(WorkerStrategyView, String, [StrategyIntent])]
    }

    private struct Series {
        var bars: [Candle]
        var indicators = IndicatorSet()
        /// Keyed by account, strategy and parameters: a strategy enabled again with other parameters starts anew.
        var strategies: [String: StrategyRunner] = [:]
    }

    private var series: [String: Series] = [:]
    /// Bars kept per stock (warm-up for a strategy enabled later).
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Feeds `bar` if the stock's kept bars end with the minute before it; nil otherwise (nothing changed).
    /// `strategies` are the ones enabled on the stock now; one not seen before is warmed up on the kept bars.
    public func advance(_ bar: Candle, strategies: [WorkerStrategyView]) throws(EngineError) -> Step? {
        let stock = bar.stock.description
        guard var series = self.series[stock], let last = series.bars.last, last.start + KST.minuteMicros == bar.start
        else { return nil }
        self.series[stock] = nil  // not left half-advanced if a strategy cannot be made
        let step = try Self.feed(bar, to: &series, strategies: strategies, capacity: self.capacity)
        self.series[stock] = series
        return step
    }

    /// Rebuilds the stock's analysis from `history` (oldest first; the newest is the bar analysed now) and
    /// returns that bar's step.
    public func reset(_ history: [Candle], strategies: [WorkerStrategyView]) throws(EngineError) -> Step {
        guard let newest = history.last else { throw .invalid("no bars to analyse") }
        var series = Series(bars: [])
        for bar in history.dropLast() {
            _ = series.indicators.update(bar)
            series.bars.append(bar)
        }
        series.bars = Array(series.bars.suffix(self.capacity))
        self.series[newest.stock.description] = nil
        let step = try Self.feed(newest, to: &series, strategies: strategies, capacity: self.capacity)
        self.series[newest.stock.description] = series
        return step
    }

    private static func feed(_ bar: Candle, to series: inout Series, strategies: [WorkerStrategyView], capacity: Int)
        throws(EngineError) -> Step
    {
        var indicators: [String: Double] = [:]
        for (name, value) in zip(IndicatorSet.columns, series.indicators.update(bar)) {
            if let value, value.isFinite { indicators[name] = value }
        }
        var running: [String: StrategyRunner] = [:]
        var decisions: [(WorkerStrategyView, String, [StrategyIntent])] = []
        for view in strategies {
            let key = "\(view.account)|\(view.strategy)|\(view.parameters)"
            var runner: StrategyRunner
            if let kept = series.strategies[key] {
                runner = kept
            } else {
                // Warmed up on the kept bars as if flat: what it would have asked then is not acted on now.
                runner = StrategyRunner(
                    try StrategyFactory.make(name: view.strategy, parameters: view.parameters, rules: view.rules)
                )
                for old in series.bars { _ = runner.step(old, holding: Holding()) }
            }
            let intents = runner.step(bar, holding: view.holding)
            if !intents.isEmpty { decisions.append((view, runner.name, intents)) }
            running[key] = runner
        }
        series.strategies = running  // strategies no longer enabled are dropped
        series.bars.append(bar)
        if series.bars.count > capacity { series.bars.removeFirst(series.bars.count - capacity) }
        return Step(bar: bar, indicators: indicators, decisions: decisions)
    }
}
