/// Candle timeframes. A candle's timestamp is the start of its interval.
public enum Timeframe: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case minute1 = 1
    case minute5, minute15, hour1, day1

    public var description: String {
        switch self {
        case .minute1: "1m"
        case .minute5: "5m"
        case .minute15: "15m"
        case .hour1: "1h"
        case .day1: "1d"
        }
    }

    public init?(text: some StringProtocol) {
        guard let timeframe = Self.allCases.first(where: { $0.description == text }) else { return nil }
        self = timeframe
    }

    /// Length in minutes (a day counts as the whole day).
    public var minutes: Int64 {
        switch self {
        case .minute1: 1
        case .minute5: 5
        case .minute15: 15
        case .hour1: 60
        case .day1: 1_440
        }
    }
}

/// One OHLCV bar. Prices in KRW, volume in shares.
public struct Candle: Sendable, Hashable {
    public var stock: StockCode
    public var timeframe: Timeframe
    /// Start of the interval (µs, UTC).
    public var start: Int64
    public var open: Int64
    public var high: Int64
    public var low: Int64
    public var close: Int64
    public var volume: Int64

    public init(
        stock: StockCode,
        timeframe: Timeframe,
        start: Int64,
        open: Int64,
        high: Int64,
        low: Int64,
        close: Int64,
        volume: Int64
    ) {
        self.stock = stock
        self.timeframe = timeframe
        self.start = start
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }

    /// Checks the invariants every stored candle satisfies: positive prices, low ≤ open, close ≤ high,
    /// non-negative volume, and a start aligned to the timeframe in KST.
    public func validate() throws(EngineError) {
        guard self.open > 0, self.high > 0, self.low > 0, self.close > 0 else {
            throw .invalid("candle \(self.stock) \(self.timeframe): prices must be positive")
        }
        guard self.low <= self.open, self.low <= self.close, self.open <= self.high, self.close <= self.high else {
            throw .invalid(
                "candle \(self.stock) \(self.timeframe): high/low inconsistent with open/close (o \(self.open) h \(self.high) l \(self.low) c \(self.close))"
            )
        }
        guard self.volume >= 0 else { throw .invalid("candle \(self.stock) \(self.timeframe): negative volume") }
        let minuteOfDay = KST.timeOfDay(self.start)
        guard minuteOfDay % KST.minuteMicros == 0 else {
            throw .invalid("candle \(self.stock) \(self.timeframe): start is not on a minute boundary")
        }
        if self.timeframe == .day1 {
            guard minuteOfDay == 0 else { throw .invalid("daily candle \(self.stock): start must be 00:00 KST") }
        } else if self.timeframe != .minute1 {
            // Intraday roll-ups align to the session open (09:00 KST), so 09:00, 09:05, … and 09:00, 10:00, ….
            let sinceOpen = minuteOfDay / KST.minuteMicros - 9 * 60
            guard sinceOpen >= 0, sinceOpen % self.timeframe.minutes == 0 else {
                throw .invalid("candle \(self.stock) \(self.timeframe): start is not aligned to the KST session")
            }
        }
    }
}
