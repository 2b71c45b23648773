import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import Projections
import Runtime
import Storage

/// Orders: place (idempotent with `Idempotency-Key`), list, get, cancel, audit.
struct OrdersController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.post, "/api/orders", self.place)
        routes.add(.get, "/api/orders", self.list)
        routes.add(.get, "/api/orders/{id}", self.show)
        routes.add(.post, "/api/orders/{id}/cancel", self.cancel)
        routes.add(.get, "/api/orders/{id}/audit", self.audit)
    }

    /// `POST /api/orders`
    @Sendable func place(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        if let wait = services.rateLimiter.take(user.description) {
            var response = ProblemDetailsMiddleware<APIContext>.response(
                problem(
                    429,
                    "too many orders: at most \(services.rateLimiter.rate)/s per user (burst \(Int(services.rateLimiter.burst))); retry after \(String(format: "%.2f", wait)) s"
                )
            )
            response.headers[.retryAfter] = String(Int(wait.rounded(.up)))
            return response
        }
        let body = try await APIJSON.decode(PlaceOrderRequest.self, from: request, context: context)
        let stock = try Parse.stock(body.stockId)
        // Read under the runtime's lock: a state copy held across `execute` would cost the writer a copy of all orders.
        let account = try services.runtime.read { state in
            try GatewayAPI.ownAccount(body.brokerAccountId, user: user, state: state)
        }
        guard let side = OrderSide(text: body.side) else {
            throw problem(422, "side must be BUY or SELL; got '\(body.side)'")
        }
        let typeText = body.type ?? "LIMIT"
        guard let type = OrderType(text: typeText) else {
            throw problem(422, "type must be LIMIT or MARKET; got '\(typeText)'")
        }
        // What the order may be (listed stock, quantity, price on the tick and in the band, …) is the
        // engine's to say, once, for every source of orders: its refusal comes back as a 4xx in words.
        let price = body.price ?? 0
        var clientOrderID = ""
        if let key = request.headers[HTTPField.Name("Idempotency-Key")!] {
            guard (1...64).contains(key.utf8.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw problem(400, "Idempotency-Key must be 1 to 64 visible ASCII characters")
            }
            clientOrderID = key
        }
        var command = PlaceOrder(
            account: account.id,
            stock: stock,
            side: side,
            type: type,
            quantity: body.quantity,
            price: type == .limit ? price : 0,
            source: .user,
            clientOrderID: clientOrderID
        )
        if let bracket = body.bracket { command.bracket = try bracket.exits(for: command) }
        let execution = try await services.runtime.execute(
            .placeOrder(command),
            context: services.context("api-order")
        )
        guard let id = execution.decision.order, let order = services.runtime.read({ $0.orders[id] }) else {
            throw problem(500, "the order was not recorded")
        }
        let replayed = execution.decision.events.isEmpty
        if replayed {
            guard order.stock == stock, order.side == side, order.type == type, order.quantity == body.quantity,
                type == .market || order.price == price
            else {
                throw problem(
                    422,
                    "Idempotency-Key '\(clientOrderID)' was already used for a different order (\(order.id)); use a new key for a new order"
                )
            }
        }
        var headers = HTTPFields()
        headers[.location] = "/api/orders/\(id)"
        if replayed { headers[HTTPField.Name("Idempotent-Replayed")!] = "true" }
        return try APIJSON.response(OrderBody(order), status: replayed ? .ok : .created, headers: headers)
    }

    /// `GET /api/orders`
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let query = request.uri.queryParameters
        let state = services.runtime.state
        var status: OrderStatus?
        if let text = query.get("status") {
            guard let parsed = OrderStatus.allCases.first(where: { $0.description == text.uppercased() }) else {
                throw problem(
                    400,
                    "status must be one of \(OrderStatus.allCases.map(\.description).joined(separator: ", "))"
                )
            }
            status = parsed
        }
        let stock = try query.get("stockId").map(Parse.stock)
        var accountFilter: AccountID?
        if let text = query.get("brokerAccountId") {
            accountFilter = try GatewayAPI.ownAccount(text, user: user, state: state).id
        }
        let limit = try Parse.limit(request, default: 100, max: 1_000)
        let mine = Set(state.accounts.values.filter { $0.user == user }.map(\.id))
        let orders = state.orders.values
            .filter {
                mine.contains($0.account) && (status == nil || $0.status == status)
                    && (stock == nil || $0.stock == stock) && (accountFilter == nil || $0.account == accountFilter)
            }
            .sorted { $0.id > $1.id }
            .prefix(limit)
        return try APIJSON.response(ListBody(orders.map(OrderBody.init)))
    }

    /// `GET /api/orders/{id}`
    @Sendable func show(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        return try APIJSON.response(
            OrderBody(try GatewayAPI.ownOrder(context.parameter("id"), user: user, state: services.runtime.state))
        )
    }

    /// `POST /api/orders/{id}/cancel`
    @Sendable func cancel(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let id = context.parameter("id")
        let order = try services.runtime.read { state in try GatewayAPI.ownOrder(id, user: user, state: state) }
        _ = try await services.runtime.execute(.cancelOrder(order.id), context: services.context("api-cancel"))
        guard let updated = services.runtime.read({ $0.orders[order.id] }) else {
            throw problem(404, "no order \(order.id)")
        }
        return try APIJSON.response(OrderBody(updated))
    }

    /// `GET /api/orders/{id}/audit`
    @Sendable func audit(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let order = try GatewayAPI.ownOrder(context.parameter("id"), user: user, state: services.runtime.state)
        return try APIJSON.response(try await GatewayAPI.audit(order, services: services))
    }
}

