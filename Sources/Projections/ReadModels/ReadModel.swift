public import Engine
public import Ledger
import Runtime
public import Storage
import Synchronization

/// A read model in PostgreSQL, fed by the log.
///
/// A model folds events into pending row changes (`absorb`) and writes them (`flush`) inside the runner's
/// transaction, which also moves the model's checkpoint: a crash or a dropped connection at any instant
/// neither loses nor doubles an effect. After a failed transaction the runner calls `prepare` again, so
/// in-memory state never runs ahead of the committed checkpoint.
public protocol ReadModel: Sendable {
    /// The checkpoint name (`projection_checkpoints.name`).
    var name: String { get }
    /// The tables the model owns (emptied by a rebuild), children first.
    var tables: [String] { get }
    /// Rebuilds in-memory state as of `offset` (exclusive) and drops pending changes.
    mutating func prepare(log: EventLog, upTo offset: UInt64) throws
    /// Takes one event into the pending changes.
    mutating func absorb(_ event: EventEnvelope)
    /// Writes the pending changes with `connection` (inside a transaction) and clears them.
    mutating func flush(into connection: PostgresConnection) throws
}

/// Timestamps as PostgreSQL reads them (ISO 8601 UTC). The date part is cached per day: a rebuild formats
/// millions of timestamps that share a handful of days, and the general formatter was a measured cost.
func sqlTime(_ micros: Int64) -> String {
    let day = micros >= 0 ? micros / KST.dayMicros : (micros - KST.dayMicros + 1) / KST.dayMicros
    let rest = micros - day * KST.dayMicros
    let prefix = DayPrefix.cache.withLock { cache -> String in
        if cache.day == day { return cache.prefix }
        cache.day = day
        cache.prefix = String(ISOTime.utc(day * KST.dayMicros).prefix(11))  // "2025-01-03T"
        return cache.prefix
    }
    var digits = [UInt8](repeating: 48, count: 15)  // HH:MM:SS.ffffff
    var seconds = rest / 1_000_000
    var fraction = rest % 1_000_000
    for position in stride(from: 14, through: 9, by: -1) {
        digits[position] = UInt8(48 + fraction % 10)
        fraction /= 10
    }
    digits[8] = UInt8(ascii: ".")
    let hours = seconds / 3600
    seconds -= hours * 3600
    let minutes = seconds / 60
    seconds -= minutes * 60
    digits[0] = UInt8(48 + hours / 10)
    digits[1] = UInt8(48 + hours % 10)
    digits[2] = UInt8(ascii: ":")
    digits[3] = UInt8(48 + minutes / 10)
    digits[4] = UInt8(48 + minutes % 10)
    digits[5] = UInt8(ascii: ":")
    digits[6] = UInt8(48 + seconds / 10)
    digits[7] = UInt8(48 + seconds % 10)
    return prefix + String(decoding: digits, as: UTF8.self) + "Z"
}

private enum DayPrefix {
    static let cache = Mutex<(day: Int64, prefix: String)>((.min, ""))
}

/// The primary key of a candle row.
struct CandleKey: Hashable {
    let stock: UInt32
    let timeframe: UInt8
    let start: Int64
}

/// The engine state as of `offset`, from the engine's own snapshots plus the log (fast restarts).
func engineState(log: EventLog, upTo offset: UInt64) throws -> EngineState {
    try EngineRuntime.recover(log: log, snapshots: SnapshotStore(logDirectory: log.directory), toOffset: offset).0
}

/// Stocks, candles and indicators.
public struct MarketReadModel: ReadModel {
    public let name = "market"
    public let tables = ["indicators", "candles", "stocks"]
    private var state = EngineState()
    private var candles: [CandleKey: (Candle, UInt64)] = [:]
    private var indicators: [String: (IndicatorComputed, UInt64)] = [:]
    private var stocks: [StockCode: (UInt64, Int64)] = [:]
    /// Batches to wait before trying the insert-first path again after it met an existing key.
    private var insertFirstBackoff = 0
    /// Candle rows written (inserted or updated), for benchmarks.
    public private(set) var candleRowsWritten = 0

    public init() {}

    public mutating func prepare(log: EventLog, upTo offset: UInt64) throws {
        self.state = try engineState(log: log, upTo: offset)
        self.candles.removeAll()
        self.indicators.removeAll()
        self.stocks.removeAll()
    }

