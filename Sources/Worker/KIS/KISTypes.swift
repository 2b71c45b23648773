public import Engine
import Foundation

/// Real (실전) or paper (모의투자) KIS: different hosts, keys, tokens and trading tr_ids.
public enum KISEnvironment: String, Sendable, CaseIterable {
    case real, paper

    public var defaultBaseURL: String {
        switch self {
        case .real: "https://openapi.koreainvestment.com:9443"
        case .paper: "https://openapivts.koreainvestment.com:29443"
        }
    }

    /// REST requests per second per app key (20 real, 2 paper; kis-and-krx.md §5.4). One under, as python-kis does.
    public var requestsPerSecond: Double { self == .real ? 19 : 2 }

    /// Trading and account tr_ids start with T, J or C in real; paper swaps only the first letter for V.
    /// Quotation tr_ids (FH…) are the same in both.
    public func trID(_ real: String) -> String {
        guard self == .paper, let first = real.first, "TJC".contains(first) else { return real }
        return "V" + real.dropFirst()
    }

    public init(broker: BrokerKind) {
        self = broker == .kisReal ? .real : .paper
    }
}

/// An app key, its secret and the account (CANO 8 digits + ACNT_PRDT_CD 2 digits). Never logged, never
/// appended to the event log: `description` masks everything.
public struct KISCredentials: Sendable, CustomStringConvertible {
    public var appKey: String
    public var appSecret: String
    /// `CANO`: the first 8 digits of the account number.
    public var accountNumber: String
    /// `ACNT_PRDT_CD`: 2 digits, `01` for stock accounts.
    public var productCode: String

    public init(appKey: String, appSecret: String, accountNumber: String, productCode: String = "01") {
        self.appKey = appKey
        self.appSecret = appSecret
        // "50123456-01" or "5012345601": the first 8 digits and the last 2.
        let digits = accountNumber.filter(\.isNumber)
        if digits.count == 10 {
            self.accountNumber = String(digits.prefix(8))
            self.productCode = String(digits.suffix(2))
        } else {
            self.accountNumber = String(digits.prefix(8))
            self.productCode = productCode
        }
    }

    public var description: String {
        "KISCredentials(appKey: …\(self.appKey.suffix(4)), account: ******\(self.accountNumber.suffix(2))-\(self.productCode))"
    }
}

/// An access token and when it stops working. The token is a secret: keep it out of logs and the event log.
public struct KISToken: Sendable, Equatable {
    public var accessToken: String
    /// µs since the epoch.
    public var issuedAt: Int64
    public var expiresAt: Int64

    public init(accessToken: String, issuedAt: Int64, expiresAt: Int64) {
        self.accessToken = accessToken
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// What went wrong talking to KIS, typed so callers can decide: retry, re-issue the token, or record a
/// broker rejection with the operator guide's reason.
public struct KISError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `EGW00123`: the token expired; re-issue and retry.
        case tokenExpired
        /// `EGW00121` and kin: the token is not valid.
        case invalidToken
        /// `EGW00133`: a token was issued less than a minute ago.
        case tokenIssueTooSoon
        /// `EGW00103`/`EGW00105`: wrong app key or secret.
        case badCredentials
        /// `EGW00201`/`EGW00215`: too many requests per second; retry shortly.
        case rateLimited
        /// A business refusal of an order (HTTP 200, `rt_cd` ≠ 0), with the guide's reason.
        case rejected(RejectionReason)
        /// Any other `rt_cd` ≠ 0 answer.
        case failed
        /// No usable answer: connection refused, timeout, malformed body. The request may or may not have
        /// reached KIS (an order must then be reconciled, never assumed absent).
        case transport
    }

    public var kind: Kind
    public var code: String
    public var message: String
    public var httpStatus: Int

    public init(kind: Kind, code: String, message: String, httpStatus: Int = 0) {
        self.kind = kind
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
    }

    public var description: String {
        "KIS \(self.code.isEmpty ? "error" : self.code) (HTTP \(self.httpStatus)): \(self.message)"
    }

    /// Maps a KIS `msg_cd`/`msg1` (or the token endpoint's `error_code`) to a kind (kis-and-krx.md §5.3).
    public static func classify(code: String, message: String) -> Kind {
        switch code {
        case "EGW00123": return .tokenExpired
        case "EGW00121", "EGW00122": return .invalidToken
        case "EGW00133": return .tokenIssueTooSoon
        case "EGW00103", "EGW00105": return .badCredentials
        case "EGW00201", "EGW00215": return .rateLimited
        case "APBK0919", "40580000", "40570000": return .rejected(.marketClosed)
        case "40270000": return .rejected(.priceOutOfRange)
        case "40250000": return .rejected(.insufficientBalance)
        case "APBK0656": return .rejected(.unknownStock)
        default: break
        }
        let text = message
        if text.contains("장종료") || text.contains("장시작전") || text.contains("장운영") { return .rejected(.marketClosed) }
        if text.contains("상/하한가") || text.contains("상하한가") { return .rejected(.priceOutOfRange) }
        if text.contains("호가단위") { return .rejected(.priceNotOnTick) }
        if text.contains("주문가능금액") || text.contains("잔고") || text.contains("증거금") {
            return .rejected(.insufficientBalance)
        }
        if text.contains("매도가능수량") || text.contains("주문가능수량") { return .rejected(.insufficientShares) }
        if text.contains("한도") { return .rejected(.dailyLimitExceeded) }
        if text.contains("종목코드") || text.contains("매매불가") { return .rejected(.unknownStock) }
        return .failed
    }
}