extension GatewayAPI {
    /// An order of the signed-in user, or 404.
    static func ownOrder(_ text: String, user: UserID, state: EngineState) throws -> Order {
        guard let id = OrderID(text), let order = state.orders[id], state.accounts[order.account]?.user == user else {
            throw problem(404, "no order \(text)")
        }
        return order
    }

    /// Any order (an operator's read-only view).
    static func anyOrder(_ text: String, state: EngineState) throws -> Order {
        guard let id = OrderID(text), let order = state.orders[id] else { throw problem(404, "no order \(text)") }
        return order
    }

    /// The order's events from the log with the frame checks. Offsets come from the `order_events` read
    /// model up to its checkpoint, and from a scan of the log after it (events not projected yet).
    static func audit(_ order: Order, services: GatewayServices) async throws -> AuditBody {
        let (known, checkpoint) = try await services.readModels.run { db -> ([UInt64], UInt64) in
            (
                try ReadQueries.orderEventOffsets(order: order.id.description, db),
                try ReadQueries.checkpoint("trading", db)
            )
        }
        let log = services.log
        return try await blocking {
            var offsets = known
            var envelopes: [UInt64: EventEnvelope] = [:]
            var failure: (any Error)?
            var problems: [String] = []
            // Events after the checkpoint: scanned (bounded by the projection lag). Damage is reported, not thrown.
            do {
                try log.scan(from: checkpoint) { view in
                    guard EventCodec.isEngineEvent(view.payload) else { return .continue }
                    do {
                        let envelope = try EventCodec.decode(
                            view.payload,
                            offset: view.offset,
                            timestamp: view.timestamp
                        )
                        if envelope.event.orderID == order.id {
                            offsets.append(view.offset)
                            envelopes[view.offset] = envelope
                        }
                    } catch {
                        failure = error
                        return .stop
                    }
                    return .continue
                }
            } catch {
                problems.append("reading the log after offset \(checkpoint): \(error)")
            }
            if let failure { throw failure }
            offsets = Array(Set(offsets)).sorted()
            for offset in offsets where envelopes[offset] == nil {
                do {
                    guard let record = try log.read(from: offset, maxRecords: 1).first, record.offset == offset else {
                        continue
                    }
                    envelopes[offset] = try EventCodec.decode(
                        record.payload,
                        offset: record.offset,
                        timestamp: record.timestamp
                    )
                } catch let error as LedgerError {
                    problems.append("event at offset \(offset) cannot be read: \(error)")
                }
            }
            let attestation = try log.attest(offsets: offsets)
            let byOffset = Dictionary(uniqueKeysWithValues: attestation.entries.map { ($0.offset, $0) })
            let events = offsets.compactMap { offset -> AuditEventBody? in
                guard let envelope = envelopes[offset] else { return nil }
                let entry = byOffset[offset]
                return AuditEventBody(
                    offset: offset,
                    timestamp: ISOTime.utc(envelope.timestamp),
                    type: envelope.typeName,
                    segment: entry?.segment,
                    frameHash: entry?.frameHash,
                    linkedByNext: entry?.linkedByNext,
                    payload: JSONValue(parsing: envelope.event.payloadJSON())
                )
            }
            problems += attestation.problems
            if events.count != offsets.count {
                problems.append(
                    "\(offsets.count - events.count) event(s) listed by the read model were not found in the log"
                )
            }
            return AuditBody(
                order: OrderBody(order),
                events: events,
                verification: VerificationBody(
                    ok: problems.isEmpty,
                    framesChecked: attestation.framesChecked,
                    problems: problems,
                    method:
                        "CRC-32C of every frame and SHA-256 chain links of the segments holding these events (stockboom log verify checks the whole log)"
                )
            )
        }
    }
}

// MARK: - Bodies

