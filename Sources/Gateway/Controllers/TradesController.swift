import Engine
import Foundation
import Hummingbird
import Ledger
import Projections
import Runtime
import Storage

/// Trades (the guide's `trades` table) and the connectivity test.
struct TradesController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/trades", self.list)
        routes.add(.post, "/api/trades/test", self.test)
    }

    /// `GET /api/trades`
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
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
        let rows = try await services.readModels.run { db in
            try ReadQueries.trades(user: user.description, status: filter, limit: limit, db)
        }
        let trades = rows.map { row in
            TradeBody(
                id: row.id,
                brokerAccountId: row.account,
                stockId: row.stock,
                orderSide: row.side,
                orderType: row.type,
                quantity: row.quantity,
                price: row.price,
                filledQuantity: row.filledQuantity,
                averagePrice: row.averagePrice,
                status: row.status,
                failureReason: row.failureReason,
                createdAt: ISOTime.utc(row.createdAt),
                updatedAt: ISOTime.utc(row.updatedAt)
            )
        }
        return try APIJSON.response(ListBody(trades))
    }

    /// `POST /api/trades/test`
    @Sendable func test(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(TradeTestRequest.self, from: request, context: context)
        let state = services.runtime.state
        let account = try GatewayAPI.ownAccount(body.brokerAccountId, user: user, state: state)
        let info = try GatewayAPI.listedStock(body.stockId, state: state)
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
            let sealed = try await GatewayAPI.hasCredentials(account.id, services)
            checks.append(
                CheckBody(
                    name: "credentials",
                    ok: sealed,
                    detail: sealed
                        ? "app key and secret are stored (sealed)" : "no app key and secret stored for this account"
                )
            )
            // The guide's "KIS API integration test": really ask KIS, step by step.
            if let probe = services.brokerProbe {
                for check in await probe(account.id.description, account.broker.description, info.code.description) {
                    checks.append(CheckBody(name: "kis." + check.name, ok: check.ok, detail: check.detail))
                }
            } else {
                checks.append(
                    CheckBody(
                        name: "kis",
                        ok: false,
                        detail: "this server cannot reach KIS (no secrets key to open the credentials)"
                    )
                )
            }
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

// MARK: - Bodies

struct TradeBody: Codable {
    var id: String
    var brokerAccountId: String
    var stockId: String
    var orderSide: String
    var orderType: String
    var quantity: Int64
    var price: Int64
    var filledQuantity: Int64
    var averagePrice: Int64
    var status: String
    var failureReason: String?
    var createdAt: String
    var updatedAt: String
}

struct TradeTestRequest: Decodable {
    var brokerAccountId: String
    var stockId: String
}

/// One step of a broker round trip (`GatewayServices.brokerProbe`).
public struct BrokerCheck: Sendable {
    public var name: String
    public var ok: Bool
    public var detail: String
    public init(name: String, ok: Bool, detail: String) {
        self.name = name
        self.ok = ok
        self.detail = detail
    }
}

struct CheckBody: Codable {
    var name: String
    var ok: Bool
    var detail: String
}

struct TradeTestBody: Codable {
    var ok: Bool
    var brokerAccountId: String
    var stockId: String
    var checks: [CheckBody]
}
