/// A deterministic simulated KRX exchange for paper trading, demos, backtests and tests.
///
/// Fill model (each rule has a test in `SimulatedExchangeTests`):
/// * Orders fill only against candles of `fillTimeframe` that start at or after their submission (a daily
///   candle also fills orders submitted during its own day: "next open" for signals of the previous close).
/// * Limit buy: fills when the candle's low reaches the limit, at the limit, or at the open if the market
///   gapped below it. Limit sell: when the high reaches it, at the limit or at a higher open.
/// * Market order: at the candle's open plus `slippageTicks` ticks (buys up, sells down), kept inside the
///   candle's range.
/// * Partial fills: at most `participationPercent` % of the candle's volume is available to this exchange's
///   orders per candle, shared first come, first served; a zero-volume candle fills nothing.
/// * Day orders still working at the session close expire (`expire(at:)`).
public struct SimulatedExchange: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var participationPercent: Int64 = 10
        public var slippageTicks: Int64 = 1
        public var fillTimeframe: Timeframe = .minute1
        public init(participationPercent: Int64 = 10, slippageTicks: Int64 = 1, fillTimeframe: Timeframe = .minute1) {
            precondition((1...100).contains(participationPercent) && slippageTicks >= 0)
            self.participationPercent = participationPercent
            self.slippageTicks = slippageTicks
            self.fillTimeframe = fillTimeframe
        }
    }

    struct WorkingOrder: Sendable, Hashable {
        var request: BrokerOrderRequest
        var number: String
        var submittedAt: Int64
        var filled: Int64 = 0
        var state: BrokerOrderStatus.State = .working
        var fills: [BrokerFill] = []
    }

    public let configuration: Configuration
    /// By the number's integer (the numbers are ten digits this exchange gives out in sequence): a backtest
    /// submits an order every few bars, and a string key was hashed byte by byte on each lookup.
    private var orders: [UInt64: WorkingOrder] = [:]
    private var working: [StockCode: [UInt64]] = [:]
    private var nextNumber: UInt64 = 1
    /// Orders still working, across all stocks.
    private var workingCount = 0
    private var holdings: [AccountID: [StockCode: Int64]] = [:]
    private var cash: [AccountID: Int64] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Accepts an order and returns its broker order number (10 digits, as KIS's ODNO).
    public mutating func submit(_ request: BrokerOrderRequest, at time: Int64) throws(BrokerError) -> String {
        guard request.quantity > 0 else {
            throw BrokerError(kind: .rejected, reason: .brokerRejected, message: "주문 수량을 확인해주세요.")
        }
        if request.type == .limit, !KRXPriceRules.isOnTick(request.price) {
            throw BrokerError(kind: .rejected, reason: .priceNotOnTick, message: "주식주문호가단위 오류입니다.")
        }
        let key = self.nextNumber
        let digits = String(key)
        let number = String(repeating: "0", count: max(0, 10 - digits.count)) + digits
        self.nextNumber += 1
        self.orders[key] = WorkingOrder(request: request, number: number, submittedAt: time)
        self.working[request.stock, default: []].append(key)
        self.workingCount += 1
        return number
    }

    /// Cancels the unfilled rest of an order; returns the cancelled quantity.
    public mutating func cancel(_ number: String) throws(BrokerError) -> Int64 {
        guard case (let key, var order)? = self.lookUp(number) else {
            throw BrokerError(kind: .rejected, reason: .brokerRejected, message: "주문번호가 없습니다: \(number)")
        }
        guard order.state == .working else {
            throw BrokerError(kind: .rejected, reason: .brokerRejected, message: "정정/취소할 수량이 없습니다.")
        }
        order.state = .cancelled
        self.orders[key] = order
        self.working[order.request.stock]?.removeAll { $0 == key }
        self.workingCount -= 1
        return order.request.quantity - order.filled
    }

    public mutating func deposit(account: AccountID, amount: Int64) { self.cash[account, default: 0] += amount }

    /// Matches a candle against the working orders of its stock; returns the fills in order.
    public mutating func onCandle(_ candle: Candle) -> [BrokerFill] {
        guard self.workingCount > 0 else { return [] }  // the common case in a backtest: nothing to match
        guard candle.timeframe == self.configuration.fillTimeframe, let numbers = self.working[candle.stock],
            !numbers.isEmpty
        else { return [] }
        var capacity = candle.volume * self.configuration.participationPercent / 100
        var fills: [BrokerFill] = []
        var stillWorking: [UInt64] = []
        for key in numbers {
            // Changed where the table stores it (a copy out and back would copy its fills on append).
            guard let index = self.orders.index(forKey: key), self.orders.values[index].state == .working else {
                continue
            }
            let request = self.orders.values[index].request
            let eligible =
                candle.start >= self.orders.values[index].submittedAt
                || (candle.timeframe == .day1
                    && KST.day(candle.start) == KST.day(self.orders.values[index].submittedAt))
            guard eligible, capacity > 0, let price = self.fillPrice(request, candle) else {
                stillWorking.append(key)
                continue
            }
            let (fill, done) = Self.fill(&self.orders.values[index], upTo: capacity, at: price, time: candle.start)
            capacity -= fill.quantity
            fills.append(fill)
            let signed = request.side == .buy ? fill.quantity : -fill.quantity
            self.holdings[request.account, default: [:]][request.stock, default: 0] += signed
            self.cash[request.account, default: 0] -= signed * price
            if done { self.workingCount -= 1 } else { stillWorking.append(key) }
        }
        self.working[candle.stock] = stillWorking
        return fills
    }

    /// Fills what `order` still wants, up to `capacity`, at `price`; whether that filled it.
    private static func fill(_ order: inout WorkingOrder, upTo capacity: Int64, at price: Int64, time: Int64)
        -> (BrokerFill, Bool)
    {
        let quantity = min(order.request.quantity - order.filled, capacity)
        order.filled += quantity
        let fill = BrokerFill(
            brokerOrderNumber: order.number,
            order: order.request.order,
            quantity: quantity,
            price: price,
            fillID: "\(order.number)-\(order.fills.count + 1)",
            time: time
        )
        order.fills.append(fill)
        if order.filled == order.request.quantity { order.state = .filled }
        return (fill, order.state == .filled)
    }

    /// The order with broker order number `number` exactly (`0000000042`, not `42`), and its table key.
    private func lookUp(_ number: String) -> (key: UInt64, order: WorkingOrder)? {
        // Another spelling of the integer (`42`, `+0000000042`) parses to the key but is not the number.
        guard let key = UInt64(number), let order = self.orders[key], order.number == number else { return nil }
        return (key, order)
    }

    /// The fill price for an order against a candle, or nil if the candle does not reach it.
    func fillPrice(_ request: BrokerOrderRequest, _ candle: Candle) -> Int64? {
        switch (request.type, request.side) {
        case (.market, .buy):
            return min(
                candle.high,
                candle.open + self.configuration.slippageTicks * KRXPriceRules.tickSize(at: candle.open)
            )
        case (.market, .sell):
            let down = candle.open - self.configuration.slippageTicks * KRXPriceRules.tickSize(at: candle.open)
            return max(candle.low, max(1, down))
        case (.limit, .buy):
            guard candle.low <= request.price else { return nil }
            return candle.open <= request.price ? candle.open : request.price
        case (.limit, .sell):
            guard candle.high >= request.price else { return nil }
            return candle.open >= request.price ? candle.open : request.price
        }
    }

    /// Expires every order still working that was submitted before `time` (the session close).
    public mutating func expire(at time: Int64) -> [String] {
        var expired: [String] = []
        for (stock, numbers) in self.working {
            var kept: [UInt64] = []
            for number in numbers {
                guard var order = self.orders[number] else { continue }
                if order.state == .working && order.submittedAt < time {
                    order.state = .expired
                    self.orders[number] = order
                    expired.append(order.number)
                    self.workingCount -= 1
                } else if order.state == .working {
                    kept.append(number)
                }
            }
            self.working[stock] = kept
        }
        return expired.sorted()
    }

    public func status(_ number: String) throws(BrokerError) -> BrokerOrderStatus {
        guard let order = self.lookUp(number)?.order else {
            throw BrokerError(kind: .rejected, reason: .brokerRejected, message: "주문번호가 없습니다: \(number)")
        }
        return BrokerOrderStatus(
            brokerOrderNumber: number,
            order: order.request.order,
            state: order.state,
            filledQuantity: order.filled,
            remainingQuantity: order.state == .working ? order.request.quantity - order.filled : 0,
            fills: order.fills
        )
    }

    public func balance(account: AccountID) -> BrokerBalance {
        BrokerBalance(
            cash: self.cash[account] ?? 0,
            positions: (self.holdings[account] ?? [:]).filter { $0.value != 0 }
        )
    }
}
