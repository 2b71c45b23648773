/// KRX price rules for stocks: the tick-size table (호가가격단위) and the daily price limit band.
///
/// Unified KOSPI/KOSDAQ/KONEX table in force since 2023-01-25 (KRX market rules, §6.4 of the project's KIS/KRX notes).
/// Prices are integer KRW.
public enum KRXPriceRules {
    /// Upper bounds (exclusive) of each price band and the tick inside it; at and above the last bound the
    /// tick is `topTick`. Public so that the API can show the rule before an order is sent (the quote's `ticks`).
    public static let bands: [(below: Int64, tick: Int64)] = [
        (2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500),
    ]

    /// The tick size for a price: the smallest step a limit order at that price may take.
    public static func tickSize(at price: Int64) -> Int64 {
        precondition(price > 0, "prices are positive")
        for band in Self.bands where price < band.below { return band.tick }
        return Self.topTick
    }

    /// The tick from the last band's bound upwards.
    public static let topTick: Int64 = 1_000

    /// True when `price` lies on the tick grid of its own band.
    public static func isOnTick(_ price: Int64) -> Bool {
        price > 0 && price % Self.tickSize(at: price) == 0
    }

    /// The daily limit band around a base price (normally the previous close): ±30%, with the upper limit
    /// rounded down and the lower limit rounded up to the tick valid at that price (§6.3).
    public static func priceLimits(basePrice: Int64) -> ClosedRange<Int64> {
        precondition(basePrice > 0, "a base price is positive")
        // Held within the engine's bounds: a log older than `Bounds` may hold any positive close.
        let base = min(basePrice, Bounds.maxPrice)
        let upperRaw = base * 13 / 10
        let lowerRaw = (base * 7 + 9) / 10
        let upper = upperRaw - upperRaw % Self.tickSize(at: upperRaw)
        let lowerTick = Self.tickSize(at: lowerRaw)
        let lower = lowerRaw % lowerTick == 0 ? lowerRaw : lowerRaw + lowerTick - lowerRaw % lowerTick
        precondition(lower <= upper)
        return lower...upper
    }
}
