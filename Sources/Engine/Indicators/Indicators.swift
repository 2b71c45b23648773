/// Incremental technical indicators: O(1) work and memory per new bar, values identical to TA-Lib's
/// conventions (the de-facto standard, checked in `IndicatorReferenceTests` against TA-Lib itself and
/// against the StockCharts-derived files in `shared/data/ta-reference`):
///
/// * SMA(n): arithmetic mean of the last n closes; first value at bar n−1.
/// * EMA(n): k = 2/(n+1), seeded with the SMA of the first n closes (first value at bar n−1).
/// * RSI(n): Wilder's smoothing, seeded with simple averages of the first n gains and losses; first value at
///   bar n; 0 when there was no movement at all.
/// * MACD(f, s, g): both EMAs are seeded at bar s−1 (the fast one with the mean of the f closes ending
///   there, as TA-Lib does); the signal is EMA(g) of the MACD line seeded at bar s+g−2; all three outputs
///   start at bar s+g−2.
/// * Bollinger(n, m): middle SMA(n), bands ± m population standard deviations (TA-Lib's running-sum form).
/// * ATR(n): true range from bar 1; first value at bar n = mean of the first n true ranges; Wilder's smoothing after.
/// * Stochastic(k, s, d): fast %K over k bars (0 when the range is 0), slow %K = SMA(s) of it, %D = SMA(d)
///   of slow %K; first values at bar k+s+d−3.
public struct RollingSum: Sendable, Hashable {
    private var values: [Double]
    private var index = 0
    public private(set) var count = 0
    public private(set) var sum: Double = 0
    public private(set) var sumOfSquares: Double = 0
    public let period: Int

    public init(period: Int) {
        precondition(period > 0)
        self.period = period
        self.values = [Double](repeating: 0, count: period)
    }

    public var isFull: Bool { self.count == self.period }
    public var mean: Double { self.sum / Double(self.period) }

    /// Adds a value; returns the value that left the window (nil while filling).
    @discardableResult
    public mutating func push(_ value: Double) -> Double? {
        var leaving: Double?
        if self.count == self.period {
            leaving = self.values[self.index]
            self.sum -= leaving!  // set on the line above
            self.sumOfSquares -= leaving! * leaving!
        } else {
            self.count += 1
        }
        self.values[self.index] = value
        self.sum += value
        self.sumOfSquares += value * value
        self.index = (self.index + 1) % self.period
        return leaving
    }

    /// The value `back` places before the newest (0 = newest).
    public func value(back: Int) -> Double {
        precondition(back < self.count)
        return self.values[(self.index - 1 - back + 2 * self.period) % self.period]
    }

    public var maximum: Double { (0..<self.count).reduce(-Double.infinity) { max($0, self.value(back: $1)) } }
    public var minimum: Double { (0..<self.count).reduce(Double.infinity) { min($0, self.value(back: $1)) } }
}

public struct SimpleMovingAverage: Sendable, Hashable {
    private var window: RollingSum
    public private(set) var value: Double?
    public init(period: Int) { self.window = RollingSum(period: period) }

    public mutating func update(_ input: Double) {
        self.window.push(input)
        // TA-Lib divides the running total, which is what RollingSum keeps.
        self.value = self.window.isFull ? self.window.sum / Double(self.window.period) : nil
    }
}

public struct ExponentialMovingAverage: Sendable, Hashable {
    public let period: Int
    private let k: Double
    private var seed: RollingSum
    public private(set) var value: Double?

    public init(period: Int) {
        self.period = period
        self.k = 2.0 / Double(period + 1)
        self.seed = RollingSum(period: period)
    }

    public mutating func update(_ input: Double) {
        if let previous = self.value {
            self.value = (input - previous) * self.k + previous
            return
        }
        self.seed.push(input)
        if self.seed.isFull { self.value = self.seed.sum / Double(self.period) }
    }