/// `inquire-price` output, the fields the system uses.
public struct KISQuote: Sendable, Equatable {
    public var code: String
    public var price: Int64
    public var basePrice: Int64
    public var upperLimit: Int64
    public var lowerLimit: Int64
    public var open: Int64
    public var high: Int64
    public var low: Int64
    public var volume: Int64
    public var halted: Bool
    /// `vi_cls_code` while a volatility interruption (VI) holds the stock in a single-price auction; nil when
    /// the field is absent, empty or `N` (kis-and-krx.md §6.7: the code's values are not documented; anything
    /// else is taken as a VI and recorded as it was sent).
    public var volatilityInterruption: String? = nil

    /// What the quote says of the stock's trading: a halt before a VI.
    public var status: (status: StockTradingStatus, reason: String) {
        if self.halted { return (.halted, "KRX trading halt (KIS temp_stop_yn=Y)") }
        if let code = self.volatilityInterruption {
            return (.volatilityInterruption, "KRX VI (KIS vi_cls_code=\(code))")
        }
        return (.trading, "")
    }
}

/// One minute bar (`inquire-time-itemchartprice` output2 row).
public struct KISMinuteBar: Sendable, Equatable {
    /// `YYYYMMDD`.
    public var date: String
    /// `HHMMSS` (seconds 00).
    public var time: String
    public var open: Int64
    public var high: Int64
    public var low: Int64
    public var close: Int64
    public var volume: Int64
}

/// One daily bar (`inquire-daily-itemchartprice` output2 row).
public struct KISDailyBar: Sendable, Equatable {
    public var date: String
    public var open: Int64
    public var high: Int64
    public var low: Int64
    public var close: Int64
    public var volume: Int64
}

/// An accepted order, cancel or revision (`order-cash` / `order-rvsecncl` output).
public struct KISOrderAck: Sendable, Equatable {
    /// `KRX_FWDG_ORD_ORGNO`: needed to revise or cancel.
    public var organization: String
    /// `ODNO`: the broker's order number.
    public var orderNumber: String
    /// `ORD_TMD`, HHMMSS KST.
    public var time: String
}

/// A row of `inquire-daily-ccld` output1: an order of the day with what has filled.
public struct KISDailyOrder: Sendable, Equatable {
    public var orderNumber: String
    public var originalOrderNumber: String
    public var organization: String
    public var stock: String
    /// `01` sell, `02` buy.
    public var sideCode: String
    public var quantity: Int64
    public var price: Int64
    public var filledQuantity: Int64
    /// Average fill price (`avg_prvs`).
    public var averagePrice: Int64
    public var remainingQuantity: Int64
    public var cancelled: Bool
    public var rejectedQuantity: Int64
    /// `ord_tmd`.
    public var time: String
}

/// `inquire-balance`: holdings and cash.
public struct KISBalance: Sendable, Equatable {
    public struct Holding: Sendable, Equatable {
        public var stock: String
        public var quantity: Int64
        public var sellable: Int64
        public var averagePrice: Double
    }
    public var holdings: [Holding]
    /// `dnca_tot_amt`.
    public var cash: Int64
}

extension KISMinuteBar {
    /// The bar as a 1-minute candle of `code` starting at its date and time (KST); nil when either does not read
    /// or the engine would refuse the bar (`admissible`).
    public func candle(_ code: StockCode) -> Candle? {
        guard let day = KST.day(yyyymmdd: self.date), self.time.count == 6, let hour = Int64(self.time.prefix(2)),
            let minute = Int64(self.time.dropFirst(2).prefix(2))
        else { return nil }
        return Candle(
            stock: code,
            timeframe: .minute1,
            start: KST.instant(day: day, hour: hour, minute: minute),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume
        ).admissible
    }
}

extension KISDailyBar {
    /// The bar as a daily candle of `code` (starting at its KST midnight); nil when its date does not read or the
    /// engine would refuse the bar (`admissible`).
    public func candle(_ code: StockCode) -> Candle? {
        guard let day = KST.day(yyyymmdd: self.date) else { return nil }
        return Candle(
            stock: code,
            timeframe: .day1,
            start: KST.instant(day: day, hour: 0),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume
        ).admissible
    }
}

extension Candle {
    /// The candle if the engine would take it (`Bounds` and `validate`: prices and volume in range, high and low
    /// around open and close, a minute's start); nil otherwise — a broken row of a broker's answer is dropped
    /// where it enters, not refused by the engine in the middle of a job about other stocks' bars.
    var admissible: Candle? {
        guard (try? Bounds.admit(.ingestCandle(self))) != nil, (try? self.validate()) != nil else { return nil }
        return self
    }
}
