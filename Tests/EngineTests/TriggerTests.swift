import Simulation
import TestSupport
import Testing

@testable import Engine

/// Protective orders the engine watches: each fires on the bar that crosses its level, in the pure core, and a
/// replay (or a snapshot) fires the same exits.
@Suite struct TriggerTests {
    /// 10 shares of Samsung bought at 71,000: the position the triggers protect.
    static func holding() throws -> (World, AccountID) {
        var (world, account) = try World.standard()
        let (order, _) = try world.place(account, .buy, 10, at: 71_000)
        try world.accept(order)
        try world.run(.recordFill(order, quantity: 10, price: 71_000, fillID: "F1"))
        return (world, account)
    }

    /// The 1-minute bar `minute` minutes after 10:00 KST, ingested when it has closed.
    @discardableResult
    static func bar(_ world: inout World, _ minute: Int64, high: Int64, low: Int64, close: Int64? = nil) throws
        -> [String]
    {
        let start = world.now + minute * 60_000_000
        let candle = Candle(
            stock: World.samsung,
            timeframe: .minute1,
            start: start,
            open: low,
            high: high,
            low: low,
            close: close ?? low,
            volume: 1_000
        )
        return try world.run(.ingestCandle(candle), at: start + 60_000_000).events.map(\.typeName)
    }

    static func arm(_ world: inout World, _ request: ArmTrigger) throws -> TriggerID {
        TriggerID(value: try world.run(.armTrigger(request)).created!)
    }