    public mutating func absorb(_ event: EventEnvelope) {
        let offset = event.offset ?? 0
        switch event.event {
        case .stockListed(let listed):
            self.state.apply(event)
            self.stocks[listed.stock] = (offset, event.timestamp)
        case .candleClosed(let candle):
            self.state.apply(event)
            // Keyed: a revised roll-up in the same batch replaces the earlier version (one row per key).
            self.candles[
                CandleKey(stock: candle.stock.value, timeframe: candle.timeframe.rawValue, start: candle.start)
            ] = (candle, offset)
            self.stocks[candle.stock] = (offset, event.timestamp)
        case .indicatorComputed(let value):
            self.indicators["\(value.stock.value)|\(value.timeframe.rawValue)|\(value.start)|\(value.name)"] = (
                value, offset
            )
        case .indicatorsComputed(let bar):
            for value in bar.each {
                self.indicators["\(value.stock.value)|\(value.timeframe.rawValue)|\(value.start)|\(value.name)"] = (
                    value, offset
                )
            }
        default:
            break
        }
    }

    public mutating func flush(into connection: PostgresConnection) throws {
        var stockRows = CopyRows()
        for (code, (offset, time)) in self.stocks.sorted(by: { $0.key < $1.key }) {
            guard let stock = self.state.stocks[code] else { continue }
            stockRows.append([
                code.description, stock.name, stock.market, String(stock.marketData.basePrice),
                String(stock.marketData.lastClose), sqlTime(time), String(offset),
            ])
        }
        try connection.upsert(
            "stocks",
            columns: ["id", "name", "market", "previous_close", "last_price", "updated_at", "last_offset"],
            key: ["id"],
            rows: stockRows
        )
        // Candles and indicator values are new rows (a bar, and a roll-up, is recorded once it is complete).
        var candleRows = CopyRows()
        for (candle, offset) in self.candles.values {
            candleRows.append([
                candle.stock.description, candle.timeframe.description, sqlTime(candle.start), String(candle.open),
                String(candle.high),
                String(candle.low), String(candle.close), String(candle.volume), String(offset),
            ])
        }
        // Fresh rows go straight in (COPY, no conflict checks); after a batch that met existing keys (a replay,
        // re-ingested data) the plain upsert is used for a while, so a conflict costs one failed COPY, not one per batch.
        let tryFast = self.insertFirstBackoff == 0
        let fast = try connection.upsert(
            "candles",
            columns: ["stock_id", "timeframe", "timestamp", "open", "high", "low", "close", "volume", "last_offset"],
            key: ["stock_id", "timeframe", "timestamp"],
            rows: candleRows,
            insertFirst: tryFast
        )
        var indicatorRows = CopyRows()
        for (value, offset) in self.indicators.values {
            indicatorRows.append([
                value.stock.description, value.timeframe.description, sqlTime(value.start), value.name,
                "\(value.value)", String(offset),
            ])
        }
        let indicatorsFast = try connection.upsert(
            "indicators",
            columns: ["stock_id", "timeframe", "timestamp", "name", "value", "last_offset"],
            key: ["stock_id", "timeframe", "timestamp", "name"],
            rows: indicatorRows,
            insertFirst: tryFast
        )
        self.insertFirstBackoff = tryFast && !(fast && indicatorsFast) ? 16 : max(0, self.insertFirstBackoff - 1)
        self.candleRowsWritten += candleRows.count
        self.candles.removeAll(keepingCapacity: true)
        self.indicators.removeAll(keepingCapacity: true)
        self.stocks.removeAll(keepingCapacity: true)
    }
}

/// Users, broker accounts, positions, trades (one row per order, its latest state) and each order's events.
///
/// The rows are what the engine's own `apply` says, so the read model cannot disagree with the engine.
public struct TradingReadModel: ReadModel {
    public let name = "trading"
    public let tables = ["order_events", "trades", "positions", "broker_accounts", "users"]
    private var state = EngineState()
    private var users: [UserID: (UInt64, Int64)] = [:]
    private var accounts: [AccountID: (UInt64, Int64)] = [:]
    private var orders: [OrderID: UInt64] = [:]
    private var positions: [PositionKey: UInt64] = [:]
    private var accountCreated: [AccountID: Int64] = [:]
    private var events = CopyRows()

