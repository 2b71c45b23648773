import ArgumentParser
import Assembly
import Engine
import Foundation
import Gateway
import Jobs
import Ledger
import Runtime
import Storage

struct IndicatorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "indicators",
        abstract: "Print every indicator's value per bar as CSV (TA-Lib conventions; empty during warm-up)."
    )

    @Option(help: "Daily bars in the KRX daily layout (date,open,high,low,close,volume[,ticker,code,name,interval]).")
    var data: String

    func run() throws {
        let bars = try loadBars(self.data).bars
        var set = IndicatorSet()
        var output = "date,close," + IndicatorSet.columns.joined(separator: ",") + "\n"
        for bar in bars {
            let values = set.update(bar)
            output += KST.yyyymmdd(day: KST.day(bar.start)) + "," + String(bar.close)
            for value in values { output += "," + (value.map { "\($0)" } ?? "") }
            output += "\n"
            if output.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(output.utf8))
                output = ""
            }
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

func loadBars(_ path: String) throws -> DailyBarsCSV {
    guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
    do {
        return try DailyBarsCSV(parsing: String(decoding: data, as: UTF8.self))
    } catch {
        throw CommandFailure("\(path): \(error.message)")
    }
}

struct BacktestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backtest",
        abstract:
            "Replay historical bars through the engine and the simulated exchange; write the backtest's own log and report."
    )

    @Option(help: "Daily bars (KRX daily layout: date,open,high,low,close,volume,…).") var data: String?
    @Option(help: "Or: an engine log whose CandleClosed events to replay (all stocks).") var fromLog: String?
    @Option(help: "With --from-log: the candle timeframe to use (1m, 5m, 15m, 1h, 1d).") var timeframe = "1m"
    @Option(help: "ma-cross or rsi-reversion (or, with --rules, the rule strategy's name).") var strategy: String?
    @Option(help: "A rule set file (strategies as data; `stockboom rules check` explains a mistake) to run instead.")
    var rules: String?
    @Option(help: "Strategy parameters, e.g. fast=5,slow=20,quantity=10.") var params = ""
    @Option(help: "Starting cash in KRW.") var cash: Int64 = 100_000_000
    @Option(help: "First date to use (YYYYMMDD).") var from: String?
    @Option(help: "Last date to use (YYYYMMDD).") var to: String?
    @Option(help: "Directory for the backtest's log (must be empty or new; default: a fresh one under var/backtests).")
    var dir: String?
    @Option(help: "Share of each bar's volume the simulated exchange may fill, in percent.") var participation: Int64 =
        10
    @Option(help: "Market-order slippage in ticks.") var slippage: Int64 = 1
    @Option(help: "Commission in parts per billion of notional (default: KIS 0.0140527% = 140527).") var commissionPpb:
        Int64 = FeeSchedule().commissionPartsPerBillion
    @Option(help: "Sell-side transaction tax in parts per billion (default: 2026's 0.20% = 2000000).") var sellTaxPpb:
        Int64 = FeeSchedule().sellTaxPartsPerBillion
    @Flag(help: "Print the report as JSON.") var json = false
    @Option(
        help:
            "Also write a report a person reads to this directory: report.html (equity against buy-and-hold, drawdown, trades on the price chart, monthly returns, trade list) and report.json."
    )
    var report: String?

    func validate() throws {
        guard self.commissionPpb >= 0, self.sellTaxPpb >= 0 else {
            throw ValidationError("fee rates cannot be negative")
        }
        guard (self.data == nil) != (self.fromLog == nil) else {
            throw ValidationError("give exactly one of --data FILE.csv or --from-log DIR")
        }
        guard Timeframe(text: self.timeframe) != nil else {
            throw ValidationError("--timeframe must be one of 1m, 5m, 15m, 1h, 1d")
        }
        guard self.strategy != nil || self.rules != nil else {
            throw ValidationError("give --strategy ma-cross|rsi-reversion, or --rules FILE")
        }
    }

    /// The strategy's name and, with --rules, how to make it.
    func chosenStrategy() throws -> (String, (@Sendable () -> any Strategy)?) {
        guard let (name, template) = try self.ruleTemplate() else { return (self.strategy!, nil) }  // validate(): one
        return (name, try self.ruleStrategy(template, name: name, parameters: self.params))
    }

    /// The rule set of `--rules` as a template (its `{placeholders}` filled from parameters) and the strategy's
    /// name; nil without `--rules`.
    func ruleTemplate() throws -> (String, RuleTemplate)? {
        guard let path = self.rules else { return nil }
        let source = try RulesCommand.read(path)
        let template: RuleTemplate
        do { template = try RuleTemplate(source) } catch { throw CommandFailure("\(path): \(error)") }
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent.lowercased()
        let name = self.strategy ?? "rule:" + String(stem.filter { $0.isLetter || $0.isNumber || $0 == "-" }.prefix(40))
        return (name, template)
    }

    /// The rule strategy of `template` with `parameters` in its placeholders, checked.
    func ruleStrategy(_ template: RuleTemplate, name: String, parameters: String) throws -> @Sendable () -> any Strategy
    {
        let path = self.rules ?? "rules"
        let source: String
        do { source = try template.filled(template.placeholders.isEmpty ? "" : parameters) } catch {
            throw CommandFailure("\(path): \(error)")
        }
        let rules = try RulesCommand.parse(source, path: path)
        return { RuleStrategy(name: name, rules: rules) }
    }

    /// The bars asked for (--data or --from-log, within --from/--to), in time order.
    func loadRange() throws -> DailyBarsCSV {
        var file: DailyBarsCSV
        if let path = self.fromLog {
            file = try self.barsFromLog(path)
        } else {
            file = try loadBars(self.data!)  // validate() guarantees one of the two
        }
        if let from = self.from {
            guard let day = KST.day(yyyymmdd: from) else { throw ValidationError("--from must be YYYYMMDD") }
            file.bars.removeAll { KST.day($0.start) < day }
        }
        if let to = self.to {
            guard let day = KST.day(yyyymmdd: to) else { throw ValidationError("--to must be YYYYMMDD") }
            file.bars.removeAll { KST.day($0.start) > day }
        }
        guard !file.bars.isEmpty else { throw CommandFailure("no bars in the chosen range") }
        return file
    }

    /// CSV history: its dates are the trading days (KRX traded on Saturdays until 1998). A log's candles: the
    /// holiday calendar, since a log may hold only part of a year.
    func calendar(for file: DailyBarsCSV) throws -> TradingCalendar {
        var calendar = try loadCalendar()
        if self.fromLog == nil { calendar.tradingDays = file.tradingDays }
        return calendar
    }

    /// A backtest of `bars`' stocks (listed at their first open) with these options.
    func backtester(
        strategy: String,
        parameters: String,
        bars: [Candle],
        name: String,
        calendar: TradingCalendar,
        make: (@Sendable () -> any Strategy)?
    ) throws(EngineError) -> Backtester {
        var listings: [StockCode: (code: StockCode, name: String, previousClose: Int64)] = [:]
        for bar in bars where listings[bar.stock] == nil {
            listings[bar.stock] = (bar.stock, name.isEmpty ? bar.stock.description : name, bar.open)
        }
        guard let first = bars.first else { throw .invalid("no bars") }
        return try Backtester(
            stocks: listings.values.sorted { $0.code < $1.code },
            strategy: strategy,
            parameters: parameters,
            initialCash: self.cash,
            calendar: calendar,
            exchange: .init(
                participationPercent: self.participation,
                slippageTicks: self.slippage,
                fillTimeframe: first.timeframe
            ),
            fees: FeeSchedule(commissionPartsPerBillion: self.commissionPpb, sellTaxPartsPerBillion: self.sellTaxPpb),
            startTime: first.start - KST.dayMicros,
            make: make
        )
    }

    func run() async throws {
        let file = try self.loadRange()
        let (strategy, make) = try self.chosenStrategy()
        let directory =
            self.dir
            ?? "var/backtests/\(strategy.replacingOccurrences(of: ":", with: "-"))-\(file.stock)-\(Int(Date().timeIntervalSince1970))"
        if FileManager.default.fileExists(atPath: directory),
            !((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).isEmpty
        {
            throw CommandFailure("\(directory) is not empty: a backtest writes a fresh log")
        }
        var configuration = LogConfiguration()
        configuration.durability = .none  // regenerable: synced once at close
        let log = try EventLog(directory: directory, configuration: configuration)
        let calendar = try self.calendar(for: file)
        let started = monotonicNanos()
        var backtester: Backtester
        do {
            backtester = try self.backtester(
                strategy: strategy,
                parameters: self.params,
                bars: file.bars,
                name: file.name,
                calendar: calendar,
                make: make
            )
            for bar in file.bars {
                try backtester.process(bar)
                if backtester.batchIsDue {
                    for batch in backtester.takeRecords() { _ = try await log.append(batch) }
                }
            }
        } catch let error as EngineError {
            throw CommandFailure(error.message)
        }
        let report = try backtester.finish()
        for batch in backtester.takeRecords() { _ = try await log.append(batch) }
        let seconds = Double(monotonicNanos() - started) / 1e9
        try SnapshotStore(logDirectory: directory).write(
            offset: log.nextOffset,
            state: backtester.state.snapshot(),
            stateVersion: EngineState.snapshotVersion
        )
        log.close()
        var curve = "date,equity\n"
        for point in report.equityCurve { curve += "\(KST.yyyymmdd(day: point.day)),\(point.equity)\n" }
        try curve.write(toFile: directory + "/equity.csv", atomically: true, encoding: .utf8)
        if let folder = self.report {
            try Self.writeReport(BacktestDocument(report: report, state: backtester.state, bars: file.bars), to: folder)
        }
        printReport(report, directory: directory, seconds: seconds, json: self.json, digest: backtester.state.digest)
    }

    /// report.html and report.json, with the page's script, style and (when installed) chart library beside them.
    static func writeReport(_ document: BacktestDocument, to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func write(_ text: String, _ name: String) throws {
            try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        }
        try write(BacktestReportPage.html(document, assets: .beside), "report.html")
        try write(BacktestReportPage.json(document), "report.json")
        try write(BacktestReportPage.script, "report.js")
        try write(BacktestReportPage.style, "report.css")
        let assets =
            ProcessInfo.processInfo.environment["STOCKBOOM_ASSETS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ServeOptions.defaultAssetsDirectory()
        let library = folder + "/lightweight-charts.js"
        if let assets, FileManager.default.fileExists(atPath: assets + "/vendor/lightweight-charts.js") {
            try? FileManager.default.removeItem(atPath: library)
            try FileManager.default.copyItem(atPath: assets + "/vendor/lightweight-charts.js", toPath: library)
        } else {
            printError("report: the chart library is not installed (scripts/assets.sh): the page shows its tables only")
        }
    }
}

extension BacktestCommand {
    /// The candles of one timeframe recorded in an engine log, in time order (then by stock).
    func barsFromLog(_ path: String) throws -> DailyBarsCSV {
        let timeframe = Timeframe(text: self.timeframe)!  // checked in validate()
        let log = try EventLog(directory: path, readOnly: true)
        var bars: [Candle] = []
        var failure: EngineError?
        try log.scan(from: 0) { view in
            guard EventCodec.isEngineEvent(view.payload) else { return .continue }
            do {
                if case .candleClosed(let candle) = try EventCodec.decode(
                    view.payload,
                    offset: view.offset,
                    timestamp: view.timestamp
                ).event, candle.timeframe == timeframe {
                    bars.append(candle)
                }
            } catch let error as EngineError {
                failure = error
                return .stop
            } catch {
                preconditionFailure("EventCodec.decode throws EngineError only")
            }
            return .continue
        }
        if let failure { throw CommandFailure("\(path): \(failure.message)") }
        // A revised roll-up repeats its key: keep the last version of each (stock, start).
        var latest: [String: Candle] = [:]
        for bar in bars { latest["\(bar.stock)@\(bar.start)"] = bar }
        let sorted = latest.values.sorted { ($0.start, $0.stock) < ($1.start, $1.stock) }
        guard let first = sorted.first else { throw CommandFailure("\(path) has no \(timeframe) candles") }
        return DailyBarsCSV(stock: first.stock, name: "", bars: sorted)
    }
}

func printReport(_ report: BacktestReport, directory: String, seconds: Double, json: Bool, digest: String) {
    if json {
        print(
            Format.json([
                "strategy": report.strategy, "bars": report.bars, "events": Int(report.events), "fills": report.fills,
                "ordersByStatus": report.ordersByStatus, "rejectionsByReason": report.rejectionsByReason,
                "roundTrips": report.roundTrips, "winRatePercent": report.winRatePercent,
                "initialEquity": Int(report.initialEquity), "finalEquity": Int(report.finalEquity),
                "profit": Int(report.profit),
                "returnPercent": report.returnPercent, "realizedProfit": Int(report.realizedProfit),
                "commission": Int(report.commission), "tax": Int(report.tax),
                "maxDrawdownPercent": report.maxDrawdownPercent, "sharpeRatio": report.sharpeRatio,
                "log": directory, "equityCurve": directory + "/equity.csv", "seconds": seconds, "stateDigest": digest,
            ])
        )
        return
    }
    print(
        "backtest  \(report.strategy): \(report.bars) bars in \(String(format: "%.3f", seconds)) s (\(Format.number(Double(report.bars) / max(seconds, 1e-9))) bars/s), \(report.events) events"
    )
    print(
        "orders    "
            + report.ordersByStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            + "; \(report.fills) fills"
    )
    if !report.rejectionsByReason.isEmpty {
        print(
            "rejected  "
                + report.rejectionsByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(
                    separator: ", "
                )
        )
    }
    print("trades    \(report.roundTrips) round trips, win rate \(String(format: "%.1f", report.winRatePercent))%")
    print(
        "equity    \(report.initialEquity) → \(report.finalEquity) KRW (\(report.profit >= 0 ? "+" : "")\(report.profit), \(String(format: "%.2f", report.returnPercent))%); realized \(report.realizedProfit); commission \(report.commission), tax \(report.tax)"
    )
    print(
        "risk      max drawdown \(String(format: "%.2f", report.maxDrawdownPercent))%, Sharpe \(String(format: "%.2f", report.sharpeRatio)) (daily, annualised √252)"
    )
    print("log       \(directory) (equity curve: \(directory)/equity.csv; state digest \(digest.prefix(16))…)")
}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract:
            "Rebuild the engine's state as of any offset or time (snapshot + replay) and print the portfolios then."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option(help: "Replay events below this offset.") var toOffset: UInt64?
    @Option(help: "Replay events before this time (ISO 8601 or epoch µs).") var toTime: String?
    @Flag(help: "Ignore snapshots and replay from offset 0.") var noSnapshots = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let eventLog = try EventLog(directory: self.log.path, readOnly: true)
        var end = self.toOffset ?? eventLog.nextOffset
        if let text = self.toTime {
            guard let micros = Format.parseTime(text) else { throw ValidationError("cannot read --to-time \(text)") }
            end = min(end, try eventLog.offset(atOrAfterTimestamp: micros))
        }
        let started = monotonicNanos()
        let (state, report) = try EngineRuntime.recover(
            log: eventLog,
            snapshots: self.noSnapshots ? nil : SnapshotStore(logDirectory: self.log.path),
            toOffset: end
        )
        let seconds = Double(monotonicNanos() - started) / 1e9
        var accounts: [[String: Any]] = []
        for account in state.accounts.values.sorted(by: { $0.id < $1.id }) {
            let portfolio = state.portfolio(account.id)!  // the account exists: we iterate the accounts
            accounts.append([
                "account": account.id.description, "user": account.user.description,
                "broker": account.broker.description,
                "cash": Int(portfolio.cash), "reservedCash": Int(portfolio.reservedCash),
                "positions": portfolio.holdings.map { holding in
                    [
                        "stock": holding.stock.description, "quantity": Int(holding.quantity),
                        "averagePrice": Int(holding.averagePrice),
                        "lastPrice": Int(holding.lastPrice), "marketValue": Int(holding.marketValue),
                        "unrealizedProfit": Int(holding.unrealizedProfit),
                    ] as [String: Any]
                },
                "equity": Int(portfolio.equity), "realizedProfit": Int(portfolio.realizedProfit),
                "unrealizedProfit": Int(portfolio.unrealizedProfit),
                "commission": Int(portfolio.commissionPaid), "tax": Int(portfolio.taxPaid),
                "halted": account.haltReason as Any,
            ])
        }
        let statuses = state.ordersByStatus()
        if self.json {
            print(
                Format.json([
                    "toOffset": Int(end), "events": Int(state.eventCount),
                    "snapshotOffset": report.snapshotOffset.map { Int($0) } as Any,
                    "replayedEvents": Int(report.replayedEvents), "foreignRecords": Int(report.foreignRecords),
                    "seconds": seconds,
                    "accounts": accounts, "ordersByStatus": statuses, "anomalies": Int(state.anomalies),
                    "stateDigest": state.digest,
                ])
            )
            return
        }
        print(
            "state as of offset \(end) (\(state.eventCount) events; snapshot \(report.snapshotOffset.map(String.init) ?? "none") + \(report.replayedEvents) replayed in \(String(format: "%.3f", seconds)) s)"
        )
        for account in accounts {
            print(
                "\(account["account"]!) (\(account["broker"]!), \(account["user"]!)): cash \(account["cash"]!) KRW, reserved \(account["reservedCash"]!), equity \(account["equity"]!), realized \(account["realizedProfit"]!), unrealized \(account["unrealizedProfit"]!)"
            )
            for position in account["positions"] as? [[String: Any]] ?? [] {
                print(
                    "    \(position["stock"]!) \(position["quantity"]!) shares @ avg \(position["averagePrice"]!), last \(position["lastPrice"]!), unrealized \(position["unrealizedProfit"]!)"
                )
            }
        }
        print(
            "orders: " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + "; anomalies \(state.anomalies)"
        )
        if report.foreignRecords > 0 {
            print("note: \(report.foreignRecords) records are not engine events and were not applied")
        }
        print("state digest \(state.digest)")
    }
}

