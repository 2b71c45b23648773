import ArgumentParser
import Engine
import Foundation
import Logging
import Ledger
import Projections
import Synchronization
import Worker

/// `stockboom worker`: the queue consumers. Outcomes go to the engine through the gateway (`--server`).
///
/// SIGTERM or SIGINT: every consumer finishes the job it holds (recording its outcome), then the process
/// exits 0. A SIGKILL leaves held jobs locked until the lock expires; they then run again (idempotent).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run the job queue consumers (data-collection, data-analysis, trade-execution, notification).")

    @OptionGroup var log: LogDirectoryOptions
    @Option(help: "The gateway that owns the engine (default $STOCKBOOM_SERVER_URL, else http://127.0.0.1:$PORT or 3001).") var server: String?
    @Option(help: "Consumers per queue, e.g. trade-execution=4,notification=2,data-collection=2.") var concurrency = "trade-execution=4,notification=2,data-collection=2,data-analysis=2"
    @Option(help: "Seconds between looks at a resting order.") var pollSeconds = 2.0
    @Option(help: "Milliseconds a reserved job stays locked; a worker dead longer than this has its jobs run again.") var lockMs = 60_000
    @Option(help: "Seconds between reconciliations of the KIS accounts (one also runs at start-up).") var reconcileSeconds = 300.0
    @Option(help: "Seconds between data-collection schedules (each adds the last minute's jobs; a minute is collected once), on the session clock just after a minute's bar closes.") var collectSeconds = 20.0
    @Option(help: "Stocks to collect besides those a KIS account trades by strategy: comma-separated codes, or `all` (every listed stock).") var watch = ""
    @Option(help: "Stocks per data-collection job (fetched a few at a time; their candles sent in one batch).") var collectGroup = 25
    @Option(help: "Minutes a watched stock nobody trades by strategy waits between collections (KIS pages hold 30 minutes; 1: every schedule). Strategy stocks are collected every schedule.") var watchEvery = 1
    @OptionGroup var session: SessionClockOptions

    /// `KIS_REQUESTS_PER_SECOND`: the per-app-key request rate, when KIS grants other than its default.
    static func requestsPerSecond(_ environment: [String: String]) throws -> Double? {
        guard let text = environment["KIS_REQUESTS_PER_SECOND"], !text.isEmpty else { return nil }
        guard let rate = Double(text), rate > 0, rate <= 1_000_000 else { throw ValidationError("KIS_REQUESTS_PER_SECOND must be a number in (0, 1000000]; got '\(text)'") }
        return rate
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let redisText = environment["REDIS_URL"], let redis = RedisEndpoint(url: redisText) else {
            throw ValidationError("REDIS_URL must be set (redis://host:port[/db])")
        }
        let serverURL = self.server ?? environment["STOCKBOOM_SERVER_URL"] ?? "http://127.0.0.1:\(environment["PORT"] ?? "3001")"
        guard let token = WorkerToken.read(environment: environment, logDirectory: self.log.path), !token.isEmpty else {
            throw ValidationError("no worker token: set STOCKBOOM_WORKER_TOKEN, or run beside `stockboom serve --dir \(self.log.path)` (it writes worker.token)")
        }
        var perQueue: [QueueName: Int] = [:]
        for part in self.concurrency.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let queue = QueueName(rawValue: String(pair[0])), let count = Int(pair[1]), (1...256).contains(count) else {
                throw ValidationError("--concurrency takes queue=count pairs (1…256) of \(QueueName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            perQueue[queue] = count
        }
        let engine = EngineClient(baseURL: serverURL, token: token)
        let report: @Sendable (String) -> Void = { message in
            Log.worker.error("\(message)")
        }
        var consumers: [QueueConsumers] = []
        var reconciliation: Task<Void, Never>?
        var collection: Task<Void, Never>?
        let clock = try self.session.clock()
        var brokers: BrokerDirectory?
        if perQueue[.tradeExecution] != nil || perQueue[.dataCollection] != nil {
            guard let databaseURL = environment["DATABASE_URL"], !databaseURL.isEmpty else { throw ValidationError("DATABASE_URL must be set (broker credentials)") }
            guard let keyText = environment["STOCKBOOM_SECRETS_KEY"], let key = SecretBox.parseKey(keyText) else {
                throw ValidationError("STOCKBOOM_SECRETS_KEY must be set to the gateway's key (it opens the sealed KIS credentials)")
            }
            // Token times (issue, expiry, one request a minute) on the session clock, as the broker keeps them: in
            // a simulated session the broker's minute is the session's. (Request rates stay on the wall clock.)
            brokers = BrokerDirectory(databaseURL: databaseURL, box: SecretBox(key: key), baseURL: environment["KIS_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 },
                                      engine: engine, clock: clock, requestsPerSecond: try Self.requestsPerSecond(environment))
        }
        if let count = perQueue[.dataCollection], let brokers {
            consumers.append(QueueConsumers(endpoint: redis, queue: .dataCollection, concurrency: count, handler: DataCollectionHandler(engine: engine, brokers: brokers, redis: redis), lockMs: self.lockMs, report: report))
            let schedule = CollectionSchedule(engine: engine, redis: redis, calendar: try loadCalendar(), watch: self.watch.split(separator: ",").map { String($0) }, group: self.collectGroup, watchEvery: self.watchEvery)
            let interval = self.collectSeconds
            if interval > 0 {
                // Ticks on the session clock, just after bars close (CollectionSchedule.nextTick), every
                // `interval` wall seconds of it.
                let speed = self.session.clockStart == nil ? 1 : self.session.clockSpeed
                let sessionInterval = Int64((interval * speed * 1e3).rounded()) * 1_000  // whole ms: the grid is counted from midnight
                collection = Task {
                    while !Task.isCancelled {
                        do { try await schedule.tick(now: clock()) } catch { report("data-collection schedule: \(error)") }
                        let now = clock()
                        let wait = Double(CollectionSchedule.nextTick(after: now, interval: sessionInterval) - now) / 1e6 / speed
                        try? await Task.sleep(for: .seconds(wait))
                    }
                }
            }
        }
        if let count = perQueue[.tradeExecution], let brokers {
            consumers.append(QueueConsumers(endpoint: redis, queue: .tradeExecution, concurrency: count, handler: TradeExecutionHandler(engine: engine, brokers: brokers, pollSeconds: self.pollSeconds, clock: clock, calendar: try loadCalendar()), lockMs: self.lockMs, report: report))
            let reconciler = Reconciler(engine: engine, brokers: brokers, report: report)
            let interval = self.reconcileSeconds
            // The start-up pass runs before any consumer or schedule: orders and strategies meet accounts whose
            // token, cash and shares agree with the broker.
            for line in await reconciler.reconcileAll() {
                Log.worker.info("reconciled", metadata: ["result": "\(line)"])
            }
            reconciliation = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(interval))
                    for line in await reconciler.reconcileAll() {
                        Log.worker.info("reconciled", metadata: ["result": "\(line)"])
                    }
                }
            }
        }
        if let count = perQueue[.dataAnalysis] {
            consumers.append(QueueConsumers(endpoint: redis, queue: .dataAnalysis, concurrency: count, handler: DataAnalysisHandler(engine: engine), lockMs: self.lockMs, report: report))
        }
        if let count = perQueue[.notification] {
            let mailer = SMTPConfiguration.fromEnvironment(environment).map { SMTPMailer(configuration: $0) }
            if mailer == nil { Log.worker.warning("SMTP_HOST is not set: notifications are recorded as failed (no channel)") }
            let webhook = environment["NOTIFY_WEBHOOK_URL"].flatMap { $0.isEmpty ? nil : $0 }
            consumers.append(QueueConsumers(endpoint: redis, queue: .notification, concurrency: count, handler: NotificationHandler(engine: engine, mailer: mailer, webhook: webhook), lockMs: self.lockMs, report: report))
        }
        for consumer in consumers { consumer.start() }
        Log.worker.info("worker running", metadata: ["server": .string(serverURL), "queues": .string(self.concurrency)])
        await waitForTerminationSignal()
        Log.worker.info("stopping: finishing held jobs")
        reconciliation?.cancel()
        collection?.cancel()
        let running = consumers
        let finished = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            Thread {
                for consumer in running { consumer.stop() }
                continuation.resume(returning: running.reduce(0) { $0 + $1.finishedCount })
            }.start()
        }
        Log.worker.info("worker stopped cleanly", metadata: ["jobsFinished": "\(finished)"])
    }
}

