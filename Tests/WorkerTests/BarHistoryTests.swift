import Engine
import Testing
import Worker

/// data-analysis keeps each stock's recent bars between jobs; a job whose bar does not follow them reads the
/// history from the engine again.
@Suite struct BarHistoryTests {
    static let open = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 9)

    static func bar(_ minute: Int64, close: Int64 = 100) -> Candle {
        Candle(stock: StockCode("005930")!, timeframe: .minute1, start: Self.open + minute * KST.minuteMicros, open: close, high: close, low: close, close: close, volume: 1)
    }

    @Test func theNextMinuteExtendsAnythingElseAsksForTheHistory() async {
        let kept = BarHistory(capacity: 4)
        #expect(await kept.extend("005930", with: Self.bar(0)) == nil, "nothing kept yet")
        await kept.store("005930", [Self.bar(0), Self.bar(1), Self.bar(2)])
        #expect(await kept.extend("005930", with: Self.bar(3))?.map(\.start) == (0...3).map { Self.bar($0).start })
        #expect(await kept.extend("005930", with: Self.bar(5)) == nil, "a minute missing: read again")
        #expect(await kept.extend("005930", with: Self.bar(3)) == nil, "a minute already kept (a job run twice)")
        #expect(await kept.extend("000660", with: Self.bar(4)) == nil, "another stock")
        // Only the newest `capacity` bars are kept.
        #expect(await kept.extend("005930", with: Self.bar(4))?.map(\.start) == (1...4).map { Self.bar($0).start })
        // A history read for an older job does not replace a newer one.
        await kept.store("005930", [Self.bar(1), Self.bar(2)])
        #expect(await kept.extend("005930", with: Self.bar(5))?.last?.start == Self.bar(5).start)
        // A newer history replaces it (trimmed to capacity).
        await kept.store("005930", (0...9).map { Self.bar($0, close: 7) })
        #expect(await kept.extend("005930", with: Self.bar(10))?.map(\.close) == [7, 7, 7, 100])
    }
}
