import Engine
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

    public init(engine: EngineClient, history: Int = 300) {
        self.engine = engine
        self.history = history
    }

    struct Data: Decodable {
        var stock: String
        var start: Int64
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let data = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        let strategies = try await self.engine.strategies(stock: data.stock)
        guard !strategies.isEmpty else { return .done }
        let bars = try await self.engine.candles(stock: data.stock, to: data.start + KST.minuteMicros, limit: self.history)
        guard let newest = bars.last, newest.start == data.start else { return .done }  // the bar is not readable yet: nothing to decide on
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
