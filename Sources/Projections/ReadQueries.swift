public import Engine
public import Storage

/// The read side's queries of the read models, written once: the gateway (routes, candle cache, dashboard)
/// and the commands call these; only the read models write the tables.
public enum ReadQueries {
    /// The offset a read model has applied up to (0: nothing yet). Names: `ReadModel.name`.
    public static func checkpoint(_ name: String, _ db: PostgresConnection) throws -> UInt64 {
        try db.query("SELECT last_offset FROM projection_checkpoints WHERE name = $1", [name]).rows.first?[0]
            .flatMap { UInt64($0) } ?? 0
    }

    /// Every read model's checkpoint, by name.
    public static func checkpoints(_ db: PostgresConnection) throws -> [(name: String, offset: UInt64)] {
        try db.query("SELECT name, last_offset FROM projection_checkpoints ORDER BY name").rows.map {
            (name: $0[0] ?? "", offset: $0[1].flatMap { UInt64($0) } ?? 0)
        }
    }

    /// The log offsets of an order's events in `order_events` (the trading model), oldest first.
    public static func orderEventOffsets(order: String, _ db: PostgresConnection) throws -> [UInt64] {
        try db.query("SELECT \"offset\" FROM order_events WHERE trade_id = $1 ORDER BY \"offset\"", [order]).rows
            .compactMap { $0[0].flatMap(UInt64.init) }
    }

    /// A row of `trades` (one per order, its latest state); times in µs since the epoch.
    public struct TradeRow: Sendable {
        public var id, account, stock, side, type, status: String
        public var quantity, price, filledQuantity, averagePrice: Int64
        public var failureReason: String?
        public var createdAt, updatedAt: Int64
    }

    /// A user's orders, newest first, optionally of one status.
    public static func trades(user: String, status: String?, limit: Int, _ db: PostgresConnection) throws -> [TradeRow]
    {
        try db.query(
            """
            SELECT id, broker_account_id, stock_id, order_side, order_type, quantity, price, filled_quantity, average_price, status, failure_reason,
                   (extract(epoch FROM created_at) * 1000000)::bigint, (extract(epoch FROM updated_at) * 1000000)::bigint
            FROM trades WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3
            """,
            [user, status, String(limit)]
        ).rows.map { row in
            TradeRow(
                id: row[0] ?? "",
                account: row[1] ?? "",
                stock: row[2] ?? "",
                side: row[3] ?? "",
                type: row[4] ?? "",
                status: row[9] ?? "",
                quantity: row[5].flatMap(Int64.init) ?? 0,
                price: row[6].flatMap(Int64.init) ?? 0,
                filledQuantity: row[7].flatMap(Int64.init) ?? 0,
                averagePrice: row[8].flatMap(Int64.init) ?? 0,
                failureReason: row[10],
                createdAt: row[11].flatMap(Int64.init) ?? 0,
                updatedAt: row[12].flatMap(Int64.init) ?? 0
            )
        }
    }

    /// A row of `notifications`; times in µs since the epoch.
    public struct NotificationRow: Sendable {
        public var id, type, title, message: String
        public var isRead: Bool
        public var sentAt: Int64?
        public var createdAt: Int64
    }

    /// A user's notifications, newest first.
    public static func notifications(user: String, limit: Int, _ db: PostgresConnection) throws -> [NotificationRow] {
        try db.query(
            """
            SELECT id, type, title, message, is_read, (extract(epoch FROM sent_at) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint
            FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
            """,
            [user, String(limit)]
        ).rows.map { row in
            NotificationRow(
                id: row[0] ?? "",
                type: row[1] ?? "",
                title: row[2] ?? "",
                message: row[3] ?? "",
                isRead: row[4] == "t",
                sentAt: row[5].flatMap(Int64.init),
                createdAt: row[6].flatMap(Int64.init) ?? 0
            )
        }
    }

