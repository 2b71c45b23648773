/// What a strategy wants done after a bar.
public struct StrategySignal: Sendable, Hashable {
    public var side: OrderSide
    public var quantity: Int64
    public var reason: String
}

/// A trading strategy: a pure function of the bars it has seen and the position it holds.
///
/// Signals become `SignalGenerated` events, and their orders pass the same risk checks as a person's.
public protocol Strategy: Sendable {
    var name: String { get }
    /// Feeds one closed bar; `position` is the shares currently held (sellable).
    mutating func onBar(_ candle: Candle, position: Int64) -> StrategySignal?
}

/// Moving-average crossover: buy when the fast SMA crosses above the slow one while flat, sell everything
/// when it crosses below. Parameters: `fast` (5), `slow` (20), `quantity` (10).
public struct MovingAverageCross: Strategy {
    public let name = "ma-cross"
    public let quantity: Int64
    private var fast: SimpleMovingAverage
    private var slow: SimpleMovingAverage
    private var previousDifference: Double?

    public init(fast: Int = 5, slow: Int = 20, quantity: Int64 = 10) {
        precondition(fast > 0 && slow > fast && quantity > 0)
        self.fast = SimpleMovingAverage(period: fast)
        self.slow = SimpleMovingAverage(period: slow)
        self.quantity = quantity
    }

    init(parameters: [String: Int64]) throws(EngineError) {
        let fast = Int(parameters["fast"] ?? 5)
        let slow = Int(parameters["slow"] ?? 20)
        let quantity = parameters["quantity"] ?? 10
        guard fast > 0, slow > fast, slow <= 1_000, quantity > 0 else {
            throw .invalid("ma-cross needs 0 < fast < slow <= 1000 and quantity > 0")
        }
        self.init(fast: fast, slow: slow, quantity: quantity)
    }

    public mutating func onBar(_ candle: Candle, position: Int64) -> StrategySignal? {
        self.fast.update(Double(candle.close))
        self.slow.update(Double(candle.close))
        guard let fast = self.fast.value, let slow = self.slow.value else { return nil }
        let difference = fast - slow
        defer { self.previousDifference = difference }
        guard let previous = self.previousDifference else { return nil }
        if previous <= 0 && difference > 0 && position == 0 {
            return StrategySignal(side: .buy, quantity: self.quantity, reason: "SMA fast crossed above slow")
        }
        if previous >= 0 && difference < 0 && position > 0 {
            return StrategySignal(side: .sell, quantity: position, reason: "SMA fast crossed below slow")
        }
        return nil
    }
}

/// RSI mean reversion: buy when RSI falls below `oversold` while flat, sell everything when it rises above
/// `overbought`. Parameters: `period` (14), `oversold` (30), `overbought` (70), `quantity` (10).
public struct RSIReversion: Strategy {
    public let name = "rsi-reversion"
    public let quantity: Int64
    public let oversold: Double
    public let overbought: Double
    private var rsi: RelativeStrengthIndex

    public init(period: Int = 14, oversold: Double = 30, overbought: Double = 70, quantity: Int64 = 10) {
        precondition(period > 1 && oversold < overbought && quantity > 0)
        self.rsi = RelativeStrengthIndex(period: period)
        self.oversold = oversold
        self.overbought = overbought
        self.quantity = quantity
    }

    init(parameters: [String: Int64]) throws(EngineError) {
        let period = Int(parameters["period"] ?? 14)
        let oversold = parameters["oversold"] ?? 30
        let overbought = parameters["overbought"] ?? 70
        let quantity = parameters["quantity"] ?? 10
        guard period > 1, period <= 1_000, 0 < oversold, oversold < overbought, overbought < 100, quantity > 0 else {
            throw .invalid("rsi-reversion needs period > 1, 0 < oversold < overbought < 100 and quantity > 0")
        }
        self.init(period: period, oversold: Double(oversold), overbought: Double(overbought), quantity: quantity)
    }

    public mutating func onBar(_ candle: Candle, position: Int64) -> StrategySignal? {
        self.rsi.update(Double(candle.close))
        guard let value = self.rsi.value else { return nil }
        if value < self.oversold && position == 0 {
            return StrategySignal(
                side: .buy,
                quantity: self.quantity,
                reason: "RSI \(Int(value)) below \(Int(self.oversold))"
            )
        }
        if value > self.overbought && position > 0 {
            return StrategySignal(
                side: .sell,
                quantity: position,
                reason: "RSI \(Int(value)) above \(Int(self.overbought))"
            )
        }
        return nil
    }
}
