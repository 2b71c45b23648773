import Runtime
import Simulation
import Storage
import Testing

@testable import Engine

func minute(
    _ day: Int64,
    _ hour: Int64,
    _ minute: Int64,
    o: Int64 = 71_000,
    h: Int64 = 71_200,
    l: Int64 = 70_900,
    c: Int64 = 71_100,
    v: Int64 = 1_000,
    stock: StockCode = World.samsung
) -> Candle {
    Candle(
        stock: stock,
        timeframe: .minute1,
        start: KST.instant(day: day, hour: hour, minute: minute),
        open: o,
        high: h,
        low: l,
        close: c,
        volume: v
    )
}

@Suite struct MarketDataTests {
    let day = KST.day(year: 2025, month: 1, day: 3)

    func candles(_ world: World, _ timeframe: Timeframe) -> [Candle] {
        world.events.compactMap { if case .candleClosed(let c) = $0.event, c.timeframe == timeframe { c } else { nil } }
    }

    @Test(arguments: [
        Candle(stock: World.samsung, timeframe: .minute1, start: 0, open: 100, high: 90, low: 80, close: 85, volume: 1),
        Candle(
            stock: World.samsung,
            timeframe: .minute1,
            start: 0,
            open: 100,
            high: 110,
            low: 101,
            close: 105,
            volume: 1
        ),
        Candle(
            stock: World.samsung,
            timeframe: .minute1,
            start: 0,
            open: 100,
            high: 110,
            low: 90,
            close: 111,
            volume: 1
        ),
        Candle(
            stock: World.samsung,
            timeframe: .minute1,
            start: 0,
            open: 100,
            high: 110,
            low: 90,
            close: 105,
            volume: -1
        ),
        Candle(
            stock: World.samsung,
            timeframe: .minute1,
            start: 30_000_000,
            open: 100,
            high: 110,
            low: 90,
            close: 105,
            volume: 1
        ),
        Candle(
            stock: World.samsung,
            timeframe: .minute5,
            start: KST.instant(day: 20_000, hour: 9, minute: 3),
            open: 100,
            high: 110,
            low: 90,
            close: 105,
            volume: 1
        ),
        Candle(
            stock: World.samsung,
            timeframe: .day1,
            start: KST.instant(day: 20_000, hour: 9),
            open: 100,
            high: 110,
            low: 90,
            close: 105,
            volume: 1
        ),
        Candle(stock: World.samsung, timeframe: .minute1, start: 0, open: 0, high: 110, low: 0, close: 105, volume: 1),
    ])
    func invalidCandlesAreRefused(candle: Candle) throws {
        var (world, _) = try World.standard()
        #expect(throws: EngineError.self) { try world.run(.ingestCandle(candle)) }
    }

    @Test func duplicatesAreIdempotent() throws {
        var (world, _) = try World.standard()
        let first = try world.run(.ingestCandle(minute(self.day, 9, 1)))
        let again = try world.run(.ingestCandle(minute(self.day, 9, 1, l: 69_000, c: 70_000)))
        #expect(first.events.count == 1)
        #expect(again.events.isEmpty)
    }

