import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Runtime
import Simulation
import Storage

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract:
            "The benchmarks of BENCHMARKS.md (scripts/bench-*.sh run them on release builds and throwaway servers).",
        subcommands: [
            CorpusCommand.self, LogBenchCommand.self, EngineBenchCommand.self, ProjectionBenchCommand.self,
            QueueBenchCommand.self, BenchDayCommand.self, ReplicationBenchCommand.self, StrategyBenchCommand.self,
        ]
    )
}

/// `stockboom-sim bench engine`: backtest and replay throughput of the engine over a generated KRX day.
struct EngineBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract:
            "Backtest a generated day (stocks x 381 one-minute bars) with ma-cross, then replay its log (decode + apply)."
    )

    @Option(help: "Stocks in the generated day.") var stocks = 2_700
    @Option(help: "Scratch directory (emptied first).") var dir = "var/bench-engine"
    @Option(help: "Also write the first N stocks' bars as CSV for the NautilusTrader peer.") var exportBars: String?
    @Option(help: "Stocks to export for the peer.") var exportStocks = 525
    @Option(help: "Seed of the generated day.") var seed: UInt64 = 7
    @Option(
        help:
            "The ma-cross strategy's parameters; stop/target/trail (basis points) give every entry a bracket the engine watches."
    )
    var parameters = "fast=5,slow=20,quantity=10"
    @Flag var json = false

    func run() async throws {
        try? FileManager.default.removeItem(atPath: self.dir)
        var results = BenchResults()
        let day = KST.day(year: 2025, month: 1, day: 3)
        let generateStarted = monotonicNanos()
        let (listings, bars) = GeneratedDay.make(stocks: self.stocks, day: day, seed: self.seed)
        results.note(
            "generated day",
            "\(self.stocks) stocks x 381 one-minute bars = \(bars.count) bars in \(String(format: "%.2f", Double(monotonicNanos() - generateStarted) / 1e9)) s"
        )
        if let path = self.exportBars {
            try GeneratedDay.export(bars, stocks: Set(listings.prefix(self.exportStocks).map(\.code)), to: path)
        }

        // Backtest of the whole day, recording every event into a log (durability none: regenerable).
        let (report, seconds, logPath, liveDigest) = try await self.backtest(
            listings: listings,
            bars: bars,
            day: day,
            name: "full"
        )
        results.add(
            "backtest ma-cross(5,20) over \(self.stocks) stocks, engine + exchange + log",
            events: report.bars,
            seconds: seconds,
            bytes: nil,
            unit: "bars"
        )
        results.note(
            "backtest output",
            "\(report.events) events, \(report.fills) fills, orders \(report.ordersByStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); rejections \(report.rejectionsByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
        )
        let peerBars = bars.filter { listing in listings.prefix(self.exportStocks).contains { $0.code == listing.stock }
        }
        let (_, peerSeconds, _, _) = try await self.backtest(
            listings: Array(listings.prefix(self.exportStocks)),
            bars: peerBars,
            day: day,
            name: "peer"
        )
        results.add(
            "backtest ma-cross(5,20) over the \(self.exportStocks) stocks given to the peer",
            events: peerBars.count,
            seconds: peerSeconds,
            bytes: nil,
            unit: "bars"
        )

        // Replay: decode + apply every event of the backtest's log, on this thread.
        let log = try EventLog(directory: logPath, readOnly: true)
        var best = Double.infinity
        var digest = ""
        var replayed: UInt64 = 0
        let rssBefore = LogBenchCommand.currentRSSKiB()
        for _ in 0..<3 {
            let started = monotonicNanos()
            let (state, recovery) = try EngineRuntime.recover(log: log, snapshots: nil, toOffset: nil)
            best = min(best, Double(monotonicNanos() - started) / 1e9)
            replayed = recovery.replayedEvents
            digest = state.digest
        }
        results.add(
            "engine replay (read + decompress + decode + apply), 1 thread, best of 3",
            events: Int(replayed),
            seconds: best,
            bytes: nil
        )
        results.note(
            "replayed state",
            "digest \(digest.prefix(16))…; equal to the backtest's live state: \(digest == liveDigest)"
        )
        results.note(
            "resident memory",
            "\(Format.bytes(UInt64(rssBefore) * 1024)) before replay, peak \(Format.bytes(UInt64(LogBenchCommand.peakRSSKiB()) * 1024)) for the whole run"
        )
        print(self.json ? results.json() : results.table())
    }

    private func backtest(
        listings: [(code: StockCode, name: String, previousClose: Int64)],
        bars: [Candle],
        day: Int64,
        name: String
    ) async throws -> (BacktestReport, Double, String, String) {
        let path = "\(self.dir)/\(name)"
        // 2025-01-03 with New Year's Day as the holiday: a regular 09:00 session (not the year's first, 10:00).
        let calendar = TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)])
        let started = monotonicNanos()
        // As a search run: the log written beside the backtest (`ParameterSearch.run`).
        let run = try await ParameterSearch.run(
            parameters: self.parameters,
            bars: bars,
            make: { (parameters, _) throws(EngineError) in
                try GeneratedDay.backtester(listings: listings, parameters: parameters, day: day, calendar: calendar)
            },
            directory: path
        )
        let seconds = Double(monotonicNanos() - started) / 1e9
        return (run.report, seconds, path, run.digest)
    }
}