    /// Seeds the average directly (MACD seeds its fast EMA over a later window).
    mutating func seed(with value: Double) { self.value = value }
}

public struct RelativeStrengthIndex: Sendable, Hashable {
    public let period: Int
    private var previousClose: Double?
    private var count = 0
    private var averageGain: Double = 0
    private var averageLoss: Double = 0
    public private(set) var value: Double?

    public init(period: Int) {
        precondition(period > 1)
        self.period = period
    }

    public mutating func update(_ close: Double) {
        defer { self.previousClose = close }
        guard let previous = self.previousClose else { return }
        let change = close - previous
        let gain = change > 0 ? change : 0
        let loss = change < 0 ? -change : 0
        self.count += 1
        let n = Double(self.period)
        if self.count < self.period {
            self.averageGain += gain
            self.averageLoss += loss
            return
        }
        if self.count == self.period {
            self.averageGain = (self.averageGain + gain) / n
            self.averageLoss = (self.averageLoss + loss) / n
        } else {
            self.averageGain = (self.averageGain * (n - 1) + gain) / n
            self.averageLoss = (self.averageLoss * (n - 1) + loss) / n
        }
        let total = self.averageGain + self.averageLoss
        self.value = abs(total) < 1e-8 ? 0 : 100 * (self.averageGain / total)
    }
}

public struct MACD: Sendable, Hashable {
    public let fast: Int, slow: Int, signal: Int
    private var bar = 0
    private var closes: RollingSum
    private var fastEMA: ExponentialMovingAverage
    private var slowEMA: ExponentialMovingAverage
    private var signalEMA: ExponentialMovingAverage
    public private(set) var line: Double?
    public private(set) var signalLine: Double?
    public var histogram: Double? { self.line.flatMap { line in self.signalLine.map { line - $0 } } }

    public init(fast: Int = 12, slow: Int = 26, signal: Int = 9) {
        precondition(fast > 1 && slow > fast && signal > 0)
        self.fast = fast
        self.slow = slow
        self.signal = signal
        self.closes = RollingSum(period: slow)
        self.fastEMA = ExponentialMovingAverage(period: fast)
        self.slowEMA = ExponentialMovingAverage(period: slow)
        self.signalEMA = ExponentialMovingAverage(period: signal)
    }

    public mutating func update(_ close: Double) {
        defer { self.bar += 1 }
        if self.bar < self.slow - 1 {
            self.closes.push(close)
            return
        }
        if self.bar == self.slow - 1 {
            self.closes.push(close)
            var fastSum = 0.0
            for back in stride(from: self.fast - 1, through: 0, by: -1) { fastSum += self.closes.value(back: back) }
            self.fastEMA.seed(with: fastSum / Double(self.fast))
            self.slowEMA.seed(with: self.closes.sum / Double(self.slow))
        } else {
            self.fastEMA.update(close)
            self.slowEMA.update(close)
        }
        let line = self.fastEMA.value! - self.slowEMA.value!  // both seeded above
        self.signalEMA.update(line)
        if let signal = self.signalEMA.value {
            self.line = line
            self.signalLine = signal
        }
    }
}

public struct BollingerBands: Sendable, Hashable {
    public let period: Int
    public let deviations: Double
    private var window: RollingSum
    public private(set) var middle: Double?
    public private(set) var upper: Double?
    public private(set) var lower: Double?

    public init(period: Int = 20, deviations: Double = 2) {
        self.period = period
        self.deviations = deviations
        self.window = RollingSum(period: period)
    }

    public mutating func update(_ close: Double) {
        self.window.push(close)
        guard self.window.isFull else { return }
        let mean = self.window.sum / Double(self.period)
        var variance = self.window.sumOfSquares / Double(self.period) - mean * mean
        if variance < 0 { variance = 0 }
        let deviation = variance.squareRoot() * self.deviations
        self.middle = mean
        self.upper = mean + deviation
        self.lower = mean - deviation
    }
}

