/// Buy or sell.
public enum OrderSide: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case buy = 1
    case sell = 2
    public var description: String { self == .buy ? "BUY" : "SELL" }
    public init?(text: some StringProtocol) {
        switch text.uppercased() {
        case "BUY": self = .buy
        case "SELL": self = .sell
        default: return nil
        }
    }
}

/// Limit or market.
public enum OrderType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case limit = 1
    case market = 2
    public var description: String { self == .limit ? "LIMIT" : "MARKET" }
    public init?(text: some StringProtocol) {
        switch text.uppercased() {
        case "LIMIT": self = .limit
        case "MARKET": self = .market
        default: return nil
        }
    }
}

/// Who asked for an order.
public enum OrderSource: UInt8, Sendable, Hashable, CustomStringConvertible {
    case user = 1
    case strategy = 2
    /// The exit of a stop-loss, take-profit or trailing stop the engine watched (`TriggerFired`).
    case trigger = 3
    public var description: String {
        switch self {
        case .user: "USER"
        case .strategy: "STRATEGY"
        case .trigger: "TRIGGER"
        }
    }
}

/// The states of DESIGN.md's order table. `trades.status` shows the latest.
public enum OrderStatus: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case pending = 1
    case submitted, accepted, partiallyFilled, cancelRequested, filled, cancelled, rejected, failed, expired

    public var description: String {
        switch self {
        case .pending: "PENDING"
        case .submitted: "SUBMITTED"
        case .accepted: "ACCEPTED"
        case .partiallyFilled: "PARTIALLY_FILLED"
        case .cancelRequested: "CANCEL_REQUESTED"
        case .filled: "FILLED"
        case .cancelled: "CANCELLED"
        case .rejected: "REJECTED"
        case .failed: "FAILED"
        case .expired: "EXPIRED"
        }
    }

    public var isTerminal: Bool {
        switch self {
        case .filled, .cancelled, .rejected, .failed, .expired: true
        default: false
        }
    }

    /// True while the broker may still fill the order.
    public var isWorking: Bool {
        switch self {
        case .accepted, .partiallyFilled, .cancelRequested: true
        default: false
        }
    }
}

/// Who refused an order.
public enum RejectedBy: UInt8, Sendable, Hashable, CustomStringConvertible {
    case risk = 1
    case broker = 2
    public var description: String { self == .risk ? "risk" : "broker" }
}

/// Stable, machine-readable reasons (DESIGN.md; the operator guide's failure table).
public enum RejectionReason: String, Sendable, Hashable, CaseIterable {
    case tokenExpired = "TOKEN_EXPIRED"
    case insufficientBalance = "INSUFFICIENT_BALANCE"
    case insufficientShares = "INSUFFICIENT_SHARES"
    case marketClosed = "MARKET_CLOSED"
    case priceOutOfRange = "PRICE_OUT_OF_RANGE"
    case priceNotOnTick = "PRICE_NOT_ON_TICK"
    case dailyLimitExceeded = "DAILY_LIMIT_EXCEEDED"
    case accountHalted = "ACCOUNT_HALTED"
    /// KRX halted trading in the stock (`StockStatusChanged`).
    case stockHalted = "STOCK_HALTED"
    case unknownStock = "UNKNOWN_STOCK"
    case brokerRejected = "BROKER_REJECTED"
    case brokerUnreachable = "BROKER_UNREACHABLE"
    case timeout = "TIMEOUT"
}

/// The kind of broker behind an account.
public enum BrokerKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case simulated = 1
    case kisPaper = 2
    case kisReal = 3
    public var description: String {
        switch self {
        case .simulated: "SIMULATED"
        case .kisPaper: "KIS_PAPER"
        case .kisReal: "KIS_REAL"
        }
    }
    public init?(text: some StringProtocol) {
        guard let kind = Self.allCases.first(where: { $0.description == text.uppercased() }) else { return nil }
        self = kind
    }
    /// KIS accounts need a live access token; the simulator does not.
    public var needsToken: Bool { self != .simulated }
}
