import Engine
import Foundation
import Hummingbird
import Ledger
import Projections
import Runtime
import Storage

extension GatewayAPI {
    /// Portfolio now or at any past time.
    static func portfolioRoutes(_ routes: RouteTable, _ services: GatewayServices) {
        routes.add(.get, "/api/portfolio") { request, context -> Response in
            let user = try context.requireUser()
            let only = try request.uri.queryParameters.get("brokerAccountId").map {
                try Self.ownAccount($0, user: user, state: services.runtime.state).id
            }
            let now = services.clock()
            var asOf = now
            var state = services.runtime.state
            var offset = services.runtime.nextOffset
            if let time = try Parse.optionalTime(request, "asOf"), time < now {
                // Replay: the newest snapshot at or before the point, then the log up to it.
                let log = services.log
                let fees = state.fees
                (state, offset) = try await blocking {
                    let end = try log.offset(atOrAfterTimestamp: time + 1)
                    let (past, _) = try EngineRuntime.recover(
                        log: log,
                        snapshots: SnapshotStore(logDirectory: log.directory),
                        fees: fees,
                        toOffset: end
                    )
                    return (past, end)
                }
                asOf = time
            }
            let accounts = state.accounts.values
                .filter { $0.user == user && (only == nil || $0.id == only) }
                .sorted { $0.id < $1.id }
            let views = accounts.compactMap { state.portfolio($0.id) }.map {
                PortfolioBody($0, asOf: asOf, offset: offset)
            }
            return try APIJSON.response(ListBody(views))
        }
    }

    static func stockBody(_ info: StockInfo) -> StockBody {
        let band = info.marketData.priceLimits
        return StockBody(
            id: info.code.description,
            name: info.name,
            market: info.market,
            lastPrice: info.marketData.lastClose,
            basePrice: info.marketData.basePrice,
            lowerLimit: band.lowerBound,
            upperLimit: band.upperBound
        )
    }

    static func listedStock(_ text: String, state: EngineState) throws -> StockInfo {
        let code = try Parse.stock(text)
        guard let info = state.stocks[code] else { throw problem(404, "stock \(text) is not listed") }
        return info
    }

    /// Candles of one stock, oldest first: from the in-memory window when it can answer exactly, else from
    /// the `candles` read model.
    static func candles(
        _ services: GatewayServices,
        stock: StockCode,
        timeframe: Timeframe,
        from: Int64?,
        to: Int64?,
        limit: Int
    ) async throws -> [Candle] {
        if let cached = services.candles.candles(stock: stock, timeframe: timeframe, from: from, to: to, limit: limit) {
            return cached
        }
        return try await Self.storedCandles(
            services,
            stock: stock,
            timeframe: timeframe,
            from: from,
            to: to,
            limit: limit
        )
    }

