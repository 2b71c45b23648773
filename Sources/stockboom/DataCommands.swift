import ArgumentParser
import Assembly
import Engine
import Foundation
import Ledger
import Projections
import Runtime
import Worker

/// `stockboom data import`: history to test on, from KIS into a log of its own (and, asked, a database's
/// `candles`).
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "History to backtest on: import daily and minute bars from KIS.",
        subcommands: [DataImportCommand.self]
    )
}

struct DataImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "Fetch daily bars (and minute bars) from KIS into a history log, paged and rate limited; run again to resume where it stopped."
    )

    @Option(help: "Stock codes, comma-separated (e.g. 005930,000660).") var stocks: String
    @Option(help: "First day (YYYYMMDD).") var from: String
    @Option(help: "Last day (YYYYMMDD; default: today).") var to: String?
    @Flag(
        help:
            "One-minute bars too: on real KIS every day of the range KIS still keeps (about a year; older days as daily bars), on paper KIS today's only."
    )
    var minutes = false
    @Option(help: "The history log (never the live one: serve owns that).") var log = "var/history"
    @Option(help: "paper (2 requests/s) or real (19/s) KIS; the base URL is $KIS_BASE_URL when set.") var kis = "paper"
    @Option(help: "Requests per second at most (default: the environment's).") var requestsPerSecond: Double?
    @Flag(
        help:
            "Then project the history log into $DATABASE_URL's read models (its candles table): give a database of its own, not the live one."
    )
    var project = false
    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let kind = KISEnvironment(rawValue: self.kis) else {
            throw ValidationError("--kis must be paper or real")
        }
        guard let key = environment["KIS_APP_KEY"], !key.isEmpty, let secret = environment["KIS_APP_SECRET"],
            !secret.isEmpty
        else { throw ValidationError("set KIS_APP_KEY and KIS_APP_SECRET (the app's credentials)") }
        let codes = try self.stocks.split(separator: ",").map { text -> StockCode in
            guard let code = StockCode(text.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("'\(text)' is not a six-digit stock code")
            }
            return code
        }
        guard !codes.isEmpty, codes.count <= 5_000 else { throw ValidationError("give 1 to 5,000 stock codes") }
        let today = KST.day(wallClockMicros())
        guard let first = KST.day(yyyymmdd: self.from) else { throw ValidationError("--from must be YYYYMMDD") }
        let last =
            try self.to.map { text -> Int64 in
                guard let day = KST.day(yyyymmdd: text) else { throw ValidationError("--to must be YYYYMMDD") }
                return day
            } ?? today
        guard first <= last, first >= KST.day(year: 2000, month: 1, day: 1) else {
            throw ValidationError("--from must be a day from 2000 on, not after --to")
        }
        if let rate = self.requestsPerSecond, !(rate > 0 && rate <= 100) {
            throw ValidationError("--requests-per-second must be in (0, 100]")
        }
        let client = KISClient(
            environment: kind,
            credentials: KISCredentials(appKey: key, appSecret: secret, accountNumber: "00000000-01"),
            baseURL: environment["KIS_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 },
            clock: { wallClockMicros() },
            requestsPerSecond: self.requestsPerSecond
        )
        let eventLog = try EventLog(directory: self.log)
        let runtime = try EngineRuntime(log: eventLog, engine: Engine(calendar: try loadCalendar()))
        var totals = (bars: 0, skipped: 0)
        do {
            for code in codes {
                // Resumable: a stock goes on from the day after its newest bar in the log (of minutes: that day
                // again — it may have stopped inside it; the minutes recorded add nothing twice).
                let have = runtime.state.stocks[code]?.marketData.currentDay
                let pastMinutes = self.minutes && kind == .real
                var start = max(first, (have ?? .min) == .min ? first : have! + (pastMinutes ? 0 : 1))
                var imported = 0
                var skipped = 0
                if pastMinutes {
                    let (done, bad) = try await Self.importMinutes(
                        code,
                        from: start,
                        to: last,
                        client: client,
                        runtime: runtime
                    )
                    imported += done
                    skipped += bad
                    start = last + 1  // the daily loop below has nothing left
                }
                while start <= last {
                    // Windows of 140 calendar days: ≤ 100 trading days, one KIS page.
                    let end = min(last, start + 139)
                    let bars = try await client.dailyBars(
                        code.description,
                        from: KST.yyyymmdd(day: start),
                        to: KST.yyyymmdd(day: end)
                    )
                    let (done, bad) = try await Self.record(bars.map { $0.candle(code) }, runtime: runtime)
                    imported += done
                    skipped += bad
                    start = end + 1
                }
                if self.minutes && !pastMinutes {
                    let bars = try await client.minuteBars(code.description, until: "153000")
                    let (done, bad) = try await Self.record(bars.map { $0.candle(code) }, runtime: runtime)
                    imported += done
                    skipped += bad
                }
                totals.bars += imported
                totals.skipped += skipped
                writeLine(
                    "\(code): \(imported) bars recorded\(skipped > 0 ? ", \(skipped) refused (not a valid bar)" : "")\(have.map { $0 == .min ? "" : " (resumed after \(KST.yyyymmdd(day: $0)))" } ?? "")"
                )
            }
        } catch {
            await runtime.close()
            eventLog.close()
            throw CommandFailure("import stopped (run it again to resume): \(error)")
        }
        await runtime.close()
        eventLog.close()
        writeLine("imported \(totals.bars) bars of \(codes.count) stocks into \(self.log); \(totals.skipped) refused")
        if self.project {
            var options = LogDirectoryOptions()
            options.dir = self.log
            let runner = try openRunner(options, self.database)
            let applied = try runner.catchUp(batchEvents: 10_000)
            writeLine("projected \(applied) events into the database's read models")
        }
    }

    /// One stock's days from `from` to `to` on real KIS: the trading days and their daily bars first (pages of
    /// 140 calendar days), then the oldest day KIS still keeps minutes of (a binary search, one short request a
    /// probe: KIS keeps about a year, so the days with minutes are the newest ones), then the days before it as
    /// daily bars and the days from it as minute bars (each day's daily bar is their roll-up; a day that
    /// answers no minutes is recorded as its daily bar). Returns (recorded, refused).
    static func importMinutes(
        _ code: StockCode,
        from: Int64,
        to: Int64,
        client: KISClient,
        runtime: EngineRuntime
    ) async throws -> (Int, Int) {
        var daily: [KISDailyBar] = []
        var start = from
        while start <= to {
            let end = min(to, start + 139)
            daily += try await client.dailyBars(
                code.description,
                from: KST.yyyymmdd(day: start),
                to: KST.yyyymmdd(day: end)
            )
            start = end + 1
        }
        var low = 0
        var high = daily.count
        while low < high {
            let middle = (low + high) / 2
            if try await client.pastMinuteBars(code.description, day: daily[middle].date, until: "090000").isEmpty {
                low = middle + 1
            } else {
                high = middle
            }
        }
        var (recorded, refused) = try await Self.record(daily[..<low].map { $0.candle(code) }, runtime: runtime)
        for bar in daily[low...] {
            let minutes = try await client.pastMinuteBars(code.description, day: bar.date)
            let (done, bad) = try await Self.record(
                minutes.isEmpty ? [bar.candle(code)] : minutes.map { $0.candle(code) },
                runtime: runtime
            )
            recorded += done
            refused += bad
        }
        return (recorded, refused)
    }

    /// Lists the stock if new (at its first bar's open), then records the bars in order; a row that is no bar
    /// (nil: it does not read, or the engine would refuse it — `Candle.admissible`) is counted and skipped, one
    /// already recorded adds nothing.
    static func record(_ rows: [Candle?], runtime: EngineRuntime) async throws -> (recorded: Int, refused: Int) {
        let candles = rows.compactMap { $0 }
        let unreadable = rows.count - candles.count
        guard let firstBar = candles.first else { return (0, unreadable) }
        let context = CommandContext(time: wallClockMicros(), correlationID: "data-import")
        if runtime.state.stocks[firstBar.stock] == nil {
            _ = try await runtime.execute(
                .listStock(
                    code: firstBar.stock,
                    name: firstBar.stock.description,
                    market: "KRX",
                    previousClose: firstBar.open
                ),
                context: context
            )
        }
        var recorded = 0
        var refused = unreadable
        for result in await runtime.execute(all: candles.map { .ingestCandle($0) }, context: context) {
            switch result {
            case .success(let execution): if !execution.offsets.isEmpty { recorded += 1 }
            case .failure(let error as EngineError) where error.code == .invalid: refused += 1
            case .failure(let error as EngineError) where error.code == .conflict: continue  // an older session
            case .failure(let error): throw error
            }
        }
        return (recorded, refused)
    }
}
