import ArgumentParser
import Assembly
import AsyncHTTPClient
import Engine
import Foundation
import Hummingbird
import Jobs
import Ledger
import NIOCore
import NIOHTTP1
import Projections
import Runtime
import Simulation
import Storage
import Synchronization

/// JSON over HTTP to a StockBoom gateway (the demo's in-process one, or a `serve` child of the bench).
struct LocalAPI: Sendable {
    let baseURL: String
    var http: HTTPClient = .shared

    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, json: [String: Any]? = nil) async throws -> (
        Int, [String: Any]
    ) {
        var request = HTTPClientRequest(url: self.baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json)))
        }
        let response = try await self.http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        return (Int(response.status.code), object)
    }

    func post(_ path: String, token: String? = nil, json: [String: Any]) async throws -> (Int, [String: Any]) {
        try await self.call(.POST, path, token: token, json: json)
    }

    /// The text of `/metrics`, as Prometheus reads it.
    func metrics() async throws -> String {
        let response = try await self.http.execute(
            HTTPClientRequest(url: self.baseURL + "/metrics"),
            timeout: .seconds(10)
        )
        let body = try await response.body.collect(upTo: 8 << 20)
        return String(buffer: body)
    }
}

/// A child process of the bench (`stockboom serve`, `stockboom worker`), its output in a file.
final class BenchChild: @unchecked Sendable {
    // @unchecked: set once in init.
    let process = Process()
    let name: String

    init(_ name: String, arguments: [String], environment: [String: String], output: String) throws {
        _ = Self.stopOnSignals
        self.name = name
        // The operator's `stockboom`, built beside this program: the bench measures the production binary.
        guard let simulator = Bundle.main.executablePath else {
            throw CommandFailure("cannot find this executable to start \(name)")
        }
        let executable = URL(fileURLWithPath: simulator).deletingLastPathComponent().appendingPathComponent("stockboom")
            .path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw CommandFailure("\(executable) is not built: swift build --product stockboom")
        }
        self.process.executableURL = URL(fileURLWithPath: executable)
        self.process.arguments = arguments
        self.process.environment = environment
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        self.process.standardOutput = handle
        self.process.standardError = handle
        try self.process.run()
        let pid = self.process.processIdentifier
        Self.running.withLock { _ = $0.insert(pid) }
    }

    var pid: Int32 { self.process.processIdentifier }

    /// The children started and not yet stopped: a bench stopped by SIGINT or SIGTERM stops them first
    /// (they would otherwise run on, orphaned, and take the next run's jobs).
    private static let running = Mutex<Set<Int32>>([])

    /// Started with the first child: SIGINT or SIGTERM sends SIGTERM to the running children, then exits.
    private static let stopOnSignals: Void = {
        Task.detached {
            let signal = await waitForTerminationSignal()
            for pid in BenchChild.running.withLock({ $0 }) { kill(pid, SIGTERM) }
            exit(128 + signal)
        }
    }()

    /// (resident, peak resident) bytes from `/proc/<pid>/status`.
    var memory: (UInt64, UInt64) {
        (ProcessMemory.field("VmRSS", pid: self.pid), ProcessMemory.field("VmHWM", pid: self.pid))
    }

    /// SIGKILL and wait.
    func killed() {
        defer { Self.running.withLock { _ = $0.remove(self.pid) } }
        guard self.process.isRunning else { return }
        kill(self.pid, SIGKILL)
        self.process.waitUntilExit()
    }

    /// SIGTERM and wait: the exit status.
    @discardableResult
    func stop() -> Int32 {
        defer { Self.running.withLock { _ = $0.remove(self.pid) } }
        guard self.process.isRunning else { return self.process.terminationStatus }
        kill(self.pid, SIGTERM)
        self.process.waitUntilExit()
        return self.process.terminationStatus
    }
}

/// The faults of `bench day --fault-every`: SIGKILL of serve or of the worker (each started again at once, on
/// the same log and session clock), FLUSHDB of the bench's Redis database, `pg_terminate_backend` on every
/// connection to its PostgreSQL database. Seeded: rounds bring each kind once, at `every` × 0.5–1.5 s.
struct Faults {
    enum Kind: String, CaseIterable { case killServe, killWorker, flushRedis, terminateBackends }
    let every: Double
    private var random: SplitMixRandom
    private var round: [Kind] = []
    private var next: Double
    private(set) var injected: [Kind: Int] = [:]

