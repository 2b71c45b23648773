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
}
