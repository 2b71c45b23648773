import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Engine
@testable import Ledger
@testable import Projections

/// Values an attacker, a broken broker or an old bug would send: the edges of Int64 and of the engine's bounds,
/// and text PostgreSQL, a page or a terminal may take badly.
enum Hostile {
    static let integers: [Int64] = [
        .min, .min + 1, -1_000_000_000_000_000_000, -1, 0, 1, 2, 99, Bounds.maxPrice, Bounds.maxPrice + 1,
        Bounds.maxQuantity,
        Bounds.maxQuantity + 1, Bounds.maxVolume + 1, Bounds.maxAmount, Bounds.maxAmount + 1, 1 << 31, 1 << 62,
        (1 << 62) + 1,
        1_000_000_000_000_000_000, .max - 1, .max,
    ]
    static let texts: [String] = [
        "", "\0", "a\0b", "trader\0@example.com", "\u{202E}moc.elgoog@evil", "x\ny", "x\r\ny", "\t", "\u{7F}", "\u{85}",
        "\u{2028}", "\u{FEFF}bom",
        "'; DROP TABLE users; --", "\\", "\\N", "<script>alert(1)</script>", "\u{1F600}", "가나다",
        String(repeating: "가", count: 5_000),
        "a\u{0301}", "\u{FFFD}", "event: fake\ndata: {}\n\n", "fast=9223372036854775807,slow=-9223372036854775808",
        "period=0,oversold=-1e308",
        "fast=1,slow=1", "rsi-reversion", "ma-cross",
    ]

    static func integer(_ random: inout SeededRandom) -> Int64 { Self.integers[random.below(Self.integers.count)] }
    static func text(_ random: inout SeededRandom) -> String { Self.texts[random.below(Self.texts.count)] }
}

extension SeededRandom {
    mutating func below(_ bound: Int) -> Int { Int(self.next() % UInt64(bound)) }
    mutating func chance(_ oneIn: Int) -> Bool { self.below(oneIn) == 0 }
}

