import Engine
import Foundation
public import Gateway
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Jobs
public import Ledger
public import Logging
public import Projections
public import Runtime
import ServiceLifecycle
public import Storage
import Synchronization
import UnixSignals
import Worker

/// What the serve side is built from. `stockboom serve` fills it from its flags and the environment; the demo
/// and the benchmarks from their own worlds.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0: a port the kernel chooses (`ServeSide.baseURL` says which).
    public var port = 3001
    /// PostgreSQL for the read models and the API; nil serves `/health` and `/metrics` only.
    public var databaseURL: String?
    /// Redis for the job queues, the live feed and health; nil runs no dispatcher.
    public var redis: RedisEndpoint?
    /// The gateway's secrets and limits (required with a database).
    public var gateway: GatewayConfiguration?
    /// The bearer token of the worker for `/internal/*`.
    public var workerToken: String?
    public var previousWorkerToken: String?
    public var internalNetworks: InternalNetworks?
    /// `STOCKBOOM_METRICS_TOKEN`: `/metrics` for a bearer of it from anywhere.
    public var metricsToken: String?
    /// `serve` terminates TLS itself (reloaded on SIGHUP); nil: plain HTTP (behind a reverse proxy).
    public var tls: TLSCertificates?
    public var databaseConnections = 4
    /// KIS for `POST /api/trades/test`'s round trip (`KIS_BASE_URL`, `KIS_REQUESTS_PER_SECOND`).
    public var kisBaseURL: String?
    public var kisRequestsPerSecond: Double?
    public var maxConnections = 1_024
    public var candleCache = 512
    /// The queue board's port (`--board-port`, `STOCKBOOM_BOARD_PORT`; the guide's 3003); nil: no board.
    public var boardPort: Int?
    /// The front-end files (`STOCKBOOM_ASSETS_DIR`; default: `.assets` of the checkout the program was built in).
    public var assetsDirectory: String? = ServeOptions.defaultAssetsDirectory()
    /// The engine's time source for commands, µs since the epoch.
    public var clock: @Sendable () -> Int64 = { wallClockMicros() }
    /// `live`: the dispatcher follows the log on its own; `stepped`: the owner calls `dispatch()` (the demo,
    /// whose driver hands a minute's bars over before their jobs exist).
    public var dispatcher = DispatcherMode.live
    /// Whether this process projects the log into PostgreSQL (a replicated installation's followers do not: the
    /// primary projects into the database all nodes share, and the next primary resumes from its checkpoints;
    /// unless the follower has read models of its own, `readModelsURL`).
    public var projections = true
    /// PostgreSQL for read models of this process's own (a follower's: `--read-database`): the projections
    /// write there, and the API's read-model queries read there; logins, sessions, credentials and person keys
    /// stay in `databaseURL`. nil: the read models are in `databaseURL`.
    public var readModelsURL: String?
    /// The node's replication for `/health` and the metrics (a replicated node); nil otherwise.
    public var replication: (@Sendable () -> ReplicationReport)?
    /// The live event feed to use (a replicated node keeps one for every serve side it starts: the feed's thread
    /// lives as long as the process); nil: a new one when `redis` is set.
    public var liveFeed: LiveEventFeed?
    /// Called with the read models' status after each pass of the projections.
    public var onProjectionPass: (@Sendable ([ProjectionStatus]) -> Void)?
    /// SIGTERM and SIGINT start the graceful shutdown (`serve`); off for an embedded system (the demo).
    public var stopOnSignals = true
    public var serverName = "stockboom"
    public var logger = Logger(label: "serve")

    /// `off`: no jobs from this process (a follower: only the primary dispatches).
    public enum DispatcherMode: Sendable { case live, stepped, off }

    public init() {}
}

/// The serve side of the system, assembled once: the engine runtime (given), the projections following the
/// log into PostgreSQL, the job dispatcher following it into Redis, and the HTTP gateway — long-running
/// parts as services of one `ServiceGroup`, so graceful shutdown happens in one place and in order: the
/// gateway stops taking requests and finishes those in flight, then the dispatcher and the projections stop
/// at a checkpoint. The runtime and the log stay open: their owner closes them (a snapshot, a clean mark).
public final class ServeSide: Sendable {
    public let log: EventLog
    public let runtime: EngineRuntime
    public let services: GatewayServices?
    public let runner: ProjectionRunner?
    public let dispatcher: JobDispatcher?
    /// `http://host:port` as bound.
    public let baseURL: String
    private let group: ServiceGroup
    private let running: Task<Void, any Error>
    private let pools: [DatabasePool]

