import ArgumentParser
import Assembly
import AsyncHTTPClient
import Engine
import Foundation
import Gateway
import Hummingbird
import Jobs
import Ledger
import Logging
import NIOCore
import NIOHTTP1
import Projections
import Runtime
import ServiceLifecycle
import Simulation
import Storage
import Synchronization
import Worker

/// The main job: one simulated KRX session through the whole system, time compressed.
///
/// In one process, as `serve` and `worker` run them in production: the engine on a fresh durable log, the
/// PostgreSQL read models following it, the job dispatcher filling the Redis queues, the HTTP gateway on
/// :3001 (dashboard and API), and the worker's consumers — data analysis runs the strategies on each closed
/// bar and places their orders through the API's worker routes, notifications go out by e-mail to the local
/// SMTP sink. The demo itself plays the market: the data feed (generated one-minute bars) and the simulated
/// exchange that fills the SIMULATED accounts' orders. Users, accounts and strategies are created through
/// the public API; one order is refused for each risk reason. At the end the log is verified and replayed
/// (the digest must equal the live state's) and a summary says where to look.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract:
            "Run a simulated trading day through the whole system (engine, read models, queues, worker, gateway on :3001) and summarize it."
    )

    @Option(help: "Directory for the demo's log (replaced on each run).") var dir = "var/demo/eventlog"
    @Option(help: "Number of simulated stocks.") var stocks = 300
    @Option(help: "Stocks each of the three traders runs a strategy on.") var strategyStocks = 10
    @Option(help: "Seed of the deterministic market simulation.") var seed: UInt64 = 7
    @Option(help: "Port of the gateway while the demo runs.") var port = 3001
    @Option(
        help: "PostgreSQL server (default $DATABASE_URL); the demo uses its own database on it, recreated each run."
    ) var databaseURL: String?
    @Option(help: "The demo's database name.") var database = "stockboom_demo"
    @Option(help: "Redis (default $REDIS_URL); the demo clears its queues there first.") var redisURL: String?
    @Flag(help: "Keep the gateway serving after the summary, until Ctrl-C.") var hold = false

    func validate() throws {
        guard (1...2_700).contains(self.stocks) else { throw ValidationError("--stocks must be 1...2700") }
        guard (1...100).contains(self.strategyStocks) else {
            throw ValidationError("--strategy-stocks must be 1...100")
        }
        guard (1...65_535).contains(self.port) else { throw ValidationError("--port must be 1...65535") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let server = self.databaseURL ?? environment["DATABASE_URL"], !server.isEmpty,
            let redisText = self.redisURL ?? environment["REDIS_URL"], !redisText.isEmpty
        else {
            throw ValidationError(
                "the demo runs the whole system: it needs PostgreSQL and Redis. `make demo` starts throwaway ones; or `scripts/services.sh start; eval \"$(scripts/services.sh env)\"`"
            )
        }
        guard let redis = RedisEndpoint(url: redisText) else {
            throw ValidationError("REDIS_URL must look like redis://host:port[/db]")
        }
        let smtp = SMTPConfiguration.fromEnvironment(environment)
        let day = KST.day(year: 2025, month: 1, day: 3)
        writeLine(
            "StockBoom demo: one KRX session (2025-01-03), \(self.stocks) stocks, 3 traders with strategies on \(self.strategyStocks) stocks each, seed \(self.seed)"
        )

        try? FileManager.default.removeItem(atPath: self.dir)
        let world = try await DemoWorld.fresh(
            directory: self.dir,
            database: self.database,
            server: server,
            redis: redis,
            smtp: smtp,
            port: self.port,
            day: day,
            snapshotEveryEvents: 50_000
        )
        let (eventLog, runtime, clock, stack, databaseURL) = (
            world.log, world.runtime, world.clock, world.stack, world.databaseURL
        )
        writeLine("gateway:  http://127.0.0.1:\(self.port)/ (dashboard and API, while the demo runs)")
        writeLine(
            "log:      \(self.dir)   database: \(databaseURL)   redis: \(redisText)   mail: \(smtp.map { "\($0.host):\($0.port)" } ?? "no SMTP_HOST: notifications fail (no channel)")"
        )

        let started = monotonicNanos()
        var driver = try await DemoDriver(
            runtime: runtime,
            stack: stack,
            clock: clock,
            stocks: self.stocks,
            strategyStocks: self.strategyStocks,
            seed: self.seed,
            day: day
        )
        try await driver.rejectOncePerReason()
        let progress = Progress(total: 381)
        for minute in 0..<Int64(381) {
            try await driver.minute(minute)
            let lag = stack.maxLag.withLock { $0 }
            progress.update(
                Int(minute) + 1,
                "\(String(format: "%02lld:%02lld", (9 * 60 + minute) / 60, (9 * 60 + minute) % 60)) KST  \(runtime.nextOffset) events  \(runtime.state.orders.count) orders  \(driver.fills) fills  lag ≤\(lag)"
            )
        }
        try await driver.closeSession()
        progress.finish()
        let seconds = Double(monotonicNanos() - started) / 1e9
        let delivered = try await stack.settle(runtime: runtime)
        let live = runtime.state
        let summary = try await DemoSummary.make(
            stack: stack,
            runtime: runtime,
            log: eventLog,
            seconds: seconds,
            delivered: delivered
        )
        if self.hold {
            writeLine(
                summary.render(
                    directory: self.dir,
                    databaseURL: databaseURL,
                    redis: redis,
                    port: self.port,
                    serving: true
                )
            )
            writeLine("holding the gateway on http://127.0.0.1:\(self.port)/ — Ctrl-C to stop")
            await waitForTerminationSignal()
        }
        await stack.stop()
        await runtime.close()
        eventLog.close()
        try DemoSummary.verify(directory: self.dir, live: live)
        if !self.hold {
            writeLine(
                summary.render(
                    directory: self.dir,
                    databaseURL: databaseURL,
                    redis: redis,
                    port: self.port,
                    serving: false
                )
            )
        }
    }
}

