/// The one place for what a value may be: every price, quantity, volume, amount, instant and piece of text a
/// command brings is checked here before `decide` looks at it (`Bounds.admit`), so every event the engine
/// records can be applied, projected and replayed without trapping.
///
/// The limits are far beyond anything KRX trades (the highest-priced share has stayed below 5,000,000 KRW;
/// a day's volume of the busiest stock is below 10^9 shares) and far below where Int64 arithmetic on them
/// could overflow: `maxPrice × maxQuantity` = 10^15 ≤ `maxAmount`, and sums of amounts have 9,000× headroom.
/// Arithmetic that can meet older logs (recorded before these bounds) saturates instead of trapping.
public enum Bounds {
    /// A price in KRW (a candle's, an order's limit, a fill's, a previous close).
    public static let maxPrice: Int64 = 100_000_000
    /// Shares in one order or one fill.
    public static let maxQuantity: Int64 = 10_000_000
    /// Shares traded in one candle.
    public static let maxVolume: Int64 = 1_000_000_000_000
    /// KRW in one account's cash, one deposit or one opening balance (10^15).
    public static let maxAmount: Int64 = 1_000_000_000_000_000
    /// An account's daily order limit.
    public static let maxDailyOrders: Int64 = 1_000_000
    /// Instants (µs since 1970, UTC) a candle or a token may carry: 2000-01-01 to 2200-01-01.
    public static let instants: ClosedRange<Int64> = 946_684_800_000_000...7_258_118_400_000_000

    /// Refuses anything outside the bounds and makes free text safe (see `safeText`). Deterministic: the same
    /// command gives the same admitted command, so replaying decisions is unchanged.
    /// A candle's instants, prices and volume inside the bounds (`ingestCandle`'s admission).
    static func admit(_ candle: Candle) throws(EngineError) {
        try Self.range(candle.start, Self.instants, "candle start")
        try Self.range(candle.open, 1...Self.maxPrice, "candle open")
        try Self.range(candle.high, 1...Self.maxPrice, "candle high")
        try Self.range(candle.low, 1...Self.maxPrice, "candle low")
        try Self.range(candle.close, 1...Self.maxPrice, "candle close")
        try Self.range(candle.volume, 0...Self.maxVolume, "candle volume")
    }

