public import Engine
import Foundation
public import Jobs
import Ledger
public import Logging
import ServiceLifecycle
public import Storage
import Synchronization
import UnixSignals
public import Worker

/// Everything a worker's parts are built from.
public struct WorkerOptions: Sendable {
    /// The gateway that owns the engine (outcomes go to its `/internal/commands`).
    public var serverURL: String
    public var token: String
    public var redis: RedisEndpoint
    /// Consumers per queue; a queue not named has none. Default: `WorkerQueues.defaultConcurrency`.
    public var concurrency: [QueueName: Int] = Dictionary(
        uniqueKeysWithValues: QueueName.allCases.map { ($0, WorkerQueues.defaultConcurrency($0)) }
    )
    /// PostgreSQL with the sealed broker credentials, and the key that opens them (for the queues that talk to
    /// the broker).
    public var databaseURL: String?
    public var secretsKey: [UInt8]?
    /// The key before a rotation (`STOCKBOOM_SECRETS_KEY_PREVIOUS`).
    public var previousSecretsKey: [UInt8]?
    /// KIS base URL (nil: each account's real or paper host).
    public var kisBaseURL: String?
    public var kisRequestsPerSecond: Double?
    public var smtp: SMTPConfiguration?
    public var webhook: String?
    public var calendar = TradingCalendar()
    /// The session clock (token times, market hours), µs since the epoch, and how fast it runs.
    public var clock: @Sendable () -> Int64 = { wallClockMicros() }
    public var clockSpeed = 1.0
    public var pollSeconds = 2.0
    public var lockMs = 60_000
    /// A failed job's first retry waits this long (ms); each later one twice as long (`--backoff-ms`).
    public var backoffMs = 1_000
    /// Seconds between reconciliations of the KIS accounts (one also runs at start-up); nil: none.
    public var reconcileSeconds: Double? = 300
    /// Seconds between data-collection schedules; 0: none.
    public var collectSeconds = 20.0
    public var watch: [String] = []
    public var collectGroup = 25
    public var watchEvery = 1
    public var logger = Logger(label: "worker")
    /// The worker's HTTP port for `/metrics` and `/health` (nil: none; 0: any free port, see `WorkerSide.httpPort`).
    public var httpPort: Int?
    public var httpHost = "127.0.0.1"
    /// A consumer thread whose turn is older than this is hung (`/health` answers 503). A turn is one
    /// reservation (a second while the queue is empty) and the jobs it took.
    public var stallSeconds = 300.0

    public init(serverURL: String, token: String, redis: RedisEndpoint) {
        self.serverURL = serverURL
        self.token = token
        self.redis = redis
    }
}

/// The one table of the worker's queues: what runs each, and with how many consumers by default. A new
/// queue is a new `QueueName` case, and the compiler asks for its entry here.
public enum WorkerQueues {
    public static func defaultConcurrency(_ queue: QueueName) -> Int {
        switch queue {
        case .tradeExecution: 4
        case .notification: 2
        case .dataCollection: 2
        case .dataAnalysis: 2
        }
    }

    /// Whether the queue's jobs talk to the broker (and need the sealed credentials).
    public static func needsBroker(_ queue: QueueName) -> Bool {
        switch queue {
        case .tradeExecution, .dataCollection: true
        case .dataAnalysis, .notification: false
        }
    }

    /// `trade-execution=4,notification=2`: consumers per queue (1…256 each).
    public static func parseConcurrency(_ text: String) -> [QueueName: Int]? {
        var perQueue: [QueueName: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let queue = QueueName(rawValue: String(pair[0])), let count = Int(pair[1]),
                (1...256).contains(count)
            else { return nil }
            perQueue[queue] = count
        }
        return perQueue
    }

    /// The handler of a queue's jobs, and the services that feed or look after it.
    static func parts(_ queue: QueueName, _ context: WorkerContext) throws -> (
        handler: any JobHandler, services: [any Service]
    ) {
        switch queue {
        case .dataCollection:
            let brokers = try context.brokers()
            let options = context.options
            var services: [any Service] = []
            if options.collectSeconds > 0 {
                let schedule = CollectionSchedule(
                    engine: context.engine,
                    redis: options.redis,
                    calendar: options.calendar,
                    watch: options.watch,
                    group: options.collectGroup,
                    watchEvery: options.watchEvery
                )
                services.append(CollectionScheduleService(schedule: schedule, options: options))
            }
            return (
                DataCollectionHandler(
                    engine: context.engine,
                    brokers: brokers,
                    redis: options.redis,
                    clock: options.clock,
                    report: context.report
                ),
                services
            )
        case .tradeExecution:
            let brokers = try context.brokers()
            let options = context.options
            let handler = TradeExecutionHandler(
                engine: context.engine,
                brokers: brokers,
                pollSeconds: options.pollSeconds,
                clock: options.clock,
                calendar: options.calendar,
                clockSpeed: options.clockSpeed
            )
            let services: [any Service] =
                options.reconcileSeconds.map {
                    [
                        ReconciliationService(
                            reconciler: Reconciler(engine: context.engine, brokers: brokers, report: context.report),
                            seconds: $0,
                            logger: options.logger
                        )
                    ]
                } ?? []
            return (handler, services)
        case .dataAnalysis:
            return (DataAnalysisHandler(engine: context.engine), [])
        case .notification:
            let mailer = context.options.smtp.map { SMTPMailer(configuration: $0) }
            if mailer == nil {
                context.options.logger.warning(
                    "SMTP_HOST is not set: notifications are recorded as failed (no channel)"
                )
            }
            return (
                NotificationHandler(
                    engine: context.engine,
                    mailer: mailer,
                    webhook: context.options.webhook,
                    metrics: context.metrics
                ), []
            )
        }
    }
}

