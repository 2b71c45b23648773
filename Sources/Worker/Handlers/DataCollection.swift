public import Engine
import Foundation
public import Jobs
public import Ledger
public import Storage
import Synchronization

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
    /// The session clock (µs): when a quote for triggers was taken.
    let clock: @Sendable () -> Int64
    /// Where a trigger quote the engine refused is told (the worker's log).
    let report: @Sendable (String) -> Void

    public init(
        engine: EngineClient,
        brokers: BrokerDirectory,
        redis: RedisEndpoint,
        ttl: Int = 120,
        parallel: Int = 8,
        clock: @escaping @Sendable () -> Int64 = { wallClockMicros() },
        report: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.report = report
        self.engine = engine
        self.brokers = brokers
        self.redis = redis
        self.ttl = ttl
        self.parallel = max(1, parallel)
        self.clock = clock
    }

    struct Stock: Codable, Sendable {
        var stock: String
        var account: String
        var broker: String
        /// µs: the start of the engine's last one-minute bar of the day when the job was made (nil: none).
        var last: Int64?
        /// Triggers are armed on it: its quote is fetched every time and recorded for them (nil in older jobs).
        var triggers: Bool? = nil
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
        /// The quote's price and when it was taken, for the stock's triggers (nil: none armed, or no quote).
        var triggerQuote: (price: Int64, at: Int64)? = nil
        /// How KRX trades it, as the quote said (nil: no quote fetched).
        var status: (status: StockTradingStatus, reason: String)? = nil
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let asked = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        // Resume after the engine's last minute of each stock as it is now, not as it was when the job was made:
        // a job that waited behind others of its group fetches only what they did not (a backlog costs its bars
        // once, not once per job that waited).
        let current = try await self.engine.stocks(only: asked.stocks.map(\.stock))
        let newest = Dictionary(
            current.compactMap { view in view.lastMinuteStart.map { (view.stock, $0) } },
            uniquingKeysWith: max
        )
        var stocks = asked.stocks
        for index in stocks.indices {
            if let now = newest[stocks[index].stock] { stocks[index].last = max(stocks[index].last ?? now, now) }
        }
        let data = Data(stocks: stocks, minute: asked.minute)
        let (endpoint, ttl) = (self.redis, self.ttl)
        let remaining = try await blocking {
            try RedisClient(endpoint: endpoint).pipeline(
                data.stocks.map { ["TTL", "cache:stock:\($0.stock)"].map { Array($0.utf8) } }
            )
        }
        let quoteDue = Set(
            zip(data.stocks, remaining).compactMap { stock, reply -> String? in
                if stock.triggers == true { return stock.stock }
                if case .integer(let seconds) = reply, seconds * 2 > ttl { return nil }
                return stock.stock
            }
        )
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
                    do {
                        return Outcome(
                            fetched: try await self.fetch(
                                stock,
                                minute: data.minute,
                                quote: quoteDue.contains(stock.stock)
                            )
                        )
                    } catch { return Outcome(failure: "\(stock.stock): \(error)") }
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
            if let refused = try await self.engine.record(
                candles: Array(candles[chunk..<min(candles.count, chunk + 800)])
            ).first {
                throw EngineClient.Failure(
                    description: "the engine refused a candle: \(refused.status) \(refused.error)"
                )
            }
        }
        // What the quotes said of halts and VIs (the engine records a change only; its orders and triggers heed it),
        // then the quotes of stocks with triggers, checked against them (recorded only while one could fire) —
        // in that order, in one request: a quote taken in a VI must find the VI already recorded.
        let statuses: [WireCommand] = fetched.compactMap { fetched in
            fetched.status.map {
                .stockStatus(
                    stock: fetched.stock,
                    halted: $0.status == .halted,
                    reason: $0.reason,
                    volatilityInterruption: $0.status == .volatilityInterruption
                )
            }
        }
        let quotes: [WireCommand] = fetched.compactMap { fetched in
            // (A price no stock can have — a broken answer — is not sent: the engine would refuse it, failing the
            // job for the stocks beside it.)
            fetched.triggerQuote.flatMap {
                (1...Bounds.maxPrice).contains($0.price)
                    ? .quote(stock: fetched.stock, price: $0.price, at: $0.at) : nil
            }
        }
        if !statuses.isEmpty || !quotes.isEmpty {
            let results = try await self.engine.send(statuses + quotes, correlation: "data-collection")
            for (index, result) in results.enumerated() where result.status != 200 && result.status != 409 {
                let text = "\(result.status) \(result.error ?? "")"
                // A quote is news for the triggers only (the next bar tells them as much): one the engine refuses
                // — a clock ahead of the engine's — is told, and the collection goes on; failing the job would
                // fetch the whole group again each minute and leave its cached prices to expire.
                guard index < statuses.count else {
                    self.report("data-collection: the engine refused a trigger quote: \(text)")
                    continue
                }
                throw EngineClient.Failure(description: "the engine refused a stock's status: \(text)")
            }
        }
        let sets = fetched.compactMap { fetched in
            fetched.quote.map { ["SET", "cache:stock:\(fetched.stock)", $0, "EX", String(ttl)].map { Array($0.utf8) } }
        }
        if !sets.isEmpty {
            _ = try await blocking { try RedisClient(endpoint: endpoint).pipeline(sets) }
        }
        guard failures.isEmpty else {
            throw EngineClient.Failure(
                description:
                    "data-collection of \(failures.count) stock(s) failed: \(failures.prefix(3).joined(separator: "; "))"
            )
        }
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
        guard let code = StockCode(stock.stock) else {
            throw EngineClient.Failure(description: "'\(stock.stock)' is not a stock code")
        }
        let today = KST.yyyymmdd(day: day)
        let candles = bars.compactMap { $0.date == today ? $0.candle(code) : nil }
        guard fetchQuote else { return Fetched(candles: candles, quote: nil, stock: stock.stock) }
        let quote = try await client.quote(stock.stock)
        let taken = self.clock()
        var cached = JSONObjectWriter()
        cached.field("stock", quote.code)
        cached.field("price", quote.price)
        cached.field("basePrice", quote.basePrice)
        cached.field("upperLimit", quote.upperLimit)
        cached.field("lowerLimit", quote.lowerLimit)
        cached.field("volume", quote.volume)
        cached.field("halted", quote.halted)
        cached.field("status", quote.status.status.description)
        cached.field("at", ISOTime.utc(minute))
        return Fetched(
            candles: candles,
            quote: cached.finish(),
            stock: stock.stock,
            triggerQuote: stock.triggers == true ? (quote.price, taken) : nil,
            status: quote.status
        )
    }

}

