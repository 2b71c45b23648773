/// The simulated exchange behind the `Broker` protocol (the same one the KIS REST client implements), for
/// paper trading and tests: nothing above it knows which broker it talks to.
///
/// An actor holding a `SimulatedExchange`; candles reach it through `onCandle` (from market data), and
/// time through the caller (`clock`), so runs stay deterministic.
public actor SimulatedBroker: Broker {
    private var exchange: SimulatedExchange
    private let clock: @Sendable () -> Int64

    public init(configuration: SimulatedExchange.Configuration = .init(), clock: @escaping @Sendable () -> Int64) {
        self.exchange = SimulatedExchange(configuration: configuration)
        self.clock = clock
    }

    public func submit(_ request: BrokerOrderRequest) async throws(BrokerError) -> String {
        try self.exchange.submit(request, at: self.clock())
    }

    public func cancel(brokerOrderNumber: String) async throws(BrokerError) {
        _ = try self.exchange.cancel(brokerOrderNumber)
    }

    public func orderStatus(brokerOrderNumber: String) async throws(BrokerError) -> BrokerOrderStatus {
        try self.exchange.status(brokerOrderNumber)
    }

    public func balance(account: AccountID) async throws(BrokerError) -> BrokerBalance {
        self.exchange.balance(account: account)
    }

    /// Feeds a closed candle to the matching engine; returns the fills it produced.
    @discardableResult
    public func onCandle(_ candle: Candle) -> [BrokerFill] { self.exchange.onCandle(candle) }

    public func deposit(account: AccountID, amount: Int64) { self.exchange.deposit(account: account, amount: amount) }

    /// Expires day orders at the session close.
    @discardableResult
    public func expire(at time: Int64) -> [String] { self.exchange.expire(at: time) }
}
