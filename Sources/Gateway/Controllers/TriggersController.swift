import Engine
import Foundation
import Hummingbird
import Runtime

/// Protective orders the engine watches (stop-loss, take-profit, trailing stop): arm, list, cancel. The engine
/// places the exit when a 1-minute bar crosses the level (`Engine.fireTriggers`); the exit is an order like any
/// other (`source: TRIGGER`), in `/api/orders` and the trades table.
struct TriggersController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.post, "/api/triggers", self.arm)
        routes.add(.get, "/api/triggers", self.list)
        routes.add(.post, "/api/triggers/{id}/cancel", self.cancel)
    }

    /// `POST /api/triggers`
    @Sendable func arm(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let body = try await APIJSON.decode(
            TriggerRequest.self,
            from: request,
            context: context,
            allowedKeys: [
                "brokerAccountId", "stockId", "side", "kind", "quantity", "triggerPrice", "trailPercent", "limitPrice",
                "group",
            ]
        )
        let stock = try Parse.stock(body.stockId)
        let account = try services.runtime.read { state in
            try GatewayAPI.ownAccount(body.brokerAccountId, user: user, state: state)
        }
        guard let kind = TriggerKind(text: body.kind) else {
            throw problem(422, "kind must be STOP_LOSS, TAKE_PROFIT or TRAILING_STOP; got '\(body.kind)'")
        }
        let sideText = body.side ?? "SELL"
        guard let side = OrderSide(text: sideText) else {
            throw problem(422, "side must be BUY or SELL; got '\(sideText)'")
        }
        var trail: Int64 = 0
        if let percent = body.trailPercent {
            guard percent.isFinite, (0.1...50).contains(percent) else {
                throw problem(422, "trailPercent must be 0.1 to 50")
            }
            trail = Int64((percent * 100).rounded())
        }
        // The rest (shares held, ticks, the trail's range) is the engine's to say: its refusal comes back in words.
        let execution = try await services.runtime.execute(
            .armTrigger(
                ArmTrigger(
                    account: account.id,
                    stock: stock,
                    side: side,
                    kind: kind,
                    quantity: body.quantity,
                    triggerPrice: body.triggerPrice ?? 0,
                    trailBasisPoints: trail,
                    limitPrice: body.limitPrice ?? 0,
                    group: body.group ?? ""
                )
            ),
            context: services.context("api-trigger")
        )
        guard let created = execution.decision.created,
            let trigger = services.runtime.read({
                $0.triggers[TriggerID(value: created)]
            })
        else { throw problem(500, "the trigger was not recorded") }
        return try APIJSON.response(TriggerBody(trigger), status: .created)
    }

    /// `GET /api/triggers`: the user's triggers, newest first (armed and ended).
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let limit = try Parse.limit(request, default: 100, max: 1_000)
        let items = services.runtime.read { state in
            state.triggers.values.filter { state.accounts[$0.request.account]?.user == user }.sorted { $0.id > $1.id }
                .prefix(limit).map(TriggerBody.init)
        }
        return try APIJSON.response(ListBody(Array(items)))
    }

    /// `POST /api/triggers/{id}/cancel`
    @Sendable func cancel(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let text = context.parameter("id")
        guard let id = TriggerID(text) else { throw problem(404, "no trigger \(text)") }
        _ = try await services.runtime.execute(.cancelTrigger(id, user: user), context: services.context("api-trigger"))
        guard let trigger = services.runtime.read({ $0.triggers[id] }) else { throw problem(404, "no trigger \(text)") }
        return try APIJSON.response(TriggerBody(trigger))
    }
}

struct TriggerRequest: Decodable {
    var brokerAccountId: String
    var stockId: String
    /// `SELL` (default: protects a position) or `BUY`.
    var side: String?
    /// `STOP_LOSS`, `TAKE_PROFIT` or `TRAILING_STOP`.
    var kind: String
    var quantity: Int64
    /// The level of a stop-loss or take-profit.
    var triggerPrice: Int64?
    /// A trailing stop's distance below the highest high (above the lowest low for a buy), in percent.
    var trailPercent: Double?
    /// The exit's limit price; absent: a market exit.
    var limitPrice: Int64?
    /// One-cancels-the-other group.
    var group: String?
}

struct TriggerBody: Codable {
    var id: String
    var brokerAccountId: String
    var stockId: String
    var side: String
    var kind: String
    var quantity: Int64
    var triggerPrice: Int64
    var trailPercent: Double
    /// A bracket's exit placed as a distance from its entry's fill (its level is set when the entry fills).
    var offsetPercent: Double?
    /// The level that fires it on the next bar (a trailing stop's moves with the price).
    var level: Int64
    var limitPrice: Int64
    var group: String
    var status: String
    var order: String?
    var reason: String?
    var armedAt: String
    /// A bracket's entry order; `watching` is false until it has filled.
    var entry: String?
    var watching: Bool

    init(_ trigger: Trigger) {
        self.id = trigger.id.description
        self.brokerAccountId = trigger.request.account.description
        self.stockId = trigger.request.stock.description
        self.side = trigger.request.side.description
        self.kind = trigger.request.kind.description
        self.quantity = trigger.request.quantity
        self.triggerPrice = trigger.request.triggerPrice
        self.trailPercent = Double(trigger.request.trailBasisPoints) / 100
        self.offsetPercent =
            trigger.request.offsetBasisPoints == 0 ? nil : Double(trigger.request.offsetBasisPoints) / 100
        self.level = trigger.level
        self.limitPrice = trigger.request.limitPrice
        self.group = trigger.request.group
        self.status = trigger.status.description
        self.order = trigger.order?.description
        self.reason = trigger.reason.isEmpty ? nil : trigger.reason
        self.armedAt = ISOTime.utc(trigger.armedAt)
        self.entry = trigger.request.entry?.description
        self.watching = trigger.status == .armed && trigger.active
    }
}
