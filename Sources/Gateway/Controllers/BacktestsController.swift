import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Ledger
import NIOCore
import Projections
import Runtime
import ServiceLifecycle
import Storage

/// Backtests on the `candles` read model with the engine's own code (same risk checks, same exchange).
struct BacktestsController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.post, "/api/backtests", self.run)
        routes.add(.get, "/api/backtests", self.list)
        routes.add(.get, "/api/backtests/{id}", self.show)
        routes.add(.get, "/api/backtests/{id}/report", self.document)
    }

    /// `POST /api/backtests`
    @Sendable func run(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(BacktestRequest.self, from: request, context: context)
        let info = try GatewayAPI.listedStock(body.stockId, state: services.runtime.state)
        // A rule strategy: one of the user's rule sets, the version `parameters` names (default: the newest).
        var make: (@Sendable () -> any Strategy)?
        if let name = StrategyFactory.ruleName(body.strategy) {
            let chosen = try services.runtime.read { state in
                try StrategyFactory.ruleSet(name, of: user, parameters: body.parameters ?? "", in: state)
            }
            let rules = try StrategiesController.parse(chosen.source)
            let strategy = body.strategy
            make = { RuleStrategy(name: strategy, rules: rules) }
        } else {
            guard StrategyFactory.names.contains(body.strategy) else {
                throw problem(
                    422,
                    "strategy must be one of \(StrategyFactory.names.joined(separator: ", ")) or rule:<name>; got '\(body.strategy)'"
                )
            }
            do { _ = try StrategyFactory.make(name: body.strategy, parameters: body.parameters ?? "") } catch {
                throw problem(422, "parameters: \(error.message)")
            }
        }
        let timeframe = try Parse.timeframe(body.timeframe ?? "1d")
        let from = try body.from.map { try Parse.time($0, name: "from") }
        let to = try body.to.map { try Parse.time($0, name: "to") }
        let cash = body.initialCash ?? 100_000_000
        guard cash > 0, cash <= 10_000_000_000_000 else {
            throw problem(422, "initialCash must be 1...10000000000000 KRW")
        }
        let candles = try await GatewayAPI.candles(
            services,
            stock: info.code,
            timeframe: timeframe,
            from: from,
            to: to,
            limit: 100_000
        )
        guard candles.count >= 2 else {
            throw problem(422, "no \(timeframe) candles of \(info.code) in that range: nothing to test on")
        }
        let entry = services.backtests.create(
            user: user,
            request: body,
            now: services.clock(),
            keep: services.auth.configuration.backtestsPerUser
        )
        let calendar = services.runtime.engine.calendar
        let made = make
        let fees = services.runtime.state.fees
        let outcome: Result<(BacktestReport, BacktestDocument), EngineError> = try await blocking {
            Result { () throws(EngineError) -> (BacktestReport, BacktestDocument) in
                var backtester = try Backtester(
                    stocks: [(info.code, info.name, candles[0].open)],
                    strategy: body.strategy,
                    parameters: body.parameters ?? "",
                    initialCash: cash,
                    calendar: calendar,
                    exchange: .init(fillTimeframe: timeframe),
                    fees: fees,
                    startTime: candles[0].start - KST.dayMicros,
                    make: made
                )
                for candle in candles {
                    try backtester.process(candle)
                    if backtester.batchIsDue { _ = backtester.takeEvents() }  // no log kept: dropped unencoded
                }
                let report = try backtester.finish()
                return (report, BacktestDocument(report: report, state: backtester.state, bars: candles))
            }
        }
        switch outcome {
        case .success(let (report, document)):
            services.backtests.update(entry.id) {
                $0.status = "COMPLETED"
                $0.document = document
                $0.report = BacktestReportBody(
                    bars: report.bars,
                    events: report.events,
                    fills: report.fills,
                    roundTrips: report.roundTrips,
                    winRatePercent: report.winRatePercent,
                    initialEquity: report.initialEquity,
                    finalEquity: report.finalEquity,
                    profit: report.profit,
                    returnPercent: report.returnPercent,
                    realizedProfit: report.realizedProfit,
                    commission: report.commission,
                    tax: report.tax,
                    maxDrawdownPercent: report.maxDrawdownPercent,
                    sharpeRatio: report.sharpeRatio.isFinite ? report.sharpeRatio : 0,
                    ordersByStatus: report.ordersByStatus
                )
            }
        case .failure(let error):
            services.backtests.update(entry.id) {
                $0.status = "FAILED"
                $0.error = error.message
            }
        }
        guard let done = services.backtests.get(entry.id, user: user) else {
            throw problem(500, "the backtest disappeared")
        }
        var headers = HTTPFields()
        headers[.location] = "/api/backtests/\(done.id)"
        return try APIJSON.response(GatewayAPI.backtestBody(done), status: .created, headers: headers)
    }

    /// `GET /api/backtests`
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        return try APIJSON.response(ListBody(services.backtests.list(user: user).map(GatewayAPI.backtestBody)))
    }

    /// `GET /api/backtests/{id}/report`: the report page's data (equity, buy-and-hold, drawdown, monthly
    /// returns, trades, the chart's bars).
    @Sendable func document(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let id = context.parameter("id")
        guard let entry = services.backtests.get(id, user: user) else { throw problem(404, "no backtest \(id)") }
        guard let document = entry.document else { throw problem(409, "backtest \(id) is \(entry.status)") }
        return APIJSON.response(bytes: ByteBuffer(string: BacktestReportPage.json(document)))
    }

    /// `GET /api/backtests/{id}`
    @Sendable func show(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let id = context.parameter("id")
        guard let entry = services.backtests.get(id, user: user) else { throw problem(404, "no backtest \(id)") }
        return try APIJSON.response(GatewayAPI.backtestBody(entry))
    }
}

// MARK: - Bodies

struct BacktestRequest: Codable {
    var stockId: String
    /// `ma-cross` or `rsi-reversion`.
    var strategy: String
    var parameters: String?
    /// Candle timeframe to trade on (default `1d`).
    var timeframe: String?
    var from: String?
    var to: String?
    var initialCash: Int64?
}

struct BacktestReportBody: Codable {
    var bars: Int
    var events: UInt64
    var fills: Int
    var roundTrips: Int
    var winRatePercent: Double
    var initialEquity: Int64
    var finalEquity: Int64
    var profit: Int64
    var returnPercent: Double
    var realizedProfit: Int64
    var commission: Int64
    var tax: Int64
    var maxDrawdownPercent: Double
    var sharpeRatio: Double
    var ordersByStatus: [String: Int]
}

struct BacktestBody: Codable {
    var id: String
    var status: String
    var request: BacktestRequest
    var report: BacktestReportBody?
    var error: String?
    var createdAt: String
}
