import Engine
import Foundation
public import Jobs
public import Ledger
import Projections
public import Runtime
public import Storage
import Synchronization

/// Everything the API routes use: the engine (commands and the committed state), the log (audit, replay,
/// live stream), PostgreSQL (read models and credentials) and the auth service.
public struct GatewayServices: Sendable {
    public var dependencies: GatewayDependencies
    public var runtime: EngineRuntime
    public var database: DatabasePool
    /// Where the read models are queried: `database`, or a follower's own read models.
    public var readModels: DatabasePool
    public var auth: AuthService
    /// Each user's session epoch (logout and password changes end every earlier token).
    public let sessions: SessionEpochs
    public var secrets: SecretBox
    /// The engine's time source for commands, µs since the epoch (the wall clock, or a shifted one for a
    /// simulated session).
    public var clock: @Sendable () -> Int64
    /// Recent candles in memory; run it as a service (`serve` does) or candle queries all go to PostgreSQL.
    public let candles: CandleCache
    /// The `stockboom:events` subscription feeding `/api/stream` (nil without Redis: the stream tails the log).
    public var liveFeed: LiveEventFeed?
    /// The bearer token of `stockboom worker` for `/internal/*`; nil disables those routes (401).
    public var workerToken: String?
    /// During a rotation (`STOCKBOOM_WORKER_TOKEN_PREVIOUS`): the old token, still accepted until the workers
    /// run with the new one.
    public var previousWorkerToken: String?
    /// A real round trip to the broker for `POST /api/trades/test` (account id, broker, stock code): token, a
    /// read-only balance inquiry, a quote. Set by `serve` when it can open the sealed credentials.
    public var brokerProbe: (@Sendable (String, String, String) async -> [BrokerCheck])?
    /// A reconciliation of one KIS account asked now (the worker's comparison: the broker's balance against the
    /// engine's books), for resuming a halted account. Set by `serve` when it can open the sealed credentials.
    public var brokerAgreement: (@Sendable (WorkerAccountView) async -> BrokerAgreement)?
    let rateLimiter: RateLimiter
    let abuse: AbuseLimits
    let backtests = BacktestStore()

    public init(
        dependencies: GatewayDependencies,
        runtime: EngineRuntime,
        database: DatabasePool,
        readModels: DatabasePool? = nil,
        auth: AuthService,
        clock: @escaping @Sendable () -> Int64 = { wallClockMicros() },
        candleCacheCapacity: Int = 512
    ) {
        self.dependencies = dependencies
        self.readModels = readModels ?? database
        self.candles = CandleCache(log: dependencies.log, database: self.readModels, capacity: candleCacheCapacity)
        self.runtime = runtime
        self.database = database
        self.auth = auth
        self.sessions = SessionEpochs(database: database)
        self.secrets = SecretBox(key: auth.configuration.secretsKey, previous: auth.configuration.previousSecretsKey)
        self.clock = clock
        self.rateLimiter = RateLimiter(rate: auth.configuration.ordersPerSecond, burst: auth.configuration.orderBurst)
        self.abuse = AbuseLimits(signUpsPerHour: auth.configuration.signUpsPerHour) { Double(clock()) / 1e6 }
    }

    var log: EventLog { self.dependencies.log }

    func context(_ correlation: String) -> CommandContext {
        CommandContext(time: self.clock(), correlationID: correlation)
    }
}

/// What a reconciliation asked for a resume found.
public enum BrokerAgreement: Sendable, Equatable {
    /// The books agree; what showed it.
    case agrees(String)
    /// What differs.
    case differs([String])
    /// The broker could not be asked (no credentials, unreachable, an error).
    case unknown(String)
}

/// A token bucket per key (user): `rate` tokens a second, at most `burst` saved up.
final class RateLimiter: Sendable {
    private let buckets = Mutex([String: (tokens: Double, at: Double)]())
    let rate: Double
    let burst: Double

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = burst
    }

    /// Takes a token; when none is left, the seconds until one is.
    func take(_ key: String, now: Double = ProcessInfo.processInfo.systemUptime) -> Double? {
        self.buckets.withLock { buckets in
            var bucket = buckets[key] ?? (self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return (1 - bucket.tokens) / self.rate
        }
    }
}

/// Backtests started through the API, kept in memory per user (they are reproducible from their inputs).
final class BacktestStore: Sendable {
    struct Entry: Sendable {
        var id: String
        var user: UserID
        var request: BacktestRequest
        var status: String
        var report: BacktestReportBody?
        /// What the report page draws (`GET /api/backtests/{id}/report`, `/backtests/{id}`).
        var document: BacktestDocument?
        var error: String?
        var createdAt: Int64
    }

    private let entries = Mutex([String: Entry]())
    private let next = Atomic<UInt64>(1)

    /// Keeps the user's `keep` newest backtests (memory is bounded by users × keep, not by requests).
    func create(user: UserID, request: BacktestRequest, now: Int64, keep: Int) -> Entry {
        let number = self.next.wrappingAdd(1, ordering: .relaxed).oldValue
        let entry = Entry(id: "bt-\(number)", user: user, request: request, status: "RUNNING", createdAt: now)
        self.entries.withLock { entries in
            entries[entry.id] = entry
            let own = entries.values.filter { $0.user == user }.sorted {
                ($0.createdAt, $0.id.count, $0.id) < ($1.createdAt, $1.id.count, $1.id)
            }
            for old in own.dropLast(keep) { entries.removeValue(forKey: old.id) }
        }
        return entry
    }

    func update(_ id: String, _ body: (inout Entry) -> Void) {
        self.entries.withLock { entries in
            if var entry = entries[id] {
                body(&entry)
                entries[id] = entry
            }
        }
    }

    func get(_ id: String, user: UserID) -> Entry? {
        self.entries.withLock { $0[id] }.flatMap { $0.user == user ? $0 : nil }
    }

    func list(user: UserID) -> [Entry] {
        self.entries.withLock { $0.values.filter { $0.user == user } }.sorted { $0.createdAt > $1.createdAt }
    }
}