    private init(
        log: EventLog,
        runtime: EngineRuntime,
        services: GatewayServices?,
        runner: ProjectionRunner?,
        dispatcher: JobDispatcher?,
        baseURL: String,
        group: ServiceGroup,
        running: Task<Void, any Error>,
        pools: [DatabasePool]
    ) {
        self.log = log
        self.runtime = runtime
        self.services = services
        self.runner = runner
        self.dispatcher = dispatcher
        self.baseURL = baseURL
        self.group = group
        self.running = running
        self.pools = pools
    }

    /// Starts every part and returns once the gateway listens.
    public static func start(log: EventLog, runtime: EngineRuntime, options: ServeOptions) async throws -> ServeSide {
        let logger = options.logger
        var parts: [any Service] = []
        var runner: ProjectionRunner?
        if let databaseURL = options.databaseURL, options.projections {
            let projections = try ProjectionRunner(
                log: log,
                databaseURL: databaseURL,
                readModelsURL: options.readModelsURL
            )
            runner = projections
            let onPass = options.onProjectionPass
            parts.append(
                LogFollower(name: "projections", logger: logger) { () throws -> Bool in
                    let status = try projections.pass()
                    onPass?(status)
                    return false  // wait after every pass (see ProjectionRunner.runLive)
                } recover: {
                    projections.reconnect()
                }
            )
        }
        var dispatcher: JobDispatcher?
        if let redis = options.redis, options.dispatcher != .off {
            // Job times: the wall clock when live (retries and locks are real time), the owner's clock when stepped.
            var clock: @Sendable () -> Int64 = { wallClockMicros() }
            if options.dispatcher == .stepped { clock = options.clock }
            let jobs = JobDispatcher(
                log: log,
                store: JobQueueStore(redis: RedisClient(endpoint: redis)),
                clock: clock,
                committed: { runtime.committed }
            )
            dispatcher = jobs
            if options.dispatcher == .live {
                parts.append(LogFollower(name: "job dispatcher", logger: logger) { try jobs.step() })
            }
        }

        var dependencies = GatewayDependencies(
            log: log,
            databaseURL: options.databaseURL,
            redis: options.redis,
            ordersByStatus: { runtime.committed.state.ordersByStatus(everyStatus: true) }
        )
        dependencies.readModelsURL = options.readModelsURL
        if let networks = options.internalNetworks { dependencies.internalNetworks = networks }
        dependencies.metricsToken = options.metricsToken
        dependencies.replication = options.replication
        dependencies.assetsDirectory = options.assetsDirectory
        var services: GatewayServices?
        var pools: [DatabasePool] = []
        if let databaseURL = options.databaseURL {
            guard let configuration = options.gateway else {
                throw AssemblyError("a database needs a gateway configuration (secrets)")
            }
            let database = DatabasePool(url: databaseURL, size: options.databaseConnections)
            let readModels = options.readModelsURL.map { DatabasePool(url: $0, size: options.databaseConnections) }
            pools = [database] + (readModels.map { [$0] } ?? [])
            var gateway = GatewayServices(
                dependencies: dependencies,
                runtime: runtime,
                database: database,
                readModels: readModels,
                auth: await AuthService(configuration: configuration),
                clock: options.clock,
                candleCacheCapacity: options.candleCache
            )
            gateway.workerToken = options.workerToken
            gateway.previousWorkerToken = options.previousWorkerToken
            gateway.liveFeed = options.liveFeed ?? options.redis.map { LiveEventFeed(endpoint: $0) }
            let clock = options.clock
            let brokers = BrokerDirectory(
                databaseURL: databaseURL,
                box: SecretBox(key: configuration.secretsKey, previous: configuration.previousSecretsKey),
                baseURL: options.kisBaseURL,
                engine: nil,
                clock: clock,
                requestsPerSecond: options.kisRequestsPerSecond,
                redis: options.redis,
                recordToken: { account, token in
                    guard let id = AccountID(account) else { return }
                    _ = try? await runtime.execute(
                        .issueToken(account: id, expiresAt: token.expiresAt),
                        context: CommandContext(time: clock(), correlationID: "trades-test")
                    )
                }
            )
            gateway.brokerProbe = { account, broker, stock in
                await BrokerProbe.run(brokers, account: account, broker: broker, stock: stock)
            }
            gateway.brokerAgreement = { account in await BrokerProbe.agreement(brokers, account: account) }
            services = gateway
        } else {
            logger.warning("DATABASE_URL is not set: serving /health and /metrics only, no /api")
        }
        let limiter = ConnectionLimiter(maximum: options.maxConnections)
        let listening = Mutex<Int?>(nil)
        let app = Application(
            router: Gateway.router(dependencies: dependencies, metrics: GatewayMetrics(), services: services),
            // A connection that sends no complete request head, or sits idle between requests, for 60 s is closed
            // (slow or abandoned sockets are not held for ever); a response in progress — a live stream — is not.
            server: try Self.server(
                .http1(configuration: .init(additionalChannelHandlers: [limiter.handler()], idleTimeout: .seconds(60))),
                tls: options.tls
            ),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: options.serverName),
            services: services.map { [$0.candles] } ?? [],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? options.port
                listening.withLock { $0 = port }
                logger.info("listening", metadata: ["address": "\(options.host):\(port)"])
            },
            logger: logger
        )
        // Shut down in reverse order: the gateway first, then the dispatcher and the projections.
        parts.append(app)
        if let boardPort = options.boardPort, let services {
            // The queue board on a port of its own (operators only); a port it cannot take stops `serve`, as the
            // gateway's does.
            parts.append(
                Application(
                    router: QueueBoard.router(dependencies: dependencies, services: services),
                    server: try Self.server(.http1(configuration: .init(idleTimeout: .seconds(60))), tls: options.tls),
                    configuration: .init(
                        address: .hostname(options.host, port: boardPort),
                        serverName: options.serverName
                    ),
                    onServerRunning: { channel in
                        logger.info(
                            "queue board listening",
                            metadata: ["address": "\(options.host):\(channel.localAddress?.port ?? boardPort)"]
                        )
                    },
                    logger: logger
                )
            )
        }
        let group = ServiceGroup(
            configuration: .init(
                services: parts,
                gracefulShutdownSignals: options.stopOnSignals ? [.sigterm, .sigint] : [],
                logger: logger
            )
        )
        let ended = Mutex<String?>(nil)
        let running = Task {
            do {
                try await group.run()
                ended.withLock { $0 = $0 ?? "stopped" }
            } catch {
                ended.withLock { $0 = "\(error)" }
                throw error
            }
        }
        while listening.withLock({ $0 }) == nil {
            if let failure = ended.withLock({ $0 }) {
                throw AssemblyError(
                    "the gateway could not listen on \(options.host):\(options.port) (in use?): \(failure)"
                )
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let host = options.host == "0.0.0.0" ? "127.0.0.1" : options.host
        let baseURL = "http://\(host):\(listening.withLock { $0 } ?? options.port)"
        return ServeSide(
            log: log,
            runtime: runtime,
            services: services,
            runner: runner,
            dispatcher: dispatcher,
            baseURL: baseURL,
            group: group,
            running: running,
            pools: pools
        )
    }

    /// Waits until the system stops (a signal, or `stop()`), then releases the database pools.
    public func wait() async throws {
        defer { for pool in self.pools { pool.stop() } }
        try await self.running.value
    }

    /// Starts the graceful shutdown and waits for it.
    public func stop() async {
        await self.group.triggerGracefulShutdown()
        _ = try? await self.running.value
        for pool in self.pools { pool.stop() }
    }

    /// Derives the jobs of everything committed so far (a `stepped` dispatcher).
    public func dispatch() async throws {
        guard let dispatcher = self.dispatcher else { return }
        let head = self.runtime.nextOffset
        try await blocking {
            while (try JobDispatcher.checkpoint(dispatcher.store) ?? 0) < head { try dispatcher.catchUp() }
        }
    }
}

/// Why the system could not be assembled.
extension ServeSide {
    /// Plain HTTP, or TLS around it when `serve` has its own certificate.
    static func server(_ base: HTTPServerBuilder, tls: TLSCertificates?) throws -> HTTPServerBuilder {
        guard let tls else { return base }
        return try .tls(base, tlsConfiguration: tls.configuration)
    }
}

public struct AssemblyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension ServeOptions {
    /// `.assets` (scripts/assets.sh) in the first folder above the program that has one: a checkout's
    /// `.build/<config>/stockboom` finds the checkout's. Images set `STOCKBOOM_ASSETS_DIR` instead.
    public static func defaultAssetsDirectory() -> String? {
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = folder.appendingPathComponent(".assets")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("vendor").path) {
                return candidate.path
            }
            folder.deleteLastPathComponent()
        }
        return nil
    }
}
