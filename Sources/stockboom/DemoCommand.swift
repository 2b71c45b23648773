import ArgumentParser
import Engine
import Foundation
import Ledger
import Projections

/// The main job: one simulated KRX session through the live engine, on a fresh durable log.
///
/// Users and accounts are registered, strategies trade generated one-minute data through the same risk
/// checks as people, the simulated exchange fills, one order is rejected for each risk reason, and at the
/// end the log is verified, replayed (the digest must equal the live state's) and snapshotted.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a simulated trading day through the engine on a fresh log, verify it, replay it, and print what happened."
    )

    @Option(help: "Directory for the demo's log (replaced on each run).") var dir = "var/demo/eventlog"
    @Option(help: "Number of simulated stocks.") var stocks = 300
    @Option(help: "Seed of the deterministic market simulation.") var seed: UInt64 = 7
    @Option(help: "PostgreSQL for the read models (default $DATABASE_URL; skipped when neither is set).") var databaseURL: String?

    func run() async throws {
        try? FileManager.default.removeItem(atPath: self.dir)
        let eventLog = try EventLog(directory: self.dir)
        let day = KST.day(year: 2025, month: 1, day: 3)
        let engine = Engine(calendar: try loadCalendar())
        let runtime = try EngineRuntime(log: eventLog, engine: engine, snapshotEveryEvents: 50_000)
        print("StockBoom demo: one simulated KRX session (\(ISOTime.kst(KST.instant(day: day, hour: 9)).prefix(10)), \(self.stocks) stocks, seed \(self.seed))")
        print("log: \(self.dir)")
        let started = monotonicNanos()
        var driver = try await DemoDriver(runtime: runtime, stocks: self.stocks, seed: self.seed, day: day)
        try await driver.rejectOncePerReason()
        for minute in 0..<Int64(381) {
            try await driver.minute(minute)
            if minute % 60 == 59 || minute == 380 {
                let clock = 9 * 60 + minute
                print(String(format: "  %02lld:%02lld KST  %8llu events  %6d orders  %6d fills", clock / 60, clock % 60, runtime.nextOffset, runtime.state.orders.count, driver.fills))
            }
        }
        try await driver.closeSession()
        let seconds = Double(monotonicNanos() - started) / 1e9
        let live = runtime.state
        await runtime.close()
        eventLog.close()
        try self.summarize(live, seconds: seconds, statistics: eventLog.statistics)
    }

    private func summarize(_ live: EngineState, seconds: Double, statistics: LogStatistics.Values) throws {
        let verified = try LogVerifier.verify(directory: self.dir)
        guard verified.isValid else { throw CommandFailure("verify failed: \(verified.firstError?.description ?? "?")") }
        let reader = try EventLog(directory: self.dir, readOnly: true)
        let replayStarted = monotonicNanos()
        let (replayed, _) = try EngineRuntime.recover(log: reader, snapshots: nil, toOffset: nil)
        let replaySeconds = Double(monotonicNanos() - replayStarted) / 1e9
        let (fromSnapshot, report) = try EngineRuntime.recover(log: reader, snapshots: SnapshotStore(logDirectory: self.dir), toOffset: nil)
        guard replayed.digest == live.digest, fromSnapshot.digest == live.digest else {
            throw CommandFailure("replayed state differs from the live state")
        }
        var statuses: [String: Int] = [:]
        var reasons: [String: Int] = [:]
        for order in live.orders.values {
            statuses[order.status.description, default: 0] += 1
            if order.status == .rejected, let reason = order.failureReason { reasons[reason.rawValue, default: 0] += 1 }
        }
        print("")
        print("wrote     \(verified.records) events in \(String(format: "%.2f", seconds)) s (\(Format.number(Double(verified.records) / seconds)) events/s), \(statistics.commits) durable group commits (fdatasync each)")
        print("on disk   \(Format.bytes(verified.segmentBytes)) in \(verified.segments) segment(s), \(String(format: "%.1f", Double(verified.segmentBytes) / Double(max(verified.records, 1)))) bytes/event; hash chain verified, head \(verified.headHash.prefix(16))…")
        print("orders    " + statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print("rejected  " + reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        for account in live.accounts.values.sorted(by: { $0.id < $1.id }) {
            let value = account.positions.reduce(Int64(0)) { $0 + $1.value.quantity * (live.stocks[$1.key]?.marketData.lastClose ?? 0) }
            let equity = account.cash + value
            print("account   \(account.id) \(account.broker.description.padding(toLength: 9, withPad: " ", startingAt: 0)) equity \(equity) KRW (realized \(account.realizedProfit), fees \(account.commissionPaid), tax \(account.taxPaid), \(account.positions.count) positions)")
        }
        print("notified  \(live.notifications.count) notifications")
        print("replayed  \(replayed.eventCount) events in \(String(format: "%.3f", replaySeconds)) s; digest equals the live state's (snapshot at \(report.snapshotOffset.map(String.init) ?? "-") + tail too)")
        if let url = self.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty {
            let runner = try ProjectionRunner(log: reader, connect: { try PostgresConnection(url: url) })
            let started = monotonicNanos()
            var applied: UInt64 = 0
            // The demo's session is dated 2025-01-03: keep its rows although they are past the guide's retention.
            for name in runner.names { applied += try runner.rebuild(name, retention: nil) }
            let trades = try runner.database.query("SELECT count(*) FROM trades").rows[0][0] ?? "0"
            let candles = try runner.database.query("SELECT count(*) FROM candles").rows[0][0] ?? "0"
            print("read models: \(applied / UInt64(max(1, runner.names.count))) events projected into \(runner.names.count) PostgreSQL read models in \(String(format: "%.2f", Double(monotonicNanos() - started) / 1e9)) s (\(trades) trades, \(candles) candles), lag 0")
            print("             psql \"\(url)\" -c \"SELECT id, stock_id, order_side, quantity, status, failure_reason, created_at FROM trades WHERE status IN ('REJECTED', 'FAILED') ORDER BY created_at DESC LIMIT 20;\"")
        } else {
            print("read models: skipped (no DATABASE_URL; make demo starts a throwaway PostgreSQL)")
        }
        print("")
        print("look:     .build/debug/stockboom log inspect --dir \(self.dir)")
        print("          .build/debug/stockboom log dump --dir \(self.dir) --since 2025-01-03T09:30:00+09:00 --limit 5")
        print("          .build/debug/stockboom replay --dir \(self.dir) --to-time 2025-01-03T12:00:00+09:00")
    }
}

/// Drives the demo's session: listings, accounts, strategies, the exchange, and the commands each minute.
struct DemoDriver {
    let runtime: EngineRuntime
    let day: Int64
    var exchange = SimulatedExchange(configuration: .init(participationPercent: 10, slippageTicks: 1, fillTimeframe: .minute1))
    var listings: [(code: StockCode, name: String, previousClose: Int64)]
    var bars: [Candle]
    var strategies: [(account: AccountID, slot: Int, strategy: any Strategy)] = []
    var signals: [(account: AccountID, stock: StockCode, signal: StrategySignal)] = []
    var fills = 0
    let traders: [AccountID]

    init(runtime: EngineRuntime, stocks: Int, seed: UInt64, day: Int64) async throws {
        self.runtime = runtime
        self.day = day
        (self.listings, self.bars) = GeneratedDay.make(stocks: stocks, day: day, seed: seed)
        let setup = CommandContext(time: KST.instant(day: day, hour: 8, minute: 30), correlationID: "demo-setup")
        try await Self.concurrently(runtime, self.listings.map { .listStock(code: $0.code, name: $0.name, market: "KOSPI", previousClose: $0.previousClose) }, setup)
        var traders: [AccountID] = []
        for (index, email) in ["minji@example.com", "junho@example.com", "seoyeon@example.com"].enumerated() {
            let user = UserID(value: try await runtime.execute(.registerUser(email: email), context: setup).decision.created!)  // registration returns its id
            let account = AccountID(value: try await runtime.execute(.registerAccount(user: user, broker: .simulated, accountNumber: "5012345\(index)01", dailyOrderLimit: 5_000), context: setup).decision.created!)
            _ = try await runtime.execute(.depositCash(account: account, amount: 1_000_000_000), context: setup)
            traders.append(account)
            let name = index == 1 ? "rsi-reversion" : "ma-cross"
            let parameters = index == 1 ? "period=14,oversold=35,overbought=65,quantity=5" : "fast=5,slow=20,quantity=10"
            for slot in stride(from: index, to: self.listings.count, by: 3) {
                _ = try await runtime.execute(.enableStrategy(account: account, stock: self.listings[slot].code, strategy: name, parameters: parameters), context: setup)
                self.strategies.append((account, slot, try StrategyFactory.make(name: name, parameters: parameters)))
            }
        }
        self.traders = traders
    }

    /// Runs commands concurrently so the runtime group-commits them.
    static func concurrently(_ runtime: EngineRuntime, _ commands: [Command], _ context: CommandContext) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for command in commands { group.addTask { _ = try await runtime.execute(command, context: context) } }
            try await group.waitForAll()
        }
    }

    /// One order refused for each risk reason, so the operator's failure table can be seen at work.
    mutating func rejectOncePerReason() async throws {
        let setup = CommandContext(time: KST.instant(day: self.day, hour: 8, minute: 40), correlationID: "demo-risk")
        let open = CommandContext(time: KST.instant(day: self.day, hour: 9, minute: 0), correlationID: "demo-risk")
        let user = UserID(value: try await self.runtime.execute(.registerUser(email: "risk-demo@example.com"), context: setup).decision.created!)
        let kis = AccountID(value: try await self.runtime.execute(.registerAccount(user: user, broker: .kisPaper, accountNumber: "50123456-01", dailyOrderLimit: 2), context: setup).decision.created!)
        _ = try await self.runtime.execute(.depositCash(account: kis, amount: 1_000_000), context: setup)
        let stock = self.listings[0]
        let band = KRXPriceRules.priceLimits(basePrice: stock.previousClose)
        let tick = KRXPriceRules.tickSize(at: stock.previousClose)
        func order(_ side: OrderSide, _ quantity: Int64, _ price: Int64) -> Command {
            .placeOrder(PlaceOrder(account: kis, stock: stock.code, side: side, quantity: quantity, price: price))
        }
        _ = try await self.runtime.execute(order(.buy, 1, stock.previousClose), context: open)  // TOKEN_EXPIRED: no token yet
        _ = try await self.runtime.execute(.issueToken(account: kis, expiresAt: KST.instant(day: self.day + 1, hour: 9)), context: setup)
        _ = try await self.runtime.execute(order(.buy, 1, stock.previousClose), context: setup)  // MARKET_CLOSED: 08:40
        _ = try await self.runtime.execute(order(.buy, 1, band.upperBound + tick * 10), context: open)  // PRICE_OUT_OF_RANGE
        if tick > 1 { _ = try await self.runtime.execute(order(.buy, 1, stock.previousClose + 1), context: open) }  // PRICE_NOT_ON_TICK
        _ = try await self.runtime.execute(order(.buy, 1_000_000, stock.previousClose), context: open)  // INSUFFICIENT_BALANCE
        _ = try await self.runtime.execute(order(.sell, 5, stock.previousClose), context: open)  // INSUFFICIENT_SHARES
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // passes (1 of 2 today)
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // passes (2 of 2)
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // DAILY_LIMIT_EXCEEDED
        _ = try await self.runtime.execute(.haltAccount(kis, reason: "demo: reconciliation mismatch"), context: open)
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // ACCOUNT_HALTED
    }

    /// One session minute: signals become orders, the exchange fills, candles are ingested, strategies run.
    mutating func minute(_ minute: Int64) async throws {
        let start = KST.instant(day: self.day, hour: 9) + minute * KST.minuteMicros
        let context = CommandContext(time: start, correlationID: "minute-\(minute)")
        // 1. Last minute's signals become orders (through the risk checks), sent to the exchange.
        for (account, stock, signal) in self.signals {
            let place = PlaceOrder(account: account, stock: stock, side: signal.side, type: .market, quantity: signal.quantity, price: 0, source: .strategy)
            guard let id = try? await self.runtime.execute(.placeOrder(place), context: context).decision.order,
                let order = self.runtime.state.orders[id], order.status == .pending
            else { continue }
            _ = try await self.runtime.execute(.recordSubmitted(id), context: context)
            let number = try self.exchange.submit(BrokerOrderRequest(order), at: start)
            _ = try await self.runtime.execute(.recordAccepted(id, brokerOrderNumber: number), context: context)
        }
        self.signals.removeAll()
        // 2. This minute's bars: fills first (orders were working during the minute), then the candles.
        let bars = self.bars[(Int(minute) * self.listings.count)..<(Int(minute + 1) * self.listings.count)]
        var fillCommands: [Command] = []
        for bar in bars {
            for fill in self.exchange.onCandle(bar) { fillCommands.append(.recordFill(fill.order, quantity: fill.quantity, price: fill.price, fillID: fill.fillID)) }
        }
        self.fills += fillCommands.count
        try await Self.concurrently(self.runtime, fillCommands, CommandContext(time: start + 30_000_000, correlationID: "fills-\(minute)"))
        try await Self.concurrently(self.runtime, bars.map { .ingestCandle($0) }, CommandContext(time: start + KST.minuteMicros, correlationID: "candles-\(minute)"))
        // 3. Strategies see the closed bars.
        let state = self.runtime.state
        for index in self.strategies.indices {
            let bar = bars[bars.startIndex + self.strategies[index].slot]
            let account = self.strategies[index].account
            let held = state.accounts[account]?.positions[bar.stock]?.sellable ?? 0
            if let signal = self.strategies[index].strategy.onBar(bar, position: held) {
                self.signals.append((account, bar.stock, signal))
                let event = SignalGenerated(account: account, stock: bar.stock, strategy: self.strategies[index].strategy.name, side: signal.side, reason: signal.reason)
                _ = try await self.runtime.execute(.recordSignal(event), context: CommandContext(time: start + KST.minuteMicros, correlationID: "strategy"))
            }
        }
    }

    /// The close: day orders still working expire.
    mutating func closeSession() async throws {
        let close = KST.instant(day: self.day, hour: 15, minute: 30)
        _ = self.exchange.expire(at: close)
        _ = try await self.runtime.execute(.expireDayOrders, context: CommandContext(time: close, correlationID: "session-close"))
    }
}