public struct AverageTrueRange: Sendable, Hashable {
    public let period: Int
    private var previousClose: Double?
    private var count = 0
    private var sum: Double = 0
    public private(set) var value: Double?

    public init(period: Int = 14) { self.period = period }

    public mutating func update(high: Double, low: Double, close: Double) {
        defer { self.previousClose = close }
        guard let previous = self.previousClose else { return }
        let trueRange = max(high - low, abs(high - previous), abs(low - previous))
        self.count += 1
        if let value = self.value {
            self.value = (value * Double(self.period - 1) + trueRange) / Double(self.period)
        } else {
            self.sum += trueRange
            if self.count == self.period { self.value = self.sum / Double(self.period) }
        }
    }
}

public struct Stochastic: Sendable, Hashable {
    public let kPeriod: Int, slowing: Int, dPeriod: Int
    private var highs: RollingSum
    private var lows: RollingSum
    private var slowK: SimpleMovingAverage
    private var slowD: SimpleMovingAverage
    public private(set) var k: Double?
    public private(set) var d: Double?

    public init(kPeriod: Int = 14, slowing: Int = 3, dPeriod: Int = 3) {
        self.kPeriod = kPeriod
        self.slowing = slowing
        self.dPeriod = dPeriod
        self.highs = RollingSum(period: kPeriod)
        self.lows = RollingSum(period: kPeriod)
        self.slowK = SimpleMovingAverage(period: slowing)
        self.slowD = SimpleMovingAverage(period: dPeriod)
    }

    public mutating func update(high: Double, low: Double, close: Double) {
        self.highs.push(high)
        self.lows.push(low)
        guard self.highs.isFull else { return }
        let highest = self.highs.maximum
        let lowest = self.lows.minimum
        let range = (highest - lowest) / 100.0
        let fastK = range != 0 ? (close - lowest) / range : 0
        self.slowK.update(fastK)
        guard let slowK = self.slowK.value else { return }
        self.slowD.update(slowK)
        if let slowD = self.slowD.value {
            self.k = slowK
            self.d = slowD
        }
    }
}

/// The standard set, one column per indicator and parameter set, as `stockboom indicators` prints it.
public struct IndicatorSet: Sendable {
    public static let columns = [
        "sma_5", "sma_20", "sma_60", "ema_12", "ema_26", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9",
        "macd_hist_12_26_9",
        "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "atr_14", "stoch_k_14_3", "stoch_d_14_3",
    ]
    private var sma5 = SimpleMovingAverage(period: 5)
    private var sma20 = SimpleMovingAverage(period: 20)
    private var sma60 = SimpleMovingAverage(period: 60)
    private var ema12 = ExponentialMovingAverage(period: 12)
    private var ema26 = ExponentialMovingAverage(period: 26)
    private var rsi14 = RelativeStrengthIndex(period: 14)
    private var macd = MACD()
    private var bollinger = BollingerBands()
    private var atr14 = AverageTrueRange()
    private var stochastic = Stochastic()

    public init() {}

    /// Feeds one bar; returns the value of every column (nil during warm-up), in `columns` order.
    public mutating func update(_ candle: Candle) -> [Double?] {
        let close = Double(candle.close)
        let high = Double(candle.high)
        let low = Double(candle.low)
        self.sma5.update(close)
        self.sma20.update(close)
        self.sma60.update(close)
        self.ema12.update(close)
        self.ema26.update(close)
        self.rsi14.update(close)
        self.macd.update(close)
        self.bollinger.update(close)
        self.atr14.update(high: high, low: low, close: close)
        self.stochastic.update(high: high, low: low, close: close)
        return [
            self.sma5.value, self.sma20.value, self.sma60.value, self.ema12.value, self.ema26.value, self.rsi14.value,
            self.macd.line, self.macd.signalLine, self.macd.histogram,
            self.bollinger.upper, self.bollinger.middle, self.bollinger.lower,
            self.atr14.value, self.stochastic.k, self.stochastic.d,
        ]
    }
}
