/// Writes one JSON object, fields in the order given (stable output for dumps, audits and tests).
public struct JSONObjectWriter {
    private var text = "{"
    private var empty = true

    public init() {}

    private mutating func key(_ key: String) {
        if !self.empty { self.text += "," }
        self.empty = false
        JSONObjectWriter.appendQuoted(key, to: &self.text)
        self.text += ":"
    }

    public mutating func field(_ key: String, _ value: String) {
        self.key(key)
        JSONObjectWriter.appendQuoted(value, to: &self.text)
    }

    public mutating func field(_ key: String, _ value: Int64) {
        self.key(key)
        self.text += String(value)
    }

    public mutating func field(_ key: String, _ value: UInt64) {
        self.key(key)
        self.text += String(value)
    }

    public mutating func field(_ key: String, _ value: Int) {
        self.key(key)
        self.text += String(value)
    }

    public mutating func field(_ key: String, _ value: Double) {
        self.key(key)
        self.text += value.isFinite ? "\(value)" : "null"
    }

    public mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        self.text += value ? "true" : "false"
    }

    public mutating func field(_ key: String, _ values: [String]) {
        self.key(key)
        self.text += "["
        for (index, value) in values.enumerated() {
            if index > 0 { self.text += "," }
            JSONObjectWriter.appendQuoted(value, to: &self.text)
        }
        self.text += "]"
    }

    /// `{"<key>":[<objects>]}`: objects already written (each `finish()`ed), as one document.
    public static func document(_ key: String, objects: [String]) -> String {
        var text = "{"
        JSONObjectWriter.appendQuoted(key, to: &text)
        return text + ":[" + objects.joined(separator: ",") + "]}"
    }

    public mutating func null(_ key: String) {
        self.key(key)
        self.text += "null"
    }

    /// Inserts already-encoded JSON.
    public mutating func raw(_ key: String, _ json: String) {
        self.key(key)
        self.text += json
    }

    public func finish() -> String { self.text + "}" }

    /// Appends `value` as a JSON string literal with RFC 8259 escaping.
    public static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        // Most values (codes, ids, names) need no escaping: appended whole, not scalar by scalar.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{0}":
                // U+FFFD, not \u0000: PostgreSQL's jsonb (the order_events payload) cannot hold NUL and refuses the
                // whole row (22P05). The engine refuses NUL now (`Bounds`); logs written before may still hold it.
                text += "\u{FFFD}"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}

/// ISO 8601 rendering of engine timestamps.
public enum ISOTime {
    /// `2025-01-02T00:00:00.000000Z` from microseconds since the epoch (UTC).
    public static func utc(_ micros: Int64) -> String {
        let day = Self.floorDivide(micros, KST.dayMicros)
        let rest = micros - day * KST.dayMicros
        let date = KST.date(day: day)
        let seconds = rest / 1_000_000
        let fraction = rest % 1_000_000
        return Self.pad(date.year, 4) + "-" + Self.pad(date.month, 2) + "-" + Self.pad(date.day, 2) + "T"
            + Self.pad(Int(seconds / 3600), 2) + ":" + Self.pad(Int(seconds / 60 % 60), 2) + ":"
            + Self.pad(Int(seconds % 60), 2)
            + "." + Self.pad(Int(fraction), 6) + "Z"
    }

    /// `2025-01-02T09:00:00+09:00`: the same instant in KST.
    public static func kst(_ micros: Int64) -> String {
        let text = Self.utc(micros + KST.offsetMicros)
        return String(text.prefix(19)) + "+09:00"
    }

