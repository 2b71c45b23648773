import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Logging
import Runtime
import Storage
import Worker

/// `stockboom worker`: the queue consumers. Outcomes go to the engine through the gateway (`--server`).
///
/// SIGTERM or SIGINT: every consumer finishes the job it holds (recording its outcome), then the process
/// exits 0. A SIGKILL leaves held jobs locked until the lock expires; they then run again (idempotent).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run the job queue consumers (data-collection, data-analysis, trade-execution, notification)."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option(
        help:
            "The gateway that owns the engine; a replicated installation lists every node, comma-separated (default $STOCKBOOM_SERVER_URL, else http://127.0.0.1:$PORT or 3001)."
    ) var server: String?
    @Option(help: "Consumers per queue, e.g. trade-execution=4,notification=2,data-collection=2.") var concurrency =
        QueueName.allCases.map { "\($0.rawValue)=\(WorkerQueues.defaultConcurrency($0))" }.joined(separator: ",")
    @Option(help: "Seconds between looks at a resting order.") var pollSeconds = 2.0
    @Option(help: "Milliseconds a reserved job stays locked; a worker dead longer than this has its jobs run again.")
    var lockMs = 60_000
    @Option(help: "Milliseconds before a failed job's first retry; each later retry waits twice as long.")
    var backoffMs = 1_000
    @Option(help: "Seconds between reconciliations of the KIS accounts (one also runs at start-up).")
    var reconcileSeconds = 300.0
    @Option(
        help:
            "Seconds between data-collection schedules (each adds the last minute's jobs; a minute is collected once), on the session clock just after a minute's bar closes."
    ) var collectSeconds = 20.0
    @Option(
        help:
            "Stocks to collect besides those a KIS account trades by strategy: comma-separated codes, or `all` (every listed stock)."
    ) var watch = ""
    @Option(help: "Stocks per data-collection job (fetched a few at a time; their candles sent in one batch).")
    var collectGroup = 25
    @Option(
        help:
            "Minutes a watched stock nobody trades by strategy waits between collections (KIS pages hold 30 minutes; 1: every schedule). Strategy stocks are collected every schedule."
    ) var watchEvery = 1
    @Option(
        help:
            "The worker's HTTP port for /metrics and /health (default $STOCKBOOM_WORKER_PORT, else 3005; 0: any free port)."
    ) var httpPort: Int?
    @Option(help: "The address the HTTP port binds (default $STOCKBOOM_WORKER_HOST, else 127.0.0.1).") var httpHost:
        String?
    @Flag(help: "No HTTP port (no /metrics, no /health).") var noHTTP = false
    @Option(help: "Seconds a consumer's turn may take before /health calls the worker hung (answers 503).")
    var stallSeconds = 300.0
    @OptionGroup var session: SessionClockOptions

    /// `KIS_REQUESTS_PER_SECOND`: the per-app-key request rate, when KIS grants other than its default.
    static func requestsPerSecond(_ environment: [String: String]) throws -> Double? {
        guard let text = environment["KIS_REQUESTS_PER_SECOND"], !text.isEmpty else { return nil }
        guard let rate = Double(text), rate > 0, rate <= 1_000_000 else {
            throw ValidationError("KIS_REQUESTS_PER_SECOND must be a number in (0, 1000000]; got '\(text)'")
        }
        return rate
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let redisText = environment["REDIS_URL"], let redis = RedisEndpoint(url: redisText) else {
            throw ValidationError("REDIS_URL must be set (redis://host:port[/db])")
        }
        let serverURL =
            self.server ?? environment["STOCKBOOM_SERVER_URL"] ?? "http://127.0.0.1:\(environment["PORT"] ?? "3001")"
        guard let token = WorkerToken.read(environment: environment, logDirectory: self.log.path), !token.isEmpty else {
            throw ValidationError(
                "no worker token: set STOCKBOOM_WORKER_TOKEN, or run beside `stockboom serve --dir \(self.log.path)` (it writes worker.token)"
            )
        }
        guard let perQueue = WorkerQueues.parseConcurrency(self.concurrency) else {
            throw ValidationError(
                "--concurrency takes queue=count pairs (1…256) of \(QueueName.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        var options = WorkerOptions(serverURL: serverURL, token: token, redis: redis)
        options.concurrency = perQueue
        if perQueue.keys.contains(where: WorkerQueues.needsBroker) {
            guard let databaseURL = environment["DATABASE_URL"], !databaseURL.isEmpty else {
                throw ValidationError("DATABASE_URL must be set (broker credentials)")
            }
            guard let keyText = environment["STOCKBOOM_SECRETS_KEY"], let key = SecretBox.parseKey(keyText) else {
                throw ValidationError(
                    "STOCKBOOM_SECRETS_KEY must be set to the gateway's key (it opens the sealed KIS credentials)"
                )
            }
            options.databaseURL = databaseURL
            options.secretsKey = key
            if let text = environment["STOCKBOOM_SECRETS_KEY_PREVIOUS"], !text.isEmpty {
                guard let previous = SecretBox.parseKey(text) else {
                    throw ValidationError("STOCKBOOM_SECRETS_KEY_PREVIOUS must be a 32-byte key (hex or base64)")
                }
                options.previousSecretsKey = previous
            }
        }
        options.kisBaseURL = environment["KIS_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        options.kisRequestsPerSecond = try Self.requestsPerSecond(environment)
        options.smtp = SMTPConfiguration.fromEnvironment(environment)
        options.webhook = environment["NOTIFY_WEBHOOK_URL"].flatMap { $0.isEmpty ? nil : $0 }
        options.calendar = try loadCalendar()
        options.clock = try self.session.clock()
        options.clockSpeed = self.session.clockStart == nil ? 1 : self.session.clockSpeed
        options.pollSeconds = self.pollSeconds
        options.lockMs = self.lockMs
        guard (1...3_600_000).contains(self.backoffMs) else {
            throw ValidationError("--backoff-ms must be 1...3600000")
        }
        options.backoffMs = self.backoffMs
        options.reconcileSeconds = self.reconcileSeconds
        options.collectSeconds = self.collectSeconds
        options.watch = self.watch.split(separator: ",").map { String($0) }
        options.collectGroup = self.collectGroup
        options.watchEvery = self.watchEvery
        options.logger = Log.worker
        if !self.noHTTP {
            let text = environment["STOCKBOOM_WORKER_PORT"].flatMap { $0.isEmpty ? nil : $0 }
            guard let port = self.httpPort ?? (text.map { Int($0) } ?? 3005), (0...65535).contains(port) else {
                throw ValidationError("STOCKBOOM_WORKER_PORT must be a port number (0…65535)")
            }
            options.httpPort = port
            options.httpHost =
                self.httpHost ?? environment["STOCKBOOM_WORKER_HOST"].flatMap { $0.isEmpty ? nil : $0 }
                ?? "127.0.0.1"
        }
        guard self.stallSeconds >= 1, self.stallSeconds <= 86_400 else {
            throw ValidationError("--stall-seconds must be between 1 and 86400")
        }
        options.stallSeconds = self.stallSeconds
        let worker = try await WorkerSide.start(options: options, stopOnSignals: true)
        try await worker.wait()
        Log.worker.info("worker stopped cleanly", metadata: ["jobsFinished": "\(worker.finishedCount)"])
    }
}

/// `stockboom queues status|retry-failed|rebuild`.
struct QueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "Inspect and repair the Redis job queues.",
        subcommands: [QueueStatusCommand.self, QueueRetryCommand.self, QueueRebuildCommand.self]
    )
}