    @Test func aStopLossFiresOnTheBarThatCrossesAndSellsAtMarket() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
        )
        #expect(try Self.bar(&world, 1, high: 71_200, low: 69_100) == ["CandleClosed"], "above the level: nothing")
        let fired = try Self.bar(&world, 2, high: 69_500, low: 68_900)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested"], "\(fired)")
        let trigger = try #require(world.state.triggers[stop])
        #expect(trigger.status == .fired)
        let exit = world.order(try #require(trigger.order))
        #expect(exit.side == .sell && exit.type == .market && exit.quantity == 10 && exit.source == .trigger)
        #expect(exit.clientOrderID == "trigger:\(stop)")
        #expect(world.state.armedTriggers[World.samsung] == nil)
        #expect(try Self.bar(&world, 3, high: 68_000, low: 60_000) == ["CandleClosed"], "fired once")
        #expect(world.replayed().digest == world.state.digest, "a replay fires the same exit at the same offset")
    }

    @Test func sellingThePositionEndsItsProtectiveSells() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
        )
        let (sell, _) = try world.place(account, .sell, 10, at: 71_500)
        try world.accept(sell)
        #expect(try world.run(.recordFill(sell, quantity: 4, price: 71_500, fillID: "S1")).events.count == 1)
        #expect(world.state.triggers[stop]?.status == .armed, "6 shares are still held")
        let filled = try world.run(.recordFill(sell, quantity: 6, price: 71_500, fillID: "S2")).events.map(\.typeName)
        #expect(filled.prefix(2) == ["OrderFilled", "TriggerCancelled"], "\(filled)")
        #expect(world.state.triggers[stop]?.reason == "position closed by order \(sell)")
        #expect(try Self.bar(&world, 1, high: 69_000, low: 60_000) == ["CandleClosed"], "nothing left to fire")
        #expect(world.replayed().digest == world.state.digest)
    }

    @Test func aTakeProfitCancelsItsStopOneCancelsTheOther() throws {
        var (world, account) = try Self.holding()
        let target = try Self.arm(
            &world,
            ArmTrigger(
                account: account,
                stock: World.samsung,
                kind: .takeProfit,
                quantity: 10,
                triggerPrice: 73_000,
                group: "bracket-1"
            )
        )
        let stop = try Self.arm(
            &world,
            ArmTrigger(
                account: account,
                stock: World.samsung,
                kind: .stopLoss,
                quantity: 10,
                triggerPrice: 69_000,
                limitPrice: 68_900,
                group: "bracket-1"
            )
        )
        let fired = try Self.bar(&world, 1, high: 73_100, low: 71_000)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested", "TriggerCancelled"], "\(fired)")
        #expect(world.state.triggers[target]?.status == .fired)
        #expect(world.state.triggers[stop]?.status == .cancelled)
        #expect(world.state.triggers[stop]?.reason == "one-cancels-the-other: \(target) fired")
        #expect(try Self.bar(&world, 2, high: 70_000, low: 60_000) == ["CandleClosed"], "the stop went with it")
        #expect(world.replayed().digest == world.state.digest)
    }

    /// The trailing mark is the highest high of the bars before the one checked: a bar that lifts it and falls
    /// back inside itself does not fire on the level it just lifted (the order of prices in a bar is unknown).
    @Test func aTrailingStopFollowsTheHighWithoutLookingAhead() throws {
        var (world, account) = try Self.holding()
        let trail = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 10, trailBasisPoints: 200)
        )
        // From the last close, 71,000: 2 % below is 69,580, on the 100-won tick 69,500.
        #expect(world.state.triggers[trail]?.level == 69_500)
        #expect(try Self.bar(&world, 1, high: 75_000, low: 69_600) == ["CandleClosed"], "no look-ahead")
        #expect(world.state.triggers[trail]?.water == 75_000)
        #expect(world.state.triggers[trail]?.level == 73_500)
        #expect(try Self.bar(&world, 2, high: 74_000, low: 73_600) == ["CandleClosed"])
        let fired = try Self.bar(&world, 3, high: 73_900, low: 73_400)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested"], "\(fired)")
        guard case .triggerFired(let event) = world.events.first(where: { $0.event.typeName == "TriggerFired" })?.event
        else {
            Issue.record("no TriggerFired")
            return
        }
        #expect(event.level == 73_500 && event.observed == 73_400)
        // The same state from its snapshot: the marks and the armed index come back.
        #expect(try EngineState(snapshot: world.state.snapshot()).digest == world.state.digest)
        #expect(world.replayed().digest == world.state.digest)
    }

    /// Candles applied together (a backtest's bar and its roll-ups) change the state as their envelopes applied
    /// one by one do — also when they mix stocks or name one not listed: each candle moves its own stock's
    /// market data and trailing marks, never the first one's.
    @Test func candlesAppliedTogetherEqualTheirEventsAppliedOneByOne() throws {
        var (world, account) = try Self.holding()
        let trail = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 10, trailBasisPoints: 200)
        )
        let day = KST.day(world.now)
        let candles = [
            minute(day, 10, 30, h: 75_000, stock: World.samsung),
            minute(day, 10, 30, o: 128_500, h: 131_000, l: 128_000, c: 130_000, stock: World.hynix),
            minute(day, 10, 31, h: 76_000, stock: World.samsung),
            minute(day, 10, 31, stock: StockCode("999999")!),
            minute(day, 10, 31, o: 130_000, h: 130_500, l: 129_000, c: 129_500, stock: World.hynix),
        ]
        var oneByOne = world.state
        for candle in candles {
            oneByOne.apply(EventEnvelope(timestamp: world.now, correlationID: "t", event: .candleClosed(candle)))
        }
        var together = world.state
        together.applyCandlesClosed(candles)
        #expect(together == oneByOne)
        #expect(together.triggers[trail]?.water == 76_000, "Samsung's highs moved its mark")
        #expect(together.stocks[World.hynix]?.marketData.lastClose == 129_500)
        #expect(together.stocks[World.samsung]?.marketData.lastClose == 71_100, "not Hynix's close")
    }

    /// A trigger whose exit cannot be sent is not dropped: the exit is recorded as refused, with the reason.
    @Test func anExitTheAccountCannotSendIsRecordedRefused() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
        )
        try world.run(.haltAccount(account, reason: "reconciliation: shares differ"))
        let fired = try Self.bar(&world, 1, high: 69_500, low: 68_000)
        #expect(fired.prefix(3) == ["CandleClosed", "TriggerFired", "OrderRejected"], "\(fired)")
        let exit = world.order(try #require(world.state.triggers[stop]?.order))
        #expect(exit.status == .rejected && exit.failureReason == .accountHalted, "\(exit)")
    }

    @Test func theKillSwitchAndTheOwnerCancelTriggersAndNoOneElseCan() throws {
        var (world, account) = try Self.holding()
        let first = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 5, triggerPrice: 69_000)
        )
        let second = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .takeProfit, quantity: 5, triggerPrice: 75_000)
        )
        #expect(throws: EngineError.self) { try world.run(.cancelTrigger(first, user: UserID(value: 99))) }
        try world.run(.cancelTrigger(first, user: UserID(value: 1)))
        #expect(world.state.triggers[first]?.status == .cancelled)
        #expect(throws: EngineError.self) { try world.run(.cancelTrigger(first, user: UserID(value: 1))) }
        let killed = try world.run(.killSwitch(account, user: UserID(value: 1))).events.map(\.typeName)
        #expect(killed.contains("TriggerCancelled"), "\(killed)")
        #expect(world.state.triggers[second]?.status == .cancelled)
        #expect(try Self.bar(&world, 1, high: 80_000, low: 60_000) == ["CandleClosed"])
    }

    @Test func armingRefusesWhatCannotProtectAPosition() throws {
        var (world, account) = try Self.holding()
        let refused: [ArmTrigger] = [
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 11, triggerPrice: 69_000),
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 1, triggerPrice: 69_010),
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 1, trailBasisPoints: 5),
            ArmTrigger(
                account: account,
                stock: World.samsung,
                kind: .trailingStop,
                quantity: 1,
                trailBasisPoints: 9_000
            ),
            ArmTrigger(
                account: account,
                stock: World.samsung,
                kind: .stopLoss,
                quantity: 1,
                triggerPrice: 69_000,
                limitPrice: 68_999
            ),
            ArmTrigger(account: account, stock: World.hynix, kind: .stopLoss, quantity: 1, triggerPrice: 120_000),
            ArmTrigger(
                account: AccountID(value: 77),
                stock: World.samsung,
                kind: .stopLoss,
                quantity: 1,
                triggerPrice: 69_000
            ),
        ]
        for request in refused {
            #expect(throws: EngineError.self, "\(request)") { try world.run(.armTrigger(request)) }
        }
        #expect(world.state.triggers.isEmpty)
        // Overflowing values never reach `decide`.
        #expect(throws: EngineError.self) {
            try Bounds.admit(
                .armTrigger(
                    ArmTrigger(
                        account: account,
                        stock: World.samsung,
                        kind: .stopLoss,
                        quantity: 1,
                        triggerPrice: .max
                    )
                )
            )
        }
    }

    /// A bracket: the entry with its stop and target, watched once the entry fills (for what it filled), one
    /// cancelling the other; an entry that ends unfilled takes its exits with it.
    @Test func aBracketsExitsWaitForTheEntryThenCancelEachOther() throws {
        var (world, account) = try World.standard()
        var entry = PlaceOrder(account: account, stock: World.samsung, side: .buy, quantity: 10, price: 71_000)
        entry.bracket = [
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000),
            ArmTrigger(account: account, stock: World.samsung, kind: .takeProfit, quantity: 10, triggerPrice: 75_000),
        ]
        let placed = try world.run(.placeOrder(entry))
        #expect(placed.events.map(\.typeName) == ["OrderRequested", "TriggerArmed", "TriggerArmed"])
        let order = try #require(placed.order)
        let exits = world.state.triggers.keys.sorted()
        #expect(exits.count == 2 && exits.allSatisfy { world.state.triggers[$0]?.active == false })
        #expect(world.state.triggers[exits[0]]?.request.group == "bracket:\(order)")
        // Not watched before the entry fills: a bar through the stop does nothing.
        #expect(try Self.bar(&world, 1, high: 71_000, low: 68_000) == ["CandleClosed"])
        try world.accept(order)
        try world.run(.recordFill(order, quantity: 6, price: 71_000, fillID: "F1"))
        #expect(world.state.waitingTriggers[order] != nil, "partly filled: still waiting")
        try world.run(.cancelOrder(order))
        try world.run(.recordCancelled(order))
        // The entry ended with 6 shares: its exits are watched for those 6.
        #expect(exits.allSatisfy { world.state.triggers[$0]?.active == true })
        #expect(world.state.triggers[exits[0]]?.request.quantity == 6)
        let fired = try Self.bar(&world, 2, high: 70_000, low: 68_900)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested", "TriggerCancelled"], "\(fired)")
        let exit = world.order(try #require(world.state.triggers[exits[0]]?.order))
        #expect(exit.quantity == 6 && exit.side == .sell)
        #expect(world.state.triggers[exits[1]]?.status == .cancelled)
        #expect(world.replayed().digest == world.state.digest)
        #expect(try EngineState(snapshot: world.state.snapshot()).digest == world.state.digest)

        // An entry cancelled before any fill: its exits are cancelled with it, never watched.
        var second = PlaceOrder(account: account, stock: World.samsung, side: .buy, quantity: 5, price: 70_000)
        second.bracket = [
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 5, trailBasisPoints: 300)
        ]
        let other = try #require(try world.run(.placeOrder(second)).order)
        let trailing = try #require(world.state.triggers.keys.max())
        try world.run(.cancelOrder(other))
        #expect(
            world.state.triggers[trailing]?.status == .cancelled,
            "\(String(describing: world.state.triggers[trailing]))"
        )
        #expect(world.state.triggers[trailing]?.reason == "entry \(other) ended unfilled")
        #expect(world.replayed().digest == world.state.digest)
        // A bracket whose level is off the tick refuses the whole order.
        var bad = PlaceOrder(account: account, stock: World.samsung, side: .buy, quantity: 1, price: 70_000)
        bad.bracket = [
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 1, triggerPrice: 69_001)
        ]
        #expect(throws: EngineError.self) { try world.run(.placeOrder(bad)) }
    }

    /// A bracket's stop and target as distances from the fill: their levels are set from the entry's average
    /// fill price when it fills — not from the price asked — on their ticks, and a replay or a snapshot has them.
    @Test func exitsPlacedFromTheFillTakeTheirLevelsFromTheAverageFillPrice() throws {
        var (world, account) = try World.standard()
        var entry = PlaceOrder(account: account, stock: World.samsung, side: .buy, quantity: 10, price: 72_000)
        entry.bracket = [
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, offsetBasisPoints: 300),
            ArmTrigger(account: account, stock: World.samsung, kind: .takeProfit, quantity: 10, offsetBasisPoints: 600),
        ]
        let order = try #require(try world.run(.placeOrder(entry)).order)
        let exits = world.state.triggers.keys.sorted()
        #expect(exits.allSatisfy { world.state.triggers[$0]?.request.triggerPrice == 0 }, "no level before the fill")
        try world.accept(order)
        // Filled lower than asked, in two slices: average (4 × 70,000 + 6 × 71,000) / 10 = 70,600.
        try world.run(.recordFill(order, quantity: 4, price: 70_000, fillID: "F1"))
        try world.run(.recordFill(order, quantity: 6, price: 71_000, fillID: "F2"))
        // 70,600 × 0.97 = 68,482 → down to its 100-KRW tick; × 1.06 = 74,836 → up.
        #expect(world.state.triggers[exits[0]]?.level == 68_400)
        #expect(world.state.triggers[exits[1]]?.level == 74_900)
        #expect(world.replayed().digest == world.state.digest)
        #expect(try EngineState(snapshot: world.state.snapshot()).digest == world.state.digest)
        // 68,500 does not reach the stop; 68,400 does.
        #expect(try Self.bar(&world, 1, high: 70_000, low: 68_500) == ["CandleClosed"])
        let fired = try Self.bar(&world, 2, high: 69_000, low: 68_400)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested", "TriggerCancelled"], "\(fired)")

        // Refused: a distance on a trigger that is not a bracket's exit, out of range, or with a price as well.
        var (holder, owner) = try Self.holding()
        for bad in [
            ArmTrigger(account: owner, stock: World.samsung, kind: .stopLoss, quantity: 10, offsetBasisPoints: 300),
            ArmTrigger(account: owner, stock: World.samsung, kind: .trailingStop, quantity: 10, trailBasisPoints: 300),
        ].enumerated() {
            var request = bad.element
            if bad.offset == 1 { request.offsetBasisPoints = 300 }
            #expect(throws: EngineError.self) { try holder.run(.armTrigger(request)) }
        }
        for exit in [
            ArmTrigger(account: owner, stock: World.samsung, kind: .stopLoss, quantity: 1, offsetBasisPoints: 10_000),
            ArmTrigger(account: owner, stock: World.samsung, kind: .stopLoss, quantity: 1, offsetBasisPoints: -5),
            ArmTrigger(
                account: owner,
                stock: World.samsung,
                kind: .takeProfit,
                quantity: 1,
                triggerPrice: 75_000,
                offsetBasisPoints: 500
            ),
        ] {
            var order = PlaceOrder(account: owner, stock: World.samsung, side: .buy, quantity: 1, price: 70_000)
            order.bracket = [exit]
            #expect(throws: EngineError.self) { try holder.run(.placeOrder(order)) }
        }
    }

    /// Triggers watch the finest bars a stock has that day: a daily bar beside the day's minutes does not judge
    /// again what the minutes judged; a daily bar of a day without minutes (a daily backtest's) does.
    @Test func aDailyBarFiresOnlyOnADayWithoutMinutes() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
        )
        #expect(try Self.bar(&world, 1, high: 71_000, low: 70_000) == ["CandleClosed"])
        func daily(_ day: Int64, low: Int64, at time: Int64) throws -> [String] {
            let candle = Candle(
                stock: World.samsung,
                timeframe: .day1,
                start: KST.instant(day: day, hour: 0),
                open: 71_000,
                high: 71_500,
                low: low,
                close: 70_500,
                volume: 1_000_000
            )
            return try world.run(.ingestCandle(candle), at: time).events.map(\.typeName)
        }
        let today = KST.day(world.now)
        #expect(try daily(today, low: 68_000, at: world.now + 3 * 3_600_000_000) == ["CandleClosed"])
        #expect(world.state.triggers[stop]?.status == .armed)
        let next = KST.day(year: 2025, month: 1, day: 6)  // a Monday
        // A stop far below stays armed through the next day's daily bar: a quote that day, a day of daily bars
        // only, has no last minute to be newer than — nothing recorded (and no arithmetic on the missing minute).
        let far = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 1, triggerPrice: 40_000)
        )
        let fired = try daily(next, low: 68_500, at: KST.instant(day: next, hour: 9, minute: 30))
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested"], "\(fired)")
        #expect(world.state.triggers[far]?.status == .armed && world.state.armedTriggers[World.samsung] == [far])
        let quoteTime = KST.instant(day: next, hour: 10)
        #expect(
            try world.run(.recordQuote(stock: World.samsung, price: 39_000, at: quoteTime), at: quoteTime).events
                .isEmpty
        )
        #expect(world.replayed().digest == world.state.digest)
    }

    /// KRX halts trading in a stock: an order for it is refused with STOCK_HALTED (any other stock trades); its
    /// triggers wait through bars that cross them; once trading resumes, the next crossing bar fires the exit.
    /// The same status again records nothing; replay and snapshot agree.
    @Test func aHaltedStockTakesNoOrderAndItsTriggersWait() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
        )
        let halted = try world.run(.setStockStatus(stock: World.samsung, status: .halted, reason: "거래정지"))
        #expect(halted.events.map(\.typeName) == ["StockStatusChanged"])
        #expect(try world.run(.setStockStatus(stock: World.samsung, status: .halted, reason: "거래정지")).events.isEmpty)
        let (refused, _) = try world.place(account, .buy, 1, at: 70_000)
        #expect(world.order(refused).status == .rejected && world.order(refused).failureReason == .stockHalted)
        let (other, _) = try world.place(account, .buy, 1, at: 128_500, stock: World.hynix)
        #expect(world.order(other).status != .rejected, "another stock trades")
        #expect(try Self.bar(&world, 1, high: 70_000, low: 68_000) == ["CandleClosed"], "the halt holds the exit")
        #expect(world.state.triggers[stop]?.status == .armed)
        #expect(try EngineState(snapshot: world.state.snapshot()) == world.state, "the halt is in the snapshot")
        try world.run(.setStockStatus(stock: World.samsung, status: .trading, reason: ""))
        let fired = try Self.bar(&world, 2, high: 69_500, low: 68_500)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested"], "\(fired)")
        #expect(world.replayed().digest == world.state.digest)
        #expect(throws: EngineError.self) {
            try world.run(.setStockStatus(stock: StockCode("999999")!, status: .halted, reason: "x"))
        }
    }

    /// A volatility interruption (VI): orders are still taken (KRX collects them for its single-price auction), the
    /// stock's triggers wait through crossing bars and fire on the first crossing bar after it; a halt replaces
    /// a VI and trading replaces both. The status is in the snapshot; a status byte no engine writes is refused.
    @Test func aVolatilityInterruptionHoldsTriggersButTakesOrders() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 10, triggerPrice: 69_000)
        )
        let vi = try world.run(.setStockStatus(stock: World.samsung, status: .volatilityInterruption, reason: "VI 1"))
        #expect(
            vi.events == [
                .stockStatusChanged(
                    StockStatusChanged(stock: World.samsung, status: .volatilityInterruption, reason: "VI 1")
                )
            ]
        )
        #expect(world.state.stocks[World.samsung]?.tradingStatus == .volatilityInterruption)
        #expect(
            try world.run(.setStockStatus(stock: World.samsung, status: .volatilityInterruption, reason: "VI 1"))
                .events.isEmpty
        )
        let (taken, _) = try world.place(account, .buy, 1, at: 70_000)
        #expect(world.order(taken).status != .rejected, "a VI takes orders: \(world.order(taken))")
        #expect(try Self.bar(&world, 1, high: 70_000, low: 68_000) == ["CandleClosed"], "the VI holds the exit")
        #expect(world.state.triggers[stop]?.status == .armed)
        #expect(try EngineState(snapshot: world.state.snapshot()) == world.state, "the VI is in the snapshot")
        // A halt during the VI replaces it; the stock then takes no order.
        try world.run(.setStockStatus(stock: World.samsung, status: .halted, reason: "거래정지"))
        #expect(world.state.stocks[World.samsung]?.tradingStatus == .halted)
        #expect(world.state.stocks[World.samsung]?.statusReason == "거래정지")
        try world.run(.setStockStatus(stock: World.samsung, status: .trading, reason: "ignored"))
        #expect(world.state.stocks[World.samsung]?.tradingStatus == .trading)
        let fired = try Self.bar(&world, 2, high: 69_500, low: 68_500)
        #expect(fired == ["CandleClosed", "TriggerFired", "OrderRequested"], "\(fired)")
        #expect(world.replayed().digest == world.state.digest)
        // Type 41 with a status byte of 3: undecodable, not read as "trading". (The record ends with the status
        // and the empty reason's length.)
        var record = EventCodec.encode(
            EventEnvelope(
                timestamp: 1,
                event: .stockStatusChanged(
                    StockStatusChanged(stock: World.samsung, status: .volatilityInterruption, reason: "")
                )
            )
        )
        #expect(Array(record.suffix(2)) == [2, 0])
        #expect(try EventCodec.decode(record, timestamp: 1).event.typeName == "StockStatusChanged")
        record[record.count - 2] = 3
        #expect(throws: EngineError.self) { try EventCodec.decode(record, timestamp: 1) }
    }

    /// A bar that ended before the trigger was armed (a backlog arriving late; a stock nobody collected until the
    /// trigger) fires nothing and moves no trailing mark: it says nothing of prices since. The next bar does.
    @Test func barsThatEndedBeforeTheTriggerWasArmedFireNothing() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 5, triggerPrice: 69_000)
        )
        let trail = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 5, trailBasisPoints: 500)
        )
        let water = world.state.triggers[trail]?.water
        #expect(try Self.bar(&world, -30, high: 80_000, low: 60_000) == ["CandleClosed"], "09:30, late")
        #expect(world.state.triggers[stop]?.status == .armed && world.state.triggers[trail]?.water == water)
        // (The late 09:30 bar's roll-ups close with this one.)
        let fired = try Self.bar(&world, 1, high: 69_500, low: 68_900)
        #expect(fired.filter { $0 != "CandleClosed" } == ["TriggerFired", "OrderRequested"], "\(fired)")
        #expect(world.state.triggers[stop]?.status == .fired)
        #expect(world.replayed().digest == world.state.digest)
    }

    /// A quote between bars (`recordQuote`) is checked as a point: a stop below it fires on the quote, not a minute
    /// later on the bar. A quote is recorded only while it can fire something — triggers armed, bars of its day
    /// seen, newer than the newest bar's minute, before the closing auction — and moves a trailing mark as a bar
    /// does. Replay gives the same state.
    @Test func aQuoteBetweenBarsFiresAStopAndIsRecordedOnlyWhenItCan() throws {
        var (world, account) = try Self.holding()
        func quote(_ price: Int64, after minute: Int64, seconds: Int64 = 20) throws -> [String] {
            let at = world.now + minute * 60_000_000 + seconds * 1_000_000
            return try world.run(.recordQuote(stock: World.samsung, price: price, at: at), at: at).events.map(
                \.typeName
            )
        }
        #expect(try Self.bar(&world, 1, high: 71_200, low: 70_100) == ["CandleClosed"])
        #expect(try quote(70_000, after: 2).isEmpty, "no trigger armed: nothing recorded")
        let trail = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 5, trailBasisPoints: 500)
        )
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 5, triggerPrice: 69_000)
        )
        #expect(try quote(69_500, after: 1, seconds: 30).isEmpty, "inside the newest bar's minute: nothing new")
        #expect(try quote(74_000, after: 2) == ["QuoteRecorded"], "above the stop: recorded, nothing fires")
        #expect(world.state.triggers[trail]?.water == 74_000, "the trailing mark follows the quote")
        let fired = try quote(68_900, after: 2, seconds: 40)
        // 68,900 is under the stop (69,000) and under the trailing level the quote raised (74,000 − 5 % = 70,300).
        #expect(
            fired == ["QuoteRecorded", "TriggerFired", "OrderRequested", "TriggerFired", "OrderRequested"],
            "\(fired)"
        )
        #expect(world.state.triggers[stop]?.status == .fired && world.state.triggers[trail]?.status == .fired)
        guard case .triggerFired(let event) = world.events.last(where: { $0.event.typeName == "TriggerFired" })?.event
        else {
            Issue.record("no TriggerFired")
            return
        }
        #expect(event.observed == 68_900 && event.barStart == world.now + 2 * 60_000_000 + 40_000_000)
        // The closing auction, and a day without bars yet: nothing.
        let closing = KST.instant(day: KST.day(world.now), hour: 15, minute: 25)
        #expect(
            try world.run(.recordQuote(stock: World.samsung, price: 60_000, at: closing), at: closing).events.isEmpty
        )
        let tomorrow = KST.instant(day: KST.day(world.now) + 3, hour: 9, minute: 5)  // Monday
        #expect(
            try world.run(.recordQuote(stock: World.samsung, price: 60_000, at: tomorrow), at: tomorrow).events
                .isEmpty
        )
        // Hostile: an unlisted stock, a price beyond the bounds, a time ahead of the engine's clock.
        #expect(throws: EngineError.self) {
            try world.run(.recordQuote(stock: StockCode("999999")!, price: 70_000, at: world.now))
        }
        #expect(throws: EngineError.self) {
            try world.run(.recordQuote(stock: World.samsung, price: .max, at: world.now))
        }
        #expect(throws: EngineError.self) {
            try world.run(.recordQuote(stock: World.samsung, price: 70_000, at: world.now + 3_600_000_000))
        }
        #expect(world.replayed().digest == world.state.digest)
        #expect(try EngineState(snapshot: world.state.snapshot()) == world.state)
    }

    /// A `TriggerArmed` of schema v1 (before distances from the fill) decodes with none.
    @Test func triggerArmedV1DecodesWithoutAnOffset() throws {
        let request = ArmTrigger(
            account: AccountID(value: 3),
            stock: World.samsung,
            kind: .stopLoss,
            quantity: 10,
            triggerPrice: 69_000
        )
        let current = DomainEvent.triggerArmed(
            TriggerArmed(trigger: TriggerID(value: 7), request: request, water: 71_000)
        )
        var bytes = EventCodec.encode(EventEnvelope(timestamp: 0, event: current))
        // v1: the same fields without the offset (a zigzag varint 0, one byte, just before `water`).
        var water = BinaryWriter()
        water.signed(71_000)
        let offsetAt = bytes.count - water.bytes.count - 1
        #expect(bytes[offsetAt] == 0)
        bytes.remove(at: offsetAt)
        bytes[3] = 1  // the schema version byte
        let decoded = try EventCodec.decode(bytes, offset: 0, timestamp: 0)
        #expect(decoded.event == current)
        #expect(decoded.schemaVersion == 2)
    }

    /// Two triggers on one bar: the second is judged by its level before the bar, even though the first one's
    /// firing made the decision apply the bar (and move trailing marks) first.
    @Test func aSecondTriggerOnTheSameBarIsJudgedByItsLevelBeforeTheBar() throws {
        var (world, account) = try Self.holding()
        let stop = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .stopLoss, quantity: 5, triggerPrice: 69_000)
        )
        let trail = try Self.arm(
            &world,
            ArmTrigger(account: account, stock: World.samsung, kind: .trailingStop, quantity: 5, trailBasisPoints: 200)
        )
        // Level 69,500 from 71,000. The bar lifts the high to 80,000 (a level of 78,400) and its low, 68,900, is
        // under the stop and the trailing level alike: both fire — the trailing one at its level before the bar.
        let fired = try Self.bar(&world, 1, high: 80_000, low: 68_900)
        #expect(fired.filter { $0 == "TriggerFired" }.count == 2, "\(fired)")
        // A bar whose low is above the old trailing level but below the lifted one must not fire it.
        var (other, second) = try Self.holding()
        _ = try Self.arm(
            &other,
            ArmTrigger(account: second, stock: World.samsung, kind: .stopLoss, quantity: 5, triggerPrice: 70_000)
        )
        let trailing = try Self.arm(
            &other,
            ArmTrigger(account: second, stock: World.samsung, kind: .trailingStop, quantity: 5, trailBasisPoints: 200)
        )
        let once = try Self.bar(&other, 1, high: 80_000, low: 69_900)
        #expect(once.filter { $0 == "TriggerFired" }.count == 1, "only the stop: \(once)")
        #expect(other.state.triggers[trailing]?.status == .armed)
        #expect(other.state.triggers[trailing]?.water == 80_000, "its mark moves after the bar")
        #expect(world.state.triggers[stop]?.status == .fired && world.state.triggers[trail]?.status == .fired)
        #expect(other.replayed().digest == other.state.digest)
    }

    /// A trailing mark beyond the engine's bounds (a close from a log older than `Bounds`) gives a level within
    /// them instead of overflowing.
    @Test func aTrailingLevelFromAnOutOfBoundsMarkDoesNotOverflow() {
        let request = ArmTrigger(
            account: AccountID(value: 1),
            stock: World.samsung,
            side: .buy,
            kind: .trailingStop,
            quantity: 1,
            trailBasisPoints: 5_000
        )
        #expect(Trigger(id: TriggerID(value: 1), request: request, water: .max).level > 0)
        var sell = request
        sell.side = .sell
        #expect(Trigger(id: TriggerID(value: 1), request: sell, water: .max).level <= Bounds.maxPrice)
        #expect(Trigger(id: TriggerID(value: 1), request: sell, water: .min).level == 1)
    }

    /// The walk the tests and the benchmark trade on takes any counts: none, or a gap that would overflow a draw.
    @Test func theMinuteWalkTakesAnyCounts() {
        let day = KST.day(year: 2025, month: 1, day: 6)
        #expect(GeneratedMinuteBars.walk(stock: World.samsung, sessions: 0, from: day, seed: 1).isEmpty)
        #expect(GeneratedMinuteBars.walk(stock: World.samsung, sessions: -5, from: day, seed: 1).isEmpty)
        let wild = GeneratedMinuteBars.walk(stock: World.samsung, sessions: 3, from: day, seed: 1, gapTicks: .max)
        #expect(wild.count == 3 * 381)
        #expect(wild.allSatisfy { (try? $0.validate()) != nil && $0.low >= 1 })
    }

    /// An exit fired by a bar that opens a session is placed on the state after that bar (its session, its band);
    /// `Engine.placing` gives it without moving the trailing marks (a copy of the trigger table each time): in
    /// everything else it is the bar applied whole — at every session open of a bracket backtest with overnight
    /// gaps, exits armed.
    @Test func anExitAtASessionsOpenIsPlacedOnTheStateAfterTheBar() throws {
        let code = World.samsung
        let bars = GeneratedMinuteBars.walk(
            stock: code,
            sessions: 15,
            from: KST.day(year: 2025, month: 1, day: 6),
            seed: 23,
            gapTicks: 30
        )
        var backtester = try Backtester(
            stocks: [(code, "삼성전자", 70_000)],
            strategy: "ma-cross",
            parameters: "fast=3,slow=8,percent=20,stop=200,trail=300",
            initialCash: 100_000_000,
            calendar: TradingCalendar(holidays: []),
            exchange: .init(participationPercent: 100, slippageTicks: 0),
            startTime: bars[0].start - KST.dayMicros
        )
        var opening = 0
        var armed = 0
        var marksMoved = 0
        for bar in bars {
            let state = backtester.state
            if let data = state.stocks[code]?.marketData, data.currentDay != KST.day(bar.start) {
                opening += 1
                if state.armedTriggers[code]?.isEmpty == false { armed += 1 }
                let time = bar.start + KST.minuteMicros
                let closed = try data.ingest(bar).map { DomainEvent.candleClosed($0) }
                let placing = Engine.placing(state, after: closed, at: time)
                var whole = state
                for event in closed { whole.apply(EventEnvelope(timestamp: time, event: event)) }
                if whole.triggers != placing.triggers { marksMoved += 1 }
                whole.triggers = placing.triggers
                whole.eventCount = placing.eventCount
                #expect(whole == placing, "the session of \(KST.yyyymmdd(day: KST.day(bar.start)))")
            }
            try backtester.process(bar)
        }
        #expect(opening == 15)
        #expect(armed >= 3, "exits armed overnight")
        #expect(marksMoved >= 1, "the bar moves trailing marks the placing view leaves")
    }
}