    public init() {}

    public mutating func prepare(log: EventLog, upTo offset: UInt64) throws {
        self.state = try engineState(log: log, upTo: offset)
        self.users.removeAll()
        self.accounts.removeAll()
        self.orders.removeAll()
        self.positions.removeAll()
        self.events = CopyRows()
    }

    public mutating func absorb(_ event: EventEnvelope) {
        let offset = event.offset ?? 0
        switch event.event {
        case .candleClosed, .indicatorComputed, .indicatorsComputed:
            return  // market data changes no trading row; folding it was 9% of a trading rebuild
        default:
            self.state.apply(event)
        }
        switch event.event {
        case .userRegistered(let e): self.users[e.user] = (offset, event.timestamp)
        case .userErased(let e): self.users[e.user] = (offset, event.timestamp)
        case .brokerAccountRegistered(let e):
            self.accounts[e.account] = (offset, event.timestamp)
            self.accountCreated[e.account] = event.timestamp
        case .cashDeposited(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .brokerTokenIssued(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .brokerTokenExpired(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .accountHalted(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .brokerAccountClosed(let e): self.accounts[e.account] = (offset, event.timestamp)
        default: break
        }
        guard let id = event.event.orderID, let order = self.state.orders[id] else { return }
        self.orders[id] = offset
        self.accounts[order.account] = (offset, event.timestamp)
        self.positions[PositionKey(account: order.account, stock: order.stock)] = offset
        self.events.append([
            String(offset), id.description, event.typeName, sqlTime(event.timestamp), event.event.payloadJSON(),
        ])
    }

    public mutating func flush(into connection: PostgresConnection) throws {
        var userRows = CopyRows()
        // Addresses are sealed in the log; shown while the person's key exists, "(erased)" after.
        let contacts = try PersonalData.resolve(self.users.keys.map { self.state.users[$0] ?? "" }, connection)
        for (user, (offset, time)) in self.users {
            userRows.append([
                user.description, contacts[self.state.users[user] ?? ""] ?? PersonalData.erased, sqlTime(time),
                String(offset),
            ])
        }
        try connection.upsert(
            "users",
            columns: ["id", "email", "created_at", "last_offset"],
            key: ["id"],
            rows: userRows
        )
        var accountRows = CopyRows()
        for (id, (offset, time)) in self.accounts {
            guard let account = self.state.accounts[id] else { continue }
            accountRows.append([
                id.description, account.user.description, account.broker.description, account.maskedAccountNumber,
                String(account.dailyOrderLimit),
                String(account.cash), String(account.reservedCash), String(account.realizedProfit),
                String(account.commissionPaid), String(account.taxPaid),
                account.tokenExpiresAt.map(sqlTime), account.haltReason, account.closedAt.map(sqlTime),
                sqlTime(self.accountCreated[id] ?? time), sqlTime(time), String(offset),
            ])
        }
        try connection.upsert(
            "broker_accounts",
            columns: [
                "id", "user_id", "broker", "account_number", "daily_order_limit", "cash", "reserved_cash",
                "realized_profit", "commission_paid", "tax_paid", "token_expires_at", "halted_reason", "closed_at",
                "created_at", "updated_at", "last_offset",
            ],
            // created_at: known only while this process saw the account's registration; a row written after a
            // restart must keep the one it has (the fallback below would be a later event's time).
            key: ["id"],
            keep: ["created_at"],
            rows: accountRows
        )
        // Only the (account, stock) pairs that orders touched: a closed position is deleted, others upserted.
        var positionRows = CopyRows()
        var closedAccounts: [String] = []
        var closedStocks: [String] = []
        for (key, offset) in self.positions {
            if let position = self.state.accounts[key.account]?.positions[key.stock] {
                positionRows.append([
                    key.account.description, key.stock.description, String(position.quantity),
                    String(position.reservedForSale), String(position.costBasis), String(position.averagePrice),
                    String(offset),
                ])
            } else {
                closedAccounts.append(key.account.description)
                closedStocks.append(key.stock.description)
            }
        }
        if !closedAccounts.isEmpty {
            try connection.query(
                "DELETE FROM positions p USING unnest($1::text[], $2::text[]) AS closed(account, stock) WHERE p.broker_account_id = closed.account AND p.stock_id = closed.stock",
                ["{" + closedAccounts.joined(separator: ",") + "}", "{" + closedStocks.joined(separator: ",") + "}"]
            )
        }
        try connection.upsert(
            "positions",
            columns: [
                "broker_account_id", "stock_id", "quantity", "reserved_for_sale", "cost_basis", "average_price",
                "last_offset",
            ],
            key: ["broker_account_id", "stock_id"],
            rows: positionRows
        )
        var tradeRows = CopyRows()
        for (id, offset) in self.orders {
            guard let order = self.state.orders[id], let account = self.state.accounts[order.account] else { continue }
            tradeRows.append([
                id.description, account.user.description, order.account.description, order.stock.description,
                order.side.description,
                order.type.description, String(order.quantity), String(order.price), String(order.filledQuantity),
                String(order.averageFillPrice),
                order.status.description, order.rejectedBy?.description, order.failureReason?.rawValue,
                order.failureMessage.isEmpty ? nil : order.failureMessage, String(order.commission), String(order.tax),
                order.brokerOrderNumber.isEmpty ? nil : order.brokerOrderNumber, order.source.description,
                order.clientOrderID.isEmpty ? nil : order.clientOrderID, sqlTime(order.createdAt),
                sqlTime(order.updatedAt), String(offset),
            ])
        }
        try connection.upsert(
            "trades",
            columns: [
                "id", "user_id", "broker_account_id", "stock_id", "order_side", "order_type", "quantity", "price",
                "filled_quantity", "average_price", "status", "rejected_by", "failure_reason", "failure_message",
                "commission", "tax", "broker_order_number", "source", "client_order_id", "created_at", "updated_at",
                "last_offset",
            ],
            key: ["id"],
            rows: tradeRows
        )
        if !self.events.isEmpty {
            try connection.copyIn(
                "COPY order_events (\"offset\", trade_id, type, occurred_at, payload) FROM STDIN",
                data: self.events.bytes
            )
        }
        self.users.removeAll(keepingCapacity: true)
        self.accounts.removeAll(keepingCapacity: true)
        self.orders.removeAll(keepingCapacity: true)
        self.positions.removeAll(keepingCapacity: true)
        self.events = CopyRows()
    }
}

struct PositionKey: Hashable {
    let account: AccountID
    let stock: StockCode
}

/// Notifications: created, sent (or failed), read.
public struct NotificationsReadModel: ReadModel {
    public let name = "notifications"
    public let tables = ["notifications"]
    private var created = CopyRows()
    private var updates: [(id: String, sentAt: String?, error: String?, read: Bool, offset: UInt64)] = []

    public init() {}

    public mutating func prepare(log: EventLog, upTo offset: UInt64) throws {
        self.created = CopyRows()
        self.updates.removeAll()
    }

    public mutating func absorb(_ event: EventEnvelope) {
        let offset = event.offset ?? 0
        switch event.event {
        case .notificationCreated(let e):
            self.created.append([
                e.notification.description, e.user.description, e.kind, e.title, e.message, "f", nil, nil,
                sqlTime(event.timestamp), String(offset),
            ])
        case .notificationSent(let e):
            self.updates.append((e.notification.description, sqlTime(event.timestamp), nil, false, offset))
        case .notificationFailed(let e):
            self.updates.append((e.notification.description, nil, "\(e.channel): \(e.detail)", false, offset))
        case .notificationRead(let e):
            self.updates.append((e.notification.description, nil, nil, true, offset))
        default:
            break
        }
    }

    public mutating func flush(into connection: PostgresConnection) throws {
        if !self.created.isEmpty {
            try connection.copyIn(
                "COPY notifications (id, user_id, type, title, message, is_read, sent_at, delivery_error, created_at, last_offset) FROM STDIN",
                data: self.created.bytes
            )
        }
        for update in self.updates {
            try connection.query(
                "UPDATE notifications SET sent_at = COALESCE($2::timestamptz, sent_at), delivery_error = COALESCE($3, delivery_error), is_read = is_read OR $4::boolean, last_offset = $5 WHERE id = $1",
                [update.id, update.sentAt, update.error, update.read ? "t" : "f", String(update.offset)]
            )
        }
        self.created = CopyRows()
        self.updates.removeAll(keepingCapacity: true)
    }
}