    init(seed: UInt64, every: Double) {
        self.every = every
        self.random = SplitMixRandom(state: seed)
        self.next = every
    }

    /// The fault due `seconds` into the day, if any (never when `every` is 0).
    mutating func due(at seconds: Double) -> Kind? {
        guard self.every > 0, seconds >= self.next else { return nil }
        if self.round.isEmpty { self.round = Kind.allCases.shuffled(using: &self.random) }
        let kind = self.round.removeLast()
        self.injected[kind, default: 0] += 1
        self.next = seconds + self.every * Double.random(in: 0.5...1.5, using: &self.random)
        return kind
    }

    var summary: String {
        "\(self.injected.values.reduce(0, +)) injected — "
            + Kind.allCases.map { "\($0.rawValue)×\(self.injected[$0, default: 0])" }.joined(separator: " ")
    }
}

/// A part of the bench that faults kill and start again (`serve`, `worker`): the same arguments each time,
/// output in `<name>.log`, then `<name>-2.log`, …; CPU and peak memory add up over its lives.
final class RestartableChild: @unchecked Sendable {
    // @unchecked: used from the bench's sampling loop only, one step at a time.
    let name: String
    let arguments: [String]
    let environment: [String: String]
    let directory: String
    private(set) var child: BenchChild
    private(set) var starts = 1
    private var endedCPU = 0.0
    private var endedPeak: UInt64 = 0

    init(_ name: String, arguments: [String], environment: [String: String], directory: String) throws {
        self.name = name
        self.arguments = arguments
        self.environment = environment
        self.directory = directory
        self.child = try BenchChild(
            name,
            arguments: arguments,
            environment: environment,
            output: directory + "/\(name).log"
        )
    }

    var isRunning: Bool { self.child.process.isRunning }
    /// (resident, peak resident over every life) bytes.
    var memory: (UInt64, UInt64) {
        let current = self.child.memory
        return (current.0, max(self.endedPeak, current.1))
    }
    /// User + system CPU seconds of every life so far.
    var cpuSeconds: Double { self.endedCPU + ProcessCPU.seconds(pid: self.child.pid) }

    /// SIGKILL (nothing saved, nothing flushed), then the same command again.
    func killAndRestart() throws {
        self.endedCPU += ProcessCPU.seconds(pid: self.child.pid)
        self.endedPeak = max(self.endedPeak, self.child.memory.1)
        self.child.killed()
        self.starts += 1
        self.child = try BenchChild(
            self.name,
            arguments: self.arguments,
            environment: self.environment,
            output: self.directory + "/\(self.name)-\(self.starts).log"
        )
    }

    @discardableResult
    func stop() -> Int32 { self.child.stop() }
}

/// `stockboom-sim bench day` with every part a process of its own, as in production: `serve` (engine, read
/// models, dispatcher, gateway) and `worker` (data-collection, data-analysis, trade-execution, notification),
/// PostgreSQL and Redis, and a simulated KIS (`SimulatedKIS`, in this process) serving the generated market.
/// Candles arrive through data collection; the people's KIS paper accounts trade by strategy through the
/// risk checks, the trade-execution queue and the simulated broker.
struct DayProcesses {
    let command: BenchDayCommand
    let output: String
    let databaseServer: String
    let redis: RedisEndpoint

    struct Sample {
        var seconds: Double
        var session: Int64
        var head: UInt64
        var lagEvents: UInt64
        var lagSeconds: Double
        var queues: [String: Int]
        var orders: Int
        var serveRSS: UInt64
        var workerRSS: UInt64
        var candleMinutes: Int
    }