    public static func admit(_ command: Command) throws(EngineError) -> Command {
        switch command {
        case .listStock(_, let name, let market, let previousClose):
            try Self.identifier(name, "stock name", maxBytes: 128)
            try Self.identifier(market, "market", maxBytes: 16)
            try Self.range(previousClose, 1...Self.maxPrice, "previous close")
        case .registerUser(let email):
            // A sealed reference (`sealed:<key id>:<base64>`, ~420 bytes for the longest address) or an address.
            try Self.identifier(email, "e-mail reference", maxBytes: 1_024)
        case .registerAccount(_, _, let number, let limit, let cash):
            try Self.identifier(number, "account number", maxBytes: 32)
            try Self.range(limit, 1...Self.maxDailyOrders, "daily order limit")
            try Self.range(cash, 0...Self.maxAmount, "initial cash")
        case .depositCash(_, let amount, let expected):
            try Self.range(amount, 1...Self.maxAmount, "deposit")
            if let expected { try Self.range(expected, -Self.maxAmount...Self.maxAmount, "expected cash") }
        case .adjustCash(let account, let amount, let expected, let reason):
            try Self.range(amount, -Self.maxAmount...Self.maxAmount, "adjustment")
            try Self.range(expected, -Self.maxAmount...Self.maxAmount, "expected cash")
            return .adjustCash(
                account: account,
                amount: amount,
                expectedCash: expected,
                reason: Self.safeText(reason, maxBytes: 500)
            )
        case .placeOrder(let request):
            guard (1...Self.maxQuantity).contains(request.quantity) else {
                throw .invalid("quantity must be 1 to \(Self.maxQuantity) shares; got \(request.quantity)")
            }
            try Self.range(request.price, 0...Self.maxPrice, "price")
            if !request.clientOrderID.isEmpty {
                try Self.identifier(request.clientOrderID, "clientOrderId", maxBytes: 64)
            }
            if var signal = request.signal {
                try Self.identifier(signal.strategy, "strategy", maxBytes: 64)
                try Self.range(signal.barStart, Self.instants, "signal bar start")
                signal.reason = Self.safeText(signal.reason, maxBytes: 512)
                var request = request
                request.signal = signal
                try Self.bracket(request.bracket)
                return .placeOrder(request)
            }
            try Self.bracket(request.bracket)
        case .armTrigger(let request):
            guard (1...Self.maxQuantity).contains(request.quantity) else {
                throw .invalid("quantity must be 1 to \(Self.maxQuantity) shares; got \(request.quantity)")
            }
            try Self.range(request.triggerPrice, 0...Self.maxPrice, "triggerPrice")
            try Self.range(request.limitPrice, 0...Self.maxPrice, "limitPrice")
            try Self.range(request.trailBasisPoints, 0...5_000, "trail (basis points)")
            try Self.range(request.offsetBasisPoints, 0...9_999, "offset from the fill (basis points)")
            if !request.group.isEmpty { try Self.identifier(request.group, "group", maxBytes: 64) }
        case .cancelTrigger: break
        case .cancelOrder, .recordSubmitted, .recordExpired, .recordCancelled, .expireDayOrders, .expireToken,
            .closeAccount, .killSwitch,
            .markNotificationRead, .eraseUser:
            break
        case .recordResending(_, let lastSend):
            if let lastSend { try Self.range(lastSend, Self.instants, "last send") }
        case .recordAccepted(_, let number, let organization):
            try Self.identifier(number, "broker order number", maxBytes: 32)
            if !organization.isEmpty { try Self.identifier(organization, "broker organization", maxBytes: 16) }
        case .recordBrokerRejected(let id, let reason, let message):
            return .recordBrokerRejected(id, reason: reason, message: Self.safeText(message, maxBytes: 1_024))
        case .recordFill(_, let quantity, let price, let fillID):
            try Self.range(quantity, 1...Self.maxQuantity, "fill quantity")
            try Self.range(price, 1...Self.maxPrice, "fill price")
            if !fillID.isEmpty { try Self.identifier(fillID, "fill id", maxBytes: 64) }
        case .recordFailed(let id, let reason, let message):
            return .recordFailed(id, reason: reason, message: Self.safeText(message, maxBytes: 1_024))
        case .ingestCandle(let candle):
            try Self.admit(candle)
        case .issueToken(_, let expiresAt):
            try Self.range(expiresAt, Self.instants, "token expiry")
        case .enableStrategy(_, _, let strategy, let parameters):
            try Self.identifier(strategy, "strategy", maxBytes: 64)
            if !parameters.isEmpty { try Self.identifier(parameters, "strategy parameters", maxBytes: 1_024) }
        case .disableStrategy(_, _, let strategy):
            try Self.identifier(strategy, "strategy", maxBytes: 64)
        case .defineStrategy(_, let name, let source):
            try StrategyFactory.checkRuleName(name)
            guard source.utf8.count <= RuleSet.maxBytes else {
                throw .invalid("a rule set is at most \(RuleSet.maxBytes) bytes")
            }
        case .recordSignal(var signal), .recordSkipped(var signal):
            try Self.identifier(signal.strategy, "strategy", maxBytes: 64)
            if !signal.key.isEmpty { try Self.identifier(signal.key, "signal key", maxBytes: 64) }
            signal.reason = Self.safeText(signal.reason, maxBytes: 512)
            if case .recordSkipped = command { return .recordSkipped(signal) }
            return .recordSignal(signal)
        case .recordIndicators(let values):
            for value in values {
                try Self.identifier(value.name, "indicator name", maxBytes: 64)
                try Self.range(value.start, Self.instants, "indicator start")
            }
        case .notify(let user, let kind, let title, let message):
            try Self.identifier(kind, "notification kind", maxBytes: 64)
            return .notify(
                user: user,
                kind: kind,
                title: Self.safeText(title, maxBytes: 256),
                message: Self.safeText(message, maxBytes: 2_048)
            )
        case .recordNotificationSent(let id, let channel, let detail):
            try Self.identifier(channel, "channel", maxBytes: 32)
            return .recordNotificationSent(id, channel: channel, detail: Self.safeText(detail, maxBytes: 1_024))
        case .recordNotificationFailed(let id, let channel, let detail):
            try Self.identifier(channel, "channel", maxBytes: 32)
            return .recordNotificationFailed(id, channel: channel, detail: Self.safeText(detail, maxBytes: 1_024))
        case .haltAccount(let account, let reason):
            return .haltAccount(account, reason: Self.safeText(reason, maxBytes: 1_024))
        case .grantOperator(let user, let by):
            return .grantOperator(user, by: Self.safeText(by, maxBytes: 128))
        case .revokeOperator(let user, let by):
            return .revokeOperator(user, by: Self.safeText(by, maxBytes: 128))
        case .recordQuote(_, let price, let at):
            try Self.range(price, 1...Self.maxPrice, "quote price")
            try Self.range(at, Self.instants, "quote time")
        case .setStockStatus(let stock, let status, let reason):
            return .setStockStatus(stock: stock, status: status, reason: Self.safeText(reason, maxBytes: 200))
        case .haltTrading(let by, let reason):
            return .haltTrading(by: by, reason: Self.safeText(reason, maxBytes: 1_024))
        case .resumeTrading(let by, let reason):
            return .resumeTrading(by: by, reason: Self.safeText(reason, maxBytes: 1_024))
        case .resumeAccount(let account, let user, let agreement):
            return .resumeAccount(account, user: user, agreement: Self.safeText(agreement, maxBytes: 512))
        }
        return command
    }

