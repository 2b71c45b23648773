import Engine
import Foundation
public import Ledger
public import Projections
public import Storage
import Synchronization

/// What the gateway reaches: the log, and (when configured) PostgreSQL and Redis.
public struct GatewayDependencies: Sendable {
    public var log: EventLog
    public var databaseURL: String?
    /// PostgreSQL holding the read models when it is not `databaseURL` (a follower's own read models); nil: the
    /// read models are in `databaseURL`.
    public var readModelsURL: String?
    public var redis: RedisEndpoint?
    /// Orders by status in the engine's committed state (`stockboom_orders{status}`); nil without an engine.
    public var ordersByStatus: (@Sendable () -> [String: Int])?
    /// Who reaches `/internal/*`, `/metrics` and the detailed `/health` (`STOCKBOOM_INTERNAL_NETWORKS`).
    public var internalNetworks = InternalNetworks.default
    /// `STOCKBOOM_METRICS_TOKEN`: a Prometheus outside the internal networks (or behind a proxy) scrapes
    /// `/metrics` with `Authorization: Bearer <token>`; nil: internal clients only.
    public var metricsToken: String?
    /// This node's part in replication (`/health` "replication", `stockboom_replication_*`); nil when the log is
    /// not replicated.
    public var replication: (@Sendable () -> ReplicationReport)?
    /// The front-end files `scripts/assets.sh` installs (`STOCKBOOM_ASSETS_DIR`): its `vendor/` is served at
    /// `/assets/vendor/`. nil: the pages work without the chart and Swagger UI, and say so.
    public var assetsDirectory: String?

    public init(
        log: EventLog,
        databaseURL: String?,
        redis: RedisEndpoint?,
        ordersByStatus: (@Sendable () -> [String: Int])? = nil
    ) {
        self.log = log
        self.databaseURL = databaseURL
        self.redis = redis
        self.ordersByStatus = ordersByStatus
    }

    /// The database URL with a 2-second connect timeout, so a dead server cannot hang a health check.
    var boundedDatabaseURL: String? { self.databaseURL.map(Self.bounded) }
    /// Where the projections' checkpoints are, with the same timeout.
    var boundedReadModelsURL: String? { (self.readModelsURL ?? self.databaseURL).map(Self.bounded) }

    private static func bounded(_ url: String) -> String {
        url + (url.contains("?") ? "&" : "?") + "connect_timeout=2"
    }
}

/// A node's replication as `/health` and the metrics show it.
public struct ReplicationReport: Sendable, Equatable {
    /// `sync` or `async`.
    public var mode: String
    /// `primary` (takes writes), `follower` (copies the stream, serves reads) or `starting`.
    public var role: String
    public var node: String
    /// The primary's API URL as the lease names it, when known.
    public var primary: String?
    /// Events the stream holds that this node's log does not yet (a follower), or commits not yet in the stream
    /// (an `async` primary).
    public var lagEvents: UInt64
    public var lagSeconds: Double
    public var streamLastSequence: UInt64
    /// Stream replicas that answer (the leader included), and whether they are a majority.
    public var streamPeers: Int
    public var quorum: Bool
    public var leaseHeld: Bool
    /// Why this node refuses writes now (a follower, a lost quorum, fenced), if it does.
    public var refusal: String?
    public var headOffset: UInt64
    public var headHash: String

    public init(mode: String, role: String, node: String, headOffset: UInt64, headHash: String) {
        self.mode = mode
        self.role = role
        self.node = node
        self.primary = nil
        self.lagEvents = 0
        self.lagSeconds = 0
        self.streamLastSequence = 0
        self.streamPeers = 0
        self.quorum = false
        self.leaseHeld = false
        self.refusal = nil
        self.headOffset = headOffset
        self.headHash = headHash
    }

    var json: [String: Any] {
        [
            "mode": self.mode, "role": self.role, "node": self.node, "primary": self.primary as Any,
            "lagEvents": Int(self.lagEvents), "lagSeconds": self.lagSeconds,
            "stream": ["lastSequence": Int(self.streamLastSequence), "peers": self.streamPeers, "quorum": self.quorum],
            "leaseHeld": self.leaseHeld, "refusal": self.refusal as Any,
            "head": ["offset": Int(self.headOffset), "hash": self.headHash],
        ]
    }
}

/// Liveness and readiness in one answer: `ready` is false, with the failing part named, when the log
/// cannot take writes or a configured PostgreSQL or Redis does not answer.
public struct HealthReport: Sendable {
    public var logWritable: Bool
    public var logError: String?
    public var logHead: UInt64
    /// The log's file system; below `diskFullBytes` available, appends are refused (or about to be).
    public var logDisk: DiskUsage?
    public var postgres: Part?
    public var redis: Part?
    public var projections: [ProjectionStatus]
    public var replication: ReplicationReport?

    public struct Part: Sendable {
        public var ok: Bool
        public var error: String?
    }

    /// Less than this left on the log's file system counts as full (a group commit of orders needs a few KiB).
    public static let diskFullBytes: UInt64 = 256 << 10

    public var logDiskFull: Bool { (self.logDisk?.availableBytes).map { $0 < Self.diskFullBytes } ?? false }

