import Engine
public import Ledger
public import Storage
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One projection's progress.
public struct ProjectionStatus: Sendable, Equatable {
    public let name: String
    /// Every record below this offset is reflected in the model's tables.
    public let offset: UInt64
    /// The log's next offset.
    public let head: UInt64
    public var lag: UInt64 { self.head > self.offset ? self.head - self.offset : 0 }
    /// Set while the projection cannot get past `offset`: what went wrong, since when (µs), how many tries.
    public var failure: Failure?

    public struct Failure: Sendable, Equatable {
        public var offset: UInt64
        public var error: String
        public var since: Int64
        public var attempts: Int
    }

    public init(name: String, offset: UInt64, head: UInt64, failure: Failure? = nil) {
        self.name = name
        self.offset = offset
        self.head = head
        self.failure = failure
    }

    /// Every projection's checkpoint and failure as recorded in PostgreSQL, against `head` — the one query
    /// `/health`, `/metrics`, the dashboard and `projections status` share.
    public static func read(_ connection: PostgresConnection, head: UInt64) throws(PostgresError) -> [ProjectionStatus]
    {
        let rows = try connection.query(
            "SELECT name, last_offset, failing_offset, last_error, (extract(epoch FROM failing_since) * 1000000)::bigint, failures FROM projection_checkpoints ORDER BY name"
        ).rows
        return rows.compactMap { row in
            guard let name = row[0], let offset = row[1].flatMap({ UInt64($0) }) else { return nil }
            var status = ProjectionStatus(name: name, offset: offset, head: head)
            if let failing = row[2].flatMap({ UInt64($0) }) {
                status.failure = Failure(
                    offset: failing,
                    error: row[3] ?? "",
                    since: row[4].flatMap { Int64($0) } ?? 0,
                    attempts: row[5].flatMap { Int($0) } ?? 0
                )
            }
            return status
        }
    }
}

/// Projections that could not apply the events at their checkpoints; the others went on.
public struct ProjectionFailures: Error, CustomStringConvertible {
    public var failures: [(name: String, offset: UInt64, error: any Error)]
    public var description: String {
        self.failures.map { "projection \($0.name) cannot apply the event at offset \($0.offset): \($0.error)" }.joined(
            separator: "; "
        )
    }
}

/// Feeds read models from the log into PostgreSQL.
///
/// Catch-up (rebuild) and live tailing are one code path with different batch sizes: read a batch of
/// records after the checkpoint, fold them into each model, and in one transaction write the rows and move
/// the checkpoint. Blocking (libpq): run it on its own thread, never on the cooperative pool.
///
/// Sketch: catch-up at 50,000 events per transaction is one COPY per table per batch; live mode commits
/// whatever arrived since the last look, typically a few events, in ~1 ms.
public final class ProjectionRunner: @unchecked Sendable {
    // @unchecked: the models and the connection are only used by the thread that runs this runner
    // (the CLI's command thread or the live loop), never concurrently.
    public let log: EventLog
    private let connect: @Sendable () throws -> PostgresConnection
    private var connection: PostgresConnection
    private var models: [any ReadModel]
    private var prepared: [String: UInt64] = [:]
    /// Records that were not engine events (skipped, counted).
    public private(set) var foreignRecords: UInt64 = 0
    /// Called after each committed batch with the model's name and its new checkpoint (metrics, benchmarks).
    public var onCommit: (@Sendable (String, UInt64) -> Void)?

    /// - Parameter personKeys: where the person keys are when the read models are in a database of their own.
    public static func standardModels(personKeys: PersonKeySource? = nil) -> [any ReadModel] {
        [MarketReadModel(), TradingReadModel(personKeys: personKeys), NotificationsReadModel()]
    }

    /// - Parameter connect: opens a connection (called again after a connection is lost).
    public init(
        log: EventLog,
        models: [any ReadModel] = ProjectionRunner.standardModels(),
        connect: @escaping @Sendable () throws -> PostgresConnection
    ) throws {
        self.log = log
        self.models = models
        self.connect = connect
        self.connection = try connect()
        try self.connection.execute("SET client_min_messages TO warning")  // TRUNCATE … CASCADE notices are not news
        try Migrator.migrate(self.connection)
        for model in models {
            try self.connection.query(
                "INSERT INTO projection_checkpoints (name, last_offset) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
                [model.name]
            )
        }
    }

    /// The standard read models in `readModelsURL` (a follower's own) or else `databaseURL`; the person keys always
    /// from `databaseURL`, the installation's database.
    public convenience init(log: EventLog, databaseURL: String, readModelsURL: String?) throws {
        try self.init(
            log: log,
            models: Self.standardModels(
                personKeys: readModelsURL.map { _ in
                    PersonKeySource(connect: { try PostgresConnection(url: databaseURL) })
                }
            ),
            connect: { try PostgresConnection(url: readModelsURL ?? databaseURL) }
        )
    }

    public var names: [String] { self.models.map(\.name) }

    /// Candle rows the market model has written (inserted or updated) since this runner started.
    public var candleRowsWritten: Int {
        self.models.compactMap { ($0 as? MarketReadModel)?.candleRowsWritten }.reduce(0, +)
    }

