public import Storage

/// One schema change. Released migrations are never edited: `Migrator` refuses to run when the SQL of an
/// applied migration no longer matches its recorded checksum.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
}

/// Applies the schema migrations in order, each in its own transaction, recorded in `schema_migrations`.
///
/// Concurrent migrators (two processes starting at once) serialise on a PostgreSQL advisory lock.
public enum Migrator {
    /// The schema of the read models. Tables and columns are named as the operator guide's SQL uses them.
    public static let migrations: [Migration] = [
        Migration(
            version: 1,
            name: "read models",
            sql: """
                CREATE TABLE stocks (
                    id text PRIMARY KEY,
                    name text NOT NULL,
                    market text NOT NULL,
                    previous_close bigint NOT NULL,
                    last_price bigint NOT NULL,
                    updated_at timestamptz NOT NULL,
                    last_offset bigint NOT NULL
                );
                CREATE TABLE users (
                    id text PRIMARY KEY,
                    email text NOT NULL,
                    created_at timestamptz NOT NULL,
                    last_offset bigint NOT NULL
                );
                CREATE TABLE broker_accounts (
                    id text PRIMARY KEY,
                    user_id text NOT NULL REFERENCES users (id),
                    broker text NOT NULL,
                    account_number text NOT NULL,
                    daily_order_limit bigint NOT NULL,
                    cash bigint NOT NULL,
                    reserved_cash bigint NOT NULL,
                    realized_profit bigint NOT NULL,
                    commission_paid bigint NOT NULL,
                    tax_paid bigint NOT NULL,
                    token_expires_at timestamptz,
                    halted_reason text,
                    created_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL,
                    last_offset bigint NOT NULL
                );
                CREATE TABLE positions (
                    broker_account_id text NOT NULL REFERENCES broker_accounts (id) ON DELETE CASCADE,
                    stock_id text NOT NULL,
                    quantity bigint NOT NULL,
                    reserved_for_sale bigint NOT NULL,
                    cost_basis bigint NOT NULL,
                    average_price bigint NOT NULL,
                    last_offset bigint NOT NULL,
                    PRIMARY KEY (broker_account_id, stock_id)
                );
                CREATE TABLE trades (
                    id text PRIMARY KEY,
                    user_id text NOT NULL,
                    broker_account_id text NOT NULL REFERENCES broker_accounts (id),
                    stock_id text NOT NULL,
                    order_side text NOT NULL CHECK (order_side IN ('BUY', 'SELL')),
                    order_type text NOT NULL CHECK (order_type IN ('LIMIT', 'MARKET')),
                    quantity bigint NOT NULL CHECK (quantity > 0),
                    price bigint NOT NULL,
                    filled_quantity bigint NOT NULL,
                    average_price bigint NOT NULL,
                    status text NOT NULL CHECK (status IN ('PENDING', 'SUBMITTED', 'ACCEPTED', 'PARTIALLY_FILLED', 'CANCEL_REQUESTED',
                                                           'FILLED', 'CANCELLED', 'REJECTED', 'FAILED', 'EXPIRED')),
                    rejected_by text,
                    failure_reason text,
                    failure_message text,
                    commission bigint NOT NULL,
                    tax bigint NOT NULL,
                    broker_order_number text,
                    source text NOT NULL,
                    client_order_id text,
                    created_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL,
                    last_offset bigint NOT NULL
                );
                CREATE INDEX trades_status_created_at ON trades (status, created_at DESC);
                CREATE INDEX trades_account_created_at ON trades (broker_account_id, created_at DESC);
                CREATE INDEX trades_user_created_at ON trades (user_id, created_at DESC);
                CREATE TABLE order_events (
                    "offset" bigint PRIMARY KEY,
                    trade_id text NOT NULL REFERENCES trades (id) ON DELETE CASCADE,
                    type text NOT NULL,
                    occurred_at timestamptz NOT NULL,
                    payload jsonb NOT NULL
                );
                CREATE INDEX order_events_trade ON order_events (trade_id, "offset");
                CREATE TABLE candles (
                    stock_id text NOT NULL,
                    timeframe text NOT NULL CHECK (timeframe IN ('1m', '5m', '15m', '1h', '1d')),
                    "timestamp" timestamptz NOT NULL,
                    open bigint NOT NULL,
                    high bigint NOT NULL,
                    low bigint NOT NULL,
                    close bigint NOT NULL,
                    volume bigint NOT NULL,
                    last_offset bigint NOT NULL,
                    PRIMARY KEY (stock_id, timeframe, "timestamp")
                );
                CREATE INDEX candles_timeframe_timestamp ON candles (timeframe, "timestamp");
                CREATE TABLE indicators (
                    stock_id text NOT NULL,
                    timeframe text NOT NULL,
                    "timestamp" timestamptz NOT NULL,
                    name text NOT NULL,
                    value double precision NOT NULL,
                    last_offset bigint NOT NULL,
                    PRIMARY KEY (stock_id, timeframe, "timestamp", name)
                );
                CREATE TABLE notifications (
                    id text PRIMARY KEY,
                    user_id text NOT NULL,
                    type text NOT NULL,
                    title text NOT NULL,
                    message text NOT NULL,
                    is_read boolean NOT NULL DEFAULT false,
                    sent_at timestamptz,
                    delivery_error text,
                    created_at timestamptz NOT NULL,
                    last_offset bigint NOT NULL
                );
                CREATE INDEX notifications_user_created_at ON notifications (user_id, created_at DESC);
                CREATE INDEX notifications_read_created_at ON notifications (is_read, created_at);
                CREATE TABLE projection_checkpoints (
                    name text PRIMARY KEY,
                    last_offset bigint NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                """
        ),
        // The operator guide's index-statistics SQL selects `tablename` and `indexname` from pg_stat_user_indexes,
        // whose columns are `relname` and `indexrelname`: on a stock server it fails. The guide is the contract,
        // so this database gets a view with both names, found first because `public` precedes pg_catalog in
        // its search path (new sessions). Only the schema owner can create objects in `public` (PostgreSQL 15).
        Migration(
            version: 2,
            name: "operator guide compatibility",
            sql: """
                CREATE VIEW public.pg_stat_user_indexes AS
                    SELECT s.*, s.relname AS tablename, s.indexrelname AS indexname FROM pg_catalog.pg_stat_user_indexes s;
                DO $$ BEGIN
                    EXECUTE format('ALTER DATABASE %I SET search_path TO "$user", public, pg_catalog', current_database());
                END $$;
                """
        ),
        // Secrets that must never enter the log live here, in tables that are not projections: rebuilds do not
        // truncate them and nothing references them by foreign key (TRUNCATE … CASCADE must not reach them).
        Migration(
            version: 3,
            name: "credentials and closed accounts",
            sql: """
                ALTER TABLE broker_accounts ADD COLUMN closed_at timestamptz;
                CREATE TABLE user_credentials (
                    user_id text PRIMARY KEY,
                    email text NOT NULL,
                    password_hash text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE UNIQUE INDEX user_credentials_email ON user_credentials (lower(email));
                CREATE TABLE broker_credentials (
                    broker_account_id text PRIMARY KEY,
                    user_id text NOT NULL,
                    sealed_app_key text NOT NULL,
                    sealed_app_secret text NOT NULL,
                    sealed_account_number text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                """
        ),
        // KIS access tokens (secrets, sealed like the keys): a restarted worker reuses the day's token instead
        // of asking KIS again (one request a minute, ~24 h lifetime, a notice to the account holder each time).
        Migration(
            version: 4,
            name: "broker tokens",
            sql: """
                CREATE TABLE broker_tokens (
                    broker_account_id text PRIMARY KEY,
                    sealed_token text NOT NULL,
                    issued_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                """
        ),
        // The market tables' key columns hold codes (stock codes, '1m', indicator names), never words: byte order
        // ("C") compares them with memcmp, where the database's default collation (C.UTF-8, en_US…) called
        // strcoll for every B-tree comparison — a fifth of PostgreSQL's time in the 2,700-stock day went there.
        Migration(
            version: 5,
            name: "byte-order keys for market data",
            sql: """
                ALTER TABLE candles ALTER COLUMN stock_id TYPE text COLLATE "C", ALTER COLUMN timeframe TYPE text COLLATE "C";
                ALTER TABLE indicators ALTER COLUMN stock_id TYPE text COLLATE "C", ALTER COLUMN timeframe TYPE text COLLATE "C",
                    ALTER COLUMN name TYPE text COLLATE "C";
                """
        ),
        // A projection that cannot apply an event says so where every process reads it (`/health`, `/metrics`,
        // `projections status`): the first offset it cannot get past, the error, since when and how often.
        Migration(
            version: 6,
            name: "projection failures",
            sql: """
                ALTER TABLE projection_checkpoints ADD COLUMN failing_offset bigint, ADD COLUMN last_error text,
                    ADD COLUMN failing_since timestamptz, ADD COLUMN failures integer NOT NULL DEFAULT 0;
                """
        ),
        // Sessions end: a token is valid at the epoch it was issued in; logout and a password change move it.
        Migration(
            version: 7,
            name: "session epochs",
            sql: """
                ALTER TABLE user_credentials ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;
                """
        ),
        // Per-person keys of the addresses sealed into the log (PersonalData). Not a projection: a rebuild leaves
        // it alone; erasing a person deletes their rows (crypto-shredding). Back it up with pg_dump, like
        // user_credentials.
        Migration(
            version: 8,
            name: "person keys",
            sql: """
                CREATE TABLE person_keys (
                    key_id text PRIMARY KEY,
                    user_id text,
                    key text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX person_keys_user ON person_keys (user_id);
                """
        ),
    ]

