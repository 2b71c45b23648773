import ArgumentParser
import Engine
import Foundation
import Logging
import Gateway
import Hummingbird
import Ledger
import Projections
import Synchronization

/// `stockboom serve`: the engine, the PostgreSQL projections and the HTTP gateway in one process.
///
/// SIGTERM or SIGINT: the server stops accepting and finishes in-flight requests (Hummingbird's graceful
/// shutdown), then the projections stop at a checkpoint, the engine writes a snapshot, and the log syncs and
/// marks a clean shutdown; the process exits 0.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the engine, the projections and the HTTP gateway (port 3001).")

    @OptionGroup var log: LogDirectoryOptions
    @Option(help: "Port (default $PORT, else 3001).") var port: Int?
    @Option(help: "Address to listen on (0.0.0.0 in containers).") var host = "127.0.0.1"
    @Option(help: "PostgreSQL for the read models and health (default $DATABASE_URL).") var databaseURL: String?
    @Option(help: "Redis for health and queue metrics (default $REDIS_URL).") var redisURL: String?
    @OptionGroup var session: SessionClockOptions
    @Option(help: "PostgreSQL connections for API queries.") var databaseConnections = 4
    @Option(help: "Open HTTP connections at most (live streams included); more are closed as they open.") var maxConnections = 1_024
    @Option(help: "Newest candles kept in memory per stock and timeframe (48 bytes each); older ranges come from PostgreSQL.") var candleCache = 512

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let port = self.port ?? environment["PORT"].flatMap(Int.init) ?? 3001
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be 1...65535") }
        let databaseURL = self.databaseURL ?? environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let redisText = self.redisURL ?? environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }
        let redis = try redisText.map { text -> RedisEndpoint in
            guard let endpoint = RedisEndpoint(url: text) else { throw ValidationError("REDIS_URL must look like redis://host:port[/db]") }
            return endpoint
        }
        let eventLog = try EventLog(directory: self.log.path)
        let runtime = try EngineRuntime(log: eventLog, engine: Engine(calendar: try loadCalendar()))
        Log.serve.info("engine recovered", metadata: ["nextOffset": "\(eventLog.nextOffset)", "replayed": "\(runtime.recovery.replayedEvents)", "log": .string(self.log.path)])

        // The projections follow the log on a thread of their own (libpq blocks).
        let stopProjections = Mutex(false)
        var projectionThread: Thread?
        if let databaseURL {
            let runner = try ProjectionRunner(log: eventLog, connect: { try PostgresConnection(url: databaseURL) })
            let thread = Thread {
                runner.runLive(shouldStop: { stopProjections.withLock { $0 } }, onError: { error in
                    Log.serve.error("projection error, retrying", metadata: ["error": "\(error)"])
                })
            }
            thread.start()
            projectionThread = thread
        }

        // The job dispatcher follows the log into the Redis queues on a thread of its own (hiredis blocks).
        let stopDispatcher = Mutex(false)
        var dispatcherThread: Thread?
        if let redis {
            let dispatcher = JobDispatcher(log: eventLog, store: JobQueueStore(redis: RedisClient(endpoint: redis)), clock: { wallClockMicros() }, committed: { runtime.committed })
            let thread = Thread {
                dispatcher.runLive(shouldStop: { stopDispatcher.withLock { $0 } }, onError: { error in
                    Log.serve.error("job dispatcher error, retrying", metadata: ["error": "\(error)"])
                })
            }
            thread.start()
            dispatcherThread = thread
        }

        var dependencies = GatewayDependencies(log: eventLog, databaseURL: databaseURL, redis: redis, ordersByStatus: {
            runtime.committed.state.ordersByStatus(everyStatus: true)
        })
        if let text = environment["STOCKBOOM_INTERNAL_NETWORKS"], !text.isEmpty {
            guard let networks = InternalNetworks(text) else {
                throw ValidationError("STOCKBOOM_INTERNAL_NETWORKS must be comma-separated CIDRs such as 127.0.0.0/8,10.0.0.0/8; got '\(text)'")
            }
            dependencies.internalNetworks = networks
        }
        var services: GatewayServices?
        var pool: DatabasePool?
        if let databaseURL {
            var (configuration, warnings) = try GatewayConfiguration.fromEnvironment(environment)
            configuration.installationID = try Installation.id(logDirectory: self.log.path)
            for warning in warnings { Log.serve.warning("\(warning)") }
            let database = DatabasePool(url: databaseURL, size: self.databaseConnections)
            pool = database
            let clock = try self.session.clock()
            guard self.candleCache > 0 else { throw ValidationError("--candle-cache must be positive") }
            var gateway = GatewayServices(
                dependencies: dependencies, runtime: runtime, database: database, auth: await AuthService(configuration: configuration), clock: clock,
                candleCacheCapacity: self.candleCache
            )
            gateway.workerToken = try WorkerToken.establish(environment: environment, logDirectory: self.log.path)
            gateway.liveFeed = redis.map { LiveEventFeed(endpoint: $0) }
            services = gateway
        } else {
            Log.serve.warning("DATABASE_URL is not set: serving /health and /metrics only, no /api")
        }
        guard self.maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        let limiter = ConnectionLimiter(maximum: self.maxConnections)
        let app = Application(
            router: Gateway.router(dependencies: dependencies, metrics: GatewayMetrics(), services: services),
            // A connection that sends no complete request head, or sits idle between requests, for 60 s is closed
            // (slow or abandoned sockets are not held for ever); a response in progress — a live stream — is not.
            server: .http1(configuration: .init(additionalChannelHandlers: [limiter.handler()], idleTimeout: .seconds(60))),
            configuration: .init(address: .hostname(self.host, port: port), serverName: "stockboom"),
            services: services.map { [$0.candles] } ?? [],
            onServerRunning: { _ in Log.serve.info("listening", metadata: ["address": "\(self.host):\(port)"]) }
        )
        try await app.runService()

        pool?.stop()
        stopProjections.withLock { $0 = true }
        stopDispatcher.withLock { $0 = true }
        while projectionThread?.isExecuting == true || dispatcherThread?.isExecuting == true { try await Task.sleep(nanoseconds: 10_000_000) }
        await runtime.close()
        eventLog.close()
        Log.serve.info("stopped cleanly", metadata: ["nextOffset": "\(eventLog.nextOffset)"])
    }
}
