/// One stock's bars as a strategy sees them: the indicators it asked for (by `IndicatorKey`), on the bars it is
/// fed and on roll-ups of them (5m, 15m, 1h, 1d), and the newest closed bars of each. Roll-ups follow the
/// engine's (`StockMarketData`): intraday buckets align to 09:00 KST; a bucket counts once closed — at its last
/// minute, the session's closing minute or the first minute of a later bucket — so a strategy never reads a
/// bucket still forming (no look-ahead). O(1) work per bar and indicator (O(N) for `highest_N`/`lowest_N`).
public struct MarketSeries: Sendable {
    private struct Frame: Sendable {
        /// nil: the bars fed.
        var timeframe: Timeframe?
        var open: Aggregate?
        var history: [Candle] = []
        var last: Candle?
    }

    private var keys: [IndicatorKey]
    private var calculators: [IndicatorCalculator]
    /// The frame each calculator reads.
    private var frameOf: [Int]
    private var frames: [Frame]
    private var slots: [IndicatorKey: Int] = [:]
    /// Closed bars kept per timeframe (`bars(_:)`).
    public let historyLength: Int
    /// The bar fed last.
    public private(set) var bar: Candle?

    public init(indicators: [IndicatorKey], history: Int = 0) {
        self.keys = []
        self.calculators = []
        self.frameOf = []
        self.frames = [Frame(timeframe: nil)]
        self.historyLength = max(0, min(history, 10_000))
        for key in indicators where self.slots[key] == nil {
            var frame = self.frames.firstIndex { $0.timeframe == key.timeframe }
            if frame == nil {
                self.frames.append(Frame(timeframe: key.timeframe))
                frame = self.frames.count - 1
            }
            self.slots[key] = self.keys.count
            self.keys.append(key)
            self.calculators.append(IndicatorCalculator(key))
            self.frameOf.append(frame!)  // set just above
        }
    }

    /// Where `key`'s value is kept (for `value(slot:)`, cheaper than a lookup per bar); nil if not asked for.
    public func slot(_ key: IndicatorKey) -> Int? { self.slots[key] }

    /// The newest value of an indicator asked for at `init` (nil during warm-up or if it was not asked for).
    public func value(_ key: IndicatorKey) -> Double? { self.slots[key].flatMap { self.value(slot: $0) } }

    public func value(slot: Int) -> Double? { self.calculators[slot].value }

    /// The newest closed bars of a timeframe (nil: the bars fed), oldest first, at most `historyLength`.
    public func bars(_ timeframe: Timeframe? = nil) -> ArraySlice<Candle> {
        guard let frame = self.frames.first(where: { $0.timeframe == timeframe }) else { return [] }
        return frame.history.suffix(self.historyLength)
    }

    /// Feeds one closed bar (in time order).
    public mutating func update(_ bar: Candle) {
        self.bar = bar
        self.closed(bar, frame: 0)
        guard self.frames.count > 1 else { return }
        for index in 1..<self.frames.count {
            guard let timeframe = self.frames[index].timeframe, timeframe.minutes > bar.timeframe.minutes else {
                continue
            }
            let start = StockMarketData.bucketStart(bar.start, timeframe)
            if let open = self.frames[index].open, open.start != start {
                self.frames[index].open = nil
                self.closed(open.candle(bar.stock, timeframe), frame: index)
            }
            if self.frames[index].open == nil {
                self.frames[index].open = Aggregate(start: start, minute: bar)
            } else {
                self.frames[index].open!.absorb(bar)  // checked on the line above
            }
            let minute = KST.timeOfDay(bar.start) / KST.minuteMicros
            let lastMinute =
                timeframe == .day1
                ? minute >= StockMarketData.sessionCloseMinute
                : bar.start + bar.timeframe.minutes * KST.minuteMicros >= start + timeframe.minutes * KST.minuteMicros
                    || minute >= StockMarketData.sessionCloseMinute
            if lastMinute, let open = self.frames[index].open {
                self.frames[index].open = nil
                self.closed(open.candle(bar.stock, timeframe), frame: index)
            }
        }
    }

    private mutating func closed(_ bar: Candle, frame: Int) {
        self.frames[frame].last = bar
        if self.historyLength > 0 {
            self.frames[frame].history.append(bar)
            if self.frames[frame].history.count >= 2 * self.historyLength {
                self.frames[frame].history.removeFirst(self.frames[frame].history.count - self.historyLength)
            }
        }
        for slot in self.calculators.indices where self.frameOf[slot] == frame { self.calculators[slot].update(bar) }
    }
}

/// An order of the strategy's account on its stock the broker may still fill (or one not sent yet).
public struct WorkingOrder: Sendable, Hashable {
    public var id: OrderID
    public var side: OrderSide
    public var type: OrderType
    public var price: Int64
    public var remaining: Int64

    public init(_ order: Order) {
        self.id = order.id
        self.side = order.side
        self.type = order.type
        self.price = order.price
        self.remaining = order.remainingQuantity
    }

    public init(id: OrderID, side: OrderSide, type: OrderType, price: Int64, remaining: Int64) {
        self.id = id
        self.side = side
        self.type = type
        self.price = price
        self.remaining = remaining
    }
}

/// What the strategy's account holds, as of the bar's decision.
public struct Holding: Sendable, Hashable {
    /// Shares of the strategy's stock held, and of them those no open sell has promised.
    public var quantity: Int64 = 0
    public var sellable: Int64 = 0
    /// Average price paid per share (buy commissions included), 0 when flat.
    public var averagePrice: Int64 = 0
    /// Cash a new buy may use.
    public var cash: Int64 = 0
    /// Cash plus every holding at its last close: what "percent of equity" is a percent of.
    public var equity: Int64 = 0
    public var workingOrders: [WorkingOrder] = []

    public init() {}

    /// The account's holding of `stock` in `state`; `workingOrders` are left to the caller (the state keeps no
    /// index of them; the backtester tracks its own, the engine's strategy view lists them).
    public init(_ account: Account, stock: StockCode, lastClose: (StockCode) -> Int64) {
        let position = account.positions[stock]
        self.quantity = position?.quantity ?? 0
        self.sellable = position?.sellable ?? 0
        self.averagePrice = position?.averagePrice ?? 0
        self.cash = account.availableCash
        self.equity = account.positions.reduce(account.cash) {
            $0.saturatingAdd($1.value.quantity.saturatingMultiply(lastClose($1.key)))
        }
    }
}

/// What a strategy reads when a bar closes: its stock's series (indicators by name, bars of several
/// timeframes), and its account's holding — position, average price, cash, equity, working orders.
public struct StrategyContext: Sendable {
    public internal(set) var market: MarketSeries
    public internal(set) var holding: Holding

    public init(market: MarketSeries, holding: Holding = Holding()) {
        self.market = market
        self.holding = holding
    }

    /// The bar that just closed.
    public var bar: Candle { self.market.bar! }  // a context is handed to a strategy only after a bar

    /// An indicator the strategy asked for (`Strategy.indicators`); nil during warm-up.
    public subscript(_ key: IndicatorKey) -> Double? { self.market.value(key) }
}
