import TestSupport
import Testing

@testable import Engine

/// What strategies read (indicators by name, roll-ups without look-ahead, their holding) and what their intents
/// become (sizing, ticks, brackets), the stale-bar guard, and a backtest that cannot trade on a bar's own close.
@Suite struct StrategyContextTests {
    static let open = KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 9)

    /// A seeded random walk of one-minute bars from 09:00, on the tick grid.
    static func walk(_ count: Int, seed: UInt64 = 11, stock: StockCode = World.samsung) -> [Candle] {
        var random = SeededRandom(seed: seed)
        var price: Int64 = 70_000
        return (0..<count).map { minute in
            let open = price
            price = max(10_000, price + (Int64(random.next() % 21) - 10) * 100)
            return Candle(
                stock: stock,
                timeframe: .minute1,
                start: Self.open + Int64(minute) * KST.minuteMicros,
                open: open,
                high: max(open, price) + 100,
                low: min(open, price) - 100,
                close: price,
                volume: 1_000 + Int64(random.next() % 1_000)
            )
        }
    }

    @Test func indicatorNamesParseOrSayWhatIsWrong() throws {
        for name in [
            "rsi_14", "sma_200", "ema_12", "bb_upper_20_2", "macd_signal_12_26_9", "stoch_d_14_3", "close@1d",
            "highest_20@5m", "atr_14@1h", "volume",
        ] {
            #expect(try IndicatorKey(parsing: name).description == name)
        }
        #expect(try IndicatorKey(parsing: "macd_hist_12_26_9").kind == .macdHist, "the longest name wins")
        let refused: [(String, String)] = [
            ("rsi", "takes 1 parameter"), ("rsi_1", "parameter 1 must be in 2...1000"), ("sma_0", "positive"),
            ("sma_1001", "1...1000"), ("sma_x", "not a positive whole number"), ("sma_20@2m", "unknown timeframe"),
            ("momentum_3", "unknown indicator"), ("macd_26_12_9", "fast period must be shorter"),
            ("bb_upper_20_50", "at most 10"), ("sma_20_5", "takes 1 parameter"),
            ("sma_99999999999999999999", "not a positive whole number"), ("close_5", "takes 0 parameter"),
        ]
        for (name, message) in refused {
            #expect(throws: EngineError.self, "\(name)") { try IndicatorKey(parsing: name) }
            do { _ = try IndicatorKey(parsing: name) } catch {
                #expect("\(error)".contains(message), "\(name): \(error)")
            }
        }
    }

    @Test func theContextsIndicatorsEqualTheEnginesColumns() throws {
        let bars = Self.walk(200)
        let keys = try IndicatorSet.columns.map { try IndicatorKey(parsing: $0) }
        var series = MarketSeries(indicators: keys)
        var reference = IndicatorSet()
        for bar in bars {
            series.update(bar)
            let expected = reference.update(bar)
            for (index, key) in keys.enumerated() {
                #expect(series.value(key) == expected[index], "\(key) at \(ISOTime.kst(bar.start))")
                #expect(series.value(slot: index) == expected[index])
            }
        }
        #expect(series.value(try IndicatorKey(parsing: "sma_7")) == nil, "not asked for: nothing")
    }

    @Test func rollUpsAreReadOnlyOnceClosed() throws {
        let bars = Self.walk(30)
        let close5 = try IndicatorKey(parsing: "close@5m")
        let high5 = try IndicatorKey(parsing: "highest_2@5m")
        var series = MarketSeries(indicators: [close5, high5], history: 3)
        for (minute, bar) in bars.enumerated() {
            series.update(bar)
            let closedBuckets = (minute + 1) / 5
            if closedBuckets == 0 {
                #expect(series.value(close5) == nil, "no 5-minute bar has closed at minute \(minute)")
                continue
            }
            // The newest closed bucket, never the one still forming.
            let bucket = bars[(closedBuckets - 1) * 5..<closedBuckets * 5]
            #expect(series.value(close5) == Double(bucket.last!.close), "minute \(minute)")
            let rolled = series.bars(.minute5)
            #expect(rolled.count == min(closedBuckets, 3))
            #expect(rolled.last?.high == bucket.map(\.high).max() && rolled.last?.open == bucket.first!.open)
            #expect(rolled.last?.volume == bucket.reduce(0) { $0 + $1.volume })
            if closedBuckets >= 2 {
                let previous = bars[(closedBuckets - 2) * 5..<closedBuckets * 5]
                #expect(series.value(high5) == Double(previous.map(\.high).max()!))
            }
        }
        #expect(series.bars().isEmpty == false && series.bars().count == 3, "the bars fed, newest three")
    }

    @Test func intentsAreSizedOnTheTickAndHeldToWhatIsHeld() throws {
        var holding = Holding()
        holding.equity = 10_000_000
        holding.cash = 10_000_000
        func order(_ intent: StrategyIntent, close: Int64 = 70_150) -> Result<PlaceOrder, SkipReason> {
            guard case .order(let order) = intent else { fatalError() }
            return order.order(account: AccountID(value: 1), stock: World.samsung, holding: holding, close: close)
        }
        #expect(try order(.buy(.shares(7), reason: "")).get().quantity == 7)
        #expect(try order(.buy(.amount(1_000_000), reason: "")).get().quantity == 14, "1,000,000 / 70,150")
        #expect(try order(.buy(.percentOfEquity(basisPoints: 1_000), reason: "")).get().quantity == 14)
        let limit = try order(.buy(.shares(1), limit: 70_149, reason: "")).get()
        #expect(limit.type == .limit && limit.price == 70_100, "a buy's limit moves down onto its 100 KRW tick")
        #expect(throws: SkipReason.self) { try order(.sell(.position, reason: "")).get() }
        holding.quantity = 5
        holding.sellable = 3
        #expect(try order(.sell(.position, reason: "")).get().quantity == 3, "only the sellable shares")
        #expect(try order(.sell(.shares(100), reason: "")).get().quantity == 3, "no short selling")
        let sell = try order(.sell(.shares(1), limit: 70_101, reason: "")).get()
        #expect(sell.price == 70_200, "a sell's limit moves up onto its tick")
        let bracket = try order(
            .buy(.shares(10), exits: ExitPlan(stopLoss: 300, takeProfit: 600, trail: 200), reason: "")
        ).get()
        #expect(bracket.bracket.map(\.kind) == [.stopLoss, .takeProfit, .trailingStop])
        // Distances from the fill, not levels from this bar's close: the engine sets them when the entry fills.
        #expect(bracket.bracket.map(\.offsetBasisPoints) == [300, 600, 0])
        #expect(bracket.bracket.map(\.triggerPrice) == [0, 0, 0])
        #expect(
            bracket.bracket[0].level(fromFill: 70_150) == 68_000,
            "70,150 × 0.97 = 68,045.5 → down to the tick"
        )
        #expect(bracket.bracket[1].level(fromFill: 70_150) == 74_400, "70,150 × 1.06 = 74,359 → up to the tick")
        #expect(bracket.bracket[2].trailBasisPoints == 200)
        // Hostile sizes: nothing traps, nothing leaves the engine's bounds.
        holding.equity = .max
        for sizing: OrderSizing in [
            .shares(.max), .shares(.min), .amount(.max), .amount(-5), .percentOfEquity(basisPoints: .max),
            .percentOfEquity(basisPoints: .min),
        ] {
            switch order(
                .buy(sizing, exits: ExitPlan(stopLoss: .max, takeProfit: .max, trail: .min), reason: ""),
                close: .max
            )
            {
            case .success(let request):
                #expect((1...Bounds.maxQuantity).contains(request.quantity), "\(sizing)")
                #expect(request.bracket.allSatisfy { (0...Bounds.maxPrice * 2).contains($0.triggerPrice) })
                _ = try Bounds.admit(.placeOrder(request))
            case .failure(let skip): #expect(!skip.description.isEmpty)
            }
        }
    }

    @Test func aStaleBarRecordsSignalSkippedAndPlacesNothing() throws {
        var (world, account) = try World.standard()
        func place(_ bar: Int64, _ timeframe: Timeframe = .minute1, client: String) throws -> [String] {
            var request = PlaceOrder(
                account: account,
                stock: World.samsung,
                side: .buy,
                type: .market,
                quantity: 1,
                price: 0,
                source: .strategy,
                clientOrderID: client
            )
            request.signal = StrategySignal(
                strategy: "ma-cross",
                reason: "crossed",
                barStart: bar,
                timeframe: timeframe
            )
            return try world.run(.placeOrder(request)).events.map(\.typeName)
        }
        let minute = KST.minuteMicros
        // The bar 09:58–09:59 at 10:00: one minute old; two bars is the limit.
        #expect(try place(world.now - 2 * minute, client: "a") == ["SignalGenerated", "OrderRequested"])
        #expect(try place(world.now - 2 * minute, client: "a").isEmpty, "the same request again adds nothing")
        #expect(try place(world.now - 3 * minute, client: "b") == ["SignalGenerated", "OrderRequested"], "2 min old")
        #expect(try place(world.now - 3 * minute - 1, client: "c") == ["SignalSkipped"], "a microsecond over")
        let skipped = try #require(world.events.last)
        guard case .signalSkipped(let event) = skipped.event else {
            Issue.record("\(skipped)")
            return
        }
        #expect(event.reason.contains("crossed; skipped: the 1m bar of") && event.reason.contains("limit: two bars"))
        #expect(world.state.clientOrderIDs[account]?["c"] == nil, "no order")
        #expect(event.key == "c")
        // The same request again (a retried job) records nothing more; another key does.
        #expect(try place(world.now - 3 * minute - 1, client: "c").isEmpty, "skipped once")
        // So does a skip the worker records itself (a size under one share), by its key.
        let own = SignalGenerated(
            account: account,
            stock: World.samsung,
            strategy: "ma-cross",
            side: .buy,
            reason: "under one share",
            key: "signal-9-c"
        )
        #expect(try world.run(.recordSkipped(own)).events.map(\.typeName) == ["SignalSkipped"])
        #expect(try world.run(.recordSkipped(own)).events.isEmpty)
        var keyless = own
        keyless.key = ""
        #expect(try world.run(.recordSkipped(keyless)).events.count == 1, "without a key, as a backtest records")
        #expect(try world.run(.recordSkipped(keyless)).events.count == 1)
        // The keys are state: a replay and a snapshot keep them.
        #expect(world.replayed() == world.state)
        let restored = try EngineState(snapshot: world.state.snapshot())
        #expect(restored == world.state && restored.skippedSignals[account] == ["c", "signal-9-c"])
        var reread = world
        reread.state = restored
        #expect(try reread.run(.recordSkipped(own)).events.isEmpty, "a restored engine skips once too")
        // A worker back after an hour: every queued bar is skipped.
        #expect(try place(world.now - 61 * minute, client: "d") == ["SignalSkipped"])
        // Daily bars: yesterday's bar (2025-01-02) today is fresh; the day before it is not.
        let today = KST.day(world.now)
        #expect(try place(KST.instant(day: today - 1, hour: 0), .day1, client: "e").first == "SignalGenerated")
        #expect(try place(KST.instant(day: today - 3, hour: 0), .day1, client: "f") == ["SignalSkipped"])
        // A configured limit.
        world.engine.maxBarAge = 10 * minute
        #expect(try place(world.now - 9 * minute, client: "g").first == "SignalGenerated")
        #expect(try place(world.now - 12 * minute, client: "h") == ["SignalSkipped"])
        // A stale order for a stock the engine does not list is refused, not recorded as skipped.
        var unknown = PlaceOrder(
            account: account,
            stock: StockCode("999999")!,
            side: .buy,
            type: .market,
            quantity: 1,
            price: 0
        )
        unknown.signal = StrategySignal(
            strategy: "ma-cross",
            reason: "x",
            barStart: world.now - 61 * minute,
            timeframe: .minute1
        )
        #expect(throws: EngineError.self) { try world.run(.placeOrder(unknown)) }
        // Instants at Int64's edges are refused before any arithmetic.
        for edge in [Int64.max, .min] {
            #expect(throws: EngineError.self) { try place(edge, client: "i") }
        }
        #expect(world.replayed().digest == world.state.digest)
    }

    /// A strategy that reads the bar it is handed and buys when that bar closed up, sells when it closed down:
    /// if it could fill at that close it would win on every up-bar of a market that jumps up within each bar and
    /// opens the next bar back down.
    struct Peeker: Strategy {
        let name = "peeker"
        let indicators: [IndicatorKey] = []
        mutating func onBar(_ context: StrategyContext) -> [StrategyIntent] {
            if context.bar.close > context.bar.open, context.holding.quantity == 0 {
                return [.buy(.shares(10), reason: "closed up at \(context.bar.close)")]
            }
            if context.holding.sellable > 0 { return [.sell(reason: "next bar")] }
            return []
        }
    }

    @Test func aStrategyCannotTradeOnTheCloseItSaw() throws {
        // A saw-tooth: each bar opens at 70,000 and closes at 71,000; the next opens back at 70,000.
        let bars = (0..<60).map { minute in
            Candle(
                stock: World.samsung,
                timeframe: .minute1,
                start: Self.open + Int64(minute) * KST.minuteMicros,
                open: 70_000,
                high: 71_000,
                low: 70_000,
                close: 71_000,
                volume: 1_000_000
            )
        }
        var backtester = try Backtester(
            stocks: [(World.samsung, "삼성전자", 70_000)],
            strategy: "peeker",
            initialCash: 10_000_000,
            calendar: TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)]),
            exchange: .init(participationPercent: 100, slippageTicks: 0),
            fees: FeeSchedule(),
            startTime: Self.open - KST.minuteMicros,
            make: { Peeker() }
        )
        for bar in bars { try backtester.process(bar) }
        let report = try backtester.finish()
        let fills = backtester.state.orders.values.filter { $0.filledQuantity > 0 }
        #expect(fills.count >= 20, "it trades")
        for order in fills {
            #expect(order.averageFillPrice == 70_000, "filled at the next bar's open, never at the close it saw")
        }
        #expect(report.realizedProfit <= 0, "buying at the open and selling at the open wins nothing")
    }

    @Test func aBracketStrategyIsProtectedByTheEnginesTriggers() throws {
        let bars = Self.walk(381, seed: 5)
        var backtester = try Backtester(
            stocks: [(World.samsung, "삼성전자", 70_000)],
            strategy: "ma-cross",
            parameters: "fast=3,slow=8,percent=20,stop=50,target=80",
            initialCash: 100_000_000,
            calendar: TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)]),
            exchange: .init(participationPercent: 100, slippageTicks: 0),
            startTime: Self.open - KST.minuteMicros
        )
        for bar in bars { try backtester.process(bar) }
        _ = try backtester.finish()
        let state = backtester.state
        let exits = state.orders.values.filter { $0.source == .trigger }
        let entries = state.orders.values.filter { $0.source == .strategy && $0.side == .buy }
        #expect(!entries.isEmpty && !exits.isEmpty, "\(entries.count) entries, \(exits.count) exits")
        #expect(
            exits.allSatisfy { $0.status == .filled || $0.status == .expired },
            "exits go to the exchange: \(exits.map { "\($0.status) \($0.failureReason.map(\.rawValue) ?? "") \($0.failureMessage)" })"
        )
        for entry in entries where entry.filledQuantity > 0 {
            // 20 % of equity at the reference price: about 20,000,000 / 70,000 shares.
            #expect((200...400).contains(entry.quantity), "\(entry.quantity)")
        }
        let fired = state.triggers.values.filter { $0.status == .fired }.count
        let cancelled = state.triggers.values.filter { $0.status == .cancelled }.count
        #expect(fired == exits.count && cancelled >= fired, "one fired, its sibling cancelled")
        #expect(state.eventCount == backtester.recordedEvents, "every decision recorded for its log")
    }
    /// A daily backtest's brackets fire on its daily bars (days without minutes): the exit is placed at the next
    /// session's open, as the strategy's orders decided on a daily bar are, and fills at that day's open; the
    /// stop's level is the entry's average fill price less the distance.
    @Test func aDailyBacktestsBracketsFireOnItsDailyBars() throws {
        let calendar = TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)])
        var random = SeededRandom(seed: 9)
        var day = calendar.nextTradingDay(after: KST.day(year: 2024, month: 12, day: 31))
        var price: Int64 = 70_000
        var bars: [Candle] = []
        for _ in 0..<250 {
            let open = price
            price = max(10_000, price + (Int64(random.next() % 41) - 20) * 100)
            bars.append(
                Candle(
                    stock: World.samsung,
                    timeframe: .day1,
                    start: KST.instant(day: day, hour: 0),
                    open: open,
                    high: max(open, price) + 500,
                    low: min(open, price) - 500,
                    close: price,
                    volume: 1_000_000
                )
            )
            day = calendar.nextTradingDay(after: day)
        }
        var backtester = try Backtester(
            stocks: [(World.samsung, "삼성전자", 70_000)],
            strategy: "ma-cross",
            parameters: "fast=3,slow=8,percent=20,stop=300,target=500",
            initialCash: 100_000_000,
            calendar: calendar,
            exchange: .init(participationPercent: 100, slippageTicks: 0, fillTimeframe: .day1),
            startTime: bars[0].start
        )
        for bar in bars { try backtester.process(bar) }
        _ = try backtester.finish()
        let state = backtester.state
        let fired = state.triggers.values.filter { $0.status == .fired }
        #expect(
            fired.count >= 3,
            "\(fired.count) exits fired on daily bars; triggers \(state.triggers.values.map { "\($0.status) \($0.active) \($0.level) \($0.reason)" }); orders \(state.ordersByStatus())"
        )
        let opens = Dictionary(uniqueKeysWithValues: bars.map { (KST.day($0.start), $0.open) })
        for trigger in fired {
            let exit = try #require(trigger.order.flatMap { state.orders[$0] })
            let entry = try #require(trigger.request.entry.flatMap { state.orders[$0] })
            #expect(trigger.request.triggerPrice == trigger.request.level(fromFill: entry.averageFillPrice))
            guard exit.status == .filled else {
                // Only the last bar's exit meets a closed market.
                #expect(KST.day(exit.createdAt) > KST.day(bars.last!.start) || exit.failureReason == .marketClosed)
                continue
            }
            #expect(exit.averageFillPrice == opens[KST.day(exit.createdAt)], "filled at the next session's open")
            #expect(KST.day(exit.createdAt) > KST.day(trigger.armedAt), "not on the bar that armed it")
        }
        #expect(state.eventCount == backtester.recordedEvents)
    }
}