/// Puts a hostile value into one field of a command. The switch is exhaustive: a new command must say here
/// what its fields can be given.
func mutate(_ command: Command, _ r: inout SeededRandom) -> Command {
    func i() -> Int64 { Hostile.integer(&r) }
    func t() -> String { Hostile.text(&r) }
    let which = r.below(4)
    switch command {
    case .listStock(let code, let name, let market, let close):
        return .listStock(
            code: code,
            name: which == 0 ? t() : name,
            market: which == 1 ? t() : market,
            previousClose: which >= 2 ? i() : close
        )
    case .registerUser:
        return .registerUser(email: t())
    case .registerAccount(let user, let broker, let number, let limit, let cash):
        return .registerAccount(
            user: user,
            broker: broker,
            accountNumber: which == 0 ? t() : number,
            dailyOrderLimit: which == 1 ? i() : limit,
            initialCash: which >= 2 ? i() : cash
        )
    case .adjustCash(let account, let amount, let expected, let reason):
        return .adjustCash(
            account: account,
            amount: which < 2 ? i() : amount,
            expectedCash: which == 2 ? i() : expected,
            reason: which == 3 ? t() : reason
        )
    case .depositCash(let account, let amount, let expected):
        return .depositCash(
            account: account,
            amount: which < 3 ? i() : amount,
            expectedCash: which == 3 ? i() : expected
        )
    case .placeOrder(var order):
        switch which {
        case 0: order.quantity = i()
        case 1: order.price = i()
        case 2: order.clientOrderID = t()
        case 3 where r.chance(2):
            // A strategy's order: its bar at any instant (the stale-bar guard's arithmetic), any text.
            order.signal = StrategySignal(
                strategy: r.chance(2) ? "ma-cross" : t(),
                reason: t(),
                barStart: i(),
                timeframe: r.chance(2) ? .minute1 : .day1
            )
            order.source = .strategy
        default:
            order.quantity = i()
            order.price = i()
        }
        return .placeOrder(order)
    case .cancelOrder, .recordSubmitted, .recordExpired, .recordCancelled, .expireDayOrders, .expireToken,
        .closeAccount, .markNotificationRead:
        // Now and then an erasure instead, of any id (Int64's edges as bit patterns): refused, or the person
        // is erased and nothing more is recorded for them.
        return r.chance(8)
            ? .eraseUser(UserID(value: r.chance(2) ? UInt64(bitPattern: i()) : UInt64(r.below(4) + 1))) : command
    case .eraseUser:
        return .eraseUser(UserID(value: UInt64(bitPattern: i())))
    case .resumeAccount(let account, let user, _):
        return .resumeAccount(account, user: which == 0 ? UserID(value: UInt64(bitPattern: i())) : user, agreement: t())
    case .grantOperator(let user, _):
        return .grantOperator(which == 0 ? UserID(value: UInt64(bitPattern: i())) : user, by: t())
    case .revokeOperator(let user, _):
        return .revokeOperator(user, by: t())
    case .armTrigger(var request):
        switch r.below(5) {
        case 0: request.quantity = i()
        case 1: request.triggerPrice = i()
        case 2: request.trailBasisPoints = i()
        case 3: request.offsetBasisPoints = i()
        default:
            request.limitPrice = i()
            request.group = t()
        }
        return .armTrigger(request)
    case .cancelTrigger(let id, let user):
        // Another user's (or no user's) id: refused as not found.
        return .cancelTrigger(id, user: which == 0 ? user : UserID(value: UInt64(bitPattern: i())))
    case .recordQuote(let stock, let price, let at):
        // A stock nobody listed, a price past the bounds or negative, a time far out.
        switch which {
        case 0: return .recordQuote(stock: StockCode("999999")!, price: price, at: at)
        case 1: return .recordQuote(stock: stock, price: i(), at: at)
        default: return .recordQuote(stock: stock, price: price, at: i())
        }
    case .setStockStatus(let stock, let status, _):
        // A stock nobody listed, or a reason made of control characters and markup.
        let other = StockTradingStatus(rawValue: (status.rawValue + 1) % 3)!
        return .setStockStatus(stock: which == 0 ? StockCode("999999")! : stock, status: other, reason: t())
    case .haltTrading(let by, _):
        return .haltTrading(by: which == 0 ? UserID(value: UInt64(bitPattern: i())) : by, reason: t())
    case .resumeTrading(let by, _):
        return .resumeTrading(by: by, reason: t())
    case .killSwitch(let account, let user):
        // Another user's (or no user's) id: refused as not found, the owner's account untouched.
        return .killSwitch(account, user: which == 0 ? user : UserID(value: UInt64(bitPattern: i())))
    case .recordResending(let id, _):
        return .recordResending(id, lastSend: i())
    case .recordAccepted(let id, _, _):
        return .recordAccepted(id, brokerOrderNumber: t(), organization: r.chance(2) ? t() : "")
    case .recordBrokerRejected(let id, let reason, _):
        return .recordBrokerRejected(id, reason: reason, message: t())
    case .recordFill(let id, let quantity, let price, let fillID):
        return .recordFill(
            id,
            quantity: which == 0 ? i() : quantity,
            price: which == 1 ? i() : price,
            fillID: which == 2 ? t() : fillID
        )
    case .recordFailed(let id, let reason, _):
        return .recordFailed(id, reason: reason, message: t())
    case .ingestCandle(var candle):
        switch which {
        case 0: candle.volume = r.chance(2) ? 1 << 62 : i()
        case 1:
            candle.close = i()
            candle.high = max(candle.high, candle.close)
            candle.open = candle.close
        case 2: candle.start = i()
        default:
            let price = i()
            (candle.open, candle.high, candle.low, candle.close) = (price, price, price, price)
        }
        return .ingestCandle(candle)
    case .issueToken(let account, _):
        return .issueToken(account: account, expiresAt: i())
    case .enableStrategy(let account, let stock, let strategy, let parameters):
        return .enableStrategy(
            account: account,
            stock: stock,
            strategy: which == 0 ? t() : strategy,
            parameters: which == 0 ? parameters : t()
        )
    case .disableStrategy(let account, let stock, _):
        return .disableStrategy(account: account, stock: stock, strategy: t())
    case .defineStrategy(let user, let name, let source):
        switch which {
        case 0: return .defineStrategy(user: user, name: t(), source: source)
        case 1: return .defineStrategy(user: user, name: name, source: t())
        default:
            // A rule set that parses around a hostile number or name.
            return .defineStrategy(user: user, name: name, source: "entry: close > \(i())\nsize: \(i()) shares")
        }
    case .recordSignal(var signal), .recordSkipped(var signal):
        if r.chance(3) {
            // The generator makes no rule sets: a signal's turn stores one, hostile in one of its parts.
            let rules = Command.defineStrategy(
                user: UserID(value: UInt64(r.below(3) + 1)),
                name: "dip",
                source: "entry: rsi_14 < 30"
            )
            return mutate(rules, &r)
        }
        switch which {
        case 0: signal.strategy = t()
        case 1: signal.key = t()
        default: signal.reason = t()
        }
        return r.chance(2) ? .recordSkipped(signal) : .recordSignal(signal)
    case .recordIndicators(var values):
        if !values.isEmpty { values[0].name = t() }
        return .recordIndicators(values)
    case .notify(let user, let kind, let title, let message):
        return .notify(
            user: user,
            kind: which == 0 ? t() : kind,
            title: which == 1 ? t() : title,
            message: which >= 2 ? t() : message
        )
    case .recordNotificationSent(let id, let channel, _):
        return .recordNotificationSent(id, channel: which == 0 ? t() : channel, detail: t())
    case .recordNotificationFailed(let id, let channel, let detail):
        return .recordNotificationFailed(id, channel: which == 0 ? t() : channel, detail: which == 0 ? detail : t())
    case .haltAccount(let account, _):
        return .haltAccount(account, reason: t())
    }
}

