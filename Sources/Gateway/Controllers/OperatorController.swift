import Engine
import Foundation
import Hummingbird
import Runtime
import Storage

/// The operator's routes (`/api/operator/…`), for users with the operator role (given by `stockboom users operator
/// grant` on the engine's host, never through the API): every account read-only, halting and resuming any account,
/// and the global trading halt. Everyone else gets 404, as for an id that is not theirs. Each action is an
/// engine command recorded in the log with the operator's id.
struct OperatorController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/operator/accounts", self.accounts)
        routes.add(.post, "/api/operator/accounts/{id}/halt", self.halt)
        routes.add(.post, "/api/operator/accounts/{id}/resume", self.resume)
        routes.add(.get, "/api/operator/trading", self.trading)
        routes.add(.post, "/api/operator/trading/halt", self.haltTrading)
        routes.add(.post, "/api/operator/trading/resume", self.resumeTrading)
        routes.add(.post, "/api/operator/orders/{id}/resubmit", self.resubmit)
    }

    /// `POST /api/operator/orders/{id}/resubmit`: the operator guide's manual re-order (재주문) — a REJECTED or FAILED
    /// order placed again with the same terms for its owner, risk-checked as any order, once: the client order id
    /// `reorder:<id>` makes a second resubmit answer the first re-order. The events carry the operator's id as
    /// their correlation.
    @Sendable func resubmit(_ request: Request, context: APIContext) async throws -> Response {
        let by = try self.requireOperator(context)
        let state = services.runtime.state
        let text = context.parameter("id")
        guard let id = OrderID(text), let order = state.orders[id] else { throw problem(404, "no order \(text)") }
        guard order.status == .rejected || order.status == .failed else {
            throw problem(409, "only a REJECTED or FAILED order is placed again; \(id) is \(order.status)")
        }
        let execution = try await services.runtime.execute(
            .placeOrder(
                PlaceOrder(
                    account: order.account,
                    stock: order.stock,
                    side: order.side,
                    type: order.type,
                    quantity: order.quantity,
                    price: order.price,
                    source: order.source,
                    clientOrderID: "reorder:\(id)"
                )
            ),
            context: services.context("operator:\(by)")
        )
        guard let placed = execution.decision.order.flatMap({ services.runtime.state.orders[$0] }) else {
            throw problem(409, "the order was not placed again")
        }
        return try APIJSON.response(
            OrderBody(placed),
            status: execution.decision.events.isEmpty ? .ok : .created
        )
    }

    /// The signed-in user, if an operator; 404 otherwise (the routes do not exist for anyone else).
    private func requireOperator(_ context: APIContext) throws -> UserID {
        let user = try context.requireUser()
        guard services.runtime.state.operators.contains(user) else { throw problem(404, "not found") }
        return user
    }

    private func anyAccount(_ text: String) throws -> Account {
        guard let id = AccountID(text), let account = services.runtime.state.accounts[id], account.closedAt == nil
        else {
            throw problem(404, "no broker account \(text)")
        }
        return account
    }

    /// A reason an operator gives: 1 to 200 characters, none of the characters the engine refuses in identifiers
    /// (`Bounds.isUnsafe`: control, line separators, direction overrides), since the account's owner reads it.
    private func reason(_ request: Request, _ context: APIContext) async throws -> String {
        let body = try await APIJSON.decode(
            ReasonRequest.self,
            from: request,
            context: context,
            allowedKeys: ["reason"]
        )
        let reason = body.reason
        guard (1...200).contains(reason.unicodeScalars.count),
            !Bounds.containsUnsafe(reason)
        else {
            throw problem(422, "reason must be 1 to 200 characters without control or direction-override characters")
        }
        return reason
    }

    /// `GET /api/operator/accounts`: every open account, read-only (owner, broker, cash, halt).
    @Sendable func accounts(_ request: Request, context: APIContext) async throws -> Response {
        _ = try self.requireOperator(context)
        let state = services.runtime.state
        let sealed = try await services.database.run { db in
            Set(try db.query("SELECT broker_account_id FROM broker_credentials").rows.compactMap { $0[0] })
        }
        let open = state.accounts.values.filter { $0.closedAt == nil }.sorted { $0.id < $1.id }
        var working: [AccountID: Int] = [:]
        for order in state.working { working[order.account, default: 0] += 1 }
        let items = open.map { account -> OperatorAccountBody in
            OperatorAccountBody(
                account: AccountBody(account, hasCredentials: sealed.contains(account.id.description)),
                user: account.user.description,
                workingOrders: working[account.id] ?? 0
            )
        }
        return try APIJSON.response(ListBody(items))
    }

    /// `POST /api/operator/accounts/{id}/halt` with `{"reason": …}`.
    @Sendable func halt(_ request: Request, context: APIContext) async throws -> Response {
        let by = try self.requireOperator(context)
        let account = try self.anyAccount(context.parameter("id"))
        let reason = try await self.reason(request, context)
        _ = try await services.runtime.execute(
            .haltAccount(account.id, reason: "halted by operator \(by): \(reason)"),
            context: services.context("operator")
        )
        let halted = services.runtime.state.accounts[account.id] ?? account
        return try APIJSON.response(
            AccountBody(halted, hasCredentials: try await GatewayAPI.hasCredentials(account.id, services))
        )
    }

    /// `POST /api/operator/accounts/{id}/resume` with `{"confirm": true}`: as the owner's resume (a reconciliation
    /// that agrees), recorded with the operator's id.
    @Sendable func resume(_ request: Request, context: APIContext) async throws -> Response {
        let by = try self.requireOperator(context)
        let account = try self.anyAccount(context.parameter("id"))
        try await GatewayAPI.requireConfirmation(request, context, "a resume lifts the halt")
        let resumed = try await GatewayAPI.resume(account, by: by, services: services)
        return try APIJSON.response(
            AccountBody(resumed, hasCredentials: try await GatewayAPI.hasCredentials(account.id, services))
        )
    }

    /// `GET /api/operator/trading`: whether trading is halted for every account, and why.
    @Sendable func trading(_ request: Request, context: APIContext) async throws -> Response {
        _ = try self.requireOperator(context)
        return try APIJSON.response(TradingBody(halted: services.runtime.state.tradingHalt))
    }

    /// `POST /api/operator/trading/halt` with `{"reason": …}`: the global kill switch (every new order refused).
    @Sendable func haltTrading(_ request: Request, context: APIContext) async throws -> Response {
        let by = try self.requireOperator(context)
        let reason = try await self.reason(request, context)
        _ = try await services.runtime.execute(
            .haltTrading(by: by, reason: reason),
            context: services.context("operator")
        )
        return try APIJSON.response(TradingBody(halted: services.runtime.state.tradingHalt))
    }

    /// `POST /api/operator/trading/resume` with `{"reason": …}`.
    @Sendable func resumeTrading(_ request: Request, context: APIContext) async throws -> Response {
        let by = try self.requireOperator(context)
        let reason = try await self.reason(request, context)
        _ = try await services.runtime.execute(
            .resumeTrading(by: by, reason: reason),
            context: services.context("operator")
        )
        return try APIJSON.response(TradingBody(halted: services.runtime.state.tradingHalt))
    }
}

struct ReasonRequest: Decodable {
    var reason: String
}

struct TradingBody: Codable {
    /// The reason and the operator, while trading is halted for every account; nil otherwise.
    var halted: String?
}

struct OperatorAccountBody: Codable {
    var account: AccountBody
    var user: String
    var workingOrders: Int
}