    /// Projections whose checkpoint is beyond the log's end: their database was built from another log.
    public var foreignProjections: [String] { self.projections.filter { $0.offset > $0.head }.map(\.name) }
    /// Projections that cannot apply the event at their checkpoint (they retry; an operator must look).
    public var stuckProjections: [String] { self.projections.filter { $0.failure != nil }.map(\.name) }

    public var ready: Bool {
        self.logWritable && !self.logDiskFull && (self.postgres?.ok ?? true) && (self.redis?.ok ?? true)
            && self.foreignProjections.isEmpty
            && self.stuckProjections.isEmpty
    }

    /// The parts that fail, by name.
    public var failing: [String] {
        var names: [String] = []
        if !self.logWritable || self.logDiskFull { names.append("log") }
        if self.postgres?.ok == false { names.append("postgres") }
        if self.redis?.ok == false { names.append("redis") }
        if !self.foreignProjections.isEmpty || !self.stuckProjections.isEmpty { names.append("projections") }
        return names
    }

    /// Checks made per installation (log directory; each opens a PostgreSQL and a Redis connection), for tests.
    static let checksMade = Mutex<[String: Int]>([:])
    private static let recent = Mutex<[String: (report: HealthReport, at: ContinuousClock.Instant)]>([:])

    /// The report of a check at most a second old: however many callers ask — `/health` is public — the
    /// databases see at most one health check's connections a second.
    public static func recentCheck(_ dependencies: GatewayDependencies) -> HealthReport {
        let now = ContinuousClock.now
        let key = dependencies.log.directory  // one per installation (tests run several in one process)
        if let cached = Self.recent.withLock({ $0[key] }), now - cached.at < .seconds(1) { return cached.report }
        let report = Self.check(dependencies)
        Self.recent.withLock { $0[key] = (report, now) }
        return report
    }

    /// Checks every part now. Blocking: call through `blocking {}`.
    public static func check(_ dependencies: GatewayDependencies) -> HealthReport {
        Self.checksMade.withLock { $0[dependencies.log.directory, default: 0] += 1 }
        let failure = dependencies.log.writerFailure
        var report = HealthReport(
            logWritable: failure == nil,
            logError: failure?.description,
            logHead: dependencies.log.nextOffset,
            logDisk: try? DiskUsage.of(dependencies.log.directory),
            postgres: nil,
            redis: nil,
            projections: []
        )
        report.replication = dependencies.replication?()
        if report.logDiskFull, report.logError == nil {
            report.logError =
                "the log's file system is full (\(report.logDisk?.availableBytes ?? 0) bytes available): appends are refused until space is freed"
        }
        if let url = dependencies.boundedDatabaseURL {
            do {
                let connection = try PostgresConnection(url: url)
                // A follower's own read models keep their checkpoints in their own database.
                let readModels = dependencies.boundedReadModelsURL ?? url
                let checkpoints = readModels == url ? connection : try PostgresConnection(url: readModels)
                report.projections = try ProjectionStatus.read(checkpoints, head: report.logHead)
                report.postgres = Part(ok: true, error: nil)
            } catch {
                // No checkpoints table yet is still a reachable server.
                report.postgres = Part(
                    ok: error.sqlState == "42P01",
                    error: error.sqlState == "42P01" ? nil : error.description
                )
            }
        }
        if let endpoint = dependencies.redis {
            do {
                let redis = try RedisConnection(endpoint: endpoint, timeoutSeconds: 2)
                let pong = try redis.command(["PING"])
                report.redis = Part(
                    ok: pong == .status("PONG"),
                    error: pong == .status("PONG") ? nil : "unexpected reply \(pong)"
                )
            } catch {
                report.redis = Part(ok: false, error: error.description)
            }
        }
        return report
    }

    /// What a client outside the internal networks is told: up and ready, or not — no parts, offsets or errors.
    public func livenessJSON() -> String { self.ready ? #"{"status":"ok"}"# : #"{"status":"unavailable"}"# }

    /// The JSON body of `GET /health`.
    public func json() -> String {
        var object: [String: Any] = [
            "status": self.ready ? "ok" : "unavailable",
            "version": BuildInfo.version,
            "log": [
                "writable": self.logWritable, "head": Int(self.logHead), "error": self.logError as Any,
                "diskAvailableBytes": self.logDisk.map { Int($0.availableBytes) } as Any,
                "diskSizeBytes": self.logDisk.map { Int($0.totalBytes) } as Any,
            ],
            "projections": self.projections.map { status -> [String: Any] in
                var entry: [String: Any] = ["name": status.name, "offset": Int(status.offset), "lag": Int(status.lag)]
                if let failure = status.failure {
                    entry["failing"] = [
                        "offset": Int(failure.offset), "error": failure.error, "since": ISOTime.utc(failure.since),
                        "attempts": failure.attempts,
                    ]
                }
                return entry
            },
        ]
        if !self.failing.isEmpty { object["failing"] = self.failing }
        if let postgres = self.postgres { object["postgres"] = ["ok": postgres.ok, "error": postgres.error as Any] }
        if let redis = self.redis { object["redis"] = ["ok": redis.ok, "error": redis.error as Any] }
        if let replication = self.replication { object["replication"] = replication.json }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