struct PlaceOrderRequest: Decodable {
    var brokerAccountId: String
    var stockId: String
    /// `BUY` or `SELL`.
    var side: String
    /// `LIMIT` (default) or `MARKET`.
    var type: String?
    var quantity: Int64
    /// Required for limit orders, on the stock's tick; ignored for market orders.
    var price: Int64?
    /// Exits armed with the order and watched once it fills (one-cancels-the-other).
    var bracket: BracketRequest?
}

/// A bracket's exits: any of a stop, a target and a trailing stop (each a market exit). A stop or a target is a
/// price, or a percentage from the entry's average fill price (its level is set when the entry fills).
struct BracketRequest: Decodable {
    var stopLossPrice: Int64?
    var takeProfitPrice: Int64?
    var trailPercent: Double?
    var stopLossPercent: Double?
    var takeProfitPercent: Double?

    /// As the engine's exits (their account, stock, side and quantity are the order's).
    func exits(for order: PlaceOrder) throws -> [ArmTrigger] {
        var exits: [ArmTrigger] = []
        func exit(_ kind: TriggerKind, price: Int64 = 0, trail: Int64 = 0, offset: Int64 = 0) -> ArmTrigger {
            ArmTrigger(
                account: order.account,
                stock: order.stock,
                kind: kind,
                quantity: order.quantity,
                triggerPrice: price,
                trailBasisPoints: trail,
                offsetBasisPoints: offset
            )
        }
        func fixedOrFromFill(_ kind: TriggerKind, _ name: String, price: Int64?, percent: Double?) throws {
            switch (price, percent) {
            case (nil, nil): return
            case (let price?, nil): exits.append(exit(kind, price: price))
            case (nil, let percent?):
                guard percent.isFinite, (0.01...99.99).contains(percent) else {
                    throw problem(422, "bracket.\(name)Percent must be 0.01 to 99.99")
                }
                exits.append(exit(kind, offset: Int64((percent * 100).rounded())))
            case (.some, .some):
                throw problem(422, "bracket.\(name)Price and bracket.\(name)Percent: one or the other")
            }
        }
        try fixedOrFromFill(.stopLoss, "stopLoss", price: self.stopLossPrice, percent: self.stopLossPercent)
        try fixedOrFromFill(.takeProfit, "takeProfit", price: self.takeProfitPrice, percent: self.takeProfitPercent)
        if let percent = self.trailPercent {
            guard percent.isFinite, (0.1...50).contains(percent) else {
                throw problem(422, "bracket.trailPercent must be 0.1 to 50")
            }
            exits.append(exit(.trailingStop, trail: Int64((percent * 100).rounded())))
        }
        guard !exits.isEmpty else {
            throw problem(422, "a bracket needs a stop-loss, a take-profit or a trailPercent")
        }
        return exits
    }
}

struct OrderBody: Codable {
    var id: String
    var brokerAccountId: String
    var stockId: String
    var side: String
    var type: String
    var quantity: Int64
    var price: Int64
    var status: String
    var filledQuantity: Int64
    var averageFillPrice: Int64
    var commission: Int64
    var tax: Int64
    var brokerOrderNumber: String?
    var rejectedBy: String?
    var failureReason: String?
    var failureMessage: String?
    var source: String
    var clientOrderId: String?
    var createdAt: String
    var updatedAt: String

    init(_ order: Order) {
        self.id = order.id.description
        self.brokerAccountId = order.account.description
        self.stockId = order.stock.description
        self.side = order.side.description
        self.type = order.type.description
        self.quantity = order.quantity
        self.price = order.price
        self.status = order.status.description
        self.filledQuantity = order.filledQuantity
        self.averageFillPrice = order.averageFillPrice
        self.commission = order.commission
        self.tax = order.tax
        self.brokerOrderNumber = order.brokerOrderNumber.isEmpty ? nil : order.brokerOrderNumber
        self.rejectedBy = order.rejectedBy?.description
        self.failureReason = order.failureReason?.rawValue
        self.failureMessage = order.failureMessage.isEmpty ? nil : order.failureMessage
        self.source = order.source.description
        self.clientOrderId = order.clientOrderID.isEmpty ? nil : order.clientOrderID
        self.createdAt = ISOTime.utc(order.createdAt)
        self.updatedAt = ISOTime.utc(order.updatedAt)
    }
}

struct AuditEventBody: Codable {
    var offset: UInt64
    var timestamp: String
    var type: String
    var segment: String?
    var frameHash: String?
    var linkedByNext: Bool?
    /// The event's payload as `stockboom log dump` renders it.
    var payload: JSONValue
}

struct AuditBody: Codable {
    var order: OrderBody
    var events: [AuditEventBody]
    var verification: VerificationBody
}

struct VerificationBody: Codable {
    var ok: Bool
    var framesChecked: Int
    var problems: [String]
    var method: String
}
