import Engine
import Foundation
import Jobs
public import Storage

/// Opens broker accounts' credentials (PostgreSQL `broker_credentials`, sealed with `STOCKBOOM_SECRETS_KEY`)
/// and keeps one `KISClient` per account, so tokens and rate limits are per app key, as KIS counts them.
public actor BrokerDirectory {
    /// Two pooled connections for credentials and tokens (not a new connection per token load).
    private let database: DatabasePool
    private let box: SecretBox
    private let baseURL: String?
    private let engine: EngineClient?
    /// Records a token KIS issued (the worker: through the engine's internal route; `serve`: in its own engine).
    private let recordToken: (@Sendable (String, KISToken) async -> Void)?
    private let clock: @Sendable () -> Int64
    private let requestsPerSecond: Double?
    private let observer: (any KISObserver)?
    /// Redis, where the app keys' rate budgets are shared with every other process (nil: this process only).
    private let redis: RedisEndpoint?
    private var clients: [String: Entry] = [:]
    /// A client, the sealed credentials it was made from, and when they were last compared with the stored ones.
    struct Entry {
        var client: KISClient
        var sealed: [String]
        var checked: ContinuousClock.Instant
    }
    /// How often an account's stored credentials are compared with its client's: a replacement through
    /// `PUT /api/broker-accounts/{id}/credentials` reaches the worker within this long.
    public var credentialsRecheck: Duration = .seconds(30)
    public func setCredentialsRecheck(_ interval: Duration) { self.credentialsRecheck = interval }
    /// One budget per app key, whichever accounts use it.
    private var budgets: [String: any KISRateBudget] = [:]

    /// - Parameters:
    ///   - baseURL: overrides both KIS hosts (`KIS_BASE_URL`: a mock in tests, a proxy in production).
    ///   - requestsPerSecond: overrides KIS's per-key limit (`KIS_REQUESTS_PER_SECOND`: a new app's 3/s, a mock's more).
    public init(
        databaseURL: String,
        box: SecretBox,
        baseURL: String?,
        engine: EngineClient?,
        clock: @escaping @Sendable () -> Int64,
        requestsPerSecond: Double? = nil,
        observer: (any KISObserver)? = nil,
        redis: RedisEndpoint? = nil,
        recordToken: (@Sendable (String, KISToken) async -> Void)? = nil
    ) {
        self.redis = redis
        self.recordToken = recordToken
        self.requestsPerSecond = requestsPerSecond
        self.observer = observer
        self.database = DatabasePool(url: databaseURL, size: 2)
        self.box = box
        self.baseURL = baseURL
        self.engine = engine
        self.clock = clock
    }

    public func client(account: String, broker: String) async throws -> KISClient {
        let now = ContinuousClock.now
        if let entry = self.clients[account], now - entry.checked < self.credentialsRecheck { return entry.client }
        let kind: KISEnvironment = broker == BrokerKind.kisReal.description ? .real : .paper
        let box = self.box
        let database = self.database
        // One query: compared with the client's, and opened only when they changed.
        let stored = try await database.run { try $0.sealedBrokerCredentials(account: account) }
        guard let sealed = stored else {
            throw JobFailure.permanent(.tokenExpired, "no KIS credentials are stored for \(account)")
        }
        if var entry = self.clients[account], entry.sealed == sealed {
            entry.checked = now
            self.clients[account] = entry
            return entry.client
        }
        let credentials = try BrokerCredentials(sealed: sealed, box: box)
        let (engine, recordToken) = (self.engine, self.recordToken)
        let rate = self.requestsPerSecond ?? kind.requestsPerSecond
        let budget =
            self.budgets[credentials.appKey]
            ?? self.redis.map { RedisRateBudget(appKey: credentials.appKey, rate: rate, redis: $0) }
            ?? LocalRateBudget(rate: rate)
        self.budgets[credentials.appKey] = budget
        let client = KISClient(
            environment: kind,
            credentials: KISCredentials(
                appKey: credentials.appKey,
                appSecret: credentials.appSecret,
                accountNumber: credentials.accountNumber
            ),
            baseURL: self.baseURL,
            clock: self.clock,
            tokenStore: PostgresTokenStore(account: account, database: database, box: box),
            onTokenIssued: { token in
                if let recordToken {
                    await recordToken(account, token)
                } else {
                    _ = try? await engine?.record(.tokenIssued(account: account, expiresAt: token.expiresAt))
                }
            },
            requestsPerSecond: self.requestsPerSecond,
            rateBudget: budget,
            observer: self.observer
        )
        self.clients[account] = Entry(client: client, sealed: sealed, checked: now)
        return client
    }
}

/// KIS tokens in PostgreSQL `broker_tokens`, sealed with `STOCKBOOM_SECRETS_KEY` (a token is a secret).
struct PostgresTokenStore: KISTokenStore {
    let account: String
    let database: DatabasePool
    let box: SecretBox

    func load() async throws -> KISToken? {
        let (account, box) = (self.account, self.box)
        return try await self.database.run { db throws -> KISToken? in
            let rows = try db.query(
                "SELECT sealed_token, (extract(epoch FROM issued_at) * 1000000)::bigint, (extract(epoch FROM expires_at) * 1000000)::bigint FROM broker_tokens WHERE broker_account_id = $1",
                [account]
            ).rows
            guard let row = rows.first, let sealed = row[0], let issued = row[1].flatMap({ Int64($0) }),
                let expires = row[2].flatMap({ Int64($0) })
            else { return nil }
            return KISToken(accessToken: try box.open(sealed), issuedAt: issued, expiresAt: expires)
        }
    }

    func save(_ token: KISToken) async throws {
        let account = self.account
        let sealed = try self.box.seal(token.accessToken)
        try await self.database.run { db in
            _ = try db.query(
                """
                INSERT INTO broker_tokens (broker_account_id, sealed_token, issued_at, expires_at) VALUES ($1, $2, to_timestamp($3::float8 / 1e6), to_timestamp($4::float8 / 1e6))
                ON CONFLICT (broker_account_id) DO UPDATE SET sealed_token = EXCLUDED.sealed_token, issued_at = EXCLUDED.issued_at, expires_at = EXCLUDED.expires_at, updated_at = now()
                """,
                [account, sealed, String(token.issuedAt), String(token.expiresAt)]
            )
        }
    }

    func clear() async throws {
        let account = self.account
        try await self.database.run { db in
            _ = try db.query("DELETE FROM broker_tokens WHERE broker_account_id = $1", [account])
        }
    }
}
