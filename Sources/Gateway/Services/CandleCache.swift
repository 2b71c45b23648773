public import Engine
public import Ledger
import Projections
public import ServiceLifecycle
public import Storage
import Synchronization

/// The newest candles of every (stock, timeframe) series in memory, so chart and indicator queries do not
/// go to PostgreSQL. A read model like the others: warmed from the `candles` table at the `market`
/// projection's checkpoint (one repeatable-read transaction), then kept current by following the log from
/// that offset. It follows the log itself, so it is never behind the engine by more than a commit.
///
/// Each series keeps its newest `capacity` candles (a re-emitted bucket replaces the one with the same
/// start). A query is answered from memory only when the answer is provably the same as the table's:
/// when the cached window holds at least `limit` candles of the range, or the range starts inside the
/// window, or the series never had more than `capacity` candles. Otherwise `candles` returns nil and the
/// caller asks PostgreSQL. Until warmed (or while the database is unreachable at start) every query
/// returns nil.
///
/// Memory: 48 bytes per candle, so 24 KiB per series at the default capacity of 512.
public final class CandleCache: Service, Sendable {
    struct Bar: Sendable, Hashable {
        var start: Int64
        var open: Int64
        var high: Int64
        var low: Int64
        var close: Int64
        var volume: Int64
    }

    struct Series: Sendable {
        /// Oldest first, unique starts.
        var bars: [Bar] = []
        /// True while the series has never held more than `capacity` candles: the window is all of it.
        var complete = true
    }

    struct Key: Hashable, Sendable {
        var stock: StockCode
        var timeframe: Timeframe
    }

    struct State: Sendable {
        var series: [Key: Series] = [:]
        var ready = false
        /// The next log offset to apply.
        var nextOffset: UInt64 = 0
    }

    public let capacity: Int
    let warmBatch: Int
    private let log: EventLog
    private let database: DatabasePool
    private let state = Mutex(State())

    /// - Parameter warmBatch: rows per `FETCH` while warming.
    public init(log: EventLog, database: DatabasePool, capacity: Int = 512, warmBatch: Int = 20_000) {
        precondition(capacity > 0 && warmBatch > 0)
        self.log = log
        self.database = database
        self.capacity = capacity
        self.warmBatch = warmBatch
    }

    /// True once warmed; queries before that go to PostgreSQL.
    public var isReady: Bool { self.state.withLock { $0.ready } }

    /// The next log offset the cache will apply (everything before it is in memory).
    public var nextOffset: UInt64 { self.state.withLock { $0.nextOffset } }

    /// Warms (retrying with back-off while the database is unreachable), then follows the log until
    /// graceful shutdown or cancellation.
    public func run() async throws {
        // Both phases end with a graceful shutdown: warming retries while the database is not there yet (a
        // follower started before any primary migrated the shared database), and must not hold the shutdown.
        try await cancelWhenGracefulShutdown {
            var delay: UInt64 = 100_000_000
            while !Task.isCancelled {
                do {
                    try await self.warm()
                    break
                } catch {
                    try? await Task.sleep(nanoseconds: delay)
                    delay = min(delay * 2, 5_000_000_000)
                }
            }
            try await self.follow()
        }
    }

    /// Loads the newest `capacity` + 1 candles of every series and the `market` checkpoint they belong to,
    /// streamed `warmBatch` rows at a time (`ReadQueries.newestCandles`).
    func warm() async throws {
        let (capacity, batch) = (self.capacity, self.warmBatch)
        let (checkpoint, loaded) = try await self.database.run { db -> (UInt64, [Key: Series]) in
            var series: [Key: Series] = [:]
            let checkpoint = try ReadQueries.newestCandles(perSeries: capacity + 1, batch: batch, db) { candle in
                series[Key(stock: candle.stock, timeframe: candle.timeframe), default: Series()].bars.append(
                    Bar(
                        start: candle.start,
                        open: candle.open,
                        high: candle.high,
                        low: candle.low,
                        close: candle.close,
                        volume: candle.volume
                    )
                )
            }
            return (checkpoint, series)
        }
        var series = loaded
        for key in series.keys where series[key]!.bars.count > capacity {
            series[key]!.bars.removeFirst(series[key]!.bars.count - capacity)
            series[key]!.complete = false
        }
        self.state.withLock {
            $0.series = series
            $0.nextOffset = checkpoint
            $0.ready = true
        }
    }