/// Adds the data-collection jobs of each minute of the session: for every stock a KIS account trades by
/// strategy, plus `watch` (fetched through the first KIS account; `["all"]`: every listed stock), in groups
/// of `group` stocks a job.
///
/// A stock someone trades by strategy is collected at every tick (its strategies decide on fresh bars). A stock
/// that is only watched is collected once `watchEvery` of its minutes are due (the day's first time after a
/// stock-dependent 1…`watchEvery`, so that watched stocks spread over the ticks; KIS answers 30 minutes a page, so
/// 25–30 fill one request; at 1, every tick), and from the closing auction (15:20) on at every tick. After the
/// close a tick still collects up to the closing minute, so a worker started (or a schedule tick landing) after
/// 15:30 misses none of the day's last bars. A tick that finds more jobs waiting than the one before added (a
/// backlog) adds strategy stocks only, until the closing auction.
public struct CollectionSchedule: Sendable {
    let engine: EngineClient
    let store: @Sendable () -> JobQueueStore
    let calendar: TradingCalendar
    let watch: [String]
    let group: Int
    let watchEvery: Int

    public init(
        engine: EngineClient,
        redis: RedisEndpoint,
        calendar: TradingCalendar,
        watch: [String],
        group: Int = 25,
        watchEvery: Int = 1
    ) {
        self.engine = engine
        self.store = { JobQueueStore(redis: RedisClient(endpoint: redis)) }
        self.calendar = calendar
        self.watch = watch
        self.group = max(1, group)
        self.watchEvery = max(1, watchEvery)
    }

    /// The minute a tick at `now` (µs) collects up to: the last complete minute of a trading day; during the
    /// closing call auction (15:20–15:30, no trades) its opening minute, so the continuous session's last bar
    /// comes at once and the auction's flat minutes wait for the close; once the session is over, the closing
    /// minute (15:30, the closing auction's bar). Nil before the open and on other days.
    public static func minute(endingAt now: Int64, calendar: TradingCalendar) -> Int64? {
        let day = KST.day(now)
        guard calendar.isTradingDay(day) else { return nil }
        let minute = (now / KST.minuteMicros) * KST.minuteMicros - KST.minuteMicros  // the last complete minute
        let open = KST.instant(day: day, hour: 0, minute: calendar.openMinute(day: day))
        let auction = KST.instant(day: day, hour: 0, minute: calendar.closeMinute - 10)
        let close = KST.instant(day: day, hour: 0, minute: calendar.closeMinute)
        guard minute >= open else { return nil }
        if minute >= close { return close }
        return minute > auction ? auction : minute
    }

    /// When the tick after `now` (µs, session time) is due: every `interval` µs, 1 min 5 s past a multiple of
    /// it counted from midnight KST — with 5 minutes, at 09:01:05, 09:06:05 … 15:21:05: each tick comes just
    /// after a bar closes, and one just after the continuous session's last (15:20).
    public static func nextTick(after now: Int64, interval: Int64) -> Int64 {
        let interval = max(interval, 1_000)
        let offset = 65 * Int64(1_000_000)
        let local = now + KST.offsetMicros - offset
        let next = (local / interval + 1) * interval
        return next - KST.offsetMicros + offset
    }

