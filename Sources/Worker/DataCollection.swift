public import Engine
import Foundation
public import Projections

/// data-collection: one job per minute of the session and group of stocks —
/// `collect:<first code>+<more>:<YYYYMMDDHHMM>`, so a schedule that runs twice (two workers, a restart) adds
/// each job once. For each stock of the group (a few at a time) the handler fetches the minute bars after
/// the engine's last minute of the stock (asked when the job runs; nothing missed across restarts), then records them all
/// as `CandleClosed` (`POST /internal/candles`; the engine ignores a minute it already has: no duplicates) and stores the
/// stock's quote in `cache:stock:<code>` for `ttl` seconds (one Redis round trip). A quote is fetched only when
/// the cached one has less than half its time to live left (one Redis round trip asks): the cache holds a quote
/// at most `ttl / 2` seconds old without a second broker request per stock and minute. Requests go through each stock's
/// account's `KISClient`, inside its rate limit. A stock that fails fails the job after the others' candles
/// are in; the retry fetches again (what arrived twice is ignored).
public struct DataCollectionHandler: JobHandler {
    let engine: EngineClient
    let brokers: BrokerDirectory
    let redis: RedisEndpoint
    let ttl: Int
    /// Stocks of a group fetched at the same time.
    let parallel: Int

    public init(engine: EngineClient, brokers: BrokerDirectory, redis: RedisEndpoint, ttl: Int = 120, parallel: Int = 8) {
        self.engine = engine
        self.brokers = brokers
        self.redis = redis
        self.ttl = ttl
        self.parallel = max(1, parallel)
    }

    struct Stock: Codable, Sendable {
        var stock: String
        var account: String
        var broker: String
        /// µs: the start of the engine's last one-minute bar of the day when the job was made (nil: none).
        var last: Int64?
    }

    struct Data: Codable {
        var stocks: [Stock]
        /// µs: the minute this job is for (its bar is closed once this minute has passed).
        var minute: Int64
    }

    struct Fetched: Sendable {
        var candles: [Candle]
        /// The quote for the cache, when it was due.
        var quote: String?
        var stock: String
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let asked = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        // Resume after the engine's last minute of each stock as it is now, not as it was when the job was made:
        // a job that waited behind others of its group fetches only what they did not (a backlog costs its bars
        // once, not once per job that waited).
        let current = try await self.engine.stocks(only: asked.stocks.map(\.stock))
        let newest = Dictionary(current.compactMap { view in view.lastMinuteStart.map { (view.stock, $0) } }, uniquingKeysWith: max)
        var stocks = asked.stocks
        for index in stocks.indices {
            if let now = newest[stocks[index].stock] { stocks[index].last = max(stocks[index].last ?? now, now) }
        }
        let data = Data(stocks: stocks, minute: asked.minute)
        let (endpoint, ttl) = (self.redis, self.ttl)
        let remaining = try await blocking {
            try RedisClient(endpoint: endpoint).pipeline(data.stocks.map { ["TTL", "cache:stock:\($0.stock)"].map { Array($0.utf8) } })
        }
        let quoteDue = Set(zip(data.stocks, remaining).compactMap { stock, reply -> String? in
            if case .integer(let seconds) = reply, seconds * 2 > ttl { return nil }
            return stock.stock
        })
        // One outcome value per stock (a task group of `(String, Result<…, any Error>)` tuples crashed in
        // release builds of Swift 6.3 when copied out of the group).
        struct Outcome: Sendable {
            var fetched: Fetched?
            var failure: String?
        }
        var fetched: [Fetched] = []
        var failures: [String] = []
        await withTaskGroup(of: Outcome.self) { group in
            var next = data.stocks.makeIterator()
            func add() -> Bool {
                guard let stock = next.next() else { return false }
                group.addTask {
                    do { return Outcome(fetched: try await self.fetch(stock, minute: data.minute, quote: quoteDue.contains(stock.stock))) } catch { return Outcome(failure: "\(stock.stock): \(error)") }
                }
                return true
            }
            for _ in 0..<self.parallel where !add() { break }
            while let outcome = await group.next() {
                if let value = outcome.fetched { fetched.append(value) }
                if let failure = outcome.failure { failures.append(failure) }
                _ = add()
            }
        }
        let candles = fetched.flatMap(\.candles)
        // 800 candles (at most ~55 kB of CSV) a request: the gateway takes bodies of up to 64 KiB.
        for chunk in stride(from: 0, to: candles.count, by: 800) {
            if let refused = try await self.engine.record(candles: Array(candles[chunk..<min(candles.count, chunk + 800)])).first {
                throw EngineClient.Failure(description: "the engine refused a candle: \(refused.status) \(refused.error)")
            }
        }
        let sets = fetched.compactMap { fetched in fetched.quote.map { ["SET", "cache:stock:\(fetched.stock)", $0, "EX", String(ttl)].map { Array($0.utf8) } } }
        if !sets.isEmpty {
            _ = try await blocking { try RedisClient(endpoint: endpoint).pipeline(sets) }
        }
        guard failures.isEmpty else { throw EngineClient.Failure(description: "data-collection of \(failures.count) stock(s) failed: \(failures.prefix(3).joined(separator: "; "))") }
        return .done
    }

