import Engine
import Foundation

// Request and response bodies of the API. Field names are the operator guide's (camelCase in JSON,
// `brokerAccountId`, `stockId`); money and prices are integer KRW; times are ISO 8601 UTC.

struct CredentialsRequest: Decodable {
    var email: String
    var password: String
}

struct ErasureRequest: Decodable {
    var password: String
}

struct PasswordChangeRequest: Decodable {
    var currentPassword: String
    var newPassword: String
}

struct UserBody: Codable {
    var id: String
    var email: String
}

struct SessionBody: Codable {
    var token: String
    var tokenType = "Bearer"
    var expiresAt: String
    var user: UserBody
}

struct CreateAccountRequest: Decodable {
    /// `SIMULATED`, `KIS_PAPER` or `KIS_REAL`.
    var broker: String
    var accountNumber: String
    var appKey: String?
    var appSecret: String?
    var dailyOrderLimit: Int64?
    /// Opening cash of a simulated account.
    var initialCash: Int64?
}

struct AccountBody: Codable {
    var id: String
    var broker: String
    /// The account number with all but the last four characters masked.
    var accountNumber: String
    var dailyOrderLimit: Int64
    var cash: Int64
    var reservedCash: Int64
    var availableCash: Int64
    var tokenExpiresAt: String?
    var haltedReason: String?
    var hasCredentials: Bool

    init(_ account: Account, hasCredentials: Bool) {
        self.id = account.id.description
        self.broker = account.broker.description
        self.accountNumber = account.maskedAccountNumber
        self.dailyOrderLimit = account.dailyOrderLimit
        self.cash = account.cash
        self.reservedCash = account.reservedCash
        self.availableCash = account.availableCash
        self.tokenExpiresAt = account.tokenExpiresAt.map(ISOTime.utc)
        self.haltedReason = account.haltReason
        self.hasCredentials = hasCredentials
    }
}

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

struct ListBody<Item: Codable>: Codable {
    var items: [Item]
    var count: Int
    init(_ items: [Item]) {
        self.items = items
        self.count = items.count
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

struct HoldingBody: Codable {
    var stockId: String
    var quantity: Int64
    var sellable: Int64
    var averagePrice: Int64
    var costBasis: Int64
    var lastPrice: Int64
    var marketValue: Int64
    var unrealizedProfit: Int64
}

struct PortfolioBody: Codable {
    var brokerAccountId: String
    var asOf: String
    var offset: UInt64
    var cash: Int64
    var reservedCash: Int64
    var marketValue: Int64
    var equity: Int64
    var realizedProfit: Int64
    var unrealizedProfit: Int64
    var commissionPaid: Int64
    var taxPaid: Int64
    var positions: [HoldingBody]

    init(_ view: PortfolioView, asOf: Int64, offset: UInt64) {
        self.brokerAccountId = view.account.description
        self.asOf = ISOTime.utc(asOf)
        self.offset = offset
        self.cash = view.cash
        self.reservedCash = view.reservedCash
        self.marketValue = view.marketValue
        self.equity = view.equity
        self.realizedProfit = view.realizedProfit
        self.unrealizedProfit = view.unrealizedProfit
        self.commissionPaid = view.commissionPaid
        self.taxPaid = view.taxPaid
        self.positions = view.holdings.map {
            HoldingBody(
                stockId: $0.stock.description,
                quantity: $0.quantity,
                sellable: $0.sellable,
                averagePrice: $0.averagePrice,
                costBasis: $0.costBasis,
                lastPrice: $0.lastPrice,
                marketValue: $0.marketValue,
                unrealizedProfit: $0.unrealizedProfit
            )
        }
    }
}

struct StockBody: Codable {
    var id: String
    var name: String
    var market: String
    var lastPrice: Int64
    var basePrice: Int64
    var lowerLimit: Int64
    var upperLimit: Int64
}

struct CandleBody: Codable {
    var timestamp: String
    var open: Int64
    var high: Int64
    var low: Int64
    var close: Int64
    var volume: Int64
}

struct CandlesBody: Codable {
    var stockId: String
    var timeframe: String
    var candles: [CandleBody]
}

struct IndicatorRowBody: Codable {
    var timestamp: String
    var values: [String: Double]
}

struct IndicatorsBody: Codable {
    var stockId: String
    var timeframe: String
    var names: [String]
    var rows: [IndicatorRowBody]
}

struct QuoteBody: Codable {
    var stockId: String
    var price: Int64
    var basePrice: Int64
    var change: Int64
    var changePercent: Double
    var lowerLimit: Int64
    var upperLimit: Int64
    var asOf: String?
}

struct TradeBody: Codable {
    var id: String
    var brokerAccountId: String
    var stockId: String
    var orderSide: String
    var orderType: String
    var quantity: Int64
    var price: Int64
    var filledQuantity: Int64
    var averagePrice: Int64
    var status: String
    var failureReason: String?
    var createdAt: String
    var updatedAt: String
}

struct NotificationBody: Codable {
    var id: String
    var type: String
    var title: String
    var message: String
    var isRead: Bool
    var sentAt: String?
    var createdAt: String
}

struct TradeTestRequest: Decodable {
    var brokerAccountId: String
    var stockId: String
}

struct CheckBody: Codable {
    var name: String
    var ok: Bool
    var detail: String
}

struct TradeTestBody: Codable {
    var ok: Bool
    var brokerAccountId: String
    var stockId: String
    var checks: [CheckBody]
}

struct TokenStatusBody: Codable {
    struct AccountToken: Codable {
        var brokerAccountId: String
        var broker: String
        var valid: Bool
        var expiresAt: String?
    }
    /// Whether the system has KIS app credentials (`KIS_APP_KEY`).
    var configured: Bool
    var kisAccounts: Int
    var validTokens: Int
    var expiredTokens: Int
    var nextExpiry: String?
    /// The signed-in user's own KIS accounts (only with a bearer token).
    var accounts: [AccountToken]?
}

struct BacktestRequest: Codable {
    var stockId: String
    /// `ma-cross` or `rsi-reversion`.
    var strategy: String
    var parameters: String?
    /// Candle timeframe to trade on (default `1d`).
    var timeframe: String?
    var from: String?
    var to: String?
    var initialCash: Int64?
}

struct BacktestReportBody: Codable {
    var bars: Int
    var events: UInt64
    var fills: Int
    var roundTrips: Int
    var winRatePercent: Double
    var initialEquity: Int64
    var finalEquity: Int64
    var profit: Int64
    var returnPercent: Double
    var realizedProfit: Int64
    var commission: Int64
    var tax: Int64
    var maxDrawdownPercent: Double
    var sharpeRatio: Double
    var ordersByStatus: [String: Int]
}

struct BacktestBody: Codable {
    var id: String
    var status: String
    var request: BacktestRequest
    var report: BacktestReportBody?
    var error: String?
    var createdAt: String
}

/// Any JSON value: carries the log's own JSON rendering of an event inside a typed body.
enum JSONValue: Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(parsing text: String) {
        self = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
