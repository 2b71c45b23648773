/// An indicator by name and parameters, spelled as `IndicatorSet.columns` spell them (`rsi_14`, `sma_200`,
/// `bb_upper_20_2`, `macd_hist_12_26_9`, `stoch_k_14_3`), plus the bar's own fields (`close`, `volume`, …) and
/// `highest_N` / `lowest_N` (the highest high / lowest low of the last N bars). A suffix `@5m`, `@15m`, `@1h`
/// or `@1d` reads it on that timeframe's closed bars instead of the bars the strategy is fed: what strategies
/// and rules ask their context for.
public struct IndicatorKey: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case open, high, low, close, volume
        case sma, ema, rsi, atr, highest, lowest
        case macd
        case macdSignal = "macd_signal"
        case macdHist = "macd_hist"
        case bbUpper = "bb_upper"
        case bbMiddle = "bb_middle"
        case bbLower = "bb_lower"
        case stochK = "stoch_k"
        case stochD = "stoch_d"

        /// How many integer parameters the name carries.
        var arity: Int {
            switch self {
            case .open, .high, .low, .close, .volume: 0
            case .sma, .ema, .rsi, .atr, .highest, .lowest: 1
            case .bbUpper, .bbMiddle, .bbLower, .stochK, .stochD: 2
            case .macd, .macdSignal, .macdHist: 3
            }
        }

        var example: String {
            switch self.arity {
            case 0: self.rawValue
            case 1: self.rawValue + "_14"
            case 2: self.rawValue + (self == .stochK || self == .stochD ? "_14_3" : "_20_2")
            default: self.rawValue + "_12_26_9"
            }
        }

        /// Longest names first, so `macd_signal` is not read as `macd` with a parameter "signal".
        static let byLength = Self.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
    }

    public var kind: Kind
    public var parameters: [Int]
    /// nil: the bars the strategy is fed.
    public var timeframe: Timeframe?

    /// The largest period a key may name (its window is kept in memory per stock).
    public static let maxPeriod = 1_000

    public init(kind: Kind, parameters: [Int] = [], timeframe: Timeframe? = nil) throws(EngineError) {
        guard parameters.count == kind.arity else {
            throw .invalid("\(kind.rawValue) takes \(kind.arity) parameter(s), like \(kind.example)")
        }
        for (position, value) in parameters.enumerated() {
            let least = (kind == .rsi || (kind.arity == 3 && position < 2)) ? 2 : 1
            guard value >= least, value <= Self.maxPeriod else {
                throw .invalid("\(kind.rawValue): parameter \(position + 1) must be in \(least)...\(Self.maxPeriod)")
            }
        }
        if kind.arity == 3, parameters[0] >= parameters[1] {
            throw .invalid("\(kind.rawValue): the fast period must be shorter than the slow one")
        }
        if kind.arity == 2, kind != .stochK, kind != .stochD, parameters[1] > 10 {
            throw .invalid("\(kind.rawValue): at most 10 standard deviations")
        }
        self.kind = kind
        self.parameters = parameters
        self.timeframe = timeframe
    }

    /// `rsi_14`, `sma_20@5m`, `close@1d`.
    public init(parsing text: some StringProtocol) throws(EngineError) {
        let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        var timeframe: Timeframe?
        if parts.count == 2 {
            guard let frame = Timeframe(text: parts[1]) else {
                throw .invalid("unknown timeframe '@\(parts[1])' (known: @5m, @15m, @1h, @1d)")
            }
            timeframe = frame
        }
        let name = parts[0]
        guard
            let kind = Kind.byLength.first(where: {
                name == $0.rawValue || name.hasPrefix($0.rawValue + "_")
            })
        else {
            throw .invalid(
                "unknown indicator '\(name)' (known: \(Kind.allCases.map(\.example).joined(separator: ", ")))"
            )
        }
        var parameters: [Int] = []
        for piece in name.dropFirst(kind.rawValue.count).split(separator: "_", omittingEmptySubsequences: false)
            .dropFirst()
        {
            guard let value = Int(piece), value > 0 else {
                throw .invalid("indicator '\(name)': '\(piece)' is not a positive whole number")
            }
            parameters.append(value)
        }
        try self.init(kind: kind, parameters: parameters, timeframe: timeframe)
    }

    public var description: String {
        ([self.kind.rawValue] + self.parameters.map(String.init)).joined(separator: "_")
            + (self.timeframe.map { "@\($0)" } ?? "")
    }
}