/// What the queues' parts share.
struct WorkerContext: Sendable {
    let options: WorkerOptions
    let engine: EngineClient
    let report: @Sendable (String) -> Void
    let directory: BrokerDirectory?
    let metrics: WorkerMetrics

    func brokers() throws -> BrokerDirectory {
        guard let directory else {
            throw AssemblyError(
                "DATABASE_URL and STOCKBOOM_SECRETS_KEY must be set for the queues that talk to the broker (the sealed KIS credentials)"
            )
        }
        return directory
    }
}

/// The worker side of the system, assembled once: for each queue in `WorkerQueues` with consumers, its
/// consumers and the services that feed it (the data-collection schedule) or look after it (reconciliation),
/// in one `ServiceGroup`. Graceful shutdown stops the schedules, then every consumer finishes the jobs it holds.
public final class WorkerSide: Sendable {
    public let consumers: [QueueConsumers]
    public let metrics: WorkerMetrics
    /// The port `/metrics` and `/health` listen on (nil: no HTTP port).
    public let httpPort: Int?
    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    private let logger: Logger
    private let signals: StartUpSignals?

    private init(
        consumers: [QueueConsumers],
        metrics: WorkerMetrics,
        httpPort: Int?,
        group: ServiceGroup,
        running: Task<Void, any Error>,
        logger: Logger,
        signals: StartUpSignals?
    ) {
        self.consumers = consumers
        self.metrics = metrics
        self.httpPort = httpPort
        self.group = group
        self.running = running
        self.logger = logger
        self.signals = signals
    }

    /// - Parameter stopOnSignals: SIGTERM and SIGINT start the graceful shutdown (`stockboom worker`).
    public static func start(options: WorkerOptions, stopOnSignals: Bool = false) async throws -> WorkerSide {
        let logger = options.logger
        // SIGTERM before the group below listens for it (during the start-up reconciliation, which waits on the
        // broker) would kill the worker mid-request: it is taken from the start, and handed to the group.
        let signals = stopOnSignals ? await StartUpSignals.start([.sigterm, .sigint]) : nil
        let engine = EngineClient(baseURL: options.serverURL, token: options.token)
        let report: @Sendable (String) -> Void = { logger.error("\($0)") }
        let metrics = WorkerMetrics()
        let queues = QueueName.allCases.filter { (options.concurrency[$0] ?? 0) > 0 }
        var directory: BrokerDirectory?
        if queues.contains(where: WorkerQueues.needsBroker), let databaseURL = options.databaseURL,
            let key = options.secretsKey
        {
            // Token times (issue, expiry, one request a minute) on the session clock, as the broker keeps them: in
            // a simulated session the broker's minute is the session's. (Request rates stay on the wall clock.)
            directory = BrokerDirectory(
                databaseURL: databaseURL,
                box: SecretBox(key: key, previous: options.previousSecretsKey),
                baseURL: options.kisBaseURL,
                engine: engine,
                clock: options.clock,
                requestsPerSecond: options.kisRequestsPerSecond,
                observer: metrics,
                redis: options.redis
            )
        }
        let context = WorkerContext(
            options: options,
            engine: engine,
            report: report,
            directory: directory,
            metrics: metrics
        )
        var consumers: [QueueConsumers] = []
        var feeders: [any Service] = []
        for queue in queues {
            let (handler, services) = try WorkerQueues.parts(queue, context)
            consumers.append(
                QueueConsumers(
                    endpoint: options.redis,
                    queue: queue,
                    concurrency: options.concurrency[queue] ?? 1,
                    handler: handler,
                    lockMs: options.lockMs,
                    backoffMs: options.backoffMs,
                    report: report,
                    observe: { metrics.job($0, $1, duration: $2) }
                )
            )
            feeders += services
        }
        // Reconciliation's start-up pass runs before any consumer or schedule: orders and strategies meet accounts
        // whose token, cash and shares agree with the broker.
        for case let reconciliation as ReconciliationService in feeders where signals?.requested != true {
            await reconciliation.reconcile()
        }
        // The HTTP port (metrics, health) first in the group, so it is the last to stop.
        let listening = BoundPort()
        let http: [any Service] =
            options.httpPort.map {
                [
                    WorkerHTTP.application(
                        consumers: consumers,
                        metrics: metrics,
                        options: options,
                        port: $0,
                        listening: listening
                    )
                ]
            } ?? []
        // Reverse order on shutdown: the schedules stop first, then the consumers finish what they hold.
        let group = ServiceGroup(
            configuration: .init(
                services: http + [ConsumersService(consumers: consumers, logger: logger)] + feeders,
                gracefulShutdownSignals: stopOnSignals ? [.sigterm, .sigint] : [],
                logger: logger
            )
        )
        signals?.forward(to: group)
        let ended = Mutex<String?>(nil)
        let running = Task {
            do { try await group.run() } catch {
                ended.withLock { $0 = "\(error)" }
                throw error
            }
        }
        // A port that cannot be bound is a start-up error, not a worker that runs unseen.
        while options.httpPort != nil, listening.port.withLock({ $0 }) == nil {
            if let error = ended.withLock({ $0 }) {
                throw AssemblyError("the worker's HTTP port \(options.httpHost):\(options.httpPort ?? 0): \(error)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        logger.info(
            "worker running",
            metadata: [
                "server": .string(options.serverURL),
                "queues": .string(
                    queues.map { "\($0.rawValue)=\(options.concurrency[$0] ?? 0)" }.joined(separator: ",")
                ),
            ]
        )
        return WorkerSide(
            consumers: consumers,
            metrics: metrics,
            httpPort: listening.port.withLock { $0 },
            group: group,
            running: running,
            logger: logger,
            signals: signals
        )
    }

    /// Jobs finished (completed or failed for good) since start, over every queue.
    public var finishedCount: Int { self.consumers.reduce(0) { $0 + $1.finishedCount } }

    /// Waits until the worker stops (a signal, or `stop()`).
    public func wait() async throws {
        try await self.running.value
    }

    /// Starts the graceful shutdown and waits for it.
    public func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.running.value
    }
}

/// The consumers as one service: started at once; on graceful shutdown each finishes the jobs it holds.
/// (Each consumer keeps a thread of its own: BLMOVE blocks its Redis connection for as long as the queue is
/// empty, which would hold a thread of the bounded blocking pool without end.)
struct ConsumersService: Service {
    let consumers: [QueueConsumers]
    let logger: Logger

