public import Engine
import Foundation

/// Daily bars of a made-up stock in the layout of KRX daily files (`date,open,high,low,close,volume,ticker,
/// code,name,interval`): every weekday from `start`, a geometric random walk on the KRX tick grid with
/// volatility that changes regime, flat stretches (RSI's and MACD's edge cases), gaps and limit-size moves.
/// Deterministic for a seed; what the indicator and backtest tests use where no redistributable market
/// data exists.
public enum GeneratedDailyBars {
    public static func csv(
        code: String,
        name: String,
        seed: UInt64,
        start: (year: Int, month: Int, day: Int) = (1990, 9, 11),
        days: Int = 8_800
    ) -> String {
        var random = SplitMixRandom(state: seed)
        var lines = ["date,open,high,low,close,volume,ticker,code,name,interval"]
        lines.reserveCapacity(days + 1)
        var day = KST.day(year: start.year, month: start.month, day: start.day)
        var close = Double(Int.random(in: 2_000...80_000, using: &random))
        var volatility = 0.02
        var flat = 0
        while lines.count <= days {
            defer { day += 1 }
            guard KST.weekday(day: day) < 5 else { continue }
            if Int.random(in: 0..<250, using: &random) == 0 {
                volatility = Double.random(in: 0.005...0.04, using: &random)
            }
            if flat == 0, Int.random(in: 0..<400, using: &random) == 0 { flat = Int.random(in: 3...30, using: &random) }
            let previous = Self.onTick(close)
            var open = previous
            var last = previous
            if flat > 0 {
                flat -= 1
            } else {
                let gap = Int.random(in: 0..<20, using: &random) == 0 ? Self.normal(&random) * volatility * 2 : 0
                open = Self.onTick(close * exp(gap))
                let move = max(-0.29, min(0.29, Self.normal(&random) * volatility))
                close = max(100, close * exp(gap + move))
                last = Self.onTick(close)
            }
            let spread = flat > 0 ? 0 : abs(Self.normal(&random)) * volatility * Double(previous) / 2
            let high = Self.onTick(Double(max(open, last)) + spread)
            let low = max(1, Self.onTick(Double(min(open, last)) - spread))
            let volume = flat > 0 ? 0 : Int.random(in: 10_000...5_000_000, using: &random)
            lines.append(
                "\(KST.yyyymmdd(day: day)),\(open),\(max(high, open, last)),\(min(low, open, last)),\(last),\(volume),\(code),\(code),\(name),D"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func onTick(_ price: Double) -> Int64 {
        let value = max(1, Int64(price.rounded()))
        let tick = KRXPriceRules.tickSize(at: value)
        return max(tick, value - value % tick)
    }

    static func normal(_ random: inout SplitMixRandom) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
        let v = Double.random(in: 0..<1, using: &random)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// One-minute bars of a made-up stock: 381 a weekday session (09:00–15:20) from `day`, a walk of up to ±3 ticks
/// a minute on the KRX tick grid, and a night's gap of up to ±`gapTicks` ticks before each session after the
/// first (none: 0). Deterministic for a seed; what the strategy benchmark and the trigger tests trade on.
public enum GeneratedMinuteBars {
    public static func walk(
        stock: StockCode,
        sessions: Int,
        from day: Int64,
        price start: Int64 = 70_000,
        seed: UInt64,
        gapTicks: Int64 = 0
    ) -> [Candle] {
        guard sessions > 0 else { return [] }
        let gapTicks = min(max(gapTicks, 0), 10_000)  // no overflow in the draw below
        var state = seed
        var price = min(max(start, 1_000), Bounds.maxPrice)
        var bars: [Candle] = []
        bars.reserveCapacity(min(sessions, 100_000) * 381)
        var day = day
        while bars.count < sessions * 381 {
            defer { day += 1 }
            guard KST.weekday(day: day) < 5 else { continue }
            if gapTicks > 0, !bars.isEmpty {
                let gap = Int64(splitMix(&state) % UInt64(2 * gapTicks + 1)) - gapTicks
                price = max(1_000, price + gap * KRXPriceRules.tickSize(at: price))
                price -= price % KRXPriceRules.tickSize(at: price)
            }
            for minute in 0..<Int64(381) {
                let tick = KRXPriceRules.tickSize(at: price)
                let open = price
                var close = max(1_000, open + (Int64(splitMix(&state) % 7) - 3) * tick)
                close -= close % KRXPriceRules.tickSize(at: close)
                bars.append(
                    Candle(
                        stock: stock,
                        timeframe: .minute1,
                        start: KST.instant(day: day, hour: 9) + minute * KST.minuteMicros,
                        open: open,
                        high: max(open, close) + tick,
                        low: min(open, close) - tick,
                        close: close,
                        volume: 10_000 + Int64(splitMix(&state) % 50_000)
                    )
                )
                price = close
            }
        }
        return bars
    }
}