/// One indicator's running state: O(1) work per bar (O(N) for `highest_N` / `lowest_N`).
struct IndicatorCalculator: Sendable {
    private enum State: Sendable {
        case field
        case sma(SimpleMovingAverage)
        case ema(ExponentialMovingAverage)
        case rsi(RelativeStrengthIndex)
        case atr(AverageTrueRange)
        case extreme(RollingSum)
        case macd(MACD)
        case bollinger(BollingerBands)
        case stochastic(Stochastic)
    }

    let kind: IndicatorKey.Kind
    private var state: State
    private var last: Candle?

    init(_ key: IndicatorKey) {
        self.kind = key.kind
        let p = key.parameters
        switch key.kind {
        case .open, .high, .low, .close, .volume: self.state = .field
        case .sma: self.state = .sma(SimpleMovingAverage(period: p[0]))
        case .ema: self.state = .ema(ExponentialMovingAverage(period: p[0]))
        case .rsi: self.state = .rsi(RelativeStrengthIndex(period: p[0]))
        case .atr: self.state = .atr(AverageTrueRange(period: p[0]))
        case .highest, .lowest: self.state = .extreme(RollingSum(period: p[0]))
        case .macd, .macdSignal, .macdHist: self.state = .macd(MACD(fast: p[0], slow: p[1], signal: p[2]))
        case .bbUpper, .bbMiddle, .bbLower:
            self.state = .bollinger(BollingerBands(period: p[0], deviations: Double(p[1])))
        case .stochK, .stochD: self.state = .stochastic(Stochastic(kPeriod: p[0], slowing: p[1], dPeriod: 3))
        }
    }

    mutating func update(_ bar: Candle) {
        self.last = bar
        let close = Double(bar.close)
        // Each case first takes the state out (`.field`), so its copy is the windows' only owner and is
        // updated in place rather than copied per bar.
        switch self.state {
        case .field: break
        case .sma(var x):
            self.state = .field
            x.update(close)
            self.state = .sma(x)
        case .ema(var x):
            self.state = .field
            x.update(close)
            self.state = .ema(x)
        case .rsi(var x):
            self.state = .field
            x.update(close)
            self.state = .rsi(x)
        case .atr(var x):
            self.state = .field
            x.update(high: Double(bar.high), low: Double(bar.low), close: close)
            self.state = .atr(x)
        case .extreme(var x):
            self.state = .field
            x.push(Double(self.kind == .highest ? bar.high : bar.low))
            self.state = .extreme(x)
        case .macd(var x):
            self.state = .field
            x.update(close)
            self.state = .macd(x)
        case .bollinger(var x):
            self.state = .field
            x.update(close)
            self.state = .bollinger(x)
        case .stochastic(var x):
            self.state = .field
            x.update(high: Double(bar.high), low: Double(bar.low), close: close)
            self.state = .stochastic(x)
        }
    }

    /// nil during warm-up (and before the first bar).
    var value: Double? {
        switch self.state {
        case .field:
            guard let bar = self.last else { return nil }
            switch self.kind {
            case .open: return Double(bar.open)
            case .high: return Double(bar.high)
            case .low: return Double(bar.low)
            case .volume: return Double(bar.volume)
            default: return Double(bar.close)
            }
        case .sma(let x): return x.value
        case .ema(let x): return x.value
        case .rsi(let x): return x.value
        case .atr(let x): return x.value
        case .extreme(let x):
            guard x.isFull else { return nil }
            return self.kind == .highest ? x.maximum : x.minimum
        case .macd(let x):
            return self.kind == .macd ? x.line : self.kind == .macdSignal ? x.signalLine : x.histogram
        case .bollinger(let x):
            return self.kind == .bbUpper ? x.upper : self.kind == .bbMiddle ? x.middle : x.lower
        case .stochastic(let x): return self.kind == .stochK ? x.k : x.d
        }
    }
}