/// A deterministic KRX day of one-minute bars, shaped like the benchmark corpus's candles (`BenchmarkCorpus`).
enum GeneratedDay {
    /// The benchmarks' backtest of a generated day: ma-cross on every stock, one account with 50 billion KRW,
    /// fills of 10 % of a bar's volume one tick off, the account set up at 08:50 KST.
    static func backtester(
        listings: [(code: StockCode, name: String, previousClose: Int64)],
        parameters: String,
        day: Int64,
        calendar: TradingCalendar
    ) throws(EngineError) -> Backtester {
        try Backtester(
            stocks: listings,
            strategy: "ma-cross",
            parameters: parameters,
            initialCash: 50_000_000_000,
            calendar: calendar,
            exchange: .init(participationPercent: 10, slippageTicks: 1),
            startTime: KST.instant(day: day, hour: 8, minute: 50)
        )
    }

    static func make(stocks: Int, day: Int64, seed: UInt64) -> (
        [(code: StockCode, name: String, previousClose: Int64)], [Candle]
    ) {
        var state = seed
        var listings: [(code: StockCode, name: String, previousClose: Int64)] = []
        var last: [Int64] = []
        var codes = Set<UInt32>()
        while listings.count < stocks {
            let code = UInt32(splitMix(&state) % 999_999 + 1)
            guard codes.insert(code).inserted else { continue }
            let raw = Int64(splitMix(&state) % 399_000 + 1_000)
            let price = raw - raw % KRXPriceRules.tickSize(at: raw)
            listings.append((StockCode(value: code), "종목\(code)", price))
            last.append(price)
        }
        var bars: [Candle] = []
        bars.reserveCapacity(stocks * 381)
        for minute in 0..<Int64(381) {
            let start = KST.instant(day: day, hour: 9) + minute * KST.minuteMicros
            for index in 0..<stocks {
                let open = last[index]
                let tick = KRXPriceRules.tickSize(at: open)
                let step = Int64(splitMix(&state) % 7) - 3
                var close = max(tick, open + step * tick)
                close -= close % KRXPriceRules.tickSize(at: close)
                let high = max(open, close) + tick * Int64(splitMix(&state) % 3)
                let low = max(1, min(open, close) - tick * Int64(splitMix(&state) % 3))
                last[index] = close
                bars.append(
                    Candle(
                        stock: listings[index].code,
                        timeframe: .minute1,
                        start: start,
                        open: open,
                        high: high,
                        low: low,
                        close: close,
                        volume: Int64(splitMix(&state) % 250_000)
                    )
                )
            }
        }
        return (listings, bars)
    }

    /// CSV for the peer: `stock,start_us,open,high,low,close,volume`.
    static func export(_ bars: [Candle], stocks: Set<StockCode>, to path: String) throws {
        var text = "stock,start_us,open,high,low,close,volume\n"
        for bar in bars where stocks.contains(bar.stock) {
            text += "\(bar.stock),\(bar.start),\(bar.open),\(bar.high),\(bar.low),\(bar.close),\(bar.volume)\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
