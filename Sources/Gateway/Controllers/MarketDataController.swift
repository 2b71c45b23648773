import Engine
import Foundation
import Hummingbird
import Ledger
import Projections
import Runtime
import Storage

/// Stocks, candles, indicators, quotes, and the broker token state.
struct MarketDataController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/market-data/stocks", self.stocks)
        routes.add(.get, "/api/market-data/stocks/{stockId}", self.stock)
        routes.add(.get, "/api/market-data/stocks/{stockId}/candles", self.candles)
        routes.add(.get, "/api/market-data/stocks/{stockId}/indicators", self.indicators)
        routes.add(.get, "/api/market-data/stocks/{stockId}/quote", self.quote)
        routes.add(.get, "/api/market-data/kis/token-status", self.kisTokenStatus)
    }

    /// `GET /api/market-data/stocks`
    @Sendable func stocks(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.requireUser()
        let stocks = services.runtime.state.stocks.values.sorted { $0.code < $1.code }
        return try APIJSON.response(ListBody(stocks.map(GatewayAPI.stockBody)))
    }

    /// `GET /api/market-data/stocks/{stockId}`
    @Sendable func stock(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.requireUser()
        return try APIJSON.response(
            GatewayAPI.stockBody(
                try GatewayAPI.listedStock(context.parameter("stockId"), state: services.runtime.state)
            )
        )
    }

    /// `GET /api/market-data/stocks/{stockId}/candles`
    @Sendable func candles(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.requireUser()
        let info = try GatewayAPI.listedStock(context.parameter("stockId"), state: services.runtime.state)
        let timeframe = try Parse.timeframe(request.uri.queryParameters.get("timeframe"))
        let from = try Parse.optionalTime(request, "from")
        let to = try Parse.optionalTime(request, "to")
        if let from, let to, from >= to { throw problem(400, "from must be before to") }
        let limit = try Parse.limit(request, default: 500, max: 5_000)
        let candles = try await GatewayAPI.candles(
            services,
            stock: info.code,
            timeframe: timeframe,
            from: from,
            to: to,
            limit: limit
        )
        return APIJSON.response(bytes: CandlesBody.bytes(stock: info.code, timeframe: timeframe, candles: candles))
    }

    /// `GET /api/market-data/stocks/{stockId}/indicators`
    @Sendable func indicators(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.requireUser()
        let info = try GatewayAPI.listedStock(context.parameter("stockId"), state: services.runtime.state)
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
        let candles = try await GatewayAPI.candles(
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

    /// `GET /api/market-data/stocks/{stockId}/quote`
    @Sendable func quote(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.requireUser()
        let info = try GatewayAPI.listedStock(context.parameter("stockId"), state: services.runtime.state)
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
                asOf: data.currentDay == .min ? nil : KST.yyyymmdd(day: data.currentDay),
                ticks: KRXPriceRules.bands.map { TickBody(below: $0.below, tick: $0.tick) }
                    + [TickBody(below: nil, tick: KRXPriceRules.topTick)]
            )
        )
    }

    /// `GET /api/market-data/kis/token-status`
    /// The guide calls this without a token (incident 2): the answer then carries counts only.
    @Sendable func kisTokenStatus(_ request: Request, context: APIContext) async throws -> Response {
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

extension GatewayAPI {

    static func stockBody(_ info: StockInfo) -> StockBody {
        let band = info.marketData.priceLimits
        return StockBody(
            id: info.code.description,
            name: info.name,
            market: info.market,
            lastPrice: info.marketData.lastClose,
            basePrice: info.marketData.basePrice,
            lowerLimit: band.lowerBound,
            upperLimit: band.upperBound,
            tradingStatus: info.tradingStatus.description,
            statusReason: info.statusReason
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
        try await services.readModels.run { db in
            try ReadQueries.candles(stock: stock, timeframe: timeframe, from: from, to: to, limit: limit, db)
        }
    }

}

// MARK: - Bodies

struct StockBody: Codable {
    var id: String
    var name: String
    var market: String
    var lastPrice: Int64
    var basePrice: Int64
    var lowerLimit: Int64
    var upperLimit: Int64
    /// `TRADING`, `HALTED` or `VI` (`StockTradingStatus`).
    var tradingStatus: String
    var statusReason: String
}

struct CandleBody: Codable {
    var timestamp: String
    var open: Int64
    var high: Int64
    var low: Int64
    var close: Int64
    var volume: Int64
}

struct CandlesBody: Codable {
    var stockId: String
    var timeframe: String
    var candles: [CandleBody]
}

struct IndicatorRowBody: Codable {
    var timestamp: String
    var values: [String: Double]
}

struct IndicatorsBody: Codable {
    var stockId: String
    var timeframe: String
    var names: [String]
    var rows: [IndicatorRowBody]
}

struct QuoteBody: Codable {
    var stockId: String
    var price: Int64
    var basePrice: Int64
    var change: Int64
    var changePercent: Double
    var lowerLimit: Int64
    var upperLimit: Int64
    var asOf: String?
    /// KRX's tick table: the tick of prices below `below` (and above the previous band); the last has no bound.
    var ticks: [TickBody]
}

struct TickBody: Codable {
    var below: Int64?
    var tick: Int64
}

struct TokenStatusBody: Codable {
    struct AccountToken: Codable {
        var brokerAccountId: String
        var broker: String
        var valid: Bool
        var expiresAt: String?
    }
    /// Whether the system has KIS app credentials (`KIS_APP_KEY`).
    var configured: Bool
    var kisAccounts: Int
    var validTokens: Int
    var expiredTokens: Int
    var nextExpiry: String?
    /// The signed-in user's own KIS accounts (only with a bearer token).
    var accounts: [AccountToken]?
}
