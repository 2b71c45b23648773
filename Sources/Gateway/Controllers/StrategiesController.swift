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
        routes.add(.get, "/api/strategies/rules", self.ruleSets)
        routes.add(.post, "/api/strategies/rules", self.define)
        routes.add(.post, "/api/strategies/rules/check", self.check)
    }

    /// `GET /api/strategies/rules`: the user's rule sets, every version.
    @Sendable func ruleSets(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let items = services.runtime.read { state -> [RuleSetBody] in
            (state.ruleSets[user] ?? [:]).sorted { $0.key < $1.key }.map { name, sources in
                RuleSetBody(
                    name: name,
                    strategy: "rule:" + name,
                    version: sources.count,
                    versions: sources.enumerated().map { RuleSetVersion(version: $0.offset + 1, source: $0.element) }
                )
            }
        }
        return try APIJSON.response(ListBody(items))
    }

    /// The parsed rule set, or 422 naming the line and column of the mistake.
    static func parse(_ source: String) throws -> RuleSet {
        do { return try RuleSet(parsing: source) } catch { throw problem(422, "source: \(error)") }
    }

    /// `POST /api/strategies/rules/check`: parses without storing.
    @Sendable func check(_ request: Request, context: APIContext) async throws -> Response {
        _ = try context.requireUser()
        let body = try await APIJSON.decode(
            RuleSourceRequest.self,
            from: request,
            context: context,
            allowedKeys: ["source"]
        )
        let rules = try Self.parse(body.source)
        return try APIJSON.response(RuleCheckBody(rules))
    }

    /// `POST /api/strategies/rules`: stores the source as the next version of the user's rule set `name`.
    @Sendable func define(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            RuleSetRequest.self,
            from: request,
            context: context,
            allowedKeys: ["name", "source"]
        )
        do { try StrategyFactory.checkRuleName(body.name) } catch { throw problem(422, "name: \(error.message)") }
        let rules = try Self.parse(body.source)
        // The caps (RuleSet.maxPerUser, .maxVersions) are the engine's: 409 from its decision.
        let decision = try await services.runtime.execute(
            .defineStrategy(user: user, name: body.name, source: body.source),
            context: services.context("api-rules")
        ).decision
        var check = RuleCheckBody(rules)
        check.name = body.name
        check.strategy = "rule:" + body.name
        check.version = Int(decision.created ?? 0)
        return try APIJSON.response(check, status: decision.events.isEmpty ? .ok : .created)
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
        let parameters = body.parameters ?? ""
        if let name = StrategyFactory.ruleName(body.strategy) {
            do { try StrategyFactory.checkRuleName(name) } catch { throw problem(422, "strategy: \(error.message)") }
            guard
                parameters.isEmpty || parameters.range(of: #"^version=[0-9]{1,6}$"#, options: .regularExpression) != nil
            else { throw problem(422, "parameters: a rule strategy takes only version=N") }
        } else {
            guard StrategyFactory.names.contains(body.strategy) else {
                throw problem(
                    422,
                    "strategy must be one of \(StrategyFactory.names.joined(separator: ", ")) or rule:<name>; got '\(body.strategy)'"
                )
            }
            do { _ = try StrategyFactory.make(name: body.strategy, parameters: parameters) } catch {
                throw problem(422, "parameters: \(error.message)")
            }
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
        // As recorded: a rule strategy pinned to the version the engine chose.
        let recorded = services.runtime.read { state in
            state.accounts[account]?.strategies[body.strategy + "@" + stock.description]?.parameters
        }
        return try APIJSON.response(
            StrategyBody(
                brokerAccountId: account.description,
                stockId: stock.description,
                strategy: body.strategy,
                parameters: recorded ?? parameters
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

struct RuleSetRequest: Codable {
    var name: String
    var source: String
}

struct RuleSourceRequest: Codable {
    var source: String
}

struct RuleSetVersion: Codable {
    var version: Int
    var source: String
}

struct RuleSetBody: Codable {
    var name: String
    var strategy: String
    var version: Int
    var versions: [RuleSetVersion]
}

/// What a rule set says, as checked: the indicators it reads, its exits and its size.
struct RuleCheckBody: Codable {
    var name: String?
    var strategy: String?
    var version: Int?
    var indicators: [String]
    var hasExitRule: Bool
    var stopLossPercent: Double?
    var takeProfitPercent: Double?
    var trailPercent: Double?
    var size: String

    init(_ rules: RuleSet) {
        self.indicators = rules.indicators.map(\.description)
        self.hasExitRule = rules.exit != nil
        self.stopLossPercent = rules.exits.stopLoss.map { Double($0) / 100 }
        self.takeProfitPercent = rules.exits.takeProfit.map { Double($0) / 100 }
        self.trailPercent = rules.exits.trail.map { Double($0) / 100 }
        self.size = rules.sizing.description
    }
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