    func run() async throws {
        let command = self.command
        let day = KST.day(year: 2025, month: 1, day: 3)
        let directory = self.output + "/eventlog"
        let databaseURL = try PostgresConnection.recreateDatabase("stockboom_bench_day", serverURL: self.databaseServer)
        let store = JobQueueStore(redis: RedisClient(endpoint: self.redis))
        _ = try await blocking { try JobDispatcher.reset(store) }
        let (listings, bars) = GeneratedDay.make(stocks: command.stocks, day: day, seed: command.seed)
        // The KRX listing, as the market-data import writes it, before serve opens the log.
        do {
            let log = try EventLog(directory: directory)
            let runtime = try EngineRuntime(log: log, engine: Engine(calendar: try loadCalendar()))
            try await DemoDriver.concurrently(
                runtime,
                listings.map {
                    .listStock(code: $0.code, name: $0.name, market: "KOSPI", previousClose: $0.previousClose)
                },
                CommandContext(time: KST.instant(day: day, hour: 7), correlationID: "bench-listing")
            )
            await runtime.close()
            log.close()
        }
        // One session clock for serve, the worker and the broker: 07:30 at `origin`, `speed` times real time. The
        // 90 session minutes before the open (13 s at 410×) are for the set-up — 200 sign-ups through the API, the
        // worker's start-up reconciliation of 200 accounts — which took 5–7 s; with 08:40 (3 s) the worker's
        // consumers started 10–27 session minutes into the day, and a day that starts behind can stay behind.
        let speed = command.speed
        let sessionStart = KST.instant(day: day, hour: 7, minute: 30)
        let originMicros = wallClockMicros() + 1_000_000
        let sessionClock: @Sendable () -> Int64 = {
            sessionStart + Int64(Double(wallClockMicros() - originMicros) * speed)
        }
        let clockArguments = [
            "--clock-start", ISOTime.kst(sessionStart), "--clock-speed", String(speed), "--clock-origin",
            String(format: "%.6f", Double(originMicros) / 1e6),
        ]
        let broker = SimulatedKIS(
            listings: listings,
            bars: bars,
            day: day,
            openingCash: 1_000_000_000,
            clock: sessionClock
        )
        let brokerPort = Mutex<Int?>(nil)
        let brokerApp = Application(
            router: broker.router(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                brokerPort.withLock { $0 = channel.localAddress?.port }
            }
        )
        let brokerTask = Task { try await brokerApp.run() }
        defer { brokerTask.cancel() }
        while brokerPort.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }

        let port = command.port == 0 ? Self.freePort() : command.port
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["REDIS_URL"] = self.redis.url
        environment["STOCKBOOM_SIGNUPS_PER_HOUR"] = "1000000"  // 200 people sign up from this one address
        environment["JWT_SECRET"] = (0..<48).map { _ in String("abcdefghijklmnopqrstuvwxyz0123456789".randomElement()!)
        }.joined()
        environment["STOCKBOOM_SECRETS_KEY"] = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }
            .joined()
        environment["BCRYPT_COST"] = "4"
        environment["STOCKBOOM_WORKER_TOKEN"] = UUID().uuidString
        environment["KIS_BASE_URL"] = "http://127.0.0.1:\(brokerPort.withLock { $0 }!)"
        environment["KIS_REQUESTS_PER_SECOND"] = "100000"  // the simulated broker has no limit: StockBoom is measured
        if environment["SWIFT_BACKTRACE"] == nil { environment["SWIFT_BACKTRACE"] = "enable=no" }
        let serve = try RestartableChild(
            "serve",
            arguments: ["serve", "--dir", directory, "--port", String(port)] + clockArguments,
            environment: environment,
            directory: self.output
        )
        defer { serve.stop() }
        let api = LocalAPI(baseURL: "http://127.0.0.1:\(port)")
        while (try? await api.metrics()) == nil {
            guard serve.isRunning else { throw CommandFailure("serve exited: see \(self.output)/serve.log") }
            try await Task.sleep(for: .milliseconds(50))
        }
        writeLine(
            "bench day (processes): \(command.stocks) stocks, \(command.accounts) KIS paper accounts with strategies, session at \(Int(speed))× real time; signing people up…"
        )
        // People sign up and open KIS paper accounts (each its own app key) at the simulated broker, and enable
        // their strategies, through the public API.
        var traded: Set<StockCode> = []
        var brokerAccounts: [String: String] = [:]  // KIS account number (CANO) → engine account id
        for index in 0..<command.accounts {
            let email = "trader\(index)@bench.example.com"
            let (registered, session) = try await api.post(
                "/api/auth/register",
                json: ["email": email, "password": "bench-day-password"]
            )
            guard registered == 201, let token = session["token"] as? String else {
                throw CommandFailure("registering \(email) answered \(registered): \(session)")
            }
            let (opened, account) = try await api.post(
                "/api/broker-accounts",
                token: token,
                json: [
                    "broker": "KIS_PAPER", "accountNumber": String(format: "5%07d-01", index),
                    "appKey": "PSbench\(index)" + String(repeating: "k", count: 24),
                    "appSecret": String(repeating: "s", count: 180), "dailyOrderLimit": 5_000,
                ]
            )
            guard opened == 201, let id = account["id"] as? String else {
                throw CommandFailure("opening an account answered \(opened): \(account)")
            }
            brokerAccounts[String(format: "5%07d", index)] = id
            let name = index % 2 == 1 ? "rsi-reversion" : "ma-cross"
            let parameters =
                index % 2 == 1 ? "period=14,oversold=35,overbought=65,quantity=5" : "fast=5,slow=20,quantity=10"
            for slot in Set((0..<command.strategyStocks).map { (index + $0 * command.accounts) % listings.count })
                .sorted()
            {
                let (enabled, body) = try await api.post(
                    "/api/strategies",
                    token: token,
                    json: [
                        "brokerAccountId": id, "stockId": listings[slot].code.description, "strategy": name,
                        "parameters": parameters,
                    ]
                )
                guard (200...201).contains(enabled) else {
                    throw CommandFailure("enabling \(name) answered \(enabled): \(body)")
                }
                traded.insert(listings[slot].code)
            }
        }
        let collectSeconds = Double(command.collectEvery) * 60 / speed
        let worker = try RestartableChild(
            "worker",
            arguments: [
                "worker", "--dir", directory, "--server", api.baseURL, "--watch", "all", "--collect-seconds",
                String(format: "%.6f", collectSeconds),
                "--poll-seconds", "0.2", "--reconcile-seconds", "100000", "--concurrency", command.concurrency,
                "--no-http",
                "--collect-group", String(command.collectGroup),
                "--watch-every", String(command.watchEvery),
            ] + (command.faultEvery > 0 ? ["--lock-ms", "5000"] : []) + clockArguments,
            environment: environment,
            directory: self.output
        )
        defer { worker.stop() }
        // The worker says "worker running" once its start-up reconciliation is done and its consumers run.
        var ready: Int64?
        for _ in 0..<1_200 where ready == nil {
            if let text = try? String(contentsOfFile: self.output + "/worker.log", encoding: .utf8),
                text.contains("\"worker running\"")
            {
                ready = sessionClock()
            } else {
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        // The session: sample every 0.2 s until the day's last bar of every stock is in and the work is done.
        let open = KST.instant(day: day, hour: 9)
        let lastBar = open + Int64(bars.count / listings.count - 1) * KST.minuteMicros
        while sessionClock() < open { try await Task.sleep(for: .milliseconds(5)) }
        // The day counts from the moment the session clock read 09:00, even when the set-up ended after it.
        let started = monotonicNanos() - UInt64(max(0, Double(sessionClock() - open) * 1_000 / speed))
        let machineBusyBefore = ProcessCPU.machineBusySeconds()
        let workerToken = environment["STOCKBOOM_WORKER_TOKEN"]!
        var samples: [Sample] = []
        var heads: [(seconds: Double, head: UInt64)] = []
        var stocks: [[String: Any]] = []
        let progress = Progress(total: 381)
        var done = false
        var gaveUp = false
        // Faults (--fault-every): in seeded rounds that bring each kind once, at seeded moments, until the last
        // bar's minute; then the day must still finish with nothing lost or done twice (checked below).
        var faults = Faults(seed: command.faultSeed, every: command.faultEvery)
        let faultsEnd = KST.instant(day: day, hour: 15, minute: 30)
        while !done && !gaveUp {
            try await Task.sleep(for: .milliseconds(200))
            guard serve.isRunning, worker.isRunning else {
                throw CommandFailure("\(serve.isRunning ? "worker" : "serve") exited: see \(self.output)")
            }
            let seconds = Double(monotonicNanos() - started) / 1e9
            if sessionClock() < faultsEnd, let fault = faults.due(at: seconds) {
                switch fault {
                case .killServe: try serve.killAndRestart()
                case .killWorker: try worker.killAndRestart()
                case .flushRedis: _ = try? await blocking { try store.redis.command(["FLUSHDB"]) }
                case .terminateBackends:
                    _ = try? await blocking {
                        try PostgresConnection(url: databaseURL).query(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    }
                }
            }
            let text = (try? await api.metrics()) ?? ""
            guard !text.isEmpty else {  // serve is starting again
                gaveUp = seconds >= command.maxSeconds
                continue
            }
            let head = UInt64(Self.metric(text, "stockboom_log_head_offset").first ?? 0)
            let lagEvents = UInt64(Self.metric(text, "stockboom_projection_lag_events").max() ?? 0)
            heads.append((seconds, head))
            // Lag in time: how long ago the log's head was where the read models are now (between samples,
            // the head is taken to have moved evenly).
            let projected = head - min(head, lagEvents)
            var reached = seconds
            if let index = heads.firstIndex(where: { $0.head >= projected }) {
                reached = heads[index].seconds
                if index > 0, heads[index].head > heads[index - 1].head {
                    let (before, after) = (heads[index - 1], heads[index])
                    reached =
                        before.seconds + (after.seconds - before.seconds) * Double(projected - before.head)
                        / Double(after.head - before.head)
                }
            }
            let counts = try await blocking { try QueueName.allCases.map { ($0.rawValue, try store.counts($0)) } }
            // Every stock's last minute (2,700 of them) once a second: the sampling should not load serve.
            if samples.count % 5 == 0 {
                stocks =
                    (try await api.call(.GET, "/internal/stocks", token: workerToken).1["stocks"] as? [[String: Any]])
                    ?? stocks
            }
            let minutes = stocks.map { stock -> Int in
                guard let last = (stock["lastMinuteStart"] as? NSNumber)?.int64Value, last >= open else { return 0 }
                return Int((last - open) / KST.minuteMicros) + 1
            }
            let sample = Sample(
                seconds: seconds,
                session: sessionClock(),
                head: head,
                lagEvents: lagEvents,
                lagSeconds: lagEvents == 0 ? 0 : seconds - reached,
                queues: Dictionary(uniqueKeysWithValues: counts.map { ($0.0, $0.1.wait + $0.1.active + $0.1.delayed) }),
                orders: Int(Self.metric(text, "stockboom_orders").reduce(0, +)),
                serveRSS: serve.memory.0,
                workerRSS: worker.memory.0,
                candleMinutes: minutes.min() ?? 0
            )
            samples.append(sample)
            progress.update(
                min(381, sample.candleMinutes),
                "\(sample.head) events  \(sample.orders) orders  lag \(String(format: "%.2f", sample.lagSeconds)) s  queues \(sample.queues.values.reduce(0, +))"
            )
            let allBars =
                stocks.count == listings.count
                && stocks.allSatisfy { ($0["lastMinuteStart"] as? NSNumber)?.int64Value == lastBar }
            gaveUp = seconds >= command.maxSeconds
            done =
                allBars && sample.lagEvents == 0
                && counts.allSatisfy {
                    $0.0 == QueueName.dataCollection.rawValue || $0.1.wait + $0.1.active + $0.1.delayed == 0
                }
        }
        progress.finish()
        let daySeconds = Double(monotonicNanos() - started) / 1e9
        let peaks = (serve.memory.1, worker.memory.1)
        let cpu = (
            serve: serve.cpuSeconds, worker: worker.cpuSeconds, bench: ProcessCPU.seconds(),
            machine: ProcessCPU.machineBusySeconds() - machineBusyBefore
        )
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        let databaseBytes = try await blocking {
            try PostgresConnection(url: databaseURL).query("SELECT pg_database_size(current_database())").rows.first?[0]
                .flatMap { UInt64($0) } ?? 0
        }
        let workerStatus = worker.stop()
        let serveStatus = serve.stop()
        let log = try EventLog(directory: directory, readOnly: true)
        let events = log.nextOffset
        let logBytes = log.segments.reduce(UInt64(0)) { $0 + $1.bytes }
        var orders = 0
        var fills = 0
        var engineOrders: [OrderID: (account: String, number: String, filled: Int64)] = [:]
        var candles = 0
        var wrongCandles = 0
        let dayOpen = bars.first?.start ?? 0
        let stockIndex = Dictionary(
            bars.prefix(command.stocks).enumerated().map { ($1.stock, $0) },
            uniquingKeysWith: min
        )
        var notifications = 0
        var tradedLateness: [Double] = []
        var watchedLateness: [Double] = []
        var offset: UInt64 = 0
        while offset < log.nextOffset {
            let records = try log.read(from: offset, maxRecords: 100_000)
            guard let last = records.last else { break }
            for record in records {
                // Non-engine records (a replicated primary's promotion record) carry no trading.
                guard record.payload.withUnsafeBytes({ EventCodec.isEngineEvent($0) }) else { continue }
                switch try EventCodec.decode(record.payload, offset: record.offset, timestamp: record.timestamp).event {
                case .orderRequested(let e):
                    orders += 1
                    engineOrders[e.order] = (e.account.description, "", 0)
                case .orderRejected: orders += 1
                case .orderAccepted(let e): engineOrders[e.order]?.number = e.brokerOrderNumber
                case .orderFilled(let fill), .orderPartiallyFilled(let fill):
                    fills += 1
                    engineOrders[fill.order]?.filled += fill.quantity
                case .candleClosed(let candle) where candle.timeframe == .minute1:
                    candles += 1
                    // Each recorded bar must be the simulated broker's, value for value (what the KIS client parsed).
                    let minute = Int((candle.start - dayOpen) / KST.minuteMicros)
                    let index = stockIndex[candle.stock].map { minute * command.stocks + $0 } ?? -1
                    if !bars.indices.contains(index) || minute < 0 || !Self.sameBar(bars[index], candle) {
                        wrongCandles += 1
                    }
                    // How long after its minute closed the bar was in the log (serve stamps records on the session clock).
                    let late = Double(record.timestamp - candle.start - KST.minuteMicros) / 60e6
                    if traded.contains(candle.stock) {
                        tradedLateness.append(late)
                    } else {
                        watchedLateness.append(late)
                    }
                case .notificationSent: notifications += 1
                default: break
                }
            }
            offset = last.offset + 1
        }
        log.close()
        let books = Self.compareBooks(broker, engineOrders, accounts: brokerAccounts)
        let lags = samples.map(\.lagSeconds).sorted()
        func percentile(_ p: Double) -> Double { Format.percentile(lags, p) }
        let maxQueues = Dictionary(
            uniqueKeysWithValues: QueueName.allCases.map { queue in
                (queue.rawValue, samples.map { $0.queues[queue.rawValue] ?? 0 }.max() ?? 0)
            }
        )
        let report = """
            bench day (processes) — \(command.stocks) stocks × 381 one-minute bars through data collection, \(command.accounts) KIS paper accounts × \(command.strategyStocks) strategy stock(s), seed \(command.seed)
            set-up       sign-ups and the worker's start-up done at \(ready.map { ISOTime.kst($0).dropFirst(11).prefix(8) } ?? "(the worker never said it was running)")\(ready.map { $0 > open ? ": AFTER THE OPEN, the first minutes were collected late" : " (the session opens at 09:00:00)" } ?? "")
            session      clock at \(Int(speed))× real time; collection every \(command.collectEvery) session minute(s) (a stock no strategy trades when \(command.watchEvery) of its minutes are due) in jobs of \(command.collectGroup) stocks; worker \(command.concurrency)
            day          \(done ? "\(String(format: "%.2f", daySeconds)) s from 09:00 until every stock's last bar was in, the read models current and the queues empty (\(String(format: "%.0f", 23_400 / daySeconds))× real time)" : "NOT FINISHED: stopped after \(String(format: "%.0f", daySeconds)) s (--max-seconds) with every stock's bars in up to minute \(samples.last?.candleMinutes ?? 0) of 381; figures below are up to then")
            events       \(events) (\(Format.number(Double(events) / daySeconds))/s); candles \(candles) of \(bars.count)\(wrongCandles == 0 ? ", each the broker's" : ", \(wrongCandles) NOT the broker's")
            orders       \(orders) (\(Format.number(Double(orders) / daySeconds))/s), \(fills) fills, \(notifications) notifications sent, \(broker.state.withLock { $0.ordersTaken }) orders at the broker
            books        \(books.problems.isEmpty ? "each of the broker's \(books.brokerOrders) orders is one engine order's (none sent or adopted twice), its fills the engine's" : "\(books.problems.count) DISAGREEMENTS with the broker's books, e.g. \(books.problems.prefix(3).joined(separator: "; "))")\(faults.every > 0 ? "\n" + "faults       \(faults.summary) (seed \(command.faultSeed), every ~\(Format.number(faults.every)) s until 15:30); serve started \(serve.starts)×, worker \(worker.starts)×" : "")
            broker       \(broker.state.withLock { "\($0.requests) requests: \($0.chartRequests) minute-chart pages, \($0.quoteRequests) quotes, \($0.requests - $0.chartRequests - $0.quoteRequests) trading" })
            freshness    a bar in the log this long after its minute closed (session minutes): \(Self.lateness(tradedLateness, "the strategies' \(traded.count) stocks")); \(Self.lateness(watchedLateness, "the other \(max(0, command.stocks - traded.count))"))
            lag          read models behind the log: p50 \(String(format: "%.3f", percentile(0.5))) s, p99 \(String(format: "%.3f", percentile(0.99))) s, max \(String(format: "%.3f", lags.last ?? 0)) s (\(lags.count) samples)
            queues       deepest: \(QueueName.allCases.map { "\($0.rawValue) \(maxQueues[$0.rawValue] ?? 0)" }.joined(separator: ", "))
            cpu          serve \(String(format: "%.1f", cpu.serve)) s, worker \(String(format: "%.1f", cpu.worker)) s, bench (simulated KIS) \(String(format: "%.1f", cpu.bench)) s; the whole machine (PostgreSQL, Redis, the SMTP sink too) \(String(format: "%.1f", cpu.machine)) s busy of \(Int(cores)) cores × \(String(format: "%.1f", daySeconds)) s (\(String(format: "%.0f", 100 * cpu.machine / (cores * daySeconds)))%)
            memory       peak resident: serve \(Format.bytes(peaks.0)), worker \(Format.bytes(peaks.1)), bench (simulated KIS) \(Format.bytes(ProcessMemory.peakResidentBytes()))
            disk         log \(Format.bytes(logBytes)), PostgreSQL database \(Format.bytes(databaseBytes))
            exits        serve \(serveStatus), worker \(workerStatus); their logs: \(self.output)/serve.log, \(self.output)/worker.log
            series       \(self.output)/series.csv, \(self.output)/series.svg
            """
        writeLine(report)
        try (report + "\n").write(toFile: self.output + "/report.txt", atomically: true, encoding: .utf8)
        var csv =
            "seconds,session,events,lag_events,lag_seconds,orders,candle_minutes,serve_rss,worker_rss,"
            + QueueName.allCases.map { $0.rawValue }.joined(separator: ",") + "\n"
        for sample in samples {
            csv +=
                "\(String(format: "%.2f", sample.seconds)),\(ISOTime.kst(sample.session)),\(sample.head),\(sample.lagEvents),\(String(format: "%.3f", sample.lagSeconds)),\(sample.orders),\(sample.candleMinutes),\(sample.serveRSS),\(sample.workerRSS),"
                + QueueName.allCases.map { String(sample.queues[$0.rawValue] ?? 0) }.joined(separator: ",") + "\n"
        }
        try csv.write(toFile: self.output + "/series.csv", atomically: true, encoding: .utf8)
        let rates = zip(samples, [samples.first].compactMap { $0 } + samples).map { now, before in
            Double(now.head - min(now.head, before.head)) / max(now.seconds - before.seconds, 1e-6)
        }
        let svg = SeriesPlot.svg(
            title:
                "bench day (processes): \(command.stocks) stocks, \(command.accounts) accounts — x: wall seconds from 09:00",
            x: samples.map(\.seconds),
            series: [
                ("events/s", rates, "#1f77b4"),
                ("session minutes with every stock's bar in", samples.map { Double($0.candleMinutes) }, "#8c564b"),
                ("projection lag (s)", samples.map(\.lagSeconds), "#d62728"),
                (
                    "data-collection queue", samples.map { Double($0.queues[QueueName.dataCollection.rawValue] ?? 0) },
                    "#ff7f0e"
                ),
                (
                    "data-analysis queue", samples.map { Double($0.queues[QueueName.dataAnalysis.rawValue] ?? 0) },
                    "#2ca02c"
                ),
                ("resident MiB: serve", samples.map { Double($0.serveRSS) / 1_048_576 }, "#9467bd"),
                ("resident MiB: worker", samples.map { Double($0.workerRSS) / 1_048_576 }, "#e377c2"),
            ]
        )
        try svg.write(toFile: self.output + "/series.svg", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: directory)
        if wrongCandles > 0 {
            throw ValidationError("\(wrongCandles) recorded one-minute bars differ from the simulated broker's")
        }
        if !books.problems.isEmpty {
            throw ValidationError(
                "the log disagrees with the simulated broker's books: \(books.problems.prefix(10).joined(separator: "; "))"
            )
        }
    }

    /// The simulated broker's books against the orders of the log: every broker order is held by exactly one
    /// engine order of its account (none sent twice, none adopted twice), every engine order holding a number
    /// is at the broker, and each filled what the broker filled.
    static func compareBooks(
        _ broker: SimulatedKIS,
        _ engine: [OrderID: (account: String, number: String, filled: Int64)],
        accounts: [String: String]
    ) -> (brokerOrders: Int, problems: [String]) {
        let books = broker.state.withLock { state in
            for key in state.books.keys { broker.settle(&state.books[key]!, now: broker.clock()) }
            return state.books
        }
        var holders: [String: [(OrderID, Int64)]] = [:]
        for (id, order) in engine where !order.number.isEmpty {
            holders[order.account + "|" + order.number, default: []].append((id, order.filled))
        }
        var problems: [String] = []
        var count = 0
        for (number, book) in books.sorted(by: { $0.key < $1.key }) {
            guard let account = accounts[number] else {
                problems.append("broker account \(number) belongs to no engine account")
                continue
            }
            for order in book.orders {
                count += 1
                let held = holders.removeValue(forKey: account + "|" + order.number) ?? []
                if held.count != 1 {
                    problems.append("broker order \(order.number) of \(account) is held by \(held.count) engine orders")
                } else if held[0].1 != order.filled {
                    problems.append("\(held[0].0) filled \(held[0].1), the broker \(order.filled)")
                }
            }
        }
        for (key, held) in holders {
            problems.append(
                "\(held.map(\.0.description).joined(separator: ", ")) hold broker order \(key) the broker does not have"
            )
        }
        return (count, problems)
    }

    /// "<who> p50 …, p99 …, max …" of lateness figures in minutes.
    static func lateness(_ values: [Double], _ who: String) -> String {
        guard !values.isEmpty else { return "none for \(who)" }
        let sorted = values.sorted()
        func at(_ p: Double) -> String { String(format: "%.1f", Format.percentile(sorted, p)) }
        return "\(who) p50 \(at(0.5)), p99 \(at(0.99)), max \(at(1))"
    }

    /// The same bar (stock, minute, prices, volume), whatever the timeframe field's spelling.
    static func sameBar(_ a: Candle, _ b: Candle) -> Bool {
        a.stock == b.stock && a.start == b.start && a.open == b.open && a.high == b.high && a.low == b.low
            && a.close == b.close && a.volume == b.volume
    }

    /// The values of a metric in Prometheus text (every label set).
    static func metric(_ text: String, _ name: String) -> [Double] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(name), !line.hasPrefix("#") else { return nil }
            let rest = line.dropFirst(name.count)
            guard rest.first == " " || rest.first == "{" else { return nil }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
