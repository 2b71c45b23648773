public import Engine
public import Ledger
import Runtime
public import Storage
import Synchronization

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
    /// The installation's person keys when this model writes to a database of its own; nil: the keys are read
    /// with the connection the model writes with.
    private let personKeys: PersonKeySource?

    public init(personKeys: PersonKeySource? = nil) {
        self.personKeys = personKeys
    }

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
        case .cashAdjusted(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .brokerTokenIssued(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .brokerTokenExpired(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .accountHalted(let e): self.accounts[e.account] = (offset, event.timestamp)
        case .accountResumed(let e): self.accounts[e.account] = (offset, event.timestamp)
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
        let references = self.users.keys.map { self.state.users[$0] ?? "" }
        let contacts =
            try self.personKeys?.resolve(references) ?? PersonalData.resolve(references, connection)
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
