import ArgumentParser
import Assembly
import Engine
import Foundation
import Gateway
import Jobs
import Ledger
import Logging
import Runtime
import Storage

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
    @Option(help: "PostgreSQL connections for API queries.") var databaseConnections = 4
    @Option(help: "Open HTTP connections at most (live streams included); more are closed as they open.")
    var maxConnections = 1_024
    @Option(
        help:
            "Newest candles kept in memory per stock and timeframe (48 bytes each); older ranges come from PostgreSQL."
    ) var candleCache = 512

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
        options.databaseConnections = self.databaseConnections
        options.databaseURL = self.databaseURL ?? environment["DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
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
        let eventLog = try EventLog(directory: self.log.path)
        if options.databaseURL != nil {
            var (configuration, warnings) = try GatewayConfiguration.fromEnvironment(environment)
            configuration.installationID = try Installation.id(logDirectory: self.log.path)
            for warning in warnings { Log.serve.warning("\(warning)") }
            options.gateway = configuration
            options.workerToken = try WorkerToken.establish(environment: environment, logDirectory: self.log.path)
        }
        let runtime = try EngineRuntime(log: eventLog, engine: Engine(calendar: try loadCalendar()))
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
}
