/// What a person reads after a backtest (`stockboom backtest --report DIR`, `GET /api/backtests/{id}/report`):
/// the equity curve against buy-and-hold of the same stocks, the drawdown, monthly returns, every trade, and
/// the most traded stock's bars with its trades on them. Built from the report and the backtest's final state.
public struct BacktestDocument: Sendable {
    public struct Point: Sendable, Hashable {
        public var day: Int64
        public var value: Double
    }

    public struct Month: Sendable, Hashable {
        /// `2024-03`.
        public var month: String
        public var returnPercent: Double
    }

    public struct Trade: Sendable, Hashable {
        public var order: OrderID
        public var time: Int64
        public var stock: StockCode
        public var side: OrderSide
        public var quantity: Int64
        public var price: Int64
        public var source: OrderSource
        public var status: OrderStatus
    }

    public var summary: BacktestReport
    public var equity: [Point]
    public var buyAndHold: [Point]
    /// Percent below the running peak (≤ 0).
    public var drawdown: [Point]
    public var monthly: [Month]
    public var trades: [Trade]
    /// The stock drawn with its trades, and its bars (at most `maxChartBars`, the newest).
    public var chartStock: StockCode?
    public var chartBars: [Candle]
    public static let maxChartBars = 20_000
    /// Trades listed at most (the newest); the report's JSON says how many there were.
    public static let maxTrades = 5_000

    public init(report: BacktestReport, state: EngineState, bars: [Candle]) {
        self.summary = report
        self.equity = report.equityCurve.map { Point(day: $0.day, value: Double($0.equity)) }
        self.buyAndHold = report.buyAndHoldCurve.map { Point(day: $0.day, value: Double($0.equity)) }
        var peak = -Double.infinity
        self.drawdown = self.equity.map {
            peak = max(peak, $0.value)
            return Point(day: $0.day, value: peak > 0 ? ($0.value / peak - 1) * 100 : 0)
        }
        // Month by month: the last equity of each month against the last of the month before (the first against
        // the initial equity).
        var monthly: [Month] = []
        var previous = Double(report.initialEquity)
        var lastKey = ""
        var lastValue = previous
        for point in self.equity {
            let date = KST.date(day: point.day)
            let key = "\(date.year)-\(date.month < 10 ? "0" : "")\(date.month)"
            if key != lastKey, !lastKey.isEmpty {
                monthly.append(
                    Month(month: lastKey, returnPercent: previous > 0 ? (lastValue / previous - 1) * 100 : 0)
                )
                previous = lastValue
            }
            lastKey = key
            lastValue = point.value
        }
        if !lastKey.isEmpty {
            monthly.append(Month(month: lastKey, returnPercent: previous > 0 ? (lastValue / previous - 1) * 100 : 0))
        }
        self.monthly = monthly
        let filled = state.orders.values.filter { $0.filledQuantity > 0 }.sorted { $0.id < $1.id }
        self.trades = filled.suffix(Self.maxTrades).map {
            Trade(
                order: $0.id,
                time: $0.updatedAt,
                stock: $0.stock,
                side: $0.side,
                quantity: $0.filledQuantity,
                price: $0.averageFillPrice,
                source: $0.source,
                status: $0.status
            )
        }
        var counts: [StockCode: Int] = [:]
        for order in filled { counts[order.stock, default: 0] += 1 }
        let stock =
            counts.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? bars.first?.stock
        self.chartStock = stock
        self.chartBars = Array(bars.lazy.filter { $0.stock == stock }.suffix(Self.maxChartBars))
    }
}