/// Hostile values through the whole write and read path: decide → apply → every projection in a real
/// PostgreSQL → replay, and the views people read. The process must stay alive (a trap ends the test run),
/// every read model must reach the log's head with no recorded failure, a rebuild must give the same
/// tables, and replay must give the live state's digest.
@Suite(.serialized) struct HostileInputPropertyTests {
    @Test func hostileCommandsAreRefusedOrRecordedAndEverythingStaysProjectable() async throws {
        let url = try freshDatabase("hostile_property")
        let directory = TemporaryDirectory("hostile-property")
        var configuration = LogConfiguration()
        configuration.durability = .none
        let log = try EventLog(directory: directory.path, configuration: configuration)
        let runtime = try EngineRuntime(log: log, engine: Engine(), snapshotEveryEvents: 700)
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        let seed = UInt64(ProcessInfo.processInfo.environment["STOCKBOOM_HOSTILE_SEED"] ?? "") ?? 17
        let commands = Int(ProcessInfo.processInfo.environment["STOCKBOOM_HOSTILE_COMMANDS"] ?? "") ?? 4_000
        var generator = CommandGenerator(seed: seed, stocks: 8, accounts: 6)
        var random = SeededRandom(seed: seed)
        var (mutated, refused, recorded) = (0, 0, 0)
        for index in 0..<commands {
            var (command, context) = generator.next(state: runtime.state)
            // Now and then KRX halts a stock, interrupts it (VI) or resumes it (orders for a halted one are
            // refused; the triggers of either wait).
            if index > 40, index % 37 == 0, let stock = runtime.state.stocks.keys.sorted().first {
                let status = StockTradingStatus(rawValue: UInt8(index / 37 % 3))!
                command = .setStockStatus(stock: stock, status: status, reason: "거래정지")
            }
            // Now and then a quote 3 % under a stock's last close, between its bars (stops may fire on it).
            if index > 40, index % 11 == 0,
                let stock = runtime.state.armedTriggers.keys.sorted().first ?? runtime.state.stocks.keys.sorted().last,
                let close = runtime.state.stocks[stock]?.marketData.lastClose, close > 0
            {
                command = .recordQuote(stock: stock, price: max(1, close * 97 / 100), at: context.time)
            }
            // Half of the commands after set-up carry a hostile value; the rest keep the state interesting.
            if index > 40, random.chance(2) {
                command = mutate(command, &random)
                mutated += 1
            }
            do {
                let execution = try await runtime.execute(command, context: context)
                if !execution.decision.events.isEmpty { recorded += 1 }
            } catch is EngineError {
                refused += 1
            }
            if index % 500 == 499 { try blockingCatchUp(runner) }
            // What people read, for every account: valued at the last prices, never a trap.
            if index % 250 == 0 {
                for account in runtime.state.accounts.keys { _ = runtime.state.portfolio(account)?.equity }
            }
        }
        try blockingCatchUp(runner)
        let statuses = try runner.status()
        #expect(statuses.allSatisfy { $0.lag == 0 && $0.failure == nil }, "every read model at the head: \(statuses)")
        // Replay from offset 0 (no snapshots) and from the snapshots: the live state exactly.
        let live = runtime.state.digest
        let (fromZero, _) = try EngineRuntime.recover(log: log, snapshots: nil, toOffset: nil)
        let (fromSnapshots, _) = try EngineRuntime.recover(
            log: log,
            snapshots: SnapshotStore(logDirectory: log.directory),
            toOffset: nil
        )
        #expect(fromZero.digest == live && fromSnapshots.digest == live)
        // A rebuild of each model reaches the head again, with the same rows.
        let before = try tableDigests(runner.database)
        for name in runner.names { _ = try runner.rebuild(name, retention: nil) }
        #expect(try tableDigests(runner.database) == before, "rebuilt tables equal the live ones")
        #expect(try runner.status().allSatisfy { $0.lag == 0 && $0.failure == nil })
        print(
            "hostile property: \(commands) commands, \(mutated) with a hostile value, \(refused) refused, \(recorded) recorded, \(log.nextOffset) events; traps 0, stuck projections 0"
        )
        #expect(
            mutated > commands / 3 && refused > mutated / 4 && recorded > commands / 4,
            "the run exercised both refusals and records"
        )
        await runtime.close()
        log.close()
    }

    /// A log written before the engine had bounds: such events are in logs for ever, so they must apply,
    /// project, rebuild and be read without trapping (they are appended here past `decide`, as an older
    /// release recorded them).
    @Test func eventsOutsideTheBoundsFromAnOlderLogStillApplyProjectAndRead() async throws {
        let url = try freshDatabase("hostile_old_log")
        let directory = TemporaryDirectory("hostile-old-log")
        let log = try EventLog(directory: directory.path)
        let stock = StockCode("005930")!
        let day = KST.day(yyyymmdd: "20250106")!
        let nine = KST.instant(day: day, hour: 9)
        let account = AccountID(value: 1)
        let user = UserID(value: 1)
        let order = OrderID(value: 1)
        let events: [DomainEvent] = [
            .stockListed(StockListed(stock: stock, name: "삼성\0전자", market: "KOSPI", previousClose: 55_000)),
            .userRegistered(UserRegistered(user: user, email: "nul\0@example.com")),
            .brokerAccountRegistered(
                BrokerAccountRegistered(
                    account: account,
                    user: user,
                    broker: .simulated,
                    maskedAccountNumber: "****\01234",
                    dailyOrderLimit: 10
                )
            ),
            .cashDeposited(CashDeposited(account: account, amount: .max - 10)),
            .cashDeposited(CashDeposited(account: account, amount: .max - 10)),
            .orderRequested(
                OrderRequested(
                    order: order,
                    account: account,
                    stock: stock,
                    side: .buy,
                    type: .limit,
                    quantity: 1 << 40,
                    price: 1 << 40,
                    source: .user,
                    clientOrderID: "c\0"
                )
            ),
            .orderAccepted(OrderAccepted(order: order, brokerOrderNumber: "7\07")),
            .orderPartiallyFilled(
                OrderFill(order: order, quantity: 1 << 40, price: 1 << 40, commission: 0, tax: 0, fillID: "f\0")
            ),
            .candleClosed(
                Candle(
                    stock: stock,
                    timeframe: .minute1,
                    start: nine,
                    open: 1_000_000_000_000_000_000,
                    high: 1_000_000_000_000_000_000,
                    low: 1_000_000_000_000_000_000,
                    close: 1_000_000_000_000_000_000,
                    volume: 1 << 62
                )
            ),
            .candleClosed(
                Candle(
                    stock: stock,
                    timeframe: .minute1,
                    start: nine + KST.minuteMicros,
                    open: 1,
                    high: 1,
                    low: 1,
                    close: 1,
                    volume: 1 << 62
                )
            ),
            .candleClosed(
                Candle(
                    stock: stock,
                    timeframe: .minute1,
                    start: nine + 2 * KST.minuteMicros,
                    open: 1,
                    high: 1,
                    low: 1,
                    close: .max,
                    volume: .max
                )
            ),
            .notificationCreated(
                NotificationCreated(
                    notification: NotificationID(value: 1),
                    user: user,
                    kind: "K\0",
                    title: "t\0",
                    message: "line\nbreak\0"
                )
            ),
            .accountHalted(AccountHalted(account: account, reason: "why\0")),
        ]
        for (index, event) in events.enumerated() {
            _ = try await log.append(
                EventCodec.encode(EventEnvelope(timestamp: nine + Int64(index) * 1_000_000, event: event))
            )
        }
        // Apply (replay), read, decide on top of it.
        let (state, _) = try EngineRuntime.recover(log: log, snapshots: nil, toOffset: nil)
        let portfolio = try #require(state.portfolio(account))
        _ = (portfolio.equity, portfolio.marketValue, portfolio.unrealizedProfit)
        _ = state.stocks[stock]?.marketData.priceLimits
        let runtime = try EngineRuntime(log: log, engine: Engine())
        let buy = PlaceOrder(account: account, stock: stock, side: .buy, type: .market, quantity: 10, price: 0)
        _ = try? await runtime.execute(.placeOrder(buy), context: CommandContext(time: nine + 3 * KST.minuteMicros))
        _ = try? await runtime.execute(
            .ingestCandle(
                Candle(
                    stock: stock,
                    timeframe: .minute1,
                    start: nine + 3 * KST.minuteMicros,
                    open: 1,
                    high: 1,
                    low: 1,
                    close: 1,
                    volume: 1 << 62
                )
            ),
            context: CommandContext(time: nine + 4 * KST.minuteMicros)
        )
        await runtime.close()
        // Project: every model reaches the head; text with NUL is stored with U+FFFD instead.
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        try runner.catchUp()
        #expect(try runner.status().allSatisfy { $0.lag == 0 && $0.failure == nil })
        let email = try runner.database.query("SELECT email FROM users WHERE id = $1", [user.description]).rows.first?[
            0
        ]
        #expect(email == "nul\u{FFFD}@example.com")
        for name in runner.names { _ = try runner.rebuild(name, retention: nil) }
        #expect(try runner.status().allSatisfy { $0.lag == 0 && $0.failure == nil })
        log.close()
    }
}

private func blockingCatchUp(_ runner: ProjectionRunner) throws { try runner.catchUp() }

/// Every read-model table's row count and MD5 of its rows in key order.
func tableDigests(_ database: PostgresConnection) throws -> [String: String] {
    var digests: [String: String] = [:]
    for (table, order) in [
        ("users", "id"), ("broker_accounts", "id"), ("positions", "broker_account_id, stock_id"), ("trades", "id"),
        ("order_events", "\"offset\""),
        ("notifications", "id"), ("stocks", "id"), ("candles", "stock_id, timeframe, \"timestamp\""),
        ("indicators", "stock_id, timeframe, \"timestamp\", name"),
    ] {
        let row = try database.query(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY \(order)), '')) FROM \(table) t"
        ).rows.first
        digests[table] = "\(row?[0] ?? "") \(row?[1] ?? "")"
    }
    return digests
}
