/// Shares held in one stock.
public struct Position: Sendable, Hashable {
    public var quantity: Int64 = 0
    /// Shares promised to open sell orders.
    public var reservedForSale: Int64 = 0
    /// What the held shares cost, buy commissions included (KRW).
    public var costBasis: Int64 = 0

    public init() {}

    /// Shares a new sell order may use.
    public var sellable: Int64 { self.quantity - self.reservedForSale }
    /// Average price paid per share (cost basis / quantity), truncated.
    public var averagePrice: Int64 { self.quantity == 0 ? 0 : self.costBasis / self.quantity }
}

/// A broker account's portfolio and limits.
public struct Account: Sendable, Hashable {
    public var id: AccountID
    public var user: UserID
    public var broker: BrokerKind
    public var maskedAccountNumber: String
    public var dailyOrderLimit: Int64
    /// Cash (KRW), including cash reserved by open buy orders.
    public var cash: Int64 = 0
    /// Cash promised to open buy orders (price × quantity + commission, at the order's price).
    public var reservedCash: Int64 = 0
    public var positions: [StockCode: Position] = [:]
    public var realizedProfit: Int64 = 0
    public var commissionPaid: Int64 = 0
    public var taxPaid: Int64 = 0
    /// KST day and number of orders requested that day (for the daily limit).
    public var orderDay: Int64 = .min
    public var ordersThatDay: Int64 = 0
    /// When the broker token stops working (nil: none issued yet).
    public var tokenExpiresAt: Int64?
    /// Why trading is halted for this account (nil: not halted).
    public var haltReason: String?
    /// When the owner closed the account (no orders after it); nil while open.
    public var closedAt: Int64?
    /// Enabled strategies by "strategy@stock".
    public var strategies: [String: StrategyEnabled] = [:]

    public init(id: AccountID, user: UserID, broker: BrokerKind, maskedAccountNumber: String, dailyOrderLimit: Int64) {
        self.id = id
        self.user = user
        self.broker = broker
        self.maskedAccountNumber = maskedAccountNumber
        self.dailyOrderLimit = dailyOrderLimit
    }

    /// Cash a new buy order may use.
    public var availableCash: Int64 { self.cash - self.reservedCash }

    /// Orders requested on KST day `day` so far.
    public func ordersOn(day: Int64) -> Int64 { self.orderDay == day ? self.ordersThatDay : 0 }
}

/// An order and where it is in its lifecycle.
public struct Order: Sendable, Hashable {
    public var id: OrderID
    public var account: AccountID
    public var stock: StockCode
    public var side: OrderSide
    public var type: OrderType
    public var quantity: Int64
    public var price: Int64
    public var source: OrderSource
    public var clientOrderID: String
    public var status: OrderStatus = .pending
    public var filledQuantity: Int64 = 0
    /// Σ fill quantity × price.
    public var filledNotional: Int64 = 0
    public var commission: Int64 = 0
    public var tax: Int64 = 0
    /// Cash still reserved by this order (buys only).
    public var reservedCash: Int64 = 0
    public var brokerOrderNumber: String = ""
    /// The organization KIS answered the order with (`KRX_FWDG_ORD_ORGNO`): a cancel or revision names it.
    public var brokerOrganization: String = ""
    public var rejectedBy: RejectedBy?
    public var failureReason: RejectionReason?
    public var failureMessage: String = ""
    public var createdAt: Int64
    public var updatedAt: Int64
    /// Broker fill ids already applied (a fill reported twice is applied once).
    public var fillIDs: Set<String> = []
    /// A cancel was requested: the broker may still fill part before it confirms the cancellation.
    public var cancelRequested = false
    /// The correlation id of the event that last marked a send (`OrderSubmitted`), "" before one: a worker marks
    /// each send with an id of its own, so when the answer to that mark is lost (a node died after appending it)
    /// it can tell its own mark — whose send it never made — from another worker's.
    public var sendMark: String = ""

    public var remainingQuantity: Int64 { self.quantity - self.filledQuantity }
    /// Average fill price, truncated (0 before the first fill).
    public var averageFillPrice: Int64 { self.filledQuantity == 0 ? 0 : self.filledNotional / self.filledQuantity }
}