    func run() async throws {
        for consumer in self.consumers { consumer.start() }
        try? await gracefulShutdown()
        self.logger.info("stopping: finishing held jobs")
        let consumers = self.consumers
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // stop() waits for the consumer threads' held jobs: a wait of its own, off the blocking pool.
            Thread {
                for consumer in consumers { consumer.stop() }
                continuation.resume()
            }.start()
        }
    }
}

/// Adds the last minute's data-collection jobs on the session clock, just after bars close
/// (`CollectionSchedule.nextTick`), every `collectSeconds` wall seconds of it.
struct CollectionScheduleService: Service {
    let schedule: CollectionSchedule
    let options: WorkerOptions

    func run() async throws {
        let clock = self.options.clock
        let speed = self.options.clockSpeed
        // whole ms: the grid is counted from midnight
        let sessionInterval = Int64((self.options.collectSeconds * speed * 1e3).rounded()) * 1_000
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do { try await self.schedule.tick(now: clock()) } catch {
                self.options.logger.error("data-collection schedule: \(error)")
            }
            let now = clock()
            let wait = Double(CollectionSchedule.nextTick(after: now, interval: sessionInterval) - now) / 1e6 / speed
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(wait)) }
        }
    }
}

/// Reconciles the KIS accounts with the broker every `seconds`.
struct ReconciliationService: Service {
    let reconciler: Reconciler
    let seconds: Double
    let logger: Logger

    func reconcile() async {
        for line in await self.reconciler.reconcileAll() {
            self.logger.info("reconciled", metadata: ["result": "\(line)"])
        }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let seconds = self.seconds
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
            guard !Task.isShuttingDownGracefully else { return }
            await self.reconcile()
        }
    }
}

/// Termination signals taken from a process's start, before its `ServiceGroup` exists: one that comes early is
/// remembered and starts the group's graceful shutdown once it is handed the group (the group also listens itself
/// once it runs; a second request changes nothing).
final class StartUpSignals: Sendable {
    private struct State {
        var requested = false
        var group: ServiceGroup?
    }
    private let state = Mutex(State())
    private let listener = Mutex<Task<Void, Never>?>(nil)

    private init() {}

    static func start(_ signals: [UnixSignal]) async -> StartUpSignals {
        let taken = StartUpSignals()
        let sequence = await UnixSignalsSequence(trapping: signals)
        taken.listener.withLock {
            $0 = Task { [weak taken] in
                for await _ in sequence { taken?.request() }
            }
        }
        return taken
    }

    deinit { self.listener.withLock { $0?.cancel() } }

    /// Whether a signal came.
    var requested: Bool { self.state.withLock { $0.requested } }

    private func request() {
        let group = self.state.withLock { state -> ServiceGroup? in
            state.requested = true
            return state.group
        }
        if let group { Task { await group.triggerGracefulShutdown() } }
    }

    func forward(to group: ServiceGroup) {
        let requested = self.state.withLock { state -> Bool in
            state.group = group
            return state.requested
        }
        if requested { Task { await group.triggerGracefulShutdown() } }
    }
}