    /// A bar's indicator values are one event (`IndicatorsComputed`), not one each; values of different bars
    /// are different events; a value given twice for a bar, a stock not listed or a value not finite is refused.
    @Test func aBarsIndicatorsAreOneEvent() throws {
        var (world, _) = try World.standard()
        let (first, second) = (
            KST.instant(day: self.day, hour: 9, minute: 1), KST.instant(day: self.day, hour: 9, minute: 2)
        )
        func value(_ name: String, _ number: Double, at start: Int64, stock: StockCode = World.samsung)
            -> IndicatorComputed
        {
            IndicatorComputed(stock: stock, timeframe: .minute1, start: start, name: name, value: number)
        }
        let decision = try world.run(
            .recordIndicators([
                value("sma_5", 71_000, at: first), value("rsi_14", 55.5, at: first), value("sma_5", 71_100, at: second),
            ])
        )
        #expect(
            decision.events == [
                .indicatorsComputed(
                    IndicatorsComputed(
                        stock: World.samsung,
                        timeframe: .minute1,
                        start: first,
                        values: [
                            IndicatorValue(name: "sma_5", value: 71_000), IndicatorValue(name: "rsi_14", value: 55.5),
                        ]
                    )
                ),
                .indicatorsComputed(
                    IndicatorsComputed(
                        stock: World.samsung,
                        timeframe: .minute1,
                        start: second,
                        values: [IndicatorValue(name: "sma_5", value: 71_100)]
                    )
                ),
            ]
        )
        #expect(throws: EngineError.self) {
            try world.run(.recordIndicators([value("sma_5", 1, at: first), value("sma_5", 2, at: first)]))
        }
        #expect(throws: EngineError.self) { try world.run(.recordIndicators([value("sma_5", .nan, at: first)])) }
        #expect(throws: EngineError.self) {
            try world.run(.recordIndicators([value("sma_5", 1, at: first, stock: StockCode("123456")!)]))
        }
    }

    @Test func rollUpsAlignToTheKSTSession() throws {
        var (world, _) = try World.standard()
        for m in Int64(0)..<60 {
            try world.run(
                .ingestCandle(
                    minute(
                        self.day,
                        9,
                        m,
                        o: 71_000 + Int64(m) * 100,
                        h: 71_500 + Int64(m) * 100,
                        l: 70_500,
                        c: 71_100 + Int64(m) * 100,
                        v: 10
                    )
                )
            )
        }
        let fives = self.candles(world, .minute5)
        #expect(fives.count == 12)
        #expect(fives.first?.start == KST.instant(day: self.day, hour: 9))
        #expect(fives.first?.open == 71_000)
        #expect(fives.first?.close == 71_500)
        #expect(fives.first?.high == 71_900)
        #expect(fives.first?.volume == 50)
        #expect(self.candles(world, .minute15).count == 4)
        let hours = self.candles(world, .hour1)
        #expect(hours.count == 1)
        #expect(hours.first?.open == 71_000)
        let lastClose: Int64 = 71_100 + 59 * 100
        #expect(hours.first?.close == lastClose)
        #expect(hours.first?.volume == 600)
        #expect(world.replayed() == world.state)
    }

    @Test func theClosingMinuteClosesTheDay() throws {
        var (world, _) = try World.standard()
        try world.run(.ingestCandle(minute(self.day, 9, 0, o: 70_000, h: 70_000, l: 70_000, c: 70_000)))
        try world.run(.ingestCandle(minute(self.day, 15, 30, o: 72_000, h: 72_500, l: 71_900, c: 72_400)))
        let daily = self.candles(world, .day1)
        #expect(daily.count == 1)
        #expect(daily.first?.open == 70_000)
        #expect(daily.first?.close == 72_400)
        #expect(daily.first?.start == KST.instant(day: self.day, hour: 0))
        // The next session's band is based on this close.
        try world.run(.ingestCandle(minute(self.day + 3, 9, 0, o: 72_400, h: 72_400, l: 72_400, c: 72_400)))
        #expect(world.state.stocks[World.samsung]?.marketData.basePrice == 72_400)
    }

    @Test func aLateMinuteRevisesItsClosedBucket() throws {
        var (world, _) = try World.standard()
        for m: Int64 in [0, 1, 2, 4] { try world.run(.ingestCandle(minute(self.day, 9, m, v: 10))) }
        try world.run(.ingestCandle(minute(self.day, 9, 5, v: 10)))  // closes 09:00-09:05 without 09:03
        let late = try world.run(.ingestCandle(minute(self.day, 9, 3, h: 75_000, v: 7)))
        let emitted = late.events.compactMap { if case .candleClosed(let c) = $0 { c } else { nil } }
        #expect(emitted.map(\.timeframe) == [.minute5, .minute1])
        #expect(emitted[0].high == 75_000)
        #expect(emitted[0].volume == 47)
        #expect(world.replayed() == world.state)
    }

    @Test func candlesOfClosedSessionsAreRefused() throws {
        var (world, _) = try World.standard()
        try world.run(.ingestCandle(minute(self.day, 9, 0)))
        #expect(throws: EngineError.self) { try world.run(.ingestCandle(minute(self.day - 1, 15, 0))) }
    }

    @Test func unlistedStocksAreRefused() throws {
        var (world, _) = try World.standard()
        #expect(throws: EngineError.self) {
            try world.run(.ingestCandle(minute(self.day, 9, 0, stock: StockCode("999999")!)))
        }
    }

    /// A backtest takes a bar of a stock without armed triggers through `Engine.closedCandles` (in place) instead
    /// of `decide`: over thousands of random bars — minutes in and out of order, duplicates, roll-up bars given
    /// directly, sessions moving on, earlier sessions, malformed and out-of-bounds bars, an unlisted stock — both
    /// decide the same candles or refuse with the same error, and leave the state as it was; with a trigger armed
    /// the in-place way decides a bar that does not cross it the same way too, and declines (nil) one that does:
    /// `decide` takes that bar and fires the trigger.
    @Test func theInPlaceBarDecidesWhatDecideDoes() throws {
        var (world, account) = try World.standard()
        var seed: UInt64 = 22
        func draw(_ bound: UInt64) -> Int64 { Int64(splitMix(&seed) % bound) }
        var day = self.day
        var compared = (candles: 0, refusals: 0)
        for step in 0..<6_000 {
            if draw(400) == 0 { day += 1 + draw(2) }  // a later session (weekends included: minutes still roll up)
            let stock = draw(50) == 0 ? StockCode("999999")! : (draw(2) == 0 ? World.samsung : World.hynix)
            let timeframes: [Timeframe] = [.minute1, .minute1, .minute1, .minute1, .minute5, .hour1, .day1]
            let timeframe = timeframes[Int(draw(UInt64(timeframes.count)))]
            let sessionDay = draw(100) == 0 ? day - 1 : day
            let start =
                timeframe == .day1
                ? KST.instant(day: sessionDay, hour: 0)
                : KST.instant(day: sessionDay, hour: 9) + draw(400) * KST.minuteMicros
            let open = 50_000 + draw(2_000) * 10
            var bar = Candle(
                stock: stock,
                timeframe: timeframe,
                start: start,
                open: open,
                high: open + draw(50) * 10,
                low: open - draw(50) * 10,
                close: open,
                volume: draw(10_000)
            )
            switch draw(60) {
            case 0: bar.high = bar.low - 10  // malformed
            case 1: bar.close = Bounds.maxPrice + 1  // out of bounds
            case 2: bar.start = 0
            default: break
            }
            let before = world.state
            let decided: Result<[DomainEvent], EngineError>
            do {
                decided = .success(
                    try world.engine.decide(
                        world.state,
                        .ingestCandle(bar),
                        context: CommandContext(time: world.now, correlationID: "test")
                    ).events
                )
            } catch {
                decided = .failure(error)
            }
            let inPlace: Result<[DomainEvent], EngineError>
            var declined = false
            do throws(EngineError) {
                let candles = try world.engine.closedCandles(&world.state, bar)
                declined = candles == nil
                inPlace = .success((candles ?? []).map { .candleClosed($0) })
            } catch {
                inPlace = .failure(error)
            }
            #expect(!declined, "no trigger is armed")
            #expect(world.state == before, "step \(step): the in-place decision changed the state")
            #expect(inPlace == decided, "step \(step): \(bar)")
            if case .success(let events) = decided {
                compared.candles += events.count
                _ = try? world.run(.ingestCandle(bar))
            } else {
                compared.refusals += 1
            }
        }
        #expect(compared.candles > 5_000 && compared.refusals > 200, "\(compared)")

        // A stop armed on a holding (the next session's minutes): bars above its level are decided the same way
        // in place; the bar that reaches it is declined, and `decide` fires the stop on it.
        day += 1
        let (order, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(order)
        try world.run(.recordFill(order, quantity: 10, price: 71_000, fillID: "F1"))
        try world.run(
            .armTrigger(
                ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
            ),
            at: KST.instant(day: day, hour: 9)
        )
        for minuteOfSession in Int64(1)..<200 {
            let open = 69_100 + draw(100) * 10
            let bar = minute(day, 9, minuteOfSession, o: open, h: open + 100, l: open - draw(10) * 10, c: open)
            let decided = try world.engine.decide(
                world.state,
                .ingestCandle(bar),
                context: CommandContext(time: world.now, correlationID: "test")
            ).events
            #expect(try world.engine.closedCandles(&world.state, bar)?.map { DomainEvent.candleClosed($0) } == decided)
            try world.run(.ingestCandle(bar))
        }
        let crossing = minute(day, 13, 0, o: 69_000, h: 69_100, l: 68_900, c: 69_000)
        #expect(try world.engine.closedCandles(&world.state, crossing) == nil)
        #expect(try world.run(.ingestCandle(crossing)).events.map(\.typeName).contains("TriggerFired"))
        #expect(try world.engine.closedCandles(&world.state, minute(day, 13, 1, stock: World.hynix)) != nil)
    }
}