/// A fresh world for the demo and the in-process bench: a new log, the database recreated, the queues
/// emptied, the engine recovered on it, and the whole system started (`DemoStack`) at 08:30 of `day`.
struct DemoWorld {
    let log: EventLog
    let runtime: EngineRuntime
    let clock: DemoClock
    let stack: DemoStack
    let databaseURL: String

    static func fresh(
        directory: String,
        database: String,
        server: String,
        redis: RedisEndpoint,
        smtp: SMTPConfiguration?,
        port: Int,
        day: Int64,
        snapshotEveryEvents: UInt64,
        bcryptCost: UInt8 = 10
    ) async throws -> DemoWorld {
        let databaseURL = try PostgresConnection.recreateDatabase(database, serverURL: server)
        let store = JobQueueStore(redis: RedisClient(endpoint: redis))
        _ = try await blocking { try JobDispatcher.reset(store) }
        let log = try EventLog(directory: directory)
        let runtime = try EngineRuntime(
            log: log,
            engine: Engine(calendar: try loadCalendar()),
            snapshotEveryEvents: snapshotEveryEvents
        )
        let clock = DemoClock(KST.instant(day: day, hour: 8, minute: 30))
        let stack = try await DemoStack.start(
            log: log,
            runtime: runtime,
            databaseURL: databaseURL,
            redis: redis,
            smtp: smtp,
            port: port,
            clock: clock,
            bcryptCost: bcryptCost
        )
        return DemoWorld(log: log, runtime: runtime, clock: clock, stack: stack, databaseURL: databaseURL)
    }
}

/// The session's time, moved by the driver minute by minute; the gateway and the engine read it.
final class DemoClock: Sendable {
    private let micros: Mutex<Int64>
    init(_ start: Int64) { self.micros = Mutex(start) }
    func read() -> Int64 { self.micros.withLock { $0 } }
    func set(_ value: Int64) { self.micros.withLock { $0 = value } }
}

/// A progress bar on a terminal, a plain line every hour of the session otherwise.
final class Progress: @unchecked Sendable {
    // @unchecked: used from the demo's one task.
    let total: Int
    let terminal = isatty(STDOUT_FILENO) == 1
    private var lastLine = 0

    init(total: Int) { self.total = total }

    func update(_ done: Int, _ text: String) {
        if self.terminal {
            let width = 30
            let filled = width * done / self.total
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardOutput.write(Data("\r\(bar) \(done * 100 / self.total)%  \(text)\u{1B}[K".utf8))
        } else if done - self.lastLine >= 60 || done == self.total {
            self.lastLine = done
            writeLine("  \(text)")
        }
    }

