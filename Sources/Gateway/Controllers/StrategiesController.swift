import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Runtime

/// Live strategies: enabled per account and stock; the worker's data-analysis jobs run them on each
/// closed one-minute bar and place their orders through the engine (the same risk checks as a person's).
struct StrategiesController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/strategies", self.list)
        routes.add(.post, "/api/strategies", self.enable)
        routes.add(.post, "/api/strategies/disable", self.disable)
    }

    /// `GET /api/strategies`
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let items = services.runtime.read { state -> [StrategyBody] in
            Self.bodies(state.accounts.values.filter { $0.user == user && $0.closedAt == nil }.sorted { $0.id < $1.id })
        }
        return try APIJSON.response(ListBody(items))
    }

    /// The strategies of `accounts`, in order: by account as given, then stock and name (the API's list and the
    /// dashboard's).
    static func bodies(_ accounts: [Account]) -> [StrategyBody] {
        accounts.flatMap { account in
            account.strategies.values.sorted { ($0.stock, $0.strategy) < ($1.stock, $1.strategy) }.map {
                StrategyBody(
                    brokerAccountId: account.id.description,
                    stockId: $0.stock.description,
                    strategy: $0.strategy,
                    parameters: $0.parameters
                )
            }
        }
    }

    /// `POST /api/strategies`
    @Sendable func enable(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            StrategyRequest.self,
            from: request,
            context: context,
            allowedKeys: ["brokerAccountId", "stockId", "strategy", "parameters"]
        )
        let (account, stock) = try GatewayAPI.strategyTarget(body, user: user, services: services)
        guard StrategyFactory.names.contains(body.strategy) else {
            throw problem(
                422,
                "strategy must be one of \(StrategyFactory.names.joined(separator: ", ")); got '\(body.strategy)'"
            )
        }
        let parameters = body.parameters ?? ""
        do { _ = try StrategyFactory.make(name: body.strategy, parameters: parameters) } catch {
            throw problem(422, "parameters: \(error.message)")
        }
        // A cap per user: each strategy is work on every bar of its stock for the worker.
        let cap = services.auth.configuration.strategiesPerUser
        let (enabled, already) = services.runtime.read { state in
            (
                state.accounts.values.filter { $0.user == user }.reduce(0) { $0 + $1.strategies.count },
                state.accounts[account]?.strategies[body.strategy + "@" + stock.description] != nil
            )
        }
        guard already || enabled < cap else {
            throw problem(409, "at most \(cap) strategies per user are enabled at once; disable one first")
        }
        _ = try await services.runtime.execute(
            .enableStrategy(account: account, stock: stock, strategy: body.strategy, parameters: parameters),
            context: services.context("api-strategy")
        )
        return try APIJSON.response(
            StrategyBody(
                brokerAccountId: account.description,
                stockId: stock.description,
                strategy: body.strategy,
                parameters: parameters
            ),
            status: .created
        )
    }

    /// `POST /api/strategies/disable`
    @Sendable func disable(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            StrategyRequest.self,
            from: request,
            context: context,
            allowedKeys: ["brokerAccountId", "stockId", "strategy", "parameters"]
        )
        let (account, stock) = try GatewayAPI.strategyTarget(body, user: user, services: services)
        _ = try await services.runtime.execute(
            .disableStrategy(account: account, stock: stock, strategy: body.strategy),
            context: services.context("api-strategy")
        )
        return Response(status: .noContent)
    }
}

/// A live strategy on one of the user's accounts.
struct StrategyBody: Codable {
    var brokerAccountId: String
    var stockId: String
    var strategy: String
    var parameters: String
}

struct StrategyRequest: Codable {
    var brokerAccountId: String
    var stockId: String
    var strategy: String
    var parameters: String?
}

extension GatewayAPI {

    static func strategyTarget(_ body: StrategyRequest, user: UserID, services: GatewayServices) throws -> (
        AccountID, StockCode
    ) {
        try services.runtime.read { state in
            let account = try Self.ownAccount(body.brokerAccountId, user: user, state: state)
            let info = try Self.listedStock(body.stockId, state: state)
            return (account.id, info.code)
        }
    }
}