/// `stockboom rules check FILE`: strategies as data, checked before they are stored or run.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Rule sets (strategies as data): check one; store versions with POST /api/strategies/rules.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parse a rule set: what it reads and does, or its mistake with line and column (exit 1)."
        )
        @Argument(help: "The rule set file.") var file: String

        func run() throws {
            let rules = try RulesCommand.parse(try RulesCommand.read(self.file), path: self.file)
            print("indicators: \(rules.indicators.map(\.description).joined(separator: ", "))")
            print("exit rule: \(rules.exit == nil ? "none (exits by stop/target/trail only)" : "yes")")
            let exits = rules.exits
            for (name, bp) in [("stop", exits.stopLoss), ("target", exits.takeProfit), ("trail", exits.trail)] {
                if let bp { print("\(name): \(Double(bp) / 100)%") }
            }
            print("size: \(rules.sizing)")
        }
    }

    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)") }
        guard data.count <= RuleSet.maxBytes, let text = String(data: data, encoding: .utf8) else {
            throw CommandFailure("\(path): a rule set is UTF-8 text of at most \(RuleSet.maxBytes) bytes")
        }
        return text
    }

    static func parse(_ source: String, path: String) throws -> RuleSet {
        do { return try RuleSet(parsing: source) } catch { throw CommandFailure("\(path): \(error)") }
    }
}