    /// `value` within `range`, or `.invalid` naming the field and the range.
    private static func bracket(_ exits: [ArmTrigger]) throws(EngineError) {
        guard exits.count <= 3 else { throw .invalid("a bracket has at most 3 exits") }
        for exit in exits {
            try Self.range(exit.triggerPrice, 0...Self.maxPrice, "bracket triggerPrice")
            try Self.range(exit.limitPrice, 0...Self.maxPrice, "bracket limitPrice")
            try Self.range(exit.trailBasisPoints, 0...5_000, "bracket trail (basis points)")
            try Self.range(exit.offsetBasisPoints, 0...9_999, "bracket offset from the fill (basis points)")
        }
    }

    @inline(__always)
    public static func range(_ value: Int64, _ range: ClosedRange<Int64>, _ field: String) throws(EngineError) {
        // Inlined: a candle's six checks are on every bar's path; the message is built only for a refusal.
        guard range.contains(value) else { throw Self.outside(value, range, field) }
    }

    @inline(never)
    private static func outside(_ value: Int64, _ range: ClosedRange<Int64>, _ field: String) -> EngineError {
        .invalid("\(field) \(value) is outside \(range.lowerBound)...\(range.upperBound)")
    }

    /// A name, address or id: non-empty, at most `maxBytes` of UTF-8, and no character that is not text (see
    /// `isUnsafe`). Refused with `.invalid` naming the field and the first such character.
    public static func identifier(_ text: String, _ field: String, maxBytes: Int) throws(EngineError) {
        guard !text.isEmpty else { throw .invalid("\(field) must not be empty") }
        guard text.utf8.count <= maxBytes else { throw .invalid("\(field) must be at most \(maxBytes) bytes of UTF-8") }
        if Self.isPrintableASCII(text) { return }
        if let (position, scalar) = text.unicodeScalars.enumerated().first(where: { Self.isUnsafe($0.element) }) {
            throw .invalid(
                "\(field) must not contain control or direction-override characters (U+\(Self.hex(scalar)) at position \(position))"
            )
        }
    }

    /// Free text from a broker, a worker or the engine itself (messages, reasons): every unsafe character
    /// replaced by U+FFFD, cut to `maxBytes` on a character boundary. Never refused: a broker's message about a
    /// fill that happened must not stop the fill being recorded.
    public static func safeText(_ text: String, maxBytes: Int) -> String {
        if text.utf8.count <= maxBytes && Self.isPrintableASCII(text) { return text }
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            let safe = Self.isUnsafe(scalar) ? "\u{FFFD}" : scalar
            bytes += UTF8.width(safe)
            if bytes > maxBytes { break }
            scalars.append(safe)
        }
        return String(scalars)
    }

    /// Control characters (C0, DEL, C1 — NUL among them, which PostgreSQL's text cannot hold), line and
    /// paragraph separators, and the bidirectional embedding, override and isolate controls (a right-to-left
    /// override makes `moc.evil@` read as `@live.com`).
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0xFEFF: true
        default: false
        }
    }

    public static func containsUnsafe(_ text: String) -> Bool {
        !Self.isPrintableASCII(text) && text.unicodeScalars.contains(where: Self.isUnsafe)
    }

    /// Every byte printable ASCII (U+0020…U+007E): no scalar of it is unsafe — the common case, checked on the
    /// bytes before the scalar-by-scalar look.
    static func isPrintableASCII(_ text: String) -> Bool {
        // On the contiguous bytes where the string has them (a native string always does): the iterator's
        // per-byte bookkeeping was most of the check.
        let checked = text.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        }
        return checked ?? text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

extension Int64 {
    @inlinable public mutating func saturatingIncrease(by other: Int64) { self = self.saturatingAdd(other) }

    /// `self + other`, held at `Int64.max`/`.min` instead of trapping (values from logs older than `Bounds`).
    @inlinable public func saturatingAdd(_ other: Int64) -> Int64 {
        let (sum, overflow) = self.addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    @inlinable public func saturatingSubtract(_ other: Int64) -> Int64 {
        let (difference, overflow) = self.subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : difference
    }

    @inlinable public func saturatingMultiply(_ other: Int64) -> Int64 {
        let (product, overflow) = self.multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) == (other < 0) ? .max : .min) : product
    }
}
