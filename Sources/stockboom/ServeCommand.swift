import ArgumentParser
import Assembly
import Engine
import Foundation
import Gateway
import Jobs
import Ledger
import Logging
import Replication
import Runtime
import Storage
import UnixSignals

/// `stockboom serve`: the engine, the PostgreSQL projections and the HTTP gateway in one process.
///
/// SIGTERM or SIGINT: the server stops accepting and finishes in-flight requests (Hummingbird's graceful
/// shutdown), then the projections stop at a checkpoint, the engine writes a snapshot, and the log syncs and
/// marks a clean shutdown; the process exits 0.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the engine, the projections and the HTTP gateway (port 3001)."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option(help: "Port (default $PORT, else 3001).") var port: Int?
    @Option(help: "Address to listen on (0.0.0.0 in containers).") var host = "127.0.0.1"
    @Option(help: "PostgreSQL for the read models and health (default $DATABASE_URL).") var databaseURL: String?
    @Option(help: "Redis for health and queue metrics (default $REDIS_URL).") var redisURL: String?
    @OptionGroup var session: SessionClockOptions
    @Option(
        help:
            "PostgreSQL connections for API queries (default: DATABASE_URL's connection_limit, else 4)."
    ) var databaseConnections: Int?
    @Option(help: "Open HTTP connections at most (live streams included); more are closed as they open.")
    var maxConnections = 1_024
    @Option(
        help:
            "Newest candles kept in memory per stock and timeframe (48 bytes each); older ranges come from PostgreSQL."
    ) var candleCache = 512
    @Option(
        help:
            "The queue board's port, operators only (the guide's 3003; default $STOCKBOOM_BOARD_PORT; unset: no board)."
    ) var boardPort: Int?
    @Option(
        help:
            "The stale-bar guard: a strategy's order is placed only on a bar that closed at most this many session seconds before (default $STOCKBOOM_MAX_BAR_AGE, else two bar intervals; with --clock-speed, two bar intervals of wall time); older bars record SignalSkipped."
    ) var maxBarAge: Double?
    @Option(
        help: ArgumentHelp(
            "Replicate the log over NATS JetStream: sync (acknowledge after the stream's quorum) or async (default $STOCKBOOM_REPLICATION; unset: a single node).",
            valueName: "sync|async"
        )
    ) var replication: String?
    @Option(help: "NATS servers, comma-separated (default $NATS_URL, else nats://127.0.0.1:4222).") var nats: String?
    @Option(help: "This node's name in the cluster (default $STOCKBOOM_NODE, else the host name).") var node: String?
    @Option(help: "The URL clients reach this node's API at (default $STOCKBOOM_ADVERTISE_URL, else http://host:port).")
    var advertiseURL: String?
    @Option(help: "The leadership lease's time in ms (default $STOCKBOOM_LEASE_MS, else 2000).") var leaseMs: Int64?
    @Option(
        help:
            "A follower's own read models: PostgreSQL it projects its log into and answers read queries from (default $STOCKBOOM_READ_DATABASE_URL; needs --replication)."
    ) var readDatabase: String?

    /// The engine with the KRX calendar and the stale-bar limit (`--max-bar-age`).
    func engine() throws -> Engine {
        let configured =
            try self.maxBarAge
            ?? ProcessInfo.processInfo.environment["STOCKBOOM_MAX_BAR_AGE"].flatMap { text -> Double? in
                guard !text.isEmpty else { return nil }
                guard let value = Double(text) else {
                    throw ValidationError("STOCKBOOM_MAX_BAR_AGE must be seconds, got '\(text)'")
                }
                return value
            }
        if let configured {
            guard configured.isFinite, configured > 0, configured <= 86_400 * 366 else {
                throw ValidationError("--max-bar-age must be 0 to 366 days of seconds")
            }
            return Engine(calendar: try loadCalendar(), maxBarAge: Int64(configured * 1e6))
        }
        let speed = self.session.clockStart == nil ? 1 : self.session.clockSpeed
        // An accelerated session: two one-minute bars of wall time (the worker's pace is the wall clock's).
        let age = speed > 1 ? Int64((120 * speed).rounded()) * 1_000_000 : nil
        return Engine(calendar: try loadCalendar(), maxBarAge: age)
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var options = ServeOptions()
        options.host = self.host
        options.port = self.port ?? environment["PORT"].flatMap(Int.init) ?? 3001
        guard (1...65_535).contains(options.port) else { throw ValidationError("--port must be 1...65535") }
        guard self.maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard self.candleCache > 0 else { throw ValidationError("--candle-cache must be positive") }
        options.maxConnections = self.maxConnections
        options.candleCache = self.candleCache
        options.boardPort = self.boardPort ?? environment["STOCKBOOM_BOARD_PORT"].flatMap { Int($0) }
        if let board = options.boardPort {
            guard (1...65_535).contains(board), board != options.port else {
                throw ValidationError("--board-port must be 1...65535 and not the gateway's port")
            }
        }
        if let assets = environment["STOCKBOOM_ASSETS_DIR"], !assets.isEmpty { options.assetsDirectory = assets }
        options.databaseURL = self.databaseURL ?? environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        var limit: Int?
        if let url = options.databaseURL {
            do { limit = try PostgresURL.split(url).connectionLimit } catch { throw ValidationError(error.message) }
        }
        options.databaseConnections = self.databaseConnections ?? limit ?? 4
        guard (1...1_000).contains(options.databaseConnections) else {
            throw ValidationError("--database-connections must be 1...1000")
        }
        options.redis = try (self.redisURL ?? environment["REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 }).map { text in
            guard let endpoint = RedisEndpoint(url: text) else {
                throw ValidationError("REDIS_URL must look like redis://host:port[/db]")
            }
            return endpoint
        }
        if let text = environment["STOCKBOOM_INTERNAL_NETWORKS"], !text.isEmpty {
            guard let networks = InternalNetworks(text) else {
                throw ValidationError(
                    "STOCKBOOM_INTERNAL_NETWORKS must be comma-separated CIDRs such as 127.0.0.0/8,10.0.0.0/8; got '\(text)'"
                )
            }
            options.internalNetworks = networks
        }
        options.clock = try self.session.clock()
        options.logger = Log.serve
        options.metricsToken = environment["STOCKBOOM_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        let certificate = environment["STOCKBOOM_TLS_CERT"].flatMap { $0.isEmpty ? nil : $0 }
        let key = environment["STOCKBOOM_TLS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        var reloading: Task<Void, Never>?
        switch (certificate, key) {
        case (nil, nil):
            // SIGHUP's default action ends the process: an operator's `kill -HUP` (runbook 17) must not.
            reloading = Task {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    Log.serve.info("SIGHUP: no TLS certificate to reload (STOCKBOOM_TLS_CERT is not set)")
                }
            }
        case (let certificate?, let key?):
            do {
                let tls = try TLSCertificates(certificatePath: certificate, keyPath: key)
                options.tls = tls
                reloading = tls.reloadOnHangUp(logger: Log.serve)
            } catch {
                throw ValidationError("STOCKBOOM_TLS_CERT/STOCKBOOM_TLS_KEY: \(error)")
            }
        default:
            throw ValidationError("set both STOCKBOOM_TLS_CERT and STOCKBOOM_TLS_KEY (PEM files), or neither")
        }
        defer { reloading?.cancel() }
        try FileManager.default.createDirectory(atPath: self.log.path, withIntermediateDirectories: true)
        let replication = try self.replicationSettings(environment, port: options.port)
        options.readModelsURL =
            self.readDatabase
            ?? environment["STOCKBOOM_READ_DATABASE_URL"].flatMap {
                $0.isEmpty ? nil : $0
            }
        if options.readModelsURL != nil, replication == nil || options.databaseURL == nil {
            throw ValidationError(
                "--read-database (STOCKBOOM_READ_DATABASE_URL) is a follower's own read models: it needs --replication and DATABASE_URL"
            )
        }
        if options.databaseURL != nil {
            var (configuration, warnings) = try GatewayConfiguration.fromEnvironment(environment)
            // Sessions name their installation; the nodes of a replicated one share it, so a session survives a
            // failover (STOCKBOOM_INSTALLATION_ID, else the stream's name).
            configuration.installationID =
                try environment["STOCKBOOM_INSTALLATION_ID"].flatMap { $0.isEmpty ? nil : $0 }
                ?? replication.map { "replicated:" + $0.stream }
                ?? Installation.id(logDirectory: self.log.path)
            for warning in warnings { Log.serve.warning("\(warning)") }
            options.gateway = configuration
            options.workerToken = try WorkerToken.establish(environment: environment, logDirectory: self.log.path)
            options.kisBaseURL = environment["KIS_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
            options.kisRequestsPerSecond = try WorkerCommand.requestsPerSecond(environment)
            options.previousWorkerToken = environment["STOCKBOOM_WORKER_TOKEN_PREVIOUS"].flatMap {
                $0.isEmpty ? nil : $0
            }
        }
        if let settings = replication {
            let node = ReplicatedNode(
                settings: settings,
                directory: self.log.path,
                serve: options,
                engine: try self.engine(),
                logger: Log.serve
            )
            Log.serve.info(
                "replicated node starting",
                metadata: [
                    "node": .string(settings.node), "mode": .string(settings.mode.rawValue),
                    "nats": .string(settings.servers.joined(separator: ",")), "version": .string(BuildInfo.version),
                ]
            )
            try await node.run()
            Log.serve.info("stopped cleanly")
            return
        }
        let eventLog = try EventLog(directory: self.log.path)
        let runtime = try EngineRuntime(log: eventLog, engine: try self.engine())
        Log.serve.info(
            "engine recovered",
            metadata: [
                "nextOffset": "\(eventLog.nextOffset)", "replayed": "\(runtime.recovery.replayedEvents)",
                "log": .string(self.log.path), "version": .string(BuildInfo.version),
            ]
        )
        let system = try await ServeSide.start(log: eventLog, runtime: runtime, options: options)
        try await system.wait()
        await runtime.close()
        eventLog.close()
        Log.serve.info("stopped cleanly", metadata: ["nextOffset": "\(eventLog.nextOffset)"])
    }

    /// Replication from the flags and the environment, or nil for a single node.
    private func replicationSettings(_ environment: [String: String], port: Int) throws -> ReplicationSettings? {
        let text = self.replication ?? environment["STOCKBOOM_REPLICATION"].flatMap { $0.isEmpty ? nil : $0 }
        guard let text, text != "off" else { return nil }
        guard let mode = ReplicationMode(rawValue: text) else {
            throw ValidationError("--replication must be sync, async or off; got '\(text)'")
        }
        let servers = (self.nats ?? environment["NATS_URL"] ?? "nats://127.0.0.1:4222")
            .split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !servers.isEmpty, servers.allSatisfy({ $0.hasPrefix("nats://") }) else {
            throw ValidationError("NATS servers must look like nats://host:port[,nats://host:port...]")
        }
        let node = self.node ?? environment["STOCKBOOM_NODE"] ?? ProcessInfo.processInfo.hostName
        guard !node.isEmpty, node.count <= 64, node.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
        else {
            throw ValidationError("the node name must be 1-64 letters, digits, '-', '_' or '.'")
        }
        let host = self.host == "0.0.0.0" ? "127.0.0.1" : self.host
        let advertise = self.advertiseURL ?? environment["STOCKBOOM_ADVERTISE_URL"] ?? "http://\(host):\(port)"
        var settings = ReplicationSettings(servers: servers, mode: mode, node: node, advertiseURL: advertise)
        if let lease = self.leaseMs ?? environment["STOCKBOOM_LEASE_MS"].flatMap(Int64.init) {
            guard (300...60_000).contains(lease) else { throw ValidationError("the lease must be 300...60000 ms") }
            settings.leaseMillis = lease
        }
        if let replicas = environment["STOCKBOOM_STREAM_REPLICAS"].flatMap(Int.init) {
            guard [1, 3, 5].contains(replicas) else {
                throw ValidationError("STOCKBOOM_STREAM_REPLICAS must be 1, 3 or 5")
            }
            settings.replicas = replicas
        }
        if let bytes = environment["STOCKBOOM_STREAM_MAX_BYTES"].flatMap(Int64.init) { settings.maxBytes = bytes }
        if let wait = environment["STOCKBOOM_QUORUM_WAIT_MS"] {
            guard let millis = Int64(wait), (500...600_000).contains(millis) else {
                throw ValidationError("STOCKBOOM_QUORUM_WAIT_MS must be 500...600000 ms; got '\(wait)'")
            }
            settings.quorumWaitMillis = millis
        }
        return settings
    }
}