/// `stockboom search`: a parameter grid, or walk-forward windows, of backtests on both cores.
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract:
            "Backtest every point of a parameter grid (or walk forward: choose in-sample, test out-of-sample), each run its own log; print the table and the best."
    )

    @OptionGroup var backtest: BacktestCommand
    @Option(
        help:
            "The grid: name=v1,v2,… or name=from..to[:step], axes separated by ';' (e.g. 'fast=3,5,8;slow=20..60:10')."
    )
    var grid: String
    @Option(help: "Rank runs by sharpe, return or drawdown.") var metric = "sharpe"
    @Option(
        help: "Walk forward: IN,OUT trading days (choose on IN days, test the best on the OUT days after; step OUT)."
    )
    var walkForward: String?
    @Option(help: "Backtests at a time (default: the machine's cores).") var workers: Int?

    func run() async throws {
        guard let metric = SearchMetric(rawValue: self.metric) else {
            throw ValidationError("--metric must be sharpe, return or drawdown")
        }
        let grid: ParameterGrid
        do { grid = try ParameterGrid(parsing: self.grid) } catch { throw ValidationError("--grid: \(error.message)") }
        let options = self.backtest
        let file = try options.loadRange()
        let calendar = try options.calendar(for: file)
        let template = try options.ruleTemplate()
        if let (_, rules) = template, rules.placeholders.isEmpty {
            throw ValidationError(
                "a grid varies a rule set's {placeholders}; this one has none (e.g. rsi_{n} < {level})"
            )
        }
        let strategy = template?.0 ?? options.strategy!  // validate() guarantees one
        let points = grid.points(base: options.params)
        // Every point is checked before any run (a bad value fails the search at once, not at run 57); a rule set's
        // point is its own rule set, parsed here once.
        var rulePoints: [String: @Sendable () -> any Strategy] = [:]
        for point in points {
            if let (name, rules) = template {
                do { rulePoints[point] = try options.ruleStrategy(rules, name: name, parameters: point) } catch {
                    throw ValidationError("grid point \(point): \(error)")
                }
                continue
            }
            do { _ = try StrategyFactory.make(name: strategy, parameters: point) } catch {
                throw ValidationError("grid point \(point): \(error.message)")
            }
        }
        let made = rulePoints
        let directory =
            options.dir
            ?? "var/searches/\(strategy.replacingOccurrences(of: ":", with: "-"))-\(Int(Date().timeIntervalSince1970))"
        let workers = max(1, self.workers ?? ProcessInfo.processInfo.activeProcessorCount)
        let name = file.name
        let build: ParameterSearch.Make = { (parameters, bars) throws(EngineError) in
            try options.backtester(
                strategy: strategy,
                parameters: parameters,
                bars: bars,
                name: name,
                calendar: calendar,
                make: made[parameters]
            )
        }
        let started = monotonicNanos()
        if let text = self.walkForward {
            let parts = text.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2, parts.allSatisfy({ (1...10_000).contains($0) }) else {
                throw ValidationError("--walk-forward must be IN,OUT days, e.g. 120,20")
            }
            let windows = try await ParameterSearch.walkForward(
                points: points,
                bars: file.bars,
                inDays: parts[0],
                outDays: parts[1],
                metric: metric,
                make: build,
                directory: directory,
                concurrency: workers
            )
            let seconds = Double(monotonicNanos() - started) / 1e9
            print(
                "walk-forward \(strategy): \(windows.count) windows × \(points.count) points, \(workers) workers, \(String(format: "%.1f", seconds)) s; logs under \(directory)"
            )
            print(
                "in-sample               out-of-sample           best parameters              in \(metric)   out return %  out drawdown %"
            )
            var compounded = 1.0
            for window in windows {
                let out = window.outOfSampleRun.report
                compounded *= 1 + out.returnPercent / 100
                print(
                    "\(KST.yyyymmdd(day: window.inSample.lowerBound))–\(KST.yyyymmdd(day: window.inSample.upperBound))  \(KST.yyyymmdd(day: window.outOfSample.lowerBound))–\(KST.yyyymmdd(day: window.outOfSample.upperBound))  \(window.best.parameters.padding(toLength: 28, withPad: " ", startingAt: 0))  \(String(format: "%8.2f", metric.score(window.best.report)))  \(String(format: "%12.2f", out.returnPercent))  \(String(format: "%14.2f", out.maxDrawdownPercent))"
                )
            }
            print("out-of-sample, compounded over the windows: \(String(format: "%.2f", (compounded - 1) * 100))%")
            return
        }
        let runs = try await ParameterSearch.grid(
            points: points,
            bars: file.bars,
            make: build,
            directory: directory,
            concurrency: workers
        )
        let seconds = Double(monotonicNanos() - started) / 1e9
        let ranked = runs.sorted { metric.score($0.report) > metric.score($1.report) }
        if options.json {
            print(
                Format.json([
                    "strategy": strategy, "points": runs.count, "workers": workers, "seconds": seconds,
                    "metric": metric.rawValue, "directory": directory,
                    "runs": ranked.map { run -> [String: Any] in
                        [
                            "parameters": run.parameters, "returnPercent": run.report.returnPercent,
                            "maxDrawdownPercent": run.report.maxDrawdownPercent, "sharpeRatio": run.report.sharpeRatio,
                            "roundTrips": run.report.roundTrips, "winRatePercent": run.report.winRatePercent,
                            "fills": run.report.fills, "log": run.directory ?? "", "stateDigest": run.digest,
                        ]
                    },
                ])
            )
            return
        }
        let bars = runs.reduce(0) { $0 + $1.report.bars }
        print(
            "search \(strategy): \(runs.count) points × \(file.bars.count) bars, \(workers) workers: \(String(format: "%.1f", seconds)) s (\(Format.number(Double(bars) / max(seconds, 1e-9))) bars/s); logs under \(directory)"
        )
        print("rank  parameters                      return %  drawdown %  sharpe  trips  win %  log")
        for (rank, run) in ranked.prefix(20).enumerated() {
            let r = run.report
            print(
                "\(String(format: "%4d", rank + 1))  \(run.parameters.padding(toLength: 30, withPad: " ", startingAt: 0))  \(String(format: "%8.2f", r.returnPercent))  \(String(format: "%10.2f", r.maxDrawdownPercent))  \(String(format: "%6.2f", r.sharpeRatio))  \(String(format: "%5d", r.roundTrips))  \(String(format: "%5.1f", r.winRatePercent))  \(run.directory ?? "")"
            )
        }
        if let best = ranked.first { print("best by \(metric.rawValue): \(best.parameters)") }
    }
}
