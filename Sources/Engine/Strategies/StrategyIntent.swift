/// How many shares an order intent asks for.
public enum OrderSizing: Sendable, Hashable, CustomStringConvertible {
    case shares(Int64)
    /// As many shares as this many KRW buy at the reference price.
    case amount(Int64)
    /// This share of the account's equity (basis points: 1,000 = 10 %), at the reference price.
    case percentOfEquity(basisPoints: Int64)
    /// Every sellable share held (sells).
    case position

    public var description: String {
        switch self {
        case .shares(let n): "\(n) shares"
        case .amount(let krw): "\(krw) KRW"
        case .percentOfEquity(let bp): "\(Double(bp) / 100) % of equity"
        case .position: "the whole position"
        }
    }
}

/// Exits armed with an entry (a bracket): distances from the entry's average fill price in basis points
/// (300 = 3 %), each optional; the engine sets their levels and watches them once the entry fills, one
/// cancelling the others.
public struct ExitPlan: Sendable, Hashable {
    public var stopLoss: Int64?
    public var takeProfit: Int64?
    public var trail: Int64?

    public init(stopLoss: Int64? = nil, takeProfit: Int64? = nil, trail: Int64? = nil) {
        self.stopLoss = stopLoss
        self.takeProfit = takeProfit
        self.trail = trail
    }

    public var isEmpty: Bool { self.stopLoss == nil && self.takeProfit == nil && self.trail == nil }
}

/// An order a strategy wants: market (no `limitPrice`) or limit, sized by shares, KRW or percent of equity,
/// with a bracket's exits if `exits` is set.
public struct OrderIntent: Sendable, Hashable {
    public var side: OrderSide
    public var sizing: OrderSizing
    public var limitPrice: Int64?
    public var exits: ExitPlan?
    public var reason: String

    public init(side: OrderSide, sizing: OrderSizing, limitPrice: Int64? = nil, exits: ExitPlan? = nil, reason: String)
    {
        self.side = side
        self.sizing = sizing
        self.limitPrice = limitPrice
        self.exits = exits
        self.reason = reason
    }
}

/// What a strategy returns for a bar.
public enum StrategyIntent: Sendable, Hashable {
    case order(OrderIntent)
    /// Cancel one of its working orders.
    case cancel(OrderID, reason: String)
    /// Cancel every working order of its stock.
    case cancelAll(reason: String)

    public static func buy(
        _ sizing: OrderSizing,
        limit: Int64? = nil,
        exits: ExitPlan? = nil,
        reason: String
    ) -> StrategyIntent {
        .order(OrderIntent(side: .buy, sizing: sizing, limitPrice: limit, exits: exits, reason: reason))
    }

    public static func sell(_ sizing: OrderSizing = .position, limit: Int64? = nil, reason: String) -> StrategyIntent {
        .order(OrderIntent(side: .sell, sizing: sizing, limitPrice: limit, reason: reason))
    }

    public var reason: String {
        switch self {
        case .order(let order): order.reason
        case .cancel(_, let reason), .cancelAll(let reason): reason
        }
    }

    public var side: OrderSide? {
        if case .order(let order) = self { return order.side }
        return nil
    }
}

extension OrderIntent {
    /// The order this intent places for `account` on `stock` given `holding` and the bar's close: shares from the
    /// sizing at the reference price (the limit, else the close), a limit price moved onto its tick (a buy's down,
    /// a sell's up: never a worse price than asked), a sell held to the sellable shares (no short selling), and
    /// the exits as the bracket's distances (their levels set from the entry's fill price when it fills).
    /// Or why it places nothing (no shares to sell, a size under one share).
    public func order(account: AccountID, stock: StockCode, holding: Holding, close: Int64) -> Result<
        PlaceOrder, SkipReason
    > {
        let reference = max(1, min(self.limitPrice ?? close, Bounds.maxPrice))
        var quantity: Int64
        switch self.sizing {
        case .shares(let n): quantity = n
        case .amount(let krw): quantity = krw / reference
        case .percentOfEquity(let bp):
            let shares = (Double(holding.equity) * Double(bp) / 10_000 / Double(reference)).rounded(.down)
            // Held in range before converting (a conversion of a value beyond Int64 traps).
            quantity = shares.isFinite ? Int64(max(0, min(shares, Double(Bounds.maxQuantity)))) : 0
        case .position: quantity = self.side == .sell ? holding.sellable : 0
        }
        if self.side == .sell { quantity = min(quantity, holding.sellable) }
        guard quantity >= 1 else {
            return .failure(
                SkipReason(
                    self.side == .sell && holding.sellable == 0
                        ? "no sellable shares" : "\(self.sizing) buys less than one share at \(reference) KRW"
                )
            )
        }
        quantity = min(quantity, Bounds.maxQuantity)
        var request = PlaceOrder(
            account: account,
            stock: stock,
            side: self.side,
            type: self.limitPrice == nil ? .market : .limit,
            quantity: quantity,
            price: self.limitPrice == nil ? 0 : Self.onTick(reference, up: self.side == .sell),
            source: .strategy
        )
        if let exits = self.exits, self.side == .buy {
            func exit(_ kind: TriggerKind, offset: Int64 = 0, trail: Int64 = 0) -> ArmTrigger {
                ArmTrigger(
                    account: account,
                    stock: stock,
                    kind: kind,
                    quantity: quantity,
                    trailBasisPoints: trail,
                    offsetBasisPoints: offset
                )
            }
            // Distances held to 0.01–99.99 % (a Swift strategy may ask anything; rules are checked when written).
            func held(_ bp: Int64) -> Int64 { min(max(bp, 1), 9_999) }
            if let bp = exits.stopLoss { request.bracket.append(exit(.stopLoss, offset: held(bp))) }
            if let bp = exits.takeProfit { request.bracket.append(exit(.takeProfit, offset: held(bp))) }
            if let bp = exits.trail { request.bracket.append(exit(.trailingStop, trail: min(max(bp, 10), 5_000))) }
        }
        return .success(request)
    }

    /// `price` moved onto the KRX tick of its band (up or down), at least one tick.
    static func onTick(_ price: Int64, up: Bool) -> Int64 {
        let price = max(1, min(price, Bounds.maxPrice))
        let tick = KRXPriceRules.tickSize(at: price)
        let down = price - price % tick
        guard up, down != price else { return max(down, tick) }
        let raised = down + tick
        return KRXPriceRules.isOnTick(raised) ? raised : raised - raised % KRXPriceRules.tickSize(at: raised)
    }
}

/// Why an intent placed nothing (recorded as `SignalSkipped`).
public struct SkipReason: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
