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

/// One indicator's running state: O(1) work per bar (O(N) for `highest_N` / `lowest_N`). One optional field
/// per kind rather than an enum with payloads: each is updated in place (`x?.update`), never copied per bar,
/// and the value is kept, so reading it costs nothing.
struct IndicatorCalculator: Sendable {
    let kind: IndicatorKey.Kind
    private var sma: SimpleMovingAverage?
    private var ema: ExponentialMovingAverage?
    private var rsi: RelativeStrengthIndex?
    private var atr: AverageTrueRange?
    private var extreme: RollingSum?
    private var macd: MACD?
    private var bollinger: BollingerBands?
    private var stochastic: Stochastic?
    /// nil during warm-up (and before the first bar).
    private(set) var value: Double?

    init(_ key: IndicatorKey) {
        self.kind = key.kind
        let p = key.parameters
        switch key.kind {
        case .open, .high, .low, .close, .volume: break
        case .sma: self.sma = SimpleMovingAverage(period: p[0])
        case .ema: self.ema = ExponentialMovingAverage(period: p[0])
        case .rsi: self.rsi = RelativeStrengthIndex(period: p[0])
        case .atr: self.atr = AverageTrueRange(period: p[0])
        case .highest, .lowest: self.extreme = RollingSum(period: p[0])
        case .macd, .macdSignal, .macdHist: self.macd = MACD(fast: p[0], slow: p[1], signal: p[2])
        case .bbUpper, .bbMiddle, .bbLower: self.bollinger = BollingerBands(period: p[0], deviations: Double(p[1]))
        case .stochK, .stochD: self.stochastic = Stochastic(kPeriod: p[0], slowing: p[1], dPeriod: 3)
        }
    }

    mutating func update(_ bar: Candle) {
        let close = Double(bar.close)
        switch self.kind {
        case .open: self.value = Double(bar.open)
        case .high: self.value = Double(bar.high)
        case .low: self.value = Double(bar.low)
        case .close: self.value = close
        case .volume: self.value = Double(bar.volume)
        case .sma:
            self.sma?.update(close)
            self.value = self.sma?.value
        case .ema:
            self.ema?.update(close)
            self.value = self.ema?.value
        case .rsi:
            self.rsi?.update(close)
            self.value = self.rsi?.value
        case .atr:
            self.atr?.update(high: Double(bar.high), low: Double(bar.low), close: close)
            self.value = self.atr?.value
        case .highest, .lowest:
            self.extreme?.push(Double(self.kind == .highest ? bar.high : bar.low))
            guard let window = self.extreme, window.isFull else { return }
            self.value = self.kind == .highest ? window.maximum : window.minimum
        case .macd, .macdSignal, .macdHist:
            self.macd?.update(close)
            self.value =
                self.kind == .macd
                ? self.macd?.line : self.kind == .macdSignal ? self.macd?.signalLine : self.macd?.histogram
        case .bbUpper, .bbMiddle, .bbLower:
            self.bollinger?.update(close)
            self.value =
                self.kind == .bbUpper
                ? self.bollinger?.upper : self.kind == .bbMiddle ? self.bollinger?.middle : self.bollinger?.lower
        case .stochK, .stochD:
            self.stochastic?.update(high: Double(bar.high), low: Double(bar.low), close: close)
            self.value = self.kind == .stochK ? self.stochastic?.k : self.stochastic?.d
        }
    }
}