    /// One stock's bars since the engine's last minute (as candles) and, if `quote`, its quote;
    /// nil when the engine already has the job's minute.
    func fetch(_ stock: Stock, minute: Int64, quote fetchQuote: Bool) async throws -> Fetched? {
        let client = try await self.brokers.client(account: stock.account, broker: stock.broker)
        let day = KST.day(minute)
        let open = KST.instant(day: day, hour: 9)
        // Resume after the engine's last minute of this day; the bar of `minute` itself is complete.
        let since = max(open, (stock.last.map { KST.day($0) == day ? $0 + KST.minuteMicros : open } ?? open))
        guard since <= minute else { return nil }
        let bars = try await client.minuteBars(stock.stock, until: KST.hhmmss(minute), since: KST.hhmmss(since))
        guard let code = StockCode(stock.stock) else { throw EngineClient.Failure(description: "'\(stock.stock)' is not a stock code") }
        let candles: [Candle] = bars.compactMap { bar in
            guard bar.date == KST.yyyymmdd(day: day), let hour = Int64(bar.time.prefix(2)), let minute = Int64(bar.time.dropFirst(2).prefix(2)) else { return nil }
            let start = KST.instant(day: day, hour: hour, minute: minute)
            return Candle(stock: code, timeframe: .minute1, start: start, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume)
        }
        guard fetchQuote else { return Fetched(candles: candles, quote: nil, stock: stock.stock) }
        let quote = try await client.quote(stock.stock)
        var cached = JSONObjectWriter()
        cached.field("stock", quote.code)
        cached.field("price", quote.price)
        cached.field("basePrice", quote.basePrice)
        cached.field("upperLimit", quote.upperLimit)
        cached.field("lowerLimit", quote.lowerLimit)
        cached.field("volume", quote.volume)
        cached.field("halted", quote.halted)
        cached.field("at", ISOTime.utc(minute))
        return Fetched(candles: candles, quote: cached.finish(), stock: stock.stock)
    }

}

/// Adds the data-collection jobs of each minute of the session: for every stock a KIS account trades by
/// strategy, plus `watch` (fetched through the first KIS account; `["all"]`: every listed stock), in groups
/// of `group` stocks a job.
public struct CollectionSchedule: Sendable {
    let engine: EngineClient
    let store: @Sendable () -> JobQueueStore
    let calendar: TradingCalendar
    let watch: [String]
    let group: Int

    public init(engine: EngineClient, redis: RedisEndpoint, calendar: TradingCalendar, watch: [String], group: Int = 25) {
        self.engine = engine
        self.store = { JobQueueStore(redis: RedisClient(endpoint: redis)) }
        self.calendar = calendar
        self.watch = watch
        self.group = max(1, group)
    }

    /// The jobs for the minute that ended at `now` (µs); none outside the regular session.
    public func jobs(now: Int64) async throws -> [Job] {
        let day = KST.day(now)
        let minute = (now / KST.minuteMicros) * KST.minuteMicros - KST.minuteMicros  // the last complete minute
        guard self.calendar.isTradingDay(day), minute >= KST.instant(day: day, hour: 9), minute <= KST.instant(day: day, hour: 15, minute: 30) else { return [] }
        let accounts = try await self.engine.accounts().filter { !$0.halted }
        guard let first = accounts.first else { return [] }
        let brokers = Dictionary(uniqueKeysWithValues: accounts.map { ($0.id, $0.broker) })
        let stamp = KST.yyyymmdd(day: day) + KST.hhmmss(minute).prefix(4)
        let stocks: [DataCollectionHandler.Stock] = try await self.engine.stocks().compactMap { stock in
            let watched = self.watch == ["all"] || self.watch.contains(stock.stock)
            guard let account = stock.strategyAccounts.first(where: { brokers[$0] != nil }) ?? (watched ? first.id : nil) else { return nil }
            return DataCollectionHandler.Stock(stock: stock.stock, account: account, broker: brokers[account] ?? first.broker, last: stock.lastMinuteStart)
        }
        return try stride(from: 0, to: stocks.count, by: self.group).map { index in
            let members = Array(stocks[index..<min(stocks.count, index + self.group)])
            let data = String(decoding: try JSONEncoder().encode(DataCollectionHandler.Data(stocks: members, minute: minute)), as: UTF8.self)
            let name = members.count == 1 ? members[0].stock : "\(members[0].stock)+\(members.count - 1)"
            return Job(queue: .dataCollection, id: "collect:\(name):\(stamp)", data: data, maxAttempts: 3)
        }
    }

    /// Adds this minute's jobs; returns how many were new.
    @discardableResult
    public func tick(now: Int64) async throws -> Int {
        let jobs = try await self.jobs(now: now)
        guard !jobs.isEmpty else { return 0 }
        let store = self.store
        return try await blocking { try store().add(jobs, now: now / 1_000) }
    }
}