    /// Reads a time as people and the API write it, into µs since the epoch (UTC):
    /// `2025-01-02T09:00:00+09:00`, `…Z`, with up to six fraction digits; a bare day `2025-01-02` (midnight
    /// KST, the start of that trading day); or an integer, taken as µs since the epoch. Nil for anything else.
    public static func parse(_ text: some StringProtocol) -> Int64? {
        let bytes = Array(text.utf8)
        if !bytes.isEmpty,
            bytes.allSatisfy({ $0 >= 48 && $0 <= 57 })
                || (bytes[0] == 45 && bytes.count > 1 && bytes.dropFirst().allSatisfy({ $0 >= 48 && $0 <= 57 }))
        {
            return Int64(String(decoding: bytes, as: UTF8.self))
        }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == 45, bytes[7] == 45, let year = number(0..<4), let month = number(5..<7),
            let day = number(8..<10),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        let epochDay = KST.day(year: year, month: month, day: day)
        guard KST.date(day: epochDay) == (year, month, day) else { return nil }  // 2025-02-30 is not a day
        if bytes.count == 10 { return KST.instant(day: epochDay, hour: 0) }
        guard bytes.count >= 20, bytes[10] == 84 || bytes[10] == 116 || bytes[10] == 32, bytes[13] == 58,
            bytes[16] == 58,
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19), hour < 24,
            minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if bytes[index] == 46 {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                guard digits < 6 else { return nil }
                fraction = fraction * 10 + Int64(bytes[index] - 48)
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { fraction *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if index == bytes.count - 1, bytes[index] == 90 || bytes[index] == 122 {
            offsetSeconds = 0
        } else if index + 6 == bytes.count, bytes[index] == 43 || bytes[index] == 45, bytes[index + 3] == 58,
            let offsetHours = number((index + 1)..<(index + 3)), let offsetMinutes = number((index + 4)..<(index + 6)),
            offsetHours < 24, offsetMinutes < 60
        {
            offsetSeconds = Int64(offsetHours * 3600 + offsetMinutes * 60) * (bytes[index] == 45 ? -1 : 1)
        } else {
            return nil
        }
        let seconds = epochDay * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offsetSeconds
        return seconds * 1_000_000 + fraction
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension EventEnvelope {
    /// The event as one JSON object: envelope fields, then the payload.
    public func json() -> String {
        var object = JSONObjectWriter()
        if let offset = self.offset { object.field("offset", offset) } else { object.null("offset") }
        object.field("timestamp", ISOTime.utc(self.timestamp))
        object.field("type", self.typeName)
        object.field("schemaVersion", self.schemaVersion)
        object.field("stream", self.streamKey)
        if let causation = self.causation { object.field("causation", causation) } else { object.null("causation") }
        object.field("correlationId", self.correlationID)
        object.raw("payload", self.event.payloadJSON())
        return object.finish()
    }
}

extension DomainEvent {
    /// The payload alone, as a JSON object with readable identifiers (`ord-0000000001`, `005930`).
    public func payloadJSON() -> String {
        var o = JSONObjectWriter()
        switch self {
        case .stockListed(let e):
            o.field("stock", e.stock.description)
            o.field("name", e.name)
            o.field("market", e.market)
            o.field("previousClose", e.previousClose)
        case .userRegistered(let e):
            o.field("user", e.user.description)
            o.field("email", e.email)
        case .brokerAccountRegistered(let e):
            o.field("account", e.account.description)
            o.field("user", e.user.description)
            o.field("broker", e.broker.description)
            o.field("accountNumber", e.maskedAccountNumber)
            o.field("dailyOrderLimit", e.dailyOrderLimit)
        case .cashDeposited(let e):
            o.field("account", e.account.description)
            o.field("amount", e.amount)
        case .cashAdjusted(let e):
            o.field("account", e.account.description)
            o.field("amount", e.amount)
            o.field("reason", e.reason)
        case .orderRequested(let e):
            o.field("order", e.order.description)
            o.field("account", e.account.description)
            o.field("stock", e.stock.description)
            o.field("side", e.side.description)
            o.field("orderType", e.type.description)
            o.field("quantity", e.quantity)
            o.field("price", e.price)
            o.field("source", e.source.description)
            o.field("clientOrderId", e.clientOrderID)
        case .orderRejected(let e):
            o.field("order", e.order.description)
            o.field("rejectedBy", e.rejectedBy.description)
            o.field("reason", e.reason.rawValue)
            o.field("message", e.message)
            if let request = e.request { o.raw("request", DomainEvent.orderRequested(request).payloadJSON()) }
        case .orderSubmitted(let e), .orderCancelRequested(let e), .orderExpired(let e):
            o.field("order", e.order.description)
        case .orderAccepted(let e):
            o.field("order", e.order.description)
            o.field("brokerOrderNumber", e.brokerOrderNumber)
            o.field("brokerOrganization", e.brokerOrganization)
        case .orderPartiallyFilled(let e), .orderFilled(let e):
            o.field("order", e.order.description)
            o.field("quantity", e.quantity)
            o.field("price", e.price)
            o.field("commission", e.commission)
            o.field("tax", e.tax)
            o.field("fillId", e.fillID)
        case .orderCancelled(let e):
            o.field("order", e.order.description)
            o.field("cancelledQuantity", e.cancelledQuantity)
        case .orderFailed(let e):
            o.field("order", e.order.description)
            o.field("reason", e.reason.rawValue)
            o.field("message", e.message)
        case .candleClosed(let c):
            o.field("stock", c.stock.description)
            o.field("timeframe", c.timeframe.description)
            o.field("start", ISOTime.utc(c.start))
            o.field("open", c.open)
            o.field("high", c.high)
            o.field("low", c.low)
            o.field("close", c.close)
            o.field("volume", c.volume)
        case .indicatorComputed(let e):
            o.field("stock", e.stock.description)
            o.field("timeframe", e.timeframe.description)
            o.field("start", ISOTime.utc(e.start))
            o.field("name", e.name)
            o.field("value", e.value)
        case .indicatorsComputed(let e):
            o.field("stock", e.stock.description)
            o.field("timeframe", e.timeframe.description)
            o.field("start", ISOTime.utc(e.start))
            var values = JSONObjectWriter()
            for value in e.values { values.field(value.name, value.value) }
            o.raw("values", values.finish())
        case .quoteRecorded(let e):
            o.field("stock", e.stock.description)
            o.field("price", e.price)
            o.field("at", ISOTime.utc(e.at))
        case .stockStatusChanged(let e):
            o.field("stock", e.stock.description)
            o.field("status", e.status.description)
            o.field("halted", e.halted)
            o.field("reason", e.reason)
        case .strategyDefined(let e):
            o.field("user", e.user.description)
            o.field("name", e.name)
            o.field("version", Int64(e.version))
            o.field("source", e.source)
        case .signalGenerated(let e), .signalSkipped(let e):
            o.field("account", e.account.description)
            o.field("stock", e.stock.description)
            o.field("strategy", e.strategy)
            o.field("side", e.side.description)
            o.field("reason", e.reason)
            if case .signalSkipped = self, !e.key.isEmpty { o.field("key", e.key) }
        case .notificationCreated(let e):
            o.field("notification", e.notification.description)
            o.field("user", e.user.description)
            o.field("kind", e.kind)
            o.field("title", e.title)
            o.field("message", e.message)
        case .notificationSent(let e), .notificationFailed(let e):
            o.field("notification", e.notification.description)
            o.field("channel", e.channel)
            o.field("detail", e.detail)
        case .notificationRead(let e):
            o.field("notification", e.notification.description)
        case .brokerTokenIssued(let e):
            o.field("account", e.account.description)
            o.field("expiresAt", ISOTime.utc(e.expiresAt))
        case .brokerTokenExpired(let e):
            o.field("account", e.account.description)
        case .strategyEnabled(let e):
            o.field("account", e.account.description)
            o.field("stock", e.stock.description)
            o.field("strategy", e.strategy)
            o.field("parameters", e.parameters)
        case .strategyDisabled(let e):
            o.field("account", e.account.description)
            o.field("stock", e.stock.description)
            o.field("strategy", e.strategy)
        case .anomalyRecorded(let e):
            if let order = e.order { o.field("order", order.description) } else { o.null("order") }
            if let account = e.account { o.field("account", account.description) } else { o.null("account") }
            o.field("message", e.message)
        case .accountHalted(let e):
            o.field("account", e.account.description)
            o.field("reason", e.reason)
        case .brokerAccountClosed(let e):
            o.field("account", e.account.description)
        case .userErased(let e):
            o.field("user", e.user.description)
        case .accountResumed(let e):
            o.field("account", e.account.description)
            o.field("by", e.by.description)
            o.field("agreement", e.agreement)
        case .operatorGranted(let e), .operatorRevoked(let e):
            o.field("user", e.user.description)
            o.field("by", e.by)
        case .tradingHalted(let e), .tradingResumed(let e):
            o.field("by", e.by.description)
            o.field("reason", e.reason)
        case .triggerArmed(let e):
            o.field("trigger", e.trigger.description)
            o.field("account", e.request.account.description)
            o.field("stock", e.request.stock.description)
            o.field("side", e.request.side.description)
            o.field("kind", e.request.kind.description)
            o.field("quantity", e.request.quantity)
            o.field("triggerPrice", e.request.triggerPrice)
            o.field("trailBasisPoints", e.request.trailBasisPoints)
            o.field("offsetBasisPoints", e.request.offsetBasisPoints)
            o.field("limitPrice", e.request.limitPrice)
            o.field("group", e.request.group)
            o.field("water", e.water)
            if let entry = e.request.entry { o.field("entry", entry.description) } else { o.null("entry") }
        case .triggerFired(let e):
            o.field("trigger", e.trigger.description)
            o.field("order", e.order.description)
            o.field("barStart", ISOTime.utc(e.barStart))
            o.field("level", e.level)
            o.field("observed", e.observed)
        case .triggerCancelled(let e):
            o.field("trigger", e.trigger.description)
            o.field("reason", e.reason)
        }
        return o.finish()
    }
}