@Suite struct SimulatedExchangeTests {
    let day = KST.day(year: 2025, month: 1, day: 3)

    func request(_ side: OrderSide, _ type: OrderType, _ quantity: Int64, _ price: Int64) -> BrokerOrderRequest {
        BrokerOrderRequest(
            order: OrderID(value: 1),
            account: AccountID(value: 1),
            stock: World.samsung,
            side: side,
            type: type,
            quantity: quantity,
            price: price
        )
    }

    @Test(arguments: [
        // (side, limit, open, high, low) -> expected fill price (nil: no fill)
        // low above the limit
        (OrderSide.buy, 71_000 as Int64, 71_200 as Int64, 71_300 as Int64, 71_100 as Int64, nil as Int64?),
        (.buy, 71_000, 71_200, 71_300, 71_000, 71_000),  // touched: at the limit
        (.buy, 71_000, 70_500, 70_800, 70_400, 70_500),  // gapped below: at the open
        (.sell, 71_000, 70_800, 70_900, 70_700, nil),
        (.sell, 71_000, 70_800, 71_100, 70_700, 71_000),
        (.sell, 71_000, 71_500, 71_600, 71_400, 71_500),  // gapped above: at the open
    ])
    func limitOrders(side: OrderSide, limit: Int64, open: Int64, high: Int64, low: Int64, expected: Int64?) throws {
        var exchange = SimulatedExchange()
        _ = try exchange.submit(
            self.request(side, .limit, 10, limit),
            at: KST.instant(day: self.day, hour: 9, minute: 30)
        )
        let fills = exchange.onCandle(minute(self.day, 9, 31, o: open, h: high, l: low, c: open, v: 1_000))
        #expect(fills.first?.price == expected)
    }