/// `stockboom queues status|retry-failed|rebuild`.
struct QueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Inspect and repair the Redis job queues.",
        subcommands: [QueueStatusCommand.self, QueueRetryCommand.self, QueueRebuildCommand.self])
}

func jobStore() throws -> JobQueueStore {
    guard let text = ProcessInfo.processInfo.environment["REDIS_URL"], let endpoint = RedisEndpoint(url: text) else {
        throw ValidationError("REDIS_URL must be set (redis://host:port[/db])")
    }
    return JobQueueStore(redis: RedisClient(endpoint: endpoint))
}

struct QueueStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Jobs per queue and state (the bull:<queue>:* keys).")

    func run() throws {
        let store = try jobStore()
        print("queue             wait  active  delayed  completed  failed")
        for queue in QueueName.allCases {
            let counts = try store.counts(queue)
            print(queue.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                + [counts.wait, counts.active, counts.delayed, counts.completed, counts.failed].enumerated().map { index, value in
                    String(value).leftPadded([6, 8, 9, 11, 8][index])
                }.joined())
        }
        let checkpoint = try JobDispatcher.checkpoint(store)
        print("dispatcher checkpoint: \(checkpoint.map(String.init) ?? "none (the dispatcher derives everything pending from offset 0)")")
    }
}

struct QueueRetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "retry-failed", abstract: "Put a queue's failed jobs back to wait, attempts reset.")
    @Argument(help: "data-collection, data-analysis, trade-execution or notification") var queue: String

    func run() throws {
        guard let name = QueueName(rawValue: self.queue) else {
            throw ValidationError("unknown queue '\(self.queue)': \(QueueName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        print("\(try jobStore().retryFailed(name)) job(s) of \(name.rawValue) back in wait")
    }
}

struct QueueRebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Recreate pending jobs from the log (after FLUSHALL): replays the engine state, derives the work still pending; existing jobs are left alone.")
    @OptionGroup var log: LogDirectoryOptions

    func run() throws {
        let store = try jobStore()
        let eventLog = try EventLog(directory: self.log.path, readOnly: true)
        defer { eventLog.close() }
        let (state, _) = try EngineRuntime.recover(log: eventLog, snapshots: SnapshotStore(logDirectory: eventLog.directory), toOffset: nil)
        let head = eventLog.nextOffset
        let dispatcher = JobDispatcher(log: eventLog, store: store, clock: { wallClockMicros() }, committed: { (state, head) })
        let added = try dispatcher.rebuild()
        print("\(added) pending job(s) recreated from \(head) events")
    }
}
