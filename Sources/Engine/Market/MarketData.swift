/// An open roll-up bucket being built from one-minute candles.
struct Aggregate: Sendable, Hashable {
    var start: Int64
    var open: Int64
    var high: Int64
    var low: Int64
    var close: Int64
    var volume: Int64
    var firstMinute: Int64
    var lastMinute: Int64

    init(start: Int64, minute: Candle) {
        self.start = start
        self.open = minute.open
        self.high = minute.high
        self.low = minute.low
        self.close = minute.close
        self.volume = minute.volume
        self.firstMinute = minute.start
        self.lastMinute = minute.start
    }

    mutating func absorb(_ minute: Candle) {
        self.high = max(self.high, minute.high)
        self.low = min(self.low, minute.low)
        self.volume = self.volume.saturatingAdd(minute.volume)
        if minute.start < self.firstMinute {
            self.open = minute.open
            self.firstMinute = minute.start
        }
        if minute.start > self.lastMinute {
            self.close = minute.close
            self.lastMinute = minute.start
        }
    }

    func candle(_ stock: StockCode, _ timeframe: Timeframe) -> Candle {
        Candle(
            stock: stock,
            timeframe: timeframe,
            start: self.start,
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume
        )
    }
}

/// Per-stock market data: prices for risk checks, duplicate detection and the roll-up state.
///
/// Policy (tested in `MarketDataTests`):
/// * A candle failing `Candle.validate()` is refused (`.invalid`).
/// * A one-minute candle whose minute was already ingested is a duplicate: ignored, no event (idempotent).
/// * A one-minute candle that arrives late but within its KST session is accepted as is (the log keeps
///   arrival order; nothing is reordered); if its roll-up bucket was already closed, that bucket is
///   re-emitted with the late minute merged in (same key: read models upsert it).
/// * A candle for a session before the stock's current one is refused (`.conflict`): roll-ups of closed
///   sessions are final.
/// * Roll-ups: 5m/15m/1h buckets align to 09:00 KST, 1d to the KST date. A bucket closes (its candle is
///   emitted) when its last minute arrives, when the session's closing minute (15:30) arrives, or when a
///   minute of a later bucket arrives.
public struct StockMarketData: Sendable, Hashable {
    public var code: StockCode
    /// The daily limit band's base (previous session's close).
    public var basePrice: Int64
    public var lastClose: Int64
    /// End of the interval of the candle `lastClose` came from.
    var lastCloseAt: Int64 = .min
    /// The KST day of the latest candle.
    public var currentDay: Int64 = .min
    /// Minutes of `currentDay` already ingested (bit i = minute i of the day).
    var minutesSeen: [UInt64] = []
    /// Per timeframe slot (`Timeframe.rawValue − 1`), fixed arrays rather than dictionaries: replay touches
    /// them for every candle, and hashing was a measurable share of its cost.
    /// Latest start per directly ingested higher timeframe (duplicate/late detection).
    var lastDirectStart: [Int64?] = Array(repeating: nil, count: StockMarketData.slots)
    var open: [Aggregate?] = Array(repeating: nil, count: StockMarketData.slots)
    var lastClosed: [Aggregate?] = Array(repeating: nil, count: StockMarketData.slots)
    static let slots = Timeframe.allCases.count

    static let rollups: [Timeframe] = [.minute5, .minute15, .hour1, .day1]

    /// Start of the latest one-minute candle ingested for the current day (µs), nil before any.
    public var lastMinuteStart: Int64? {
        guard self.currentDay != .min, self.minutesSeen.count == 24 else { return nil }
        for word in stride(from: 23, through: 0, by: -1) where self.minutesSeen[word] != 0 {
            let bit = 63 - self.minutesSeen[word].leadingZeroBitCount
            return self.currentDay * KST.dayMicros - KST.offsetMicros + Int64(word * 64 + bit) * KST.minuteMicros
        }
        return nil
    }
    static let sessionCloseMinute: Int64 = 15 * 60 + 30