    func finish() { if self.terminal { writeLine("") } }
}

/// The demo's system: the serve side and the worker side as `serve` and `worker` run them (both assembled by
/// `Assembly`), in this process, on the demo's clock. The dispatcher is stepped by the driver (after the
/// candle cache has the minute's bars); the projections report their lag after each pass.
final class DemoStack: Sendable {
    let serve: ServeSide
    let worker: WorkerSide
    let store: JobQueueStore
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    let maxLag = Mutex<UInt64>(0)
    let latestStatus = Mutex<[ProjectionStatus]>([])
    /// The projections' lag in time, measured on each of their passes.
    let lagClock = LagClock()

    var services: GatewayServices { self.serve.services! }  // the demo always has a database
    var runner: ProjectionRunner { self.serve.runner! }
    var baseURL: String { self.serve.baseURL }
    var runtime: EngineRuntime { self.serve.runtime }

    private init(serve: ServeSide, worker: WorkerSide, store: JobQueueStore) {
        self.serve = serve
        self.worker = worker
        self.store = store
    }

    /// - Parameter bcryptCost: 10 for the demo; the benchmark signs up hundreds of people and uses 4.
    static func start(
        log: EventLog,
        runtime: EngineRuntime,
        databaseURL: String,
        redis: RedisEndpoint,
        smtp: SMTPConfiguration?,
        port: Int,
        clock: DemoClock,
        bcryptCost: UInt8 = 10
    ) async throws -> DemoStack {
        var random = SystemRandomNumberGenerator()
        let secretsKey = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        var configuration = GatewayConfiguration(
            jwtSecret: (0..<48).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined(),
            secretsKey: secretsKey
        )
        configuration.bcryptCost = bcryptCost
        configuration.ordersPerSecond = 10_000
        configuration.orderBurst = 10_000
        // Everyone the demo or `bench day --in-process` signs up (200 people) comes from this one address.
        configuration.signUpsPerHour = 1_000_000
        let workerToken = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }
            .joined()

        let monitor = Mutex<DemoStack?>(nil)
        var options = ServeOptions()
        options.port = port
        options.databaseURL = databaseURL
        options.redis = redis
        options.gateway = configuration
        options.workerToken = workerToken
        options.clock = { clock.read() }
        options.dispatcher = .stepped
        options.stopOnSignals = false
        options.serverName = "stockboom-demo"
        options.logger = Log.command
        options.onProjectionPass = { statuses in
            guard let stack = monitor.withLock({ $0 }) else { return }
            let lag = statuses.map(\.lag).max() ?? 0
            stack.maxLag.withLock { $0 = max($0, lag) }
            stack.latestStatus.withLock { $0 = statuses }
            stack.lagClock.record(behind: statuses.map(\.offset).min() ?? 0, head: runtime.nextOffset)
        }
        let serve = try await ServeSide.start(log: log, runtime: runtime, options: options)