    /// The same query answered by the `candles` table.
    static func storedCandles(
        _ services: GatewayServices,
        stock: StockCode,
        timeframe: Timeframe,
        from: Int64?,
        to: Int64?,
        limit: Int
    ) async throws -> [Candle] {
        let parameters: [String?] = [
            stock.description, timeframe.description, from.map { String(Double($0) / 1e6) },
            to.map { String(Double($0) / 1e6) }, String(limit),
        ]
        let rows = try await services.database.run { db in
            try db.query(
                """
                SELECT (extract(epoch FROM "timestamp") * 1000000)::bigint, open, high, low, close, volume FROM (
                    SELECT * FROM candles WHERE stock_id = $1 AND timeframe = $2
                      AND ($3::float8 IS NULL OR "timestamp" >= to_timestamp($3::float8))
                      AND ($4::float8 IS NULL OR "timestamp" < to_timestamp($4::float8))
                    ORDER BY "timestamp" DESC LIMIT $5
                ) recent ORDER BY "timestamp"
                """,
                parameters
            ).rows
        }
        return rows.compactMap { row in
            guard let start = row[0].flatMap(Int64.init), let open = row[1].flatMap(Int64.init),
                let high = row[2].flatMap(Int64.init),
                let low = row[3].flatMap(Int64.init), let close = row[4].flatMap(Int64.init),
                let volume = row[5].flatMap(Int64.init)
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

    /// Stocks, candles, indicators, quotes, and the broker token state.
    static func marketRoutes(_ routes: RouteTable, _ services: GatewayServices) {
        routes.add(.get, "/api/market-data/stocks") { _, context -> Response in
            _ = try context.requireUser()
            let stocks = services.runtime.state.stocks.values.sorted { $0.code < $1.code }
            return try APIJSON.response(ListBody(stocks.map(Self.stockBody)))
        }
        routes.add(.get, "/api/market-data/stocks/{stockId}") { _, context -> Response in
            _ = try context.requireUser()
            return try APIJSON.response(
                Self.stockBody(try Self.listedStock(context.parameter("stockId"), state: services.runtime.state))
            )
        }
        routes.add(.get, "/api/market-data/stocks/{stockId}/candles") { request, context -> Response in
            _ = try context.requireUser()
            let info = try Self.listedStock(context.parameter("stockId"), state: services.runtime.state)
            let timeframe = try Parse.timeframe(request.uri.queryParameters.get("timeframe"))
            let from = try Parse.optionalTime(request, "from")
            let to = try Parse.optionalTime(request, "to")
            if let from, let to, from >= to { throw problem(400, "from must be before to") }
            let limit = try Parse.limit(request, default: 500, max: 5_000)
            let candles = try await Self.candles(
                services,
                stock: info.code,
                timeframe: timeframe,
                from: from,
                to: to,
                limit: limit
            )
            return APIJSON.response(bytes: CandlesBody.bytes(stock: info.code, timeframe: timeframe, candles: candles))
        }
        routes.add(.get, "/api/market-data/stocks/{stockId}/indicators") { request, context -> Response in
            _ = try context.requireUser()
            let info = try Self.listedStock(context.parameter("stockId"), state: services.runtime.state)
            let timeframe = try Parse.timeframe(request.uri.queryParameters.get("timeframe"))
            let from = try Parse.optionalTime(request, "from")
            let to = try Parse.optionalTime(request, "to")
            let limit = try Parse.limit(request, default: 200, max: 2_000)
            var names = IndicatorSet.columns
            if let text = request.uri.queryParameters.get("names") {
                names = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                }
                if names.isEmpty { names = IndicatorSet.columns }
                if let unknown = names.first(where: { !IndicatorSet.columns.contains($0) }) {
                    throw problem(
                        400,
                        "unknown indicator '\(unknown)'; known: \(IndicatorSet.columns.joined(separator: ", "))"
                    )
                }
            }
            // Warm-up: the 120 bars before the range feed the indicators but are not returned.
            let candles = try await Self.candles(
                services,
                stock: info.code,
                timeframe: timeframe,
                from: nil,
                to: to,
                limit: limit + 120
            )
            var set = IndicatorSet()
            var rows: [IndicatorRowBody] = []
            for candle in candles {
                let values = set.update(candle)
                if let from, candle.start < from { continue }
                var row: [String: Double] = [:]
                for (index, column) in IndicatorSet.columns.enumerated() where names.contains(column) {
                    if let value = values[index], value.isFinite { row[column] = value }
                }
                rows.append(IndicatorRowBody(timestamp: ISOTime.utc(candle.start), values: row))
            }
            return try APIJSON.response(
                IndicatorsBody(
                    stockId: info.code.description,
                    timeframe: timeframe.description,
                    names: names,
                    rows: Array(rows.suffix(limit))
                )
            )
        }
        routes.add(.get, "/api/market-data/stocks/{stockId}/quote") { _, context -> Response in
            _ = try context.requireUser()
            let info = try Self.listedStock(context.parameter("stockId"), state: services.runtime.state)
            let data = info.marketData
            let change = data.lastClose - data.basePrice
            let band = data.priceLimits
            return try APIJSON.response(
                QuoteBody(
                    stockId: info.code.description,
                    price: data.lastClose,
                    basePrice: data.basePrice,
                    change: change,
                    changePercent: data.basePrice == 0
                        ? 0 : (Double(change) / Double(data.basePrice) * 10_000).rounded() / 100,
                    lowerLimit: band.lowerBound,
                    upperLimit: band.upperBound,
                    asOf: data.currentDay == .min ? nil : KST.yyyymmdd(day: data.currentDay)
                )
            )
        }
        // The guide calls this without a token (incident 2): the answer then carries counts only.
        routes.add(.get, "/api/market-data/kis/token-status") { _, context -> Response in
            let state = services.runtime.state
            let now = services.clock()
            // The system's counts for internal clients (the guide's curl on the host); elsewhere only the signed-in
            // user's own accounts count (anonymous: none) — nobody outside learns how many people trade here.
            let kis = state.accounts.values.filter { account in
                account.broker.needsToken && account.closedAt == nil
                    && (context.isInternalClient || account.user == context.user)
            }
            let valid = kis.filter { ($0.tokenExpiresAt ?? .min) > now }
            let mine = context.user.map { user in
                kis.filter { $0.user == user }.sorted { $0.id < $1.id }.map {
                    TokenStatusBody.AccountToken(
                        brokerAccountId: $0.id.description,
                        broker: $0.broker.description,
                        valid: ($0.tokenExpiresAt ?? .min) > now,
                        expiresAt: $0.tokenExpiresAt.map(ISOTime.utc)
                    )
                }
            }
            return try APIJSON.response(
                TokenStatusBody(
                    configured: services.auth.configuration.kisConfigured,
                    kisAccounts: kis.count,
                    validTokens: valid.count,
                    expiredTokens: kis.count - valid.count,
                    nextExpiry: valid.compactMap(\.tokenExpiresAt).min().map(ISOTime.utc),
                    accounts: mine
                )
            )
        }
    }

    /// Trades (the guide's `trades` table) and the connectivity test.
    static func tradeRoutes(_ routes: RouteTable, _ services: GatewayServices) {
        routes.add(.get, "/api/trades") { request, context -> Response in
            let user = try context.requireUser()
            let limit = try Parse.limit(request, default: 100, max: 1_000)
            var status: String?
            if let text = request.uri.queryParameters.get("status") {
                guard OrderStatus.allCases.contains(where: { $0.description == text.uppercased() }) else {
                    throw problem(
                        400,
                        "status must be one of \(OrderStatus.allCases.map(\.description).joined(separator: ", "))"
                    )
                }
                status = text.uppercased()
            }
            let filter = status
            let rows = try await services.database.run { db in
                try db.query(
                    """
                    SELECT id, broker_account_id, stock_id, order_side, order_type, quantity, price, filled_quantity, average_price, status, failure_reason,
                           (extract(epoch FROM created_at) * 1000000)::bigint, (extract(epoch FROM updated_at) * 1000000)::bigint
                    FROM trades WHERE user_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3
                    """,
                    [user.description, filter, String(limit)]
                ).rows
            }
            let trades = rows.map { row in
                TradeBody(
                    id: row[0] ?? "",
                    brokerAccountId: row[1] ?? "",
                    stockId: row[2] ?? "",
                    orderSide: row[3] ?? "",
                    orderType: row[4] ?? "",
                    quantity: row[5].flatMap(Int64.init) ?? 0,
                    price: row[6].flatMap(Int64.init) ?? 0,
                    filledQuantity: row[7].flatMap(Int64.init) ?? 0,
                    averagePrice: row[8].flatMap(Int64.init) ?? 0,
                    status: row[9] ?? "",
                    failureReason: row[10],
                    createdAt: ISOTime.utc(row[11].flatMap(Int64.init) ?? 0),
                    updatedAt: ISOTime.utc(row[12].flatMap(Int64.init) ?? 0)
                )
            }
            return try APIJSON.response(ListBody(trades))
        }
        routes.add(.post, "/api/trades/test") { request, context -> Response in
            let user = try context.requireUser()
            let body = try await APIJSON.decode(TradeTestRequest.self, from: request, context: context)
            let state = services.runtime.state
            let account = try Self.ownAccount(body.brokerAccountId, user: user, state: state)
            let info = try Self.listedStock(body.stockId, state: state)
            let now = services.clock()
            var checks: [CheckBody] = []
            checks.append(
                CheckBody(
                    name: "account",
                    ok: account.haltReason == nil,
                    detail: account.haltReason.map { "trading is halted: \($0)" }
                        ?? "\(account.id) (\(account.broker)) is active"
                )
            )
            if account.broker.needsToken {
                let expiry = account.tokenExpiresAt ?? .min
                checks.append(
                    CheckBody(
                        name: "token",
                        ok: expiry > now,
                        detail: expiry > now
                            ? "KIS access token valid until \(ISOTime.utc(expiry))"
                            : "no valid KIS access token: the worker issues one (GET /api/market-data/kis/token-status)"
                    )
                )
                let sealed = try await services.database.run { db in
                    try !db.query(
                        "SELECT 1 FROM broker_credentials WHERE broker_account_id = $1",
                        [account.id.description]
                    ).rows.isEmpty
                }
                checks.append(
                    CheckBody(
                        name: "credentials",
                        ok: sealed,
                        detail: sealed
                            ? "app key and secret are stored (sealed)" : "no app key and secret stored for this account"
                    )
                )
            } else {
                checks.append(CheckBody(name: "broker", ok: true, detail: "the simulated exchange needs no token"))
            }
            let open = services.runtime.engine.calendar.isOpen(at: now)
            checks.append(
                CheckBody(
                    name: "market",
                    ok: open,
                    detail: open ? "KRX is open" : "KRX is closed now (regular session 09:00–15:30 KST on trading days)"
                )
            )
            checks.append(
                CheckBody(
                    name: "stock",
                    ok: true,
                    detail:
                        "\(info.code) \(info.name), last \(info.marketData.lastClose) KRW, band \(info.marketData.priceLimits.lowerBound)…\(info.marketData.priceLimits.upperBound)"
                )
            )
            let dailyLeft = account.dailyOrderLimit - account.ordersOn(day: KST.day(now))
            checks.append(
                CheckBody(
                    name: "dailyOrderLimit",
                    ok: dailyLeft > 0,
                    detail: "\(max(0, dailyLeft)) of \(account.dailyOrderLimit) orders left today"
                )
            )
            return try APIJSON.response(
                TradeTestBody(
                    ok: checks.allSatisfy(\.ok),
                    brokerAccountId: account.id.description,
                    stockId: info.code.description,
                    checks: checks
                )
            )
        }
    }

    /// Notifications: list (newest first), mark read.
    static func notificationRoutes(_ routes: RouteTable, _ services: GatewayServices) {
        routes.add(.get, "/api/notifications") { request, context -> Response in
            let user = try context.requireUser()
            let limit = try Parse.limit(request, default: 100, max: 1_000)
            var unread: String?
            if let text = request.uri.queryParameters.get("unread") {
                guard text == "true" || text == "false" else { throw problem(400, "unread must be true or false") }
                unread = text
            }
            let unreadFilter = unread
            let rows = try await services.database.run { db in
                try db.query(
                    """
                    SELECT id, type, title, message, is_read, (extract(epoch FROM sent_at) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint
                    FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
                    """,
                    [user.description, String(unreadFilter == nil ? limit : 10_000)]
                ).rows
            }
            // The engine's state is authoritative for "read" (the read model may lag a moment behind).
            let state = services.runtime.state
            let items = rows.map { row -> NotificationBody in
                let id = row[0] ?? ""
                let read = NotificationID(id).flatMap { state.notifications[$0]?.read } ?? (row[4] == "t")
                return NotificationBody(
                    id: id,
                    type: row[1] ?? "",
                    title: row[2] ?? "",
                    message: row[3] ?? "",
                    isRead: read,
                    sentAt: row[5].flatMap(Int64.init).map(ISOTime.utc),
                    createdAt: ISOTime.utc(row[6].flatMap(Int64.init) ?? 0)
                )
            }
            let filtered = unreadFilter.map { wanted in items.filter { $0.isRead != (wanted == "true") } } ?? items
            return try APIJSON.response(ListBody(Array(filtered.prefix(limit))))
        }
        routes.add(.post, "/api/notifications/{id}/read") { _, context -> Response in
            let user = try context.requireUser()
            let text = context.parameter("id")
            guard let id = NotificationID(text), services.runtime.state.notifications[id]?.user == user else {
                throw problem(404, "no notification \(text)")
            }
            _ = try await services.runtime.execute(
                .markNotificationRead(id, user: user),
                context: services.context("api-read")
            )
            return Response(status: .noContent)
        }
    }
}
