public import Engine
import Foundation
public import Projections

/// data-analysis: for a closed one-minute bar of a stock with strategies enabled, records the bar's indicators
/// (`IndicatorComputed`, the engine's `IndicatorSet`) and runs each strategy (the
/// engine's own `Strategy` code, as the backtester and the demo do) over the recent bars and, when the newest
/// bar gives a signal, places the strategy's market order — through the engine, so the same risk checks as a
/// person's — and records the `SignalGenerated`. The order's idempotency key is the job (event offset,
/// account, strategy): a job run twice places one order and records one signal.
public struct DataAnalysisHandler: JobHandler {
    let engine: EngineClient
    /// Bars fed to a strategy before the newest (warm-up for its indicators).
    let history: Int
    /// Each stock's recent bars, kept between jobs.
    let kept: BarHistory

    public init(engine: EngineClient, history: Int = 300) {
        self.engine = engine
        self.history = history
        self.kept = BarHistory(capacity: history)
    }

    struct Data: Decodable {
        var stock: String
        var start: Int64
        // The bar (jobs from before it was carried have none).
        var open: Int64?
        var high: Int64?
        var low: Int64?
        var close: Int64?
        var volume: Int64?

        var bar: Candle? {
            guard let code = StockCode(self.stock), let open, let high, let low, let close, let volume else { return nil }
            return Candle(stock: code, timeframe: .minute1, start: self.start, open: open, high: high, low: low, close: close, volume: volume)
        }
    }

    /// The bars up to and including the job's: the kept ones plus the job's bar when they end with the minute
    /// before it, else read from the engine (and kept).
    func bars(_ data: Data) async throws -> [Candle]? {
        if let bar = data.bar, let bars = await self.kept.extend(data.stock, with: bar) { return bars }
        let bars = try await self.engine.candles(stock: data.stock, to: data.start + KST.minuteMicros, limit: self.history)
        guard let newest = bars.last, newest.start == data.start else { return nil }  // the bar is not readable yet
        await self.kept.store(data.stock, bars)
        return bars
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let data = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        let strategies = try await self.engine.strategies(stock: data.stock)
        guard !strategies.isEmpty else { return .done }
        guard let bars = try await self.bars(data) else { return .done }  // the bar is not readable yet: nothing to decide on
        // The bar's indicators, by the engine's IndicatorSet over the same bars (read model `indicators`).
        var set = IndicatorSet()
        var latest: [Double?] = []
        for bar in bars { latest = set.update(bar) }
        var values: [String: Double] = [:]
        for (index, name) in IndicatorSet.columns.enumerated() where index < latest.count {
            if let value = latest[index], value.isFinite { values[name] = value }
        }
        if !values.isEmpty {
            try await self.engine.record(.indicators(stock: data.stock, timeframe: "1m", start: data.start, values: values), correlation: "analysis")
        }
        for enabled in strategies {
            var strategy = try StrategyFactory.make(name: enabled.strategy, parameters: enabled.parameters)
            var signal: StrategySignal?
            for bar in bars { signal = strategy.onBar(bar, position: enabled.position) }
            guard let signal else { continue }
            let key = "signal-\(job.id)-\(enabled.account)-\(enabled.strategy)"
            let placed = try await self.engine.send([.placeOrder(account: enabled.account, stock: data.stock, side: signal.side.description, quantity: signal.quantity, clientOrderID: String(key.prefix(64)))], correlation: "strategy")[0]
            guard placed.status == 200 else { throw EngineClient.Failure(description: "the strategy's order was refused: \(placed.status) \(placed.error ?? "")") }
            if !placed.offsets.isEmpty {
                try await self.engine.record(.signal(account: enabled.account, stock: data.stock, strategy: enabled.strategy, side: signal.side.description, reason: signal.reason), correlation: "strategy")
            }
        }
        return .done
    }
}

/// The newest one-minute bars of each stock, as data-analysis saw them: a job for the minute after the last
/// kept one appends its bar instead of reading the history from the engine again. One-minute bars never
/// change once recorded (the engine ignores a minute it has), so kept bars stay true; a gap (a minute the
/// worker did not see, jobs taken out of order, a new day) makes the next job read the history again.
public actor BarHistory {
    private var bars: [String: [Candle]] = [:]
    let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// The kept bars with `bar` appended, if the kept ones end with the minute before it.
    public func extend(_ stock: String, with bar: Candle) -> [Candle]? {
        guard var kept = self.bars[stock], let last = kept.last, last.start + KST.minuteMicros == bar.start else { return nil }
        kept.append(bar)
        if kept.count > self.capacity { kept.removeFirst(kept.count - self.capacity) }
        self.bars[stock] = kept
        return kept
    }

    /// Keeps `history` (oldest first) unless what is kept already reaches further.
    public func store(_ stock: String, _ history: [Candle]) {
        if let kept = self.bars[stock]?.last, let newest = history.last, newest.start <= kept.start { return }
        self.bars[stock] = Array(history.suffix(self.capacity))
    }
}
