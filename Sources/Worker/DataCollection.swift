public import Engine
import Foundation
public import Projections

/// data-collection: one job per (stock, minute) during the session — `collect:<code>:<YYYYMMDDHHMM>`, so a
/// schedule that runs twice (two workers, a restart) adds each job once. The handler fetches the minute bars
/// after the last minute the engine has (nothing missed across restarts), sends them as `CandleClosed`
/// commands (the engine ignores a minute it already has: no duplicates), and stores the quote in
/// `cache:stock:<code>` for `ttl` seconds. Requests go through the account's `KISClient`, inside its rate limit.
public struct DataCollectionHandler: JobHandler {
    let engine: EngineClient
    let brokers: BrokerDirectory
    let redis: RedisEndpoint
    let ttl: Int

    public init(engine: EngineClient, brokers: BrokerDirectory, redis: RedisEndpoint, ttl: Int = 120) {
        self.engine = engine
        self.brokers = brokers
        self.redis = redis
        self.ttl = ttl
    }

    struct Data: Codable {
        var stock: String
        var account: String
        var broker: String
        /// µs: the minute this job is for (its bar is closed once this minute has passed).
        var minute: Int64
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let data = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        let client = try await self.brokers.client(account: data.account, broker: data.broker)
        let last = try await self.engine.stocks(only: data.stock).first?.lastMinuteStart
        let day = KST.day(data.minute)
        let open = KST.instant(day: day, hour: 9)
        // Resume after the engine's last minute of this day; the bar of `minute` itself is complete.
        let since = max(open, (last.map { KST.day($0) == day ? $0 + KST.minuteMicros : open } ?? open))
        guard since <= data.minute else { return .done }
        let bars = try await client.minuteBars(data.stock, until: Self.hhmmss(data.minute), since: Self.hhmmss(since))
        let commands: [WorkerCommand] = bars.compactMap { bar in
            guard bar.date == KST.yyyymmdd(day: day), let hour = Int64(bar.time.prefix(2)), let minute = Int64(bar.time.dropFirst(2).prefix(2)) else { return nil }
            let start = KST.instant(day: day, hour: hour, minute: minute)
            return .candle(stock: data.stock, timeframe: "1m", start: start, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume)
        }
        for chunk in stride(from: 0, to: commands.count, by: 500) {
            for result in try await self.engine.send(Array(commands[chunk..<min(commands.count, chunk + 500)]), correlation: "collect") where result.status != 200 {
                throw EngineClient.Failure(description: "the engine refused a candle of \(data.stock): \(result.status) \(result.error ?? "")")
            }
        }
        let quote = try await client.quote(data.stock)
        var cached = JSONObjectWriter()
        cached.field("stock", quote.code)
        cached.field("price", quote.price)
        cached.field("basePrice", quote.basePrice)
        cached.field("upperLimit", quote.upperLimit)
        cached.field("lowerLimit", quote.lowerLimit)
        cached.field("volume", quote.volume)
        cached.field("halted", quote.halted)
        cached.field("at", ISOTime.utc(data.minute))
        let (endpoint, ttl, text) = (self.redis, self.ttl, cached.finish())
        _ = try await blocking { try RedisClient(endpoint: endpoint).command(["SET", "cache:stock:\(data.stock)", text, "EX", String(ttl)]) }
        return .done
    }

    static func hhmmss(_ micros: Int64) -> String {
        let seconds = KST.timeOfDay(micros) / 1_000_000
        return String(format: "%02lld%02lld%02lld", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }
}

/// Adds the data-collection jobs of each minute of the session: for every stock a KIS account trades by
/// strategy, plus `watch` (fetched through the first KIS account; `["all"]`: every listed stock).
public struct CollectionSchedule: Sendable {
    let engine: EngineClient
    let store: @Sendable () -> JobQueueStore
    let calendar: TradingCalendar
    let watch: [String]

    public init(engine: EngineClient, redis: RedisEndpoint, calendar: TradingCalendar, watch: [String]) {
        self.engine = engine
        self.store = { JobQueueStore(redis: RedisClient(endpoint: redis)) }
        self.calendar = calendar
        self.watch = watch
    }

    /// The jobs for the minute that ended at `now` (µs); none outside the regular session.
    public func jobs(now: Int64) async throws -> [Job] {
        let day = KST.day(now)
        let minute = (now / KST.minuteMicros) * KST.minuteMicros - KST.minuteMicros  // the last complete minute
        guard self.calendar.isTradingDay(day), minute >= KST.instant(day: day, hour: 9), minute <= KST.instant(day: day, hour: 15, minute: 30) else { return [] }
        let accounts = try await self.engine.accounts().filter { !$0.halted }
        guard let first = accounts.first else { return [] }
        let brokers = Dictionary(uniqueKeysWithValues: accounts.map { ($0.id, $0.broker) })
        var jobs: [Job] = []
        let stamp = KST.yyyymmdd(day: day) + DataCollectionHandler.hhmmss(minute).prefix(4)
        for stock in try await self.engine.stocks() {
            let watched = self.watch == ["all"] || self.watch.contains(stock.stock)
            let account = stock.strategyAccounts.first { brokers[$0] != nil } ?? (watched ? first.id : nil)
            guard let account else { continue }
            var data = JSONObjectWriter()
            data.field("stock", stock.stock)
            data.field("account", account)
            data.field("broker", brokers[account] ?? first.broker)
            data.field("minute", minute)
            jobs.append(Job(queue: .dataCollection, id: "collect:\(stock.stock):\(stamp)", data: data.finish(), maxAttempts: 3))
        }
        return jobs
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