    /// The newest `limit` candles of a stock and timeframe in `[from, to)` (µs; nil: open), oldest first.
    public static func candles(
        stock: StockCode,
        timeframe: Timeframe,
        from: Int64?,
        to: Int64?,
        limit: Int,
        _ db: PostgresConnection
    ) throws -> [Candle] {
        let parameters: [String?] = [
            stock.description, timeframe.description, from.map { String(Double($0) / 1e6) },
            to.map { String(Double($0) / 1e6) }, String(limit),
        ]
        return try db.query(
            """
            SELECT (extract(epoch FROM "timestamp") * 1000000)::bigint, open, high, low, close, volume FROM (
                SELECT * FROM candles WHERE stock_id = $1 AND timeframe = $2
                  AND ($3::float8 IS NULL OR "timestamp" >= to_timestamp($3::float8))
                  AND ($4::float8 IS NULL OR "timestamp" < to_timestamp($4::float8))
                ORDER BY "timestamp" DESC LIMIT $5
            ) recent ORDER BY "timestamp"
            """,
            parameters
        ).rows.compactMap { row in
            guard let start = row[0].flatMap(Int64.init), let open = row[1].flatMap(Int64.init),
                let high = row[2].flatMap(Int64.init), let low = row[3].flatMap(Int64.init),
                let close = row[4].flatMap(Int64.init), let volume = row[5].flatMap(Int64.init)
            else { return nil }
            return Candle(
                stock: stock,
                timeframe: timeframe,
                start: start,
                open: open,
                high: high,
                low: low,
                close: close,
                volume: volume
            )
        }
    }

    /// The events of some orders from `order_events`, in log order: (order, event type, when, µs).
    public static func orderEvents(orders: [String], _ db: PostgresConnection) throws -> [(
        order: String, type: String, at: Int64
    )] {
        guard !orders.isEmpty else { return [] }
        return try db.query(
            """
            SELECT trade_id, type, (extract(epoch FROM occurred_at) * 1000000)::bigint FROM order_events
            WHERE trade_id = ANY($1::text[]) ORDER BY "offset"
            """,
            ["{" + orders.joined(separator: ",") + "}"]
        ).rows.map { (order: $0[0] ?? "", type: $0[1] ?? "", at: $0[2].flatMap(Int64.init) ?? 0) }
    }

    /// The newest `perSeries` candles of every stock and timeframe, oldest first per series, handed to `each`
    /// as they arrive (`batch` rows at a time through a cursor: a day of 2,700 stocks is ~1.3 M rows, and the
    /// whole result at once took a restarted serve to 475–700 MiB). Returns the market model's checkpoint they
    /// are consistent with (one read-only snapshot).
    public static func newestCandles(
        perSeries: Int,
        batch: Int,
        _ db: PostgresConnection,
        each: (Candle) -> Void
    ) throws -> UInt64 {
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        do {
            let checkpoint = try Self.checkpoint("market", db)
            try db.execute(
                """
                DECLARE warm NO SCROLL CURSOR FOR
                SELECT stock_id, timeframe, (extract(epoch FROM "timestamp") * 1000000)::bigint, open, high, low, close, volume FROM (
                    SELECT *, row_number() OVER (PARTITION BY stock_id, timeframe ORDER BY "timestamp" DESC) AS newest FROM candles
                ) ranked WHERE newest <= \(perSeries) ORDER BY stock_id, timeframe, "timestamp"
                """
            )
            while true {
                let rows = try db.query("FETCH \(batch) FROM warm").rows
                for row in rows {
                    guard let code = row[0].flatMap({ StockCode($0) }),
                        let timeframe = row[1].flatMap({ Timeframe(text: $0) }),
                        let start = row[2].flatMap({ Int64($0) }), let open = row[3].flatMap({ Int64($0) }),
                        let high = row[4].flatMap({ Int64($0) }), let low = row[5].flatMap({ Int64($0) }),
                        let close = row[6].flatMap({ Int64($0) }), let volume = row[7].flatMap({ Int64($0) })
                    else { continue }
                    each(
                        Candle(
                            stock: code,
                            timeframe: timeframe,
                            start: start,
                            open: open,
                            high: high,
                            low: low,
                            close: close,
                            volume: volume
                        )
                    )
                }
                if rows.count < batch { break }
            }
            try db.execute("COMMIT")
            return checkpoint
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }
}
