/// A trading strategy: a pure function of the bars it has seen, the indicators its context computes and its
/// account's holding, returning intents — orders (market or limit, sized by shares, KRW or percent of equity,
/// with a bracket's exits), cancels. The backtester and the live worker run the same code through
/// `StrategyRunner`; the intents become orders through the engine, with the same risk checks as a person's, and
/// `SignalGenerated` / `SignalSkipped` events.
public protocol Strategy: Sendable {
    var name: String { get }
    /// What its context computes: `context.market.value(slot: i)` is the i-th of these (duplicates removed).
    var indicators: [IndicatorKey] { get }
    /// Closed bars the context keeps per timeframe for `context.market.bars(_:)` (0: none).
    var history: Int { get }
    /// Called once per closed bar, after the context has taken it in.
    mutating func onBar(_ context: StrategyContext) -> [StrategyIntent]
}

extension Strategy {
    public var history: Int { 0 }
}

/// A strategy with its context: feeds bars and the holding in, hands intents out.
public struct StrategyRunner: Sendable {
    public private(set) var strategy: any Strategy
    public private(set) var context: StrategyContext

    public init(_ strategy: any Strategy) {
        self.strategy = strategy
        self.context = StrategyContext(market: MarketSeries(indicators: strategy.indicators, history: strategy.history))
    }

    public var name: String { self.strategy.name }

    /// One closed bar: the context takes it in, then the strategy decides with `holding`.
    public mutating func step(_ bar: Candle, holding: Holding) -> [StrategyIntent] {
        self.context.market.update(bar)
        self.context.holding = holding
        return self.strategy.onBar(self.context)
    }
}

/// How a built-in strategy sizes its entries and protects them, from its integer parameters: `quantity`
/// (shares, default 10), or `amount` (KRW), or `percent` (of equity, 1–100); `stop`, `target`, `trail`
/// (basis points from the entry's price: 300 = 3 %) arm a bracket with the entry.
public struct EntryPlan: Sendable, Hashable {
    public var sizing: OrderSizing
    public var exits: ExitPlan?

    init(parameters: [String: Int64], strategy: String) throws(EngineError) {
        let given = ["quantity", "amount", "percent"].filter { parameters[$0] != nil }
        guard given.count <= 1 else { throw .invalid("\(strategy): give one of quantity, amount and percent") }
        if let amount = parameters["amount"] {
            guard (1...Bounds.maxAmount).contains(amount) else {
                throw .invalid("\(strategy): amount must be positive")
            }
            self.sizing = .amount(amount)
        } else if let percent = parameters["percent"] {
            guard (1...100).contains(percent) else { throw .invalid("\(strategy): percent must be 1 to 100") }
            self.sizing = .percentOfEquity(basisPoints: percent * 100)
        } else {
            let quantity = parameters["quantity"] ?? 10
            guard (1...Bounds.maxQuantity).contains(quantity) else {
                throw .invalid("\(strategy): quantity must be 1 to \(Bounds.maxQuantity)")
            }
            self.sizing = .shares(quantity)
        }
        var exits = ExitPlan()
        for (name, range) in [("stop", 1...9_999), ("target", 1...100_000), ("trail", 10...5_000)]
            as [(String, ClosedRange<Int64>)]
        {
            guard let value = parameters[name] else { continue }
            guard range.contains(value) else {
                throw .invalid("\(strategy): \(name) must be \(range.lowerBound) to \(range.upperBound) basis points")
            }
            switch name {
            case "stop": exits.stopLoss = value
            case "target": exits.takeProfit = value
            default: exits.trail = value
            }
        }
        self.exits = exits.isEmpty ? nil : exits
    }
}

/// Moving-average crossover: buy when the fast SMA crosses above the slow one while flat, sell everything
/// when it crosses below. Parameters: `fast` (5), `slow` (20), and `EntryPlan`'s sizing and exits.
public struct MovingAverageCross: Strategy {
    public let name = "ma-cross"
    public let indicators: [IndicatorKey]
    public let entry: EntryPlan
    private var previousDifference: Double?

    init(parameters: [String: Int64]) throws(EngineError) {
        let fast = parameters["fast"] ?? 5
        let slow = parameters["slow"] ?? 20
        guard fast > 0, slow > fast, slow <= 1_000 else { throw .invalid("ma-cross needs 0 < fast < slow <= 1000") }
        self.indicators = [
            try IndicatorKey(kind: .sma, parameters: [Int(fast)]),
            try IndicatorKey(kind: .sma, parameters: [Int(slow)]),
        ]
        self.entry = try EntryPlan(parameters: parameters, strategy: self.name)
    }

    public mutating func onBar(_ context: StrategyContext) -> [StrategyIntent] {
        guard let fast = context.market.value(slot: 0), let slow = context.market.value(slot: 1) else { return [] }
        let difference = fast - slow
        defer { self.previousDifference = difference }
        guard let previous = self.previousDifference else { return [] }
        if previous <= 0 && difference > 0 && context.holding.quantity == 0 && context.holding.workingOrders.isEmpty {
            return [.buy(self.entry.sizing, exits: self.entry.exits, reason: "SMA fast crossed above slow")]
        }
        if previous >= 0 && difference < 0 && context.holding.sellable > 0 {
            return [.sell(.position, reason: "SMA fast crossed below slow")]
        }
        return []
    }
}

/// RSI mean reversion: buy when RSI falls below `oversold` while flat, sell everything when it rises above
/// `overbought`. Parameters: `period` (14), `oversold` (30), `overbought` (70), and `EntryPlan`'s.
public struct RSIReversion: Strategy {
    public let name = "rsi-reversion"
    public let indicators: [IndicatorKey]
    public let oversold: Double
    public let overbought: Double
    public let entry: EntryPlan

    init(parameters: [String: Int64]) throws(EngineError) {
        let period = parameters["period"] ?? 14
        let oversold = parameters["oversold"] ?? 30
        let overbought = parameters["overbought"] ?? 70
        guard period > 1, period <= 1_000, 0 < oversold, oversold < overbought, overbought < 100 else {
            throw .invalid("rsi-reversion needs 1 < period <= 1000 and 0 < oversold < overbought < 100")
        }
        self.indicators = [try IndicatorKey(kind: .rsi, parameters: [Int(period)])]
        self.oversold = Double(oversold)
        self.overbought = Double(overbought)
        self.entry = try EntryPlan(parameters: parameters, strategy: self.name)
    }

    public mutating func onBar(_ context: StrategyContext) -> [StrategyIntent] {
        guard let value = context.market.value(slot: 0) else { return [] }
        if value < self.oversold && context.holding.quantity == 0 && context.holding.workingOrders.isEmpty {
            return [
                .buy(
                    self.entry.sizing,
                    exits: self.entry.exits,
                    reason: "RSI \(Int(value)) below \(Int(self.oversold))"
                )
            ]
        }
        if value > self.overbought && context.holding.sellable > 0 {
            return [.sell(.position, reason: "RSI \(Int(value)) above \(Int(self.overbought))")]
        }
        return []
    }
}
