import Engine
import Foundation
import Hummingbird
import Ledger
import Projections
import Runtime
import Storage

/// Portfolio now or at any past time.
struct PortfolioController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/portfolio", self.show)
    }

    /// `GET /api/portfolio`
    @Sendable func show(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let only = try request.uri.queryParameters.get("brokerAccountId").map {
            try GatewayAPI.ownAccount($0, user: user, state: services.runtime.state).id
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

// MARK: - Bodies

struct HoldingBody: Codable {
    var stockId: String
    var quantity: Int64
    var sellable: Int64
    var averagePrice: Int64
    var costBasis: Int64
    var lastPrice: Int64
    var marketValue: Int64
    var unrealizedProfit: Int64
}

struct PortfolioBody: Codable {
    var brokerAccountId: String
    var asOf: String
    var offset: UInt64
    var cash: Int64
    var reservedCash: Int64
    var marketValue: Int64
    var equity: Int64
    var realizedProfit: Int64
    var unrealizedProfit: Int64
    var commissionPaid: Int64
    var taxPaid: Int64
    var positions: [HoldingBody]

    init(_ view: PortfolioView, asOf: Int64, offset: UInt64) {
        self.brokerAccountId = view.account.description
        self.asOf = ISOTime.utc(asOf)
        self.offset = offset
        self.cash = view.cash
        self.reservedCash = view.reservedCash
        self.marketValue = view.marketValue
        self.equity = view.equity
        self.realizedProfit = view.realizedProfit
        self.unrealizedProfit = view.unrealizedProfit
        self.commissionPaid = view.commissionPaid
        self.taxPaid = view.taxPaid
        self.positions = view.holdings.map {
            HoldingBody(
                stockId: $0.stock.description,
                quantity: $0.quantity,
                sellable: $0.sellable,
                averagePrice: $0.averagePrice,
                costBasis: $0.costBasis,
                lastPrice: $0.lastPrice,
                marketValue: $0.marketValue,
                unrealizedProfit: $0.unrealizedProfit
            )
        }
    }
}