        // The worker's queues from its one table, less data collection: the demo feeds candles to the engine
        // itself. Analysis and mail get 4 consumers (a minute's bars arrive at once); the two KIS orders, 1.
        var workerOptions = WorkerOptions(serverURL: serve.baseURL, token: workerToken, redis: redis)
        workerOptions.concurrency = Dictionary(
            uniqueKeysWithValues: QueueName.allCases.filter { $0 != .dataCollection }.map { queue in
                (queue, WorkerQueues.needsBroker(queue) ? 1 : max(4, WorkerQueues.defaultConcurrency(queue)))
            }
        )
        workerOptions.databaseURL = databaseURL
        workerOptions.secretsKey = secretsKey
        workerOptions.smtp = smtp
        workerOptions.calendar = try loadCalendar()
        workerOptions.clock = { clock.read() }
        workerOptions.reconcileSeconds = nil
        workerOptions.logger = Log.worker
        let worker: WorkerSide
        do {
            worker = try await WorkerSide.start(options: workerOptions)
        } catch {
            await serve.stop()
            throw error
        }
        let stack = DemoStack(serve: serve, worker: worker, store: JobQueueStore(redis: RedisClient(endpoint: redis)))
        monitor.withLock { $0 = stack }
        return stack
    }

    /// Derives the jobs of everything committed so far.
    func dispatch() async throws {
        try await self.serve.dispatch()
    }

    /// Waits until a queue has nothing waiting, delayed or running.
    func drain(_ queue: QueueName, timeout: Double = 60) async throws {
        let store = self.store
        let deadline = monotonicNanos() + UInt64(timeout * 1e9)
        while monotonicNanos() < deadline {
            let counts = try await blocking { try store.counts(queue) }
            if counts.wait + counts.active + counts.delayed == 0 { return }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw CommandFailure("\(queue.rawValue) did not drain in \(Int(timeout)) s")
    }

    /// After the close: every job dispatched and done, the read models at the head; returns the e-mails sent.
    func settle(runtime: EngineRuntime) async throws -> Int {
        try await self.dispatch()
        try await self.drain(.dataAnalysis)
        try await self.dispatch()
        try await self.drain(.tradeExecution)
        try await self.drain(.notification, timeout: 120)
        let head = runtime.nextOffset
        for _ in 0..<3_000 {
            let statuses = self.latestStatus.withLock { $0 }
            if !statuses.isEmpty, statuses.allSatisfy({ $0.offset >= head }) { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        return runtime.state.notifications.values.filter(\.delivered).count
    }

    /// A JSON POST to the gateway's public API: (status, decoded body).
    func post(_ path: String, token: String? = nil, json: [String: Any]) async throws -> (Int, [String: Any]) {
        try await LocalAPI(baseURL: self.baseURL, http: self.http).post(path, token: token, json: json)
    }

    func stop() async {
        await self.worker.stop()
        await self.serve.stop()
        try? await self.http.shutdown()
    }
}

/// The demo's market: listings and generated bars, the simulated exchange for SIMULATED accounts, and the
/// users, accounts and strategies (created through the API).
struct DemoDriver {
    let runtime: EngineRuntime
    let stack: DemoStack
    let clock: DemoClock
    let day: Int64
    var exchange = SimulatedExchange(
        configuration: .init(participationPercent: 10, slippageTicks: 1, fillTimeframe: .minute1)
    )
    var listings: [(code: StockCode, name: String, previousClose: Int64)]
    var bars: [Candle]
    var fills = 0
    /// Wall seconds of the last minute: the engine's commands (exchange, fills, candles), the hand-off (candle
    /// cache and dispatcher), and the worker's data-analysis jobs until the queue was empty.
    var phases: (engine: Double, handoff: Double, analysis: Double) = (0, 0, 0)
    /// Users of the demo (e-mail, password, account id), for the summary.
    var traders: [(email: String, account: String)] = []
    static let password = "stockboom-demo"

    /// The demo's three traders: ma-cross, rsi-reversion, ma-cross.
    static let demoPeople = ["minji@example.com", "junho@example.com", "seoyeon@example.com"]

    /// - Parameters:
    ///   - people: who signs up; person `i` runs `rsi-reversion` when `i` is odd, else `ma-cross`, on
    ///     `strategyStocks` stocks (`i`, `i + n`, `i + 2n`, … for `n` people, wrapping around the market).
    init(
        runtime: EngineRuntime,
        stack: DemoStack,
        clock: DemoClock,
        stocks: Int,
        strategyStocks: Int,
        seed: UInt64,
        day: Int64,
        people: [String] = DemoDriver.demoPeople
    ) async throws {
        self.runtime = runtime
        self.stack = stack
        self.clock = clock
        self.day = day
        (self.listings, self.bars) = GeneratedDay.make(stocks: stocks, day: day, seed: seed)
        // The KRX listing comes from market data (data collection in production), straight into the engine.
        let setup = CommandContext(time: clock.read(), correlationID: "demo-listing")
        try await Self.concurrently(
            runtime,
            self.listings.map {
                .listStock(code: $0.code, name: $0.name, market: "KOSPI", previousClose: $0.previousClose)
            },
            setup
        )
        // People sign up, open simulated accounts and enable strategies through the public API.
        for (index, email) in people.enumerated() {
            let (registered, session) = try await stack.post(
                "/api/auth/register",
                json: ["email": email, "password": Self.password]
            )
            guard registered == 201, let token = session["token"] as? String else {
                throw CommandFailure("registering \(email) answered \(registered): \(session)")
            }
            let (opened, account) = try await stack.post(
                "/api/broker-accounts",
                token: token,
                json: [
                    "broker": "SIMULATED", "accountNumber": String(format: "50%06d01", index),
                    "initialCash": 1_000_000_000, "dailyOrderLimit": 5_000,
                ]
            )
            guard opened == 201, let id = account["id"] as? String else {
                throw CommandFailure("opening an account answered \(opened): \(account)")
            }
            self.traders.append((email, id))
            let name = index % 2 == 1 ? "rsi-reversion" : "ma-cross"
            let parameters =
                index % 2 == 1 ? "period=14,oversold=35,overbought=65,quantity=5" : "fast=5,slow=20,quantity=10"
            for slot in Set((0..<strategyStocks).map { (index + $0 * people.count) % self.listings.count }).sorted() {
                let (enabled, body) = try await stack.post(
                    "/api/strategies",
                    token: token,
                    json: [
                        "brokerAccountId": id, "stockId": self.listings[slot].code.description, "strategy": name,
                        "parameters": parameters,
                    ]
                )
                guard (200...201).contains(enabled) else {
                    throw CommandFailure("enabling \(name) answered \(enabled): \(body)")
                }
            }
        }
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
        let (_, session) = try await self.stack.post(
            "/api/auth/register",
            json: ["email": "risk-demo@example.com", "password": Self.password]
        )
        guard let user = (session["user"] as? [String: Any])?["id"] as? String, let userID = UserID(user) else {
            throw CommandFailure("registering the risk demo user answered \(session)")
        }
        // A KIS paper account without stored keys: orders that pass the risk checks fail at the broker
        // (TOKEN_EXPIRED: no credentials), as the guide's table describes; nothing leaves this machine.
        let kis = AccountID(
            value: try await self.runtime.execute(
                .registerAccount(user: userID, broker: .kisPaper, accountNumber: "50123456-01", dailyOrderLimit: 2),
                context: setup
            ).decision.created!
        )
        _ = try await self.runtime.execute(.depositCash(account: kis, amount: 1_000_000), context: setup)
        let stock = self.listings[0]
        let band = KRXPriceRules.priceLimits(basePrice: stock.previousClose)
        let tick = KRXPriceRules.tickSize(at: stock.previousClose)
        func order(_ side: OrderSide, _ quantity: Int64, _ price: Int64) -> Command {
            .placeOrder(PlaceOrder(account: kis, stock: stock.code, side: side, quantity: quantity, price: price))
        }
        // TOKEN_EXPIRED: no token yet
        _ = try await self.runtime.execute(order(.buy, 1, stock.previousClose), context: open)
        _ = try await self.runtime.execute(
            .issueToken(account: kis, expiresAt: KST.instant(day: self.day + 1, hour: 9)),
            context: setup
        )
        _ = try await self.runtime.execute(order(.buy, 1, stock.previousClose), context: setup)  // MARKET_CLOSED: 08:40
        // PRICE_OUT_OF_RANGE
        _ = try await self.runtime.execute(order(.buy, 1, band.upperBound + tick * 10), context: open)
        // PRICE_NOT_ON_TICK
        if tick > 1 { _ = try await self.runtime.execute(order(.buy, 1, stock.previousClose + 1), context: open) }
        // INSUFFICIENT_BALANCE
        _ = try await self.runtime.execute(order(.buy, 1_000_000, stock.previousClose), context: open)
        _ = try await self.runtime.execute(order(.sell, 5, stock.previousClose), context: open)  // INSUFFICIENT_SHARES
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // passes (1 of 2 today)
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // passes (2 of 2)
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // DAILY_LIMIT_EXCEEDED
        _ = try await self.runtime.execute(.haltAccount(kis, reason: "demo: reconciliation mismatch"), context: open)
        _ = try await self.runtime.execute(order(.buy, 1, band.lowerBound), context: open)  // ACCOUNT_HALTED
        self.traders.append(("risk-demo@example.com", kis.description))
    }

    /// One session minute: the strategies' orders reach the exchange, the exchange fills during the minute, the
    /// bars close, and the pipeline (candle cache, dispatcher, data-analysis queue) catches up before the next.
    mutating func minute(_ minute: Int64) async throws {
        let began = monotonicNanos()
        let start = KST.instant(day: self.day, hour: 9) + minute * KST.minuteMicros
        self.clock.set(start)
        let context = CommandContext(time: start, correlationID: "exchange-\(minute)")
        // 1. Orders of SIMULATED accounts placed by the strategies since the last minute go to the exchange.
        let state = self.runtime.state
        let pending = state.orders.values.filter {
            $0.status == .pending && state.accounts[$0.account]?.broker == .simulated
        }.sorted { $0.id < $1.id }
        for order in pending {
            _ = try await self.runtime.execute(.recordSubmitted(order.id), context: context)
            guard let submitted = self.runtime.state.orders[order.id] else { continue }
            let number = try self.exchange.submit(BrokerOrderRequest(submitted), at: start)
            _ = try await self.runtime.execute(.recordAccepted(order.id, brokerOrderNumber: number), context: context)
        }
        // 2. This minute's bars: fills first (orders were working during the minute), then the closed candles.
        let bars = self.bars[(Int(minute) * self.listings.count)..<(Int(minute + 1) * self.listings.count)]
        var fillCommands: [Command] = []
        for bar in bars {
            for fill in self.exchange.onCandle(bar) {
                fillCommands.append(
                    .recordFill(fill.order, quantity: fill.quantity, price: fill.price, fillID: fill.fillID)
                )
            }
        }
        self.fills += fillCommands.count
        self.clock.set(start + 30_000_000)
        try await Self.concurrently(
            self.runtime,
            fillCommands,
            CommandContext(time: start + 30_000_000, correlationID: "fills-\(minute)")
        )
        self.stack.lagClock.note(head: self.runtime.nextOffset)
        self.clock.set(start + KST.minuteMicros)
        try await Self.concurrently(
            self.runtime,
            bars.map { .ingestCandle($0) },
            CommandContext(time: start + KST.minuteMicros, correlationID: "candles-\(minute)")
        )
        self.stack.lagClock.note(head: self.runtime.nextOffset)
        // 3. The strategies see the closed bars: the gateway's candle cache has them, the dispatcher makes the
        //    data-analysis jobs, the worker runs them (placing orders through /internal) before the next minute.
        let engineDone = monotonicNanos()
        let head = self.runtime.nextOffset
        while self.stack.services.candles.nextOffset < head { try await Task.sleep(for: .milliseconds(1)) }
        try await self.stack.dispatch()
        let handedOff = monotonicNanos()
        try await self.stack.drain(.dataAnalysis)
        self.phases = (
            Double(engineDone - began) / 1e9, Double(handedOff - engineDone) / 1e9,
            Double(monotonicNanos() - handedOff) / 1e9
        )
    }

    /// The close: orders the strategies placed after the last bar never reach the exchange (cancelled), and day
    /// orders still working expire.
    mutating func closeSession() async throws {
        let close = KST.instant(day: self.day, hour: 15, minute: 30)
        try await self.stack.dispatch()
        try await self.stack.drain(.dataAnalysis)
        self.clock.set(close)
        let state = self.runtime.state
        for order in state.orders.values
        where order.status == .pending && state.accounts[order.account]?.broker == .simulated {
            _ = try await self.runtime.execute(
                .cancelOrder(order.id),
                context: CommandContext(time: close, correlationID: "session-close")
            )
        }
        _ = self.exchange.expire(at: close)
        _ = try await self.runtime.execute(
            .expireDayOrders,
            context: CommandContext(time: close, correlationID: "session-close")
        )
    }
}

/// The figures of the end-of-day summary.
struct DemoSummary {
    var events: UInt64
    var seconds: Double
    var commits: UInt64
    var statuses: [String: Int]
    var reasons: [String: Int]
    var accounts: [String]
    var notifications: Int
    var delivered: Int
    var queues: [(String, QueueCounts)]
    /// Jobs the demo's consumers finished, per queue (Redis keeps only the newest completed ones).
    var finished: [String: Int]
    var projections: [ProjectionStatus]
    var maxLag: UInt64
    var trades: String
    var segmentBytes: UInt64

    static func make(stack: DemoStack, runtime: EngineRuntime, log: EventLog, seconds: Double, delivered: Int)
        async throws -> DemoSummary
    {
        let live = runtime.state
        let statuses = live.ordersByStatus()
        var reasons: [String: Int] = [:]
        for order in live.orders.values where order.status == .rejected || order.status == .failed {
            if let reason = order.failureReason { reasons[reason.rawValue, default: 0] += 1 }
        }
        // The engine holds sealed addresses (erasable personal data): the summary shows them opened.
        let references = Array(Set(live.users.values))
        let opened = try await stack.services.database.run { try PersonalData.resolve(references, $0) }
        var accounts: [String] = []
        for account in live.accounts.values.sorted(by: { $0.id < $1.id }) {
            guard let portfolio = live.portfolio(account.id), let sealed = live.users[account.user] else { continue }
            let email = opened[sealed] ?? sealed
            accounts.append(
                "\(email.padding(toLength: 22, withPad: " ", startingAt: 0)) \(account.id) \(account.broker.description.padding(toLength: 9, withPad: " ", startingAt: 0)) equity \(Self.won(portfolio.equity)) = cash \(Self.won(portfolio.cash)) + \(portfolio.holdings.count) positions; P&L realized \(Self.won(portfolio.realizedProfit)), unrealized \(Self.won(portfolio.unrealizedProfit)); fees \(Self.won(portfolio.commissionPaid)), tax \(Self.won(portfolio.taxPaid))\(account.haltReason.map { " — halted: \($0)" } ?? "")"
            )
        }
        let store = stack.store
        let queues = try await blocking { try QueueName.allCases.map { ($0.rawValue, try store.counts($0)) } }
        let finished = Dictionary(
            stack.worker.consumers.map { ($0.queue.rawValue, $0.finishedCount) },
            uniquingKeysWith: +
        )
        let runner = stack.runner
        let projections = try await blocking { try runner.status() }
        let trades = try await stack.services.database.run {
            try $0.query("SELECT count(*) FROM trades").rows.first?[0] ?? "0"
        }
        return DemoSummary(
            events: runtime.nextOffset,
            seconds: seconds,
            commits: log.statistics.commits,
            statuses: statuses,
            reasons: reasons,
            accounts: accounts,
            notifications: live.notifications.count,
            delivered: delivered,
            queues: queues,
            finished: finished,
            projections: projections,
            maxLag: stack.maxLag.withLock { $0 },
            trades: trades,
            segmentBytes: log.segments.reduce(0) { $0 + $1.bytes }
        )
    }

    static func won(_ value: Int64) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        return (formatter.string(from: NSNumber(value: value)) ?? String(value)) + "원"
    }

    /// The log verifies end to end, and replaying it (from 0 and from the snapshot) gives the live state.
    static func verify(directory: String, live: EngineState) throws {
        let verified = try LogVerifier.verify(directory: directory)
        guard verified.isValid else {
            throw CommandFailure("verify failed: \(verified.firstError?.description ?? "?")")
        }
        let reader = try EventLog(directory: directory, readOnly: true)
        defer { reader.close() }
        let started = monotonicNanos()
        let (replayed, _) = try EngineRuntime.recover(log: reader, snapshots: nil, toOffset: nil)
        let (fromSnapshot, report) = try EngineRuntime.recover(
            log: reader,
            snapshots: SnapshotStore(logDirectory: directory),
            toOffset: nil
        )
        guard replayed.digest == live.digest, fromSnapshot.digest == live.digest else {
            throw CommandFailure("the replayed state differs from the live state")
        }
        writeLine(
            "verified: \(verified.records) events, hash chain intact (head \(verified.headHash.prefix(16))…); replay from 0 in \(String(format: "%.2f", Double(monotonicNanos() - started) / 1e9)) s and from the snapshot at \(report.snapshotOffset.map(String.init) ?? "-") both give the live state's digest"
        )
    }

    func render(directory: String, databaseURL: String, redis: RedisEndpoint, port: Int, serving: Bool) -> String {
        let bin = ".build/debug/stockboom"
        // The throwaway Redis has a password (scripts/services.sh): printed as REDISCLI_AUTH so the line works as printed.
        let auth = redis.password.map { "REDISCLI_AUTH=\($0) " } ?? ""
        let redisCLI =
            "\(auth)redis-cli -h \(redis.host) -p \(redis.port)\(redis.database == 0 ? "" : " -n \(redis.database)")"
        var lines: [String] = [""]
        lines.append(
            "wrote      \(self.events) events in \(String(format: "%.1f", self.seconds)) s (\(Format.number(Double(self.events) / max(self.seconds, 0.001))) events/s, a 6.5 h session in \(String(format: "%.0f", 23_400 / max(self.seconds, 0.001)))× real time), \(self.commits) durable group commits, \(Format.bytes(self.segmentBytes)) on disk"
        )
        lines.append(
            "orders     "
                + self.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        )
        lines.append(
            "refused    "
                + self.reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        )
        for account in self.accounts { lines.append("account    " + account) }
        lines.append(
            "mail       \(self.notifications) notifications, \(self.delivered) delivered by e-mail to the SMTP sink\(self.delivered < self.notifications ? " (the others failed: see the ERROR lines above)" : "")"
        )
        lines.append(
            "queues     "
                + self.queues.filter { self.finished[$0.0] != nil }.map {
                    "\($0.0): \(self.finished[$0.0] ?? 0) jobs done, \($0.1.failed) failed, \($0.1.wait + $0.1.active + $0.1.delayed) pending"
                }.joined(separator: "; ")
        )
        lines.append(
            "read model "
                + self.projections.map { "\($0.name) at \($0.offset) (lag \($0.lag))" }.joined(separator: ", ")
                + "; largest lag seen during the day \(self.maxLag) events; \(self.trades) rows in trades"
        )
        lines.append("")
        lines.append("look around (the servers keep running; stop them with `make services-stop`):")
        if serving {
            lines.append(
                "  dashboard  http://127.0.0.1:\(port)/  sign in as minji@example.com / \(DemoDriver.password)"
            )
        } else {
            lines.append(
                "  dashboard  make demo-serve   then http://127.0.0.1:\(port)/  sign in as minji@example.com / \(DemoDriver.password)"
            )
        }
        lines.append(
            "  psql       psql \"\(databaseURL)\" -c \"SELECT id, stock_id, order_side, quantity, status, failure_reason, created_at FROM trades WHERE status IN ('REJECTED', 'FAILED') ORDER BY created_at DESC LIMIT 20;\""
        )
        lines.append("             psql \"\(databaseURL)\" -c \"SELECT status, count(*) FROM trades GROUP BY status;\"")
        lines.append(
            "  redis      \(redisCLI) KEYS \"bull:*:completed\"     \(redisCLI) LLEN \"bull:notification:wait\""
        )
        lines.append("  log        \(bin) log inspect --dir \(directory)")
        lines.append("             \(bin) replay --dir \(directory) --to-time 2025-01-03T12:00:00+09:00")
        lines.append(
            "  backup     \(bin) backup create --dir \(directory) --to var/backups && \(bin) backup list --from var/backups"
        )
        lines.append("  mail       ls var/services/mail/new | wc -l")
        return lines.joined(separator: "\n")
    }
}

/// The read models' lag in time: for each projection pass, how long the oldest event it applied had been
/// committed, from (time, head) samples of the log (taken on each pass and by the driver after its commits).
final class LagClock: Sendable {
    private let state = Mutex<(heads: [(nanos: UInt64, head: UInt64)], applied: UInt64, lags: [Double])>(([], 0, []))

    /// The log's head now (call after commits, for a finer time resolution).
    func note(head: UInt64) {
        let now = monotonicNanos()
        self.state.withLock { state in
            if state.heads.last.map({ $0.head < head }) ?? true { state.heads.append((now, head)) }
        }
    }

    /// A projection pass ended with every read model at or beyond `offset`.
    func record(behind offset: UInt64, head: UInt64) {
        self.note(head: head)
        let now = monotonicNanos()
        self.state.withLock { state in
            defer { state.applied = max(state.applied, offset) }
            guard offset > state.applied else { return }
            // The oldest event of the pass is at `applied`: it was committed when the head first went beyond it.
            var low = 0
            var high = state.heads.count
            while low < high {
                let middle = (low + high) / 2
                if state.heads[middle].head > state.applied { high = middle } else { low = middle + 1 }
            }
            let since = low < state.heads.count ? min(state.heads[low].nanos, now) : now
            state.lags.append(Double(now - since) / 1e9)
        }
    }

    /// Lag samples in seconds (one per projection pass that applied something).
    var samples: [Double] { self.state.withLock { $0.lags } }
}
