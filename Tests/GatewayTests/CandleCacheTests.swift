import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Ledger
import Runtime
import Simulation
import Storage
import Testing

@testable import Engine
@testable import Gateway

@Suite struct CandleCacheWindowTests {
    static let stock = StockCode("005930")!

    static func candle(_ minute: Int64, close: Int64 = 100) -> Candle {
        Candle(
            stock: Self.stock,
            timeframe: .minute1,
            start: minute * 60_000_000,
            open: close,
            high: close,
            low: close,
            close: close,
            volume: minute
        )
    }

    static func series(_ minutes: [Int64], capacity: Int) -> CandleCache.Series {
        var series = CandleCache.Series()
        for minute in minutes { CandleCache.insert(Self.candle(minute), into: &series, capacity: capacity) }
        return series
    }

    @Test func keepsTheNewestAndUpsertsByStart() {
        var series = Self.series([1, 2, 3, 4, 5], capacity: 3)
        #expect(series.bars.map(\.start) == [3, 4, 5].map { $0 * 60_000_000 })
        #expect(!series.complete)
        // A re-emitted bucket replaces the one with its start; a late one inside the window is placed in order.
        CandleCache.insert(Self.candle(4, close: 999), into: &series, capacity: 3)
        #expect(series.bars.map(\.close) == [100, 999, 100])
        // Older than the window of a series that lost history: not claimed (the table has it).
        CandleCache.insert(Self.candle(0), into: &series, capacity: 3)
        #expect(series.bars.map(\.start) == [3, 4, 5].map { $0 * 60_000_000 })
        // A complete series takes a late candle anywhere.
        var whole = Self.series([2, 4], capacity: 3)
        CandleCache.insert(Self.candle(3), into: &whole, capacity: 3)
        #expect(whole.bars.map(\.start) == [2, 3, 4].map { $0 * 60_000_000 } && whole.complete)
    }
}

/// The in-memory window against the table: every answer it gives must be the table's answer.
@Suite(.serialized) struct CandleCacheAPITests {
    @Test func answersExactlyWhatTheTableAnswersAndIsFresher() async throws {
        let harness = try await APIHarness("candle_cache", candleCacheCapacity: 10)
        try await harness.ingestCandles(40)
        try harness.project()
        let cache = harness.services.candles
        #expect(
            cache.candles(stock: APIHarness.samsung, timeframe: .minute1, from: nil, to: nil, limit: 5) == nil,
            "not warmed: the table answers"
        )
        try await cache.warm()
        #expect(cache.nextOffset == harness.log.nextOffset, "warmed at the projection's checkpoint")
        // Warmed through the cursor a few rows at a time (many FETCHes, one cut inside a series): the same memory.
        let stepwise = CandleCache(log: harness.log, database: harness.services.database, capacity: 10, warmBatch: 3)
        try await stepwise.warm()
        #expect(stepwise.nextOffset == cache.nextOffset)
        for timeframe in Timeframe.allCases {
            let whole = cache.candles(stock: APIHarness.samsung, timeframe: timeframe, from: nil, to: nil, limit: 10)
            #expect(
                stepwise.candles(stock: APIHarness.samsung, timeframe: timeframe, from: nil, to: nil, limit: 10)
                    == whole,
                "\(timeframe)"
            )
        }
        #expect(
            cache.candles(stock: APIHarness.samsung, timeframe: .minute1, from: nil, to: nil, limit: 10)?.count == 10,
            "the comparison covers a full window"
        )
        let open = KST.instant(day: KST.day(APIHarness.sessionTime), hour: 9)
        let minute = KST.minuteMicros
        // (from, to, limit) over a 40-minute 1m series of which memory holds the newest 10 (09:30…09:39).
        let queries: [(Int64?, Int64?, Int, Bool)] = [
            (nil, nil, 5, true), (nil, nil, 10, true), (nil, nil, 11, false), (open + 32 * minute, nil, 500, true),
            (open + 29 * minute, nil, 500, false), (nil, open + 35 * minute, 3, true),
            (nil, open + 35 * minute, 6, false),
            (open + 10 * minute, open + 20 * minute, 500, false), (open + 45 * minute, nil, 10, true),
        ]
        for (from, to, limit, inMemory) in queries {
            let cached = cache.candles(stock: APIHarness.samsung, timeframe: .minute1, from: from, to: to, limit: limit)
            #expect(
                (cached != nil) == inMemory,
                "from \(String(describing: from)) to \(String(describing: to)) limit \(limit)"
            )
            let stored = try await GatewayAPI.storedCandles(
                harness.services,
                stock: APIHarness.samsung,
                timeframe: .minute1,
                from: from,
                to: to,
                limit: limit
            )
            if let cached {
                #expect(
                    cached == stored,
                    "from \(String(describing: from)) to \(String(describing: to)) limit \(limit)"
                )
            }
            let answered = try await GatewayAPI.candles(
                harness.services,
                stock: APIHarness.samsung,
                timeframe: .minute1,
                from: from,
                to: to,
                limit: limit
            )
            #expect(answered == stored)
        }
        // The 5m series (8 candles) is complete: any range is answered from memory.
        let fiveMinute = try #require(
            cache.candles(stock: APIHarness.samsung, timeframe: .minute5, from: nil, to: open, limit: 500)
        )
        #expect(fiveMinute.isEmpty)

        // New candles reach memory from the log before the projection writes them.
        try await harness.ingestCandles(45)
        try cache.catchUp()
        let fresh = try #require(
            cache.candles(stock: APIHarness.samsung, timeframe: .minute1, from: nil, to: nil, limit: 3)
        )
        #expect(fresh.map(\.start) == [42, 43, 44].map { open + $0 * minute })
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let reply = try await client.call(
                .get,
                "/api/market-data/stocks/005930/candles?timeframe=1m&limit=3",
                token: alice.token
            )
            let rows = try #require(reply.json["candles"] as? [[String: Any]], "\(reply.text)")
            #expect(
                rows.map { $0["timestamp"] as? String } == [
                    "2025-01-06T00:42:00.000000Z", "2025-01-06T00:43:00.000000Z", "2025-01-06T00:44:00.000000Z",
                ]
            )
            // Same bytes as Foundation's encoder would write for the same body.
            let body = CandlesBody(
                stockId: "005930",
                timeframe: "1m",
                candles: fresh.map {
                    CandleBody(
                        timestamp: ISOTime.utc($0.start),
                        open: $0.open,
                        high: $0.high,
                        low: $0.low,
                        close: $0.close,
                        volume: $0.volume
                    )
                }
            )
            #expect(reply.text == String(decoding: try APIJSON.encoder.encode(body), as: UTF8.self))
        }
        await harness.close()
    }
}