func jobStore() throws -> JobQueueStore {
    guard let text = ProcessInfo.processInfo.environment["REDIS_URL"], let endpoint = RedisEndpoint(url: text) else {
        throw ValidationError("REDIS_URL must be set (redis://host:port[/db])")
    }
    return JobQueueStore(redis: RedisClient(endpoint: endpoint))
}

struct QueueStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Jobs per queue and state (the bull:<queue>:* keys)."
    )

    func run() throws {
        let store = try jobStore()
        print("queue             wait  active  delayed  completed  failed")
        for queue in QueueName.allCases {
            let counts = try store.counts(queue)
            print(
                queue.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + [counts.wait, counts.active, counts.delayed, counts.completed, counts.failed].enumerated().map {
                        index,
                        value in
                        String(value).leftPadded([6, 8, 9, 11, 8][index])
                    }.joined()
            )
        }
        let checkpoint = try JobDispatcher.checkpoint(store)
        print(
            "dispatcher checkpoint: \(checkpoint.map(String.init) ?? "none (the dispatcher derives everything pending from offset 0)")"
        )
    }
}

struct QueueRetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry-failed",
        abstract: "Put a queue's failed jobs back to wait, attempts reset."
    )
    @Argument(help: "data-collection, data-analysis, trade-execution or notification") var queue: String

    func run() throws {
        guard let name = QueueName(rawValue: self.queue) else {
            throw ValidationError(
                "unknown queue '\(self.queue)': \(QueueName.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        print("\(try jobStore().retryFailed(name)) job(s) of \(name.rawValue) back in wait")
    }
}

struct QueueRebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract:
            "Recreate pending jobs from the log (after FLUSHALL): replays the engine state, derives the work still pending; existing jobs are left alone."
    )
    @OptionGroup var log: LogDirectoryOptions

    func run() throws {
        let store = try jobStore()
        let eventLog = try EventLog(directory: self.log.path, readOnly: true)
        defer { eventLog.close() }
        let (state, _) = try EngineRuntime.recover(
            log: eventLog,
            snapshots: SnapshotStore(logDirectory: eventLog.directory),
            toOffset: nil
        )
        let head = eventLog.nextOffset
        let dispatcher = JobDispatcher(
            log: eventLog,
            store: store,
            clock: { wallClockMicros() },
            committed: { (state, head) }
        )
        let added = try dispatcher.rebuild()
        print("\(added) pending job(s) recreated from \(head) events")
    }
}