    @Test func marketOrdersFillAtTheNextOpenWithSlippage() throws {
        var exchange = SimulatedExchange(configuration: .init(participationPercent: 100, slippageTicks: 2))
        _ = try exchange.submit(self.request(.buy, .market, 10, 0), at: KST.instant(day: self.day, hour: 9, minute: 30))
        #expect(
            exchange.onCandle(minute(self.day, 9, 29, o: 70_000, h: 71_000, l: 69_000, c: 70_000)).isEmpty,
            "a candle before the submission never fills"
        )
        let fills = exchange.onCandle(minute(self.day, 9, 30, o: 70_000, h: 71_000, l: 69_000, c: 70_500))
        #expect(fills.first?.price == 70_200)  // open + 2 ticks of 100
        var seller = SimulatedExchange(configuration: .init(participationPercent: 100, slippageTicks: 2))
        _ = try seller.submit(self.request(.sell, .market, 10, 0), at: KST.instant(day: self.day, hour: 9, minute: 30))
        #expect(
            seller.onCandle(minute(self.day, 9, 30, o: 70_000, h: 71_000, l: 69_950, c: 70_500)).first?.price == 69_950,
            "kept inside the candle"
        )
    }

    @Test func partialFillsAreCappedByVolumeShare() throws {
        var exchange = SimulatedExchange(configuration: .init(participationPercent: 10))
        let number = try exchange.submit(
            self.request(.buy, .limit, 250, 71_000),
            at: KST.instant(day: self.day, hour: 9)
        )
        #expect(exchange.onCandle(minute(self.day, 9, 0, v: 1_000)).map(\.quantity) == [100])
        #expect(exchange.onCandle(minute(self.day, 9, 1, v: 0)).isEmpty, "no volume, no fill")
        #expect(exchange.onCandle(minute(self.day, 9, 2, v: 5_000)).map(\.quantity) == [150])
        let status = try exchange.status(number)
        #expect(status.state == .filled)
        #expect(status.fills.map(\.fillID) == ["\(number)-1", "\(number)-2"])
    }

    @Test func dayOrdersExpireAtTheClose() throws {
        var exchange = SimulatedExchange()
        let number = try exchange.submit(
            self.request(.buy, .limit, 10, 60_000),
            at: KST.instant(day: self.day, hour: 10)
        )
        #expect(exchange.expire(at: KST.instant(day: self.day, hour: 15, minute: 30)) == [number])
        #expect(try exchange.status(number).state == .expired)
        #expect(exchange.onCandle(minute(self.day + 3, 9, 0, l: 50_000)).isEmpty)
    }

    @Test func offTickOrdersAreRefusedByTheBroker() {
        var exchange = SimulatedExchange()
        #expect(throws: BrokerError.self) { _ = try exchange.submit(self.request(.buy, .limit, 1, 71_050), at: 0) }
    }

    @Test func cancelReturnsTheUnfilledRest() throws {
        var exchange = SimulatedExchange(configuration: .init(participationPercent: 10))
        let number = try exchange.submit(
            self.request(.buy, .limit, 300, 71_000),
            at: KST.instant(day: self.day, hour: 9)
        )
        _ = exchange.onCandle(minute(self.day, 9, 0, v: 1_000))
        #expect(try exchange.cancel(number) == 200)
        #expect(throws: BrokerError.self) { _ = try exchange.cancel(number) }
        #expect(exchange.balance(account: AccountID(value: 1)).positions[World.samsung] == 100)
    }

    /// Only the exact number it gave out names an order: another spelling of the same integer, an overflowing
    /// one, control characters or non-ASCII digits find nothing and change nothing.
    @Test func onlyTheExactOrderNumberFindsTheOrder() throws {
        var exchange = SimulatedExchange()
        let number = try exchange.submit(
            self.request(.buy, .limit, 10, 71_000),
            at: KST.instant(day: self.day, hour: 9)
        )
        #expect(number == "0000000001")
        let forged = [
            "1", "01", "00000000001", "000000001", "", " 0000000001", "0000000001\n", "0000000001\u{0}", "+000000001",
            "-000000001", "０００００００００１", "99999999999999999999", "18446744073709551617", "0000000002",
        ]
        for text in forged {
            #expect(throws: BrokerError.self, "\(text.debugDescription)") { _ = try exchange.status(text) }
            #expect(throws: BrokerError.self, "\(text.debugDescription)") { _ = try exchange.cancel(text) }
        }
        #expect(try exchange.status(number).state == .working)
        #expect(try exchange.cancel(number) == 10)
    }
}
