/// An order as sent to a broker.
public struct BrokerOrderRequest: Sendable, Hashable {
    public var order: OrderID
    public var account: AccountID
    public var stock: StockCode
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Int64
    public var price: Int64

    public init(
        order: OrderID,
        account: AccountID,
        stock: StockCode,
        side: OrderSide,
        type: OrderType,
        quantity: Int64,
        price: Int64
    ) {
        self.order = order
        self.account = account
        self.stock = stock
        self.side = side
        self.type = type
        self.quantity = quantity
        self.price = price
    }

    public init(_ order: Order) {
        self.init(
            order: order.id,
            account: order.account,
            stock: order.stock,
            side: order.side,
            type: order.type,
            quantity: order.quantity,
            price: order.price
        )
    }
}

/// One execution reported by a broker.
public struct BrokerFill: Sendable, Hashable {
    public var brokerOrderNumber: String
    public var order: OrderID
    public var quantity: Int64
    public var price: Int64
    public var fillID: String
    public var time: Int64
}

/// What a broker knows about an order.
public struct BrokerOrderStatus: Sendable, Hashable {
    public enum State: Sendable, Hashable { case working, filled, cancelled, expired, rejected }
    public var brokerOrderNumber: String
    public var order: OrderID
    public var state: State
    public var filledQuantity: Int64
    public var remainingQuantity: Int64
    public var fills: [BrokerFill]
}

/// Holdings and cash as the broker reports them (for reconciliation).
public struct BrokerBalance: Sendable, Hashable {
    public var cash: Int64
    public var positions: [StockCode: Int64]
}

/// A broker's refusal or a technical failure, mapped to the engine's stable reasons.
public struct BrokerError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The broker refused the request (business rule); the order is REJECTED by the broker.
        case rejected
        /// The request may or may not have reached the broker (timeout, 5xx): the order is FAILED, reconcile.
        case unavailable
        /// Too many requests: retry later.
        case rateLimited
        /// The access token is missing or expired.
        case tokenExpired
    }
    public var kind: Kind
    public var reason: RejectionReason
    public var message: String
    /// The broker's own code (`APBK0919`, `EGW00201`, …) when there is one.
    public var brokerCode: String

    public init(kind: Kind, reason: RejectionReason, message: String, brokerCode: String = "") {
        self.kind = kind
        self.reason = reason
        self.message = message
        self.brokerCode = brokerCode
    }

    public var description: String {
        "\(self.reason.rawValue)\(self.brokerCode.isEmpty ? "" : " [\(self.brokerCode)]"): \(self.message)"
    }
}

/// The protocol every broker implements: the simulated exchange here and the KIS REST client in the worker.
/// Nothing above it knows which one it talks to.
public protocol Broker: Sendable {
    /// Sends an order; returns the broker's order number once the broker accepted it.
    func submit(_ request: BrokerOrderRequest) async throws(BrokerError) -> String
    /// Asks to cancel what remains of an order.
    func cancel(brokerOrderNumber: String) async throws(BrokerError)
    /// The order's state and every fill so far.
    func orderStatus(brokerOrderNumber: String) async throws(BrokerError) -> BrokerOrderStatus
    /// Cash and holdings of an account.
    func balance(account: AccountID) async throws(BrokerError) -> BrokerBalance
}
