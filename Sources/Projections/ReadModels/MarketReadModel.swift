public import Engine
public import Ledger
import Runtime
public import Storage
import Synchronization

/// Stocks, candles and indicators.
public struct MarketReadModel: ReadModel {
    public let name = "market"
    public let tables = ["indicators", "candles", "stocks"]
    private var state = EngineState()
    private var candles: [CandleKey: (Candle, UInt64)] = [:]
    private var indicators: [String: (IndicatorComputed, UInt64)] = [:]
    private var stocks: [StockCode: (UInt64, Int64)] = [:]
    /// Batches to wait before trying the insert-first path again after it met an existing key.
    private var insertFirstBackoff = 0
    /// Candle rows written (inserted or updated), for benchmarks.
    public private(set) var candleRowsWritten = 0

    public init() {}

    public mutating func prepare(log: EventLog, upTo offset: UInt64) throws {
        self.state = try engineState(log: log, upTo: offset)
        self.candles.removeAll()
        self.indicators.removeAll()
        self.stocks.removeAll()
    }

    public mutating func absorb(_ event: EventEnvelope) {
        let offset = event.offset ?? 0
        switch event.event {
        case .stockListed(let listed):
            self.state.apply(event)
            self.stocks[listed.stock] = (offset, event.timestamp)
        case .candleClosed(let candle):
            self.state.apply(event)
            // Keyed: a revised roll-up in the same batch replaces the earlier version (one row per key).
            self.candles[
                CandleKey(stock: candle.stock.value, timeframe: candle.timeframe.rawValue, start: candle.start)
            ] = (candle, offset)
            self.stocks[candle.stock] = (offset, event.timestamp)
        case .indicatorComputed(let value):
            self.indicators["\(value.stock.value)|\(value.timeframe.rawValue)|\(value.start)|\(value.name)"] = (
                value, offset
            )
        case .indicatorsComputed(let bar):
            for value in bar.each {
                self.indicators["\(value.stock.value)|\(value.timeframe.rawValue)|\(value.start)|\(value.name)"] = (
                    value, offset
                )
            }
        default:
            break
        }
    }

    public mutating func flush(into connection: PostgresConnection) throws {
        var stockRows = CopyRows()
        for (code, (offset, time)) in self.stocks.sorted(by: { $0.key < $1.key }) {
            guard let stock = self.state.stocks[code] else { continue }
            stockRows.append([
                code.description, stock.name, stock.market, String(stock.marketData.basePrice),
                String(stock.marketData.lastClose), sqlTime(time), String(offset),
            ])
        }
        try connection.upsert(
            "stocks",
            columns: ["id", "name", "market", "previous_close", "last_price", "updated_at", "last_offset"],
            key: ["id"],
            rows: stockRows
        )
        // Candles and indicator values are new rows (a bar, and a roll-up, is recorded once it is complete).
        var candleRows = CopyRows()
        for (candle, offset) in self.candles.values {
            candleRows.append([
                candle.stock.description, candle.timeframe.description, sqlTime(candle.start), String(candle.open),
                String(candle.high),
                String(candle.low), String(candle.close), String(candle.volume), String(offset),
            ])
        }
        // Fresh rows go straight in (COPY, no conflict checks); after a batch that met existing keys (a replay,
        // re-ingested data) the plain upsert is used for a while, so a conflict costs one failed COPY, not one per batch.
        let tryFast = self.insertFirstBackoff == 0
        let fast = try connection.upsert(
            "candles",
            columns: ["stock_id", "timeframe", "timestamp", "open", "high", "low", "close", "volume", "last_offset"],
            key: ["stock_id", "timeframe", "timestamp"],
            rows: candleRows,
            insertFirst: tryFast
        )
        var indicatorRows = CopyRows()
        for (value, offset) in self.indicators.values {
            indicatorRows.append([
                value.stock.description, value.timeframe.description, sqlTime(value.start), value.name,
                "\(value.value)", String(offset),
            ])
        }
        let indicatorsFast = try connection.upsert(
            "indicators",
            columns: ["stock_id", "timeframe", "timestamp", "name", "value", "last_offset"],
            key: ["stock_id", "timeframe", "timestamp", "name"],
            rows: indicatorRows,
            insertFirst: tryFast
        )
        self.insertFirstBackoff = tryFast && !(fast && indicatorsFast) ? 16 : max(0, self.insertFirstBackoff - 1)
        self.candleRowsWritten += candleRows.count
        self.candles.removeAll(keepingCapacity: true)
        self.indicators.removeAll(keepingCapacity: true)
        self.stocks.removeAll(keepingCapacity: true)
    }
}