    /// Whether `bar` is one that armed triggers watch: the finest bars the stock has that day — every 1-minute
    /// bar, or a bar of a longer timeframe (a daily backtest's) on a day with no 1-minute bar. A roll-up, or a
    /// daily bar beside the day's minutes, would judge again, without the order of prices inside the day, what
    /// the minutes already judged. Asked before `bar` is applied.
    public func watchesTriggers(_ bar: Candle) -> Bool {
        guard bar.timeframe != .minute1 else { return true }
        return KST.day(bar.start) != self.currentDay || self.minutesSeen.allSatisfy { $0 == 0 }
    }

    init(code: StockCode, basePrice: Int64) {
        self.code = code
        self.basePrice = basePrice
        self.lastClose = basePrice
    }

    static func bucketStart(_ minuteStart: Int64, _ timeframe: Timeframe) -> Int64 {
        let day = KST.day(minuteStart)
        return Self.bucketStart(day: day, minute: KST.timeOfDay(minuteStart) / KST.minuteMicros, timeframe)
    }

    /// `KST.timeOfDay(start) / KST.minuteMicros` for a `start` on KST `day` (known already: no second division).
    static func minuteOfDay(_ start: Int64, day: Int64) -> Int64 {
        (start + KST.offsetMicros - day * KST.dayMicros) / KST.minuteMicros
    }

    /// The same from a minute's KST day and minute of the day, worked out once per candle by the callers that
    /// place it in every roll-up.
    static func bucketStart(day: Int64, minute: Int64, _ timeframe: Timeframe) -> Int64 {
        if timeframe == .day1 { return KST.instant(day: day, hour: 0) }
        let sinceOpen = minute - 9 * 60
        let bucket =
            sinceOpen >= 0
            ? sinceOpen / timeframe.minutes * timeframe.minutes
            : -((-sinceOpen + timeframe.minutes - 1) / timeframe.minutes * timeframe.minutes)
        return KST.instant(day: day, hour: 9) + bucket * KST.minuteMicros
    }

    /// What ingesting `candle` produces: the candles to record, in order (closed roll-ups first), or nothing
    /// for a duplicate. Does not change the state: `apply` does, from the recorded events.
    func ingest(_ candle: Candle) throws(EngineError) -> [Candle] {
        var output: [Candle] = []
        try self.ingest(candle, into: &output)
        return output
    }

    /// `ingest` appending to `output` (a caller deciding bar after bar reuses one buffer: no allocation per bar).
    func ingest(_ candle: Candle, into output: inout [Candle]) throws(EngineError) {
        try candle.validate()
        let day = KST.day(candle.start)
        if self.currentDay != .min && day < self.currentDay {
            throw .conflict(
                "candle \(candle.stock) \(candle.timeframe) at \(ISOTime.kst(candle.start)) is for a closed session (current \(KST.yyyymmdd(day: self.currentDay)))"
            )
        }
        guard candle.timeframe == .minute1 else {
            if let last = self.lastDirectStart[Int(candle.timeframe.rawValue) - 1] {
                if candle.start == last { return }
                if candle.start < last {
                    throw .conflict(
                        "\(candle.timeframe) candle \(candle.stock) at \(ISOTime.kst(candle.start)) arrived after a later one"
                    )
                }
            }
            output.append(candle)
            return
        }
        let minute = Self.minuteOfDay(candle.start, day: day)
        let minuteOfDay = Int(minute)
        if day == self.currentDay, self.minutesSeen.count == 24,
            self.minutesSeen[minuteOfDay / 64] & (1 << UInt64(minuteOfDay % 64)) != 0
        {
            return
        }
        output.reserveCapacity(output.count + 2 * Self.rollups.count + 1)  // one allocation, not one per growth
        // One pass over the roll-ups: what closes before the minute is recorded at once, what the minute
        // completes after it (each bucket's start and placement worked out once).
        var completed = InlineArray<4, Candle?>(repeating: nil)  // one per roll-up
        assert(Self.rollups.count == completed.count)
        for (slot, timeframe) in Self.rollups.enumerated() {
            let start = Self.bucketStart(day: day, minute: minute, timeframe)
            let placement = self.placement(start, timeframe)
            if let open = self.open[Int(timeframe.rawValue) - 1], open.start < start {
                output.append(open.candle(self.code, timeframe))  // a later bucket began: the open one is complete
            } else if placement == .closedBucket, let closed = self.lastClosed[Int(timeframe.rawValue) - 1] {
                var revised = closed  // a late minute of a bucket already closed: re-emit it, merged
                revised.absorb(candle)
                output.append(revised.candle(self.code, timeframe))
            }
            var aggregate: Aggregate
            switch placement {
            case .openBucket:
                aggregate = self.open[Int(timeframe.rawValue) - 1]!  // placement checked it exists
                aggregate.absorb(candle)
            case .closedBucket, .tooOld:
                continue  // a revision (emitted above), or a bucket older than any kept: the minute alone is recorded
            case .newBucket:
                aggregate = Aggregate(start: start, minute: candle)
            }
            let lastMinuteOfBucket =
                timeframe == .day1
                ? minute >= Self.sessionCloseMinute
                : (KST.timeOfDay(start) / KST.minuteMicros + timeframe.minutes - 1 == minute)
                    || minute >= Self.sessionCloseMinute
            if lastMinuteOfBucket { completed[slot] = aggregate.candle(self.code, timeframe) }
        }
        output.append(candle)
        for slot in completed.indices { if let candle = completed[slot] { output.append(candle) } }
    }