    /// The stocks a tick for `minute` collects, given the engine's stocks and the accounts that may fetch.
    /// `backlogged`: the jobs of the schedule before have not all started; watched stocks then wait (they are
    /// fetched in full once the queue drains) until the closing auction, so a backlog does not grow by every
    /// watched stock at every schedule.
    static func due(
        _ stocks: [WorkerStockView],
        accounts: [WorkerAccountView],
        minute: Int64,
        calendar: TradingCalendar,
        watch: [String],
        watchEvery: Int,
        backlogged: Bool = false
    ) -> [DataCollectionHandler.Stock] {
        let live = accounts.filter { !$0.halted }
        guard let first = live.first else { return [] }
        let brokers = Dictionary(uniqueKeysWithValues: live.map { ($0.id, $0.broker) })
        let day = KST.day(minute)
        let open = KST.instant(day: day, hour: 0, minute: calendar.openMinute(day: day))
        // From the closing auction on, every stock's remaining bars are due at once.
        let closing = minute >= KST.instant(day: day, hour: 0, minute: calendar.closeMinute - 10)
        var traded: [DataCollectionHandler.Stock] = []
        var watched: [DataCollectionHandler.Stock] = []
        for stock in stocks {
            let started = stock.lastMinuteStart.map { KST.day($0) == day } ?? false
            let since = started ? stock.lastMinuteStart! + KST.minuteMicros : open
            let minutesDue = since > minute ? 0 : Int((minute - since) / KST.minuteMicros) + 1
            guard minutesDue > 0 else { continue }
            if let account = stock.strategyAccounts.first(where: { brokers[$0] != nil }) {
                traded.append(
                    DataCollectionHandler.Stock(
                        stock: stock.stock,
                        account: account,
                        broker: brokers[account]!,
                        last: stock.lastMinuteStart,
                        triggers: (stock.armedTriggers ?? 0) > 0 ? true : nil
                    )
                )
                continue
            }
            guard watch == ["all"] || watch.contains(stock.stock), closing || !backlogged else { continue }
            // The day's first collection of a stock comes after 1…watchEvery minutes, by its code: watched stocks
            // spread over the ticks instead of all falling due at the same one (and again every watchEvery).
            let threshold = started ? watchEvery : Self.phase(stock.stock, watchEvery) + 1
            guard minutesDue >= threshold || closing else { continue }
            watched.append(
                DataCollectionHandler.Stock(
                    stock: stock.stock,
                    account: first.id,
                    broker: first.broker,
                    last: stock.lastMinuteStart
                )
            )
        }
        // Traded stocks first: their jobs are queued ahead of the watched ones.
        return traded + watched
    }

    /// A stable number in `0..<period` for a stock code (`hashValue` differs between processes).
    static func phase(_ code: String, _ period: Int) -> Int { Int(fnv1a64(code) % UInt64(max(1, period))) }

    /// The jobs for the minute that ended at `now` (µs); none before the open or on a day without a session.
    public func jobs(now: Int64, backlogged: Bool = false) async throws -> [Job] {
        guard let minute = Self.minute(endingAt: now, calendar: self.calendar) else { return [] }
        let accounts = try await self.engine.accounts()
        guard accounts.contains(where: { !$0.halted }) else { return [] }
        let stocks = Self.due(
            try await self.engine.stocks(),
            accounts: accounts,
            minute: minute,
            calendar: self.calendar,
            watch: self.watch,
            watchEvery: self.watchEvery,
            backlogged: backlogged
        )
        let stamp = KST.yyyymmdd(day: KST.day(minute)) + KST.hhmmss(minute).prefix(4)
        return try stride(from: 0, to: stocks.count, by: self.group).map { index in
            let members = Array(stocks[index..<min(stocks.count, index + self.group)])
            let data = String(
                decoding: try JSONEncoder().encode(DataCollectionHandler.Data(stocks: members, minute: minute)),
                as: UTF8.self
            )
            let name = members.count == 1 ? members[0].stock : "\(members[0].stock)+\(members.count - 1)"
            return Job(queue: .dataCollection, id: "collect:\(name):\(stamp)", data: data, maxAttempts: 3)
        }
    }

    /// Adds this minute's jobs; returns how many were new. When more data-collection jobs wait than the schedule
    /// before added, some of those have not started: this one adds strategy stocks only (see `due`).
    @discardableResult
    public func tick(now: Int64) async throws -> Int {
        let store = self.store
        let waiting = try await blocking { try store().counts(.dataCollection).wait }
        let jobs = try await self.jobs(now: now, backlogged: waiting > self.lastAdded.value.withLock { $0 })
        let added = jobs.isEmpty ? 0 : try await blocking { try store().add(jobs, now: now / 1_000) }
        self.lastAdded.value.withLock { $0 = added }
        return added
    }

    /// How many jobs the last schedule added (a box: the schedule is a value shared by its loop).
    private final class Count: Sendable {
        let value = Mutex(0)
    }
    private let lastAdded = Count()
}
