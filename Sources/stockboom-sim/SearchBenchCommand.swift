import ArgumentParser
import Assembly
import Engine
import Foundation
import Ledger
import Simulation

/// `stockboom-sim bench strategy`: issue 22's figures — a single-stock backtest with a bracket strategy on the
/// strategy context, and a parameter grid over the generated day on one and on two worker cores.
struct StrategyBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strategy",
        abstract:
            "A single stock's bracket backtest (bars/s), then a parameter grid over a generated day with 1 and 2 workers."
    )

    @Option(help: "Days of one-minute bars for the single-stock run (381 a day).") var days = 300
    @Option(help: "The single-stock run's ma-cross parameters (a bracket: stop/target in basis points).")
    var parameters = "fast=5,slow=20,percent=50,stop=100,target=200"
    @Option(help: "Stocks of the grid's generated day.") var stocks = 2_700
    @Option(help: "The grid (ParameterGrid), 100 points by default.") var grid = "fast=2..11;slow=20..65:5"
    @Option(help: "Worker counts to run the grid with, comma-separated.") var workers = "1,2"
    @Option(help: "Scratch directory (emptied first): each grid run writes its own log under it.")
    var dir = "var/bench-strategy"
    @Option(help: "Seed of the generated bars.") var seed: UInt64 = 7
    @Option(help: "Also write the single stock's bars as CSV for the NautilusTrader peer (--bracket).")
    var exportBars: String?
    @Flag(help: "The single-stock run only (no grid).") var singleOnly = false
    @Option(help: "Runs of the single-stock backtest (the median is printed when more than one).") var rounds = 1

    func validate() throws {
        guard (1...100_000).contains(self.days) else { throw ValidationError("--days must be 1 to 100,000 sessions") }
        guard (1...1_000).contains(self.rounds) else { throw ValidationError("--rounds must be 1 to 1,000") }
    }

    func run() async throws {
        try? FileManager.default.removeItem(atPath: self.dir)
        try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
        let calendar = TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)])
        // 1. One stock, `days` sessions of minute bars (weekdays from 2025-01-03), a tick-grid walk.
        let code = StockCode("005930")!
        let single = GeneratedMinuteBars.walk(
            stock: code,
            sessions: self.days,
            from: KST.day(year: 2025, month: 1, day: 3),
            seed: self.seed
        )
        if let path = self.exportBars { try GeneratedDay.export(single, stocks: [code], to: path) }
        let parameters = self.parameters
        // Several rounds on the same bars (a fresh log each): this machine's figures swing from run to run, so
        // the median is the figure and the spread is printed beside it.
        var rates: [Double] = []
        for round in 1...max(1, self.rounds) {
            try? FileManager.default.removeItem(atPath: self.dir + "/single")  // a fresh log each round
            let started = monotonicNanos()
            let run = try await ParameterSearch.run(
                parameters: parameters,
                bars: single,
                make: { (parameters, bars) throws(EngineError) in
                    try Backtester(
                        stocks: [(code, "삼성전자", bars[0].open)],
                        strategy: "ma-cross",
                        parameters: parameters,
                        initialCash: 1_000_000_000,
                        calendar: calendar,
                        exchange: .init(participationPercent: 100, slippageTicks: 1),
                        startTime: bars[0].start - KST.dayMicros
                    )
                },
                directory: self.dir + "/single"
            )
            let seconds = Double(monotonicNanos() - started) / 1e9
            let rate = Double(single.count) / seconds
            rates.append(rate)
            let exits = run.report.ordersByStatus.values.reduce(0, +)
            let label = self.rounds > 1 ? " [round \(round)]" : ""
            print(
                "single stock, ma-cross with a bracket (\(parameters)), \(single.count) one-minute bars over \(self.days) sessions, log written: \(Format.number(rate)) bars/s (\(String(format: "%.3f", seconds)) s; \(run.report.events) events, \(run.report.fills) fills, \(exits) orders)\(label)"
            )
        }
        if rates.count > 1 {
            let sorted = rates.sorted()
            print(
                "single stock, \(rates.count) rounds: median \(Format.number(sorted[sorted.count / 2])) bars/s (\(Format.number(sorted[0]))–\(Format.number(sorted[sorted.count - 1])))"
            )
        }
        guard !self.singleOnly else { return }
        // 2. The grid over the generated day, on 1 and 2 workers.
        let (listings, day1) = GeneratedDay.make(
            stocks: self.stocks,
            day: KST.day(year: 2025, month: 1, day: 3),
            seed: self.seed
        )
        let points = try ParameterGrid(parsing: self.grid).points(base: "quantity=10")
        var baseline: Double?
        for workers in self.workers.split(separator: ",").compactMap({ Int($0) }) {
            let directory = self.dir + "/grid-\(workers)"
            let began = monotonicNanos()
            let runs = try await ParameterSearch.grid(
                points: points,
                bars: day1,
                make: { (parameters, bars) throws(EngineError) in
                    try GeneratedDay.backtester(
                        listings: listings,
                        parameters: parameters,
                        day: KST.day(bars[0].start),
                        calendar: calendar
                    )
                },
                directory: directory,
                concurrency: workers
            )
            let elapsed = Double(monotonicNanos() - began) / 1e9
            let speedup = baseline.map { String(format: ", %.2fx the first", $0 / elapsed) } ?? ""
            if baseline == nil { baseline = elapsed }
            let best = runs.max { $0.report.sharpeRatio < $1.report.sharpeRatio }
            print(
                "grid of \(runs.count) points over \(self.stocks) stocks x 381 bars, \(workers) worker(s): \(String(format: "%.1f", elapsed)) s (\(Format.number(Double(runs.count * day1.count) / elapsed)) bars/s\(speedup)); best by sharpe \(best?.parameters ?? "-"); each run's log under \(directory)"
            )
            try? FileManager.default.removeItem(atPath: directory)  // 100 logs of a day each: gigabytes
        }
    }
}