    /// Applies a recorded candle (of any timeframe).
    mutating func apply(_ candle: Candle) {
        let day = KST.day(candle.start)
        let end = candle.start + candle.timeframe.minutes * KST.minuteMicros
        if day > self.currentDay {
            if self.currentDay != .min { self.basePrice = self.lastClose }
            self.currentDay = day
            self.minutesSeen = [UInt64](repeating: 0, count: 24)
        }
        if end >= self.lastCloseAt {
            self.lastClose = candle.close
            self.lastCloseAt = end
        }
        guard candle.timeframe == .minute1 else {
            let key = Int(candle.timeframe.rawValue) - 1
            if self.open[key]?.start == candle.start {
                self.lastClosed[key] = self.open[key]  // a roll-up closing its bucket
                self.open[key] = nil
            } else if self.lastClosed[key]?.start == candle.start {
                // A revised roll-up: the late minute recorded right after it merges into `lastClosed`.
            } else {
                self.lastDirectStart[key] = max(self.lastDirectStart[key] ?? .min, candle.start)
            }
            return
        }
        let minute = Self.minuteOfDay(candle.start, day: day)
        if day == self.currentDay {
            let minuteOfDay = Int(minute)
            self.minutesSeen[minuteOfDay / 64] |= 1 << UInt64(minuteOfDay % 64)
        }
        for timeframe in Self.rollups {
            let key = Int(timeframe.rawValue) - 1
            let start = Self.bucketStart(day: day, minute: minute, timeframe)
            switch self.placement(start, timeframe) {
            case .openBucket: self.open[key]!.absorb(candle)  // placement checked it exists
            case .closedBucket: self.lastClosed[key]!.absorb(candle)  // likewise
            case .tooOld: continue
            case .newBucket:
                if let open = self.open[key] { self.lastClosed[key] = open }
                self.open[key] = Aggregate(start: start, minute: candle)
            }
        }
    }

    enum Placement { case openBucket, closedBucket, newBucket, tooOld }

    /// Where a minute of bucket `start` goes: the one rule shared by `ingest` (deciding) and `apply`.
    func placement(_ start: Int64, _ timeframe: Timeframe) -> Placement {
        let open = self.open[Int(timeframe.rawValue) - 1]
        let closed = self.lastClosed[Int(timeframe.rawValue) - 1]
        if open?.start == start { return .openBucket }
        if closed?.start == start { return .closedBucket }
        let latest = max(open?.start ?? .min, closed?.start ?? .min)
        return start > latest ? .newBucket : .tooOld
    }

    /// The daily limit band for orders now (±30% of the base price, on ticks).
    public var priceLimits: ClosedRange<Int64> { KRXPriceRules.priceLimits(basePrice: self.basePrice) }
}