    /// Each model's checkpoint, the log head and the lag.
    public func status() throws -> [ProjectionStatus] {
        let recorded = try ProjectionStatus.read(self.connection, head: self.currentHead())
        return self.models.map { model in
            recorded.first { $0.name == model.name }
                ?? ProjectionStatus(name: model.name, offset: 0, head: self.currentHead())
        }
    }

    private func currentHead() -> UInt64 {
        if self.log.isReadOnly { _ = try? self.log.refresh() }
        return self.log.nextOffset
    }

    private func checkpoint(_ name: String) throws -> UInt64 {
        try ReadQueries.checkpoint(name, self.connection)
    }

    /// Brings every model up to the log's head (or `limit` events per model). Returns the events applied.
    ///
    /// Each model on its own: one that cannot apply an event (or write its rows) does not hold the others
    /// back. Its failure is recorded in `projection_checkpoints` (offset, error, since, attempts) where every
    /// process reads it; it then goes on one event at a time, so the offset it names is the event's own.
    /// Throws `ProjectionFailures` naming every model that failed, after the others have caught up.
    @discardableResult
    public func catchUp(batchEvents: Int = 50_000, limit: UInt64 = .max) throws -> UInt64 {
        var total: UInt64 = 0
        var failures = ProjectionFailures(failures: [])
        for index in self.models.indices {
            let name = self.models[index].name
            do {
                if self.failing.contains(name) {
                    // One event first: if it fails again, the checkpoint is that event's offset. The commit that
                    // gets past it clears the recorded failure; then full batches again.
                    total += try self.catchUp(model: index, batchEvents: 1, limit: 1)
                    self.failing.remove(name)
                }
                total += try self.catchUp(model: index, batchEvents: batchEvents, limit: limit)
            } catch {
                try? self.connection.execute("ROLLBACK")
                let offset = try? self.checkpoint(name)
                self.failing.insert(name)
                if let offset { self.recordFailure(name, offset: offset, error: error) }
                failures.failures.append((name, offset ?? 0, error))
            }
        }
        if !failures.failures.isEmpty { throw failures }
        return total
    }

    /// Models that failed their last batch (they retry one event at a time).
    private var failing: Set<String> = []

    /// Best effort: when PostgreSQL itself is gone, there is nowhere to write it (and `/health` says postgres).
    private func recordFailure(_ name: String, offset: UInt64, error: any Error) {
        let text = Bounds.safeText(String(describing: error), maxBytes: 2_000)
        _ = try? self.connection.query(
            """
            UPDATE projection_checkpoints SET failures = CASE WHEN failing_offset = $2::bigint THEN failures + 1 ELSE 1 END,
                failing_since = CASE WHEN failing_offset = $2::bigint THEN failing_since ELSE now() END,
                failing_offset = $2::bigint, last_error = $3 WHERE name = $1
            """,
            [name, String(offset), text]
        )
    }