    /// Applies what is missing; returns the versions applied now.
    @discardableResult
    public static func migrate(_ connection: PostgresConnection) throws(PostgresError) -> [Int] {
        try connection.execute(
            "SET client_min_messages TO warning; CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        var applied: [Int] = []
        try connection.execute("BEGIN")
        do {
            try connection.execute("SELECT pg_advisory_xact_lock(727272)")
            let existing = try connection.query("SELECT version, checksum FROM schema_migrations ORDER BY version").rows
            var known: [Int: String] = [:]
            for row in existing {
                if let version = row[0].flatMap({ Int($0) }), let checksum = row[1] { known[version] = checksum }
            }
            for migration in Self.migrations {
                let checksum = Self.checksum(migration.sql)
                if let recorded = known[migration.version] {
                    guard recorded == checksum else {
                        throw PostgresError(
                            sqlState: nil,
                            message:
                                "migration \(migration.version) (\(migration.name)) was edited after it was applied; add a new migration instead"
                        )
                    }
                    continue
                }
                try connection.execute(migration.sql)
                try connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    [String(migration.version), migration.name, checksum]
                )
                applied.append(migration.version)
            }
            // The database's own settings are not in a plain pg_dump: a dump restored into a new database has the
            // tables and migration 2's view but not its search path, and the guide's index SQL would read the
            // catalog's view again. Asserted at every migrate, so `db migrate` after a restore puts it back.
            try connection.execute(Self.databaseSettings)
            // pg_stat_statements backs the guide's slow-query SQL; it needs the server's preload setting, so it is optional.
            try connection.execute("SAVEPOINT statements")
            do {
                try connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            } catch {
                try connection.execute("ROLLBACK TO SAVEPOINT statements")
            }
            try connection.execute("COMMIT")
        } catch let error as PostgresError {
            try? connection.execute("ROLLBACK")
            throw error
        } catch {
            preconditionFailure("only PostgresError is thrown here, got \(error)")
        }
        return applied
    }

    /// Settings of the database itself (`ALTER DATABASE … SET`), which pg_dump does not carry.
    static let databaseSettings = """
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET search_path TO "$user", public, pg_catalog', current_database());
        END $$;
        """

    /// FNV-1a 64 of the SQL text: detects edits to released migrations (not a security boundary).
    static func checksum(_ text: String) -> String { String(fnv1a64(text), radix: 16) }
}
