/// One holding valued at the latest price the engine has seen.
public struct HoldingView: Sendable, Hashable {
    public var stock: StockCode
    public var quantity: Int64
    public var sellable: Int64
    public var averagePrice: Int64
    public var costBasis: Int64
    public var lastPrice: Int64
    /// Saturating, as every sum of this view: a price from a log older than `Bounds` cannot trap a page view.
    public var marketValue: Int64 { self.quantity.saturatingMultiply(self.lastPrice) }
    /// Market value minus cost basis (buy commissions included in the cost).
    public var unrealizedProfit: Int64 { self.marketValue.saturatingSubtract(self.costBasis) }
}

/// A broker account's portfolio as people read it: cash, holdings at market, realized and unrealized P&L.
public struct PortfolioView: Sendable, Hashable {
    public var account: AccountID
    public var cash: Int64
    public var reservedCash: Int64
    public var holdings: [HoldingView]
    public var realizedProfit: Int64
    public var commissionPaid: Int64
    public var taxPaid: Int64

    public var marketValue: Int64 { self.holdings.reduce(0) { $0.saturatingAdd($1.marketValue) } }
    public var unrealizedProfit: Int64 { self.holdings.reduce(0) { $0.saturatingAdd($1.unrealizedProfit) } }
    /// Cash plus holdings at market.
    public var equity: Int64 { self.cash.saturatingAdd(self.marketValue) }
}

extension EngineState {
    /// The portfolio of `account` valued at each stock's last close, or nil for an unknown account.
    public func portfolio(_ account: AccountID) -> PortfolioView? {
        guard let state = self.accounts[account] else { return nil }
        let holdings = state.positions.sorted { $0.key < $1.key }.map { code, position in
            HoldingView(
                stock: code,
                quantity: position.quantity,
                sellable: position.sellable,
                averagePrice: position.averagePrice,
                costBasis: position.costBasis,
                lastPrice: self.stocks[code]?.marketData.lastClose ?? 0
            )
        }
        return PortfolioView(
            account: account,
            cash: state.cash,
            reservedCash: state.reservedCash,
            holdings: holdings,
            realizedProfit: state.realizedProfit,
            commissionPaid: state.commissionPaid,
            taxPaid: state.taxPaid
        )
    }
}