    /// Applies every committed `CandleClosed` from the checkpoint on, waiting for new commits.
    func follow() async throws {
        for try await record in self.log.tail(from: self.nextOffset) {
            if Task.isCancelled { break }
            try self.apply(record)
        }
    }

    /// Applies what is committed now and returns (tests; `follow` is the running form).
    func catchUp() throws {
        while true {
            let records = try self.log.read(from: self.nextOffset, maxRecords: 4096)
            guard !records.isEmpty else { return }
            for record in records { try self.apply(record) }
        }
    }

    private func apply(_ record: LogRecord) throws {
        let candle: Candle? = try record.payload.withUnsafeBytes { bytes in
            guard EventCodec.isEngineEvent(bytes) else { return nil }
            guard
                case .candleClosed(let candle) = try EventCodec.decode(
                    record.payload,
                    offset: record.offset,
                    timestamp: record.timestamp
                ).event
            else { return nil }
            return candle
        }
        self.state.withLock { state in
            guard record.offset == state.nextOffset else { return }
            if let candle {
                Self.insert(
                    candle,
                    into: &state.series[Key(stock: candle.stock, timeframe: candle.timeframe), default: Series()],
                    capacity: self.capacity
                )
            }
            state.nextOffset = record.offset + 1
        }
    }

    /// Upserts one candle by its start, keeping the newest `capacity`.
    static func insert(_ candle: Candle, into series: inout Series, capacity: Int) {
        let bar = Bar(
            start: candle.start,
            open: candle.open,
            high: candle.high,
            low: candle.low,
            close: candle.close,
            volume: candle.volume
        )
        if let last = series.bars.last, last.start < bar.start {
            series.bars.append(bar)
        } else {
            let index = Self.firstIndex(series.bars, atOrAfter: bar.start)
            if index < series.bars.count, series.bars[index].start == bar.start {
                series.bars[index] = bar
                return
            }
            // Older than the window of a series that has lost history: the table has it, the window does not claim it.
            if index == 0, !series.complete, !series.bars.isEmpty { return }
            series.bars.insert(bar, at: index)
        }
        if series.bars.count > capacity {
            series.bars.removeFirst(series.bars.count - capacity)
            series.complete = false
        }
    }

    static func firstIndex(_ bars: [Bar], atOrAfter start: Int64) -> Int {
        var low = 0
        var high = bars.count
        while low < high {
            let middle = (low + high) / 2
            if bars[middle].start < start { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The newest `limit` candles with `from <= start < to`, oldest first, or nil when memory cannot answer
    /// exactly (not warmed, or the range reaches before the window of a series that has lost history).
    public func candles(stock: StockCode, timeframe: Timeframe, from: Int64?, to: Int64?, limit: Int) -> [Candle]? {
        self.state.withLock { state -> [Candle]? in
            guard state.ready else { return nil }
            guard let series = state.series[Key(stock: stock, timeframe: timeframe)] else { return [] }
            let bars = series.bars
            // Every candle of the range is in memory when nothing was ever evicted, or when the range starts at or
            // after the window's oldest candle.
            var rangeInWindow = series.complete
            if let from, let first = bars.first, from >= first.start { rangeInWindow = true }
            let lower = from.map { Self.firstIndex(bars, atOrAfter: $0) } ?? 0
            let upper = to.map { Self.firstIndex(bars, atOrAfter: $0) } ?? bars.count
            // Fewer than asked in the window: exact only if none of the range lies before it.
            if upper - lower < limit, !rangeInWindow { return nil }
            guard lower < upper else { return [] }
            return bars[max(lower, upper - limit)..<upper].map {
                Candle(
                    stock: stock,
                    timeframe: timeframe,
                    start: $0.start,
                    open: $0.open,
                    high: $0.high,
                    low: $0.low,
                    close: $0.close,
                    volume: $0.volume
                )
            }
        }
    }
}