    private func catchUp(model index: Int, batchEvents: Int, limit: UInt64) throws -> UInt64 {
        precondition(batchEvents > 0)
        let name = self.models[index].name
        var offset = try self.checkpoint(name)
        let head = self.currentHead()
        guard offset <= head else {
            throw PostgresError(
                sqlState: nil,
                message:
                    "projection \(name) is at offset \(offset) but the log \(self.log.directory) ends at \(head): this database was built from another log (rebuild it, or point DATABASE_URL at this log's database)"
            )
        }
        if self.prepared[name] != offset {
            try self.models[index].prepare(log: self.log, upTo: offset)
            self.prepared[name] = offset
        }
        var applied: UInt64 = 0
        while offset < head && applied < limit {
            let end = min(head, offset + min(UInt64(batchEvents), limit - applied))
            var failure: (any Error)?
            // The model is folded in place (a copy taken here would make every batch copy all its memory);
            // on any failure its memory is rebuilt from the log up to the checkpoint (`prepared` cleared).
            let foreign = self.foreignRecords
            var skipped: UInt64 = 0
            // A scan that throws part-way has folded part of the batch: the memory is rebuilt too.
            self.prepared[name] = nil
            try self.log.scan(from: offset, to: end) { view in
                guard EventCodec.isEngineEvent(view.payload) else {
                    skipped += 1
                    return .continue
                }
                do {
                    self.models[index].absorb(
                        try EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp)
                    )
                } catch {
                    failure = error
                    return .stop
                }
                return .continue
            }
            if let failure { throw failure }
            do {
                try self.connection.execute("BEGIN")
                try self.models[index].flush(into: self.connection)
                try self.connection.query(
                    "UPDATE projection_checkpoints SET last_offset = $2, updated_at = now(), failing_offset = NULL, last_error = NULL, failing_since = NULL, failures = 0 WHERE name = $1",
                    [name, String(end)]
                )
                try self.connection.execute("COMMIT")
            } catch {
                // The transaction did not commit: `prepared` is cleared, so the memory goes back to the checkpoint too.
                try? self.connection.execute("ROLLBACK")
                throw error
            }
            self.prepared[name] = end
            self.onCommit?(name, end)
            self.foreignRecords = foreign + skipped
            applied += end - offset
            offset = end
        }
        return applied
    }

    /// How long read-model rows are kept (the operator guide's periods by default). The log keeps everything.
    public struct Retention: Sendable, Equatable {
        public var candleDays = 365
        public var notificationDays = 90
        public var cancelledTradeDays = 180
        public init(candleDays: Int = 365, notificationDays: Int = 90, cancelledTradeDays: Int = 180) {
            self.candleDays = candleDays
            self.notificationDays = notificationDays
            self.cancelledTradeDays = cancelledTradeDays
        }
    }

    /// Empties one model's tables and replays it from offset 0; the other models are not touched. The
    /// rebuilt tables then get the same retention as `cleanup` (nil: keep everything the log has).
    public func rebuild(_ name: String, batchEvents: Int = 50_000, retention: Retention? = Retention()) throws -> UInt64
    {
        guard let index = self.models.firstIndex(where: { $0.name == name }) else {
            throw PostgresError(
                sqlState: nil,
                message: "no projection named \(name) (known: \(self.names.joined(separator: ", ")))"
            )
        }
        try self.connection.execute("BEGIN")
        do {
            try self.connection.execute("TRUNCATE " + self.models[index].tables.joined(separator: ", ") + " CASCADE")
            try self.connection.query(
                "UPDATE projection_checkpoints SET last_offset = 0, updated_at = now() WHERE name = $1",
                [name]
            )
            try self.connection.execute("COMMIT")
        } catch {
            try? self.connection.execute("ROLLBACK")
            throw error
        }
        self.prepared[name] = nil
        let applied = try self.catchUp(model: index, batchEvents: batchEvents, limit: .max)
        if let retention { _ = try self.cleanup(retention, tables: Set(self.models[index].tables)) }
        return applied
    }

    /// Live mode: follows the log until `shouldStop` says so, committing small batches as events arrive.
    /// A lost connection (PostgreSQL restarted, backend terminated) is retried with exponential backoff
    /// (0.1 s doubling to 5 s) and resumes from the checkpoint.
    ///
    /// - Parameter onLag: called after each pass with the current statuses (for metrics and logs).
    public func runLive(
        pollMicros: UInt32 = 20_000,
        shouldStop: () -> Bool,
        onError: (any Error) -> Void = { _ in },
        onLag: ([ProjectionStatus]) -> Void = { _ in }
    ) {
        var backoffMicros: UInt32 = 100_000
        while !shouldStop() {
            do {
                onLag(try self.pass())
                backoffMicros = 100_000
                // Every pass, not only an empty one: a pass a few events long costs each model its checkpoint
                // read and transaction all the same, so under a steady stream the next pass waits for
                // `pollMicros` of events (lag grows by at most that; PostgreSQL does fewer, bigger writes).
                usleep(pollMicros)
            } catch {
                onError(error)
                usleep(backoffMicros)
                backoffMicros = min(backoffMicros * 2, 5_000_000)
                self.reconnect()
            }
        }
    }

    /// One pass of the live loop: every model to the log's head (in batches); their status after it.
    public func pass() throws -> [ProjectionStatus] {
        _ = try self.catchUp(batchEvents: 5_000)
        return try self.status()
    }

    /// After a failed pass: a fresh connection when the server takes one (prepared memory rebuilt from it).
    public func reconnect() {
        if let fresh = try? self.connect() {
            self.connection = fresh
            self.prepared.removeAll()
        }
    }

    /// Read-model retention, as the operator guide describes it. Returns the rows deleted per table.
    public func cleanup(candleDays: Int = 365, notificationDays: Int = 90, cancelledTradeDays: Int = 180) throws
        -> [String: Int]
    {
        try self.cleanup(
            Retention(
                candleDays: candleDays,
                notificationDays: notificationDays,
                cancelledTradeDays: cancelledTradeDays
            ),
            tables: ["candles", "notifications", "trades"]
        )
    }

    private func cleanup(_ retention: Retention, tables: Set<String>) throws -> [String: Int] {
        precondition(retention.candleDays > 0 && retention.notificationDays > 0 && retention.cancelledTradeDays > 0)
        var deleted: [String: Int] = [:]
        if tables.contains("candles") {
            deleted["candles"] = try self.connection.query(
                "DELETE FROM candles WHERE timeframe = '1m' AND \"timestamp\" < NOW() - make_interval(days => $1::int)",
                [String(retention.candleDays)]
            ).affected
        }
        if tables.contains("notifications") {
            deleted["notifications"] = try self.connection.query(
                "DELETE FROM notifications WHERE is_read = true AND created_at < NOW() - make_interval(days => $1::int)",
                [String(retention.notificationDays)]
            ).affected
        }
        if tables.contains("trades") {
            deleted["trades"] = try self.connection.query(
                "DELETE FROM trades WHERE status = 'CANCELLED' AND created_at < NOW() - make_interval(days => $1::int)",
                [String(retention.cancelledTradeDays)]
            ).affected
        }
        return deleted
    }

    /// The connection, for queries by the commands and tests.
    public var database: PostgresConnection { self.connection }
}
