import Engine
import Foundation
import Jobs
import Projections
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Worker

/// data-analysis advances each stock's indicators and strategies a bar at a time between jobs; a bar that does
/// not follow the kept ones is refused, and the stock is rebuilt from its history.
@Suite struct AnalysisBookTests {
    static let open = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 9)

    /// A made-up day of one stock (a seeded random walk whose closes cross their averages).
    static func day(_ count: Int) -> [Candle] {
        var price: Int64 = 70_000
        var generator = SeededRandom(seed: 7)
        return (0..<count).map { minute in
            price = max(1_000, price + Int64(generator.next() % 801) - 400)
            return Candle(
                stock: StockCode("005930")!,
                timeframe: .minute1,
                start: Self.open + Int64(minute) * KST.minuteMicros,
                open: price,
                high: price + 100,
                low: price - 100,
                close: price,
                volume: 10
            )
        }
    }

    static let maCross = WorkerStrategyView(
        account: "acc-0000000001",
        stock: "005930",
        strategy: "ma-cross",
        parameters: "fast=3,slow=8",
        position: 0
    )

    /// What the backtester does: one `IndicatorSet` and one strategy fed every bar in order.
    static func reference(_ bars: [Candle]) -> [(indicators: [Double?], intents: [StrategyIntent])] {
        var set = IndicatorSet()
        var runner = StrategyRunner(try! StrategyFactory.make(name: "ma-cross", parameters: "fast=3,slow=8"))
        return bars.map { (set.update($0), runner.step($0, holding: Holding())) }
    }

    @Test func barByBarEqualsTheWholeHistoryRecomputed() async throws {
        let bars = Self.day(120)
        let reference = Self.reference(bars)
        let book = AnalysisBook(capacity: 300)
        var signals = 0
        // The first job rebuilds from a history of 30 bars, the rest go on bar by bar.
        var step = try await book.reset(Array(bars[0..<30]), strategies: [Self.maCross])
        for index in 29..<bars.count {
            if index > 29 { step = try #require(try await book.advance(bars[index], strategies: [Self.maCross])) }
            for (name, value) in zip(IndicatorSet.columns, reference[index].indicators) {
                #expect(step.indicators[name] == value.flatMap { $0.isFinite ? $0 : nil }, "\(name) at minute \(index)")
            }
            #expect(step.decisions.flatMap(\.2) == reference[index].intents, "intents at minute \(index)")
            signals += step.decisions.count
        }
        #expect(signals >= 2, "the day's prices cross their averages (else this test shows nothing)")
    }

    @Test func aBarThatDoesNotFollowIsRefusedAndNothingChanges() async throws {
        let bars = Self.day(40)
        let book = AnalysisBook(capacity: 300)
        #expect(try await book.advance(bars[0], strategies: [Self.maCross]) == nil, "nothing kept yet")
        _ = try await book.reset(Array(bars[0...9]), strategies: [Self.maCross])
        #expect(try await book.advance(bars[11], strategies: [Self.maCross]) == nil, "a minute missing")
        #expect(
            try await book.advance(bars[9], strategies: [Self.maCross]) == nil,
            "a minute already analysed (a job run twice)"
        )
        let other = Candle(
            stock: StockCode("000660")!,
            timeframe: .minute1,
            start: bars[10].start,
            open: 1,
            high: 1,
            low: 1,
            close: 1,
            volume: 1
        )
        #expect(try await book.advance(other, strategies: []) == nil, "another stock")
        // The refusals left the kept state alone: minute 10 goes on as if they never came.
        let step = try #require(try await book.advance(bars[10], strategies: [Self.maCross]))
        #expect(step.indicators["sma_5"] == Self.reference(Array(bars[0...10]))[10].indicators[0])
        // A rebuild from a later history replaces what was kept.
        _ = try await book.reset(Array(bars[0...20]), strategies: [Self.maCross])
        #expect(try await book.advance(bars[21], strategies: [Self.maCross]) != nil)
    }

    @Test func aStrategyEnabledLaterIsWarmedUpOnTheKeptBars() async throws {
        let bars = Self.day(100)
        let reference = Self.reference(bars)
        let book = AnalysisBook(capacity: 300)
        _ = try await book.reset(Array(bars[0...49]), strategies: [])
        for index in 50..<70 { _ = try #require(try await book.advance(bars[index], strategies: [])) }
        // Enabled at minute 70: it decides as if it had seen the whole day.
        for index in 70..<bars.count {
            let step = try #require(try await book.advance(bars[index], strategies: [Self.maCross]))
            #expect(step.decisions.flatMap(\.2) == reference[index].intents, "intents at minute \(index)")
        }
        // Other parameters are another strategy: it starts from the kept bars, not from the old one's state.
        let slower = WorkerStrategyView(
            account: Self.maCross.account,
            stock: "005930",
            strategy: "ma-cross",
            parameters: "fast=3,slow=9",
            position: 0
        )
        let bad = WorkerStrategyView(
            account: Self.maCross.account,
            stock: "005930",
            strategy: "no-such",
            parameters: "",
            position: 0
        )
        let more = Self.day(101)
        await #expect(throws: EngineError.self) { try await book.advance(more[100], strategies: [bad]) }
        #expect(
            try await book.advance(more[100], strategies: [slower]) == nil,
            "a refused bar left nothing kept for the stock"
        )
    }
    /// A strategy's bracket crosses the wire as the engine needs it: the stop and target as distances from the
    /// entry's fill, the trail in basis points; the engine takes the order with its three exits (a stop sent as
    /// a price of 0 once made every such order a 422, and the job fail).
    @Test func aStrategysBracketReachesTheEngineAsDistancesFromTheFill() throws {
        let view = Self.view("fast=3,slow=8,quantity=5,stop=300,target=600,trail=200")
        let bar = Self.day(1)[0]
        let intent = StrategyIntent.buy(
            .shares(5),
            exits: ExitPlan(stopLoss: 300, takeProfit: 600, trail: 200),
            reason: "crossed"
        )
        let wire = DataAnalysisHandler.commands([intent], of: view, strategy: "ma-cross", bar: bar, key: "k")
        let sent = try JSONDecoder().decode(WireCommand.self, from: JSONEncoder().encode(try #require(wire.first)))
        guard case .placeOrder(let order) = try sent.command() else {
            Issue.record("\(sent)")
            return
        }
        #expect(order.bracket.map(\.kind) == [.stopLoss, .takeProfit, .trailingStop])
        #expect(order.bracket.map(\.offsetBasisPoints) == [300, 600, 0])
        #expect(order.bracket.map(\.trailBasisPoints) == [0, 0, 200])
        // The engine takes it, exits and all.
        var engine = try OneAccountEngine(bar)
        for command: Command in [.depositCash(account: AccountID(value: 1), amount: 10_000_000), .placeOrder(order)] {
            try engine.run(command, at: bar.start + KST.minuteMicros)
        }
        #expect(engine.state.triggers.count == 3 && engine.state.orders.count == 1, "\(engine.state.triggers)")
    }

    /// A data-analysis job retried after its commands landed sends them again: its orders were placed once (by
    /// their client order ids) but each skip was recorded again — a stale bar's, and one the worker sized to
    /// nothing. Both now carry the intent's key, and the engine records a key once.
    @Test func aRetriedJobRecordsItsSkipsOnce() throws {
        let view = Self.view("fast=3,slow=8,quantity=5")
        let bar = Self.day(1)[0]
        let intents: [StrategyIntent] = [
            .buy(.shares(5), reason: "crossed up"),  // an order, on a bar that is stale when it arrives
            .sell(reason: "crossed down"),  // nothing held: skipped by the worker
        ]
        let wire = DataAnalysisHandler.commands(intents, of: view, strategy: "ma-cross", bar: bar, key: "signal-7")
        let commands = try wire.map {
            try JSONDecoder().decode(WireCommand.self, from: JSONEncoder().encode($0)).command()
        }
        var engine = try OneAccountEngine(bar)
        let late = bar.start + 30 * KST.minuteMicros  // the worker was down half an hour
        for _ in 0..<3 {
            for command in commands { try engine.run(command, at: late) }
        }
        let recorded = engine.recorded
        #expect(recorded == ["SignalSkipped", "SignalSkipped"], "three attempts, each skip once: \(recorded)")
        #expect(engine.state.skippedSignals[AccountID(value: 1)]?.count == 2)
    }

    /// A strategy's view of account 1 on 005930 with 10,000,000 KRW and nothing held.
    static func view(_ parameters: String) -> WorkerStrategyView {
        var holding = Holding()
        holding.cash = 10_000_000
        holding.equity = 10_000_000
        return WorkerStrategyView(
            account: "acc-0000000001",
            stock: "005930",
            strategy: "ma-cross",
            parameters: parameters,
            position: 0,
            holding: holding
        )
    }
}

/// The engine's decisions applied in place: `bar`'s stock listed, one user and its simulated account 1.
struct OneAccountEngine {
    let engine = Engine(calendar: TradingCalendar())
    var state = EngineState()
    /// Type names of the events recorded after the set-up.
    var recorded: [String] = []

    init(_ bar: Candle) throws {
        for command: Command in [
            .listStock(code: bar.stock, name: "삼성전자", market: "KOSPI", previousClose: 70_000),
            .registerUser(email: "t@example.com"),
            .registerAccount(
                user: UserID(value: 1),
                broker: .simulated,
                accountNumber: "5012345601",
                dailyOrderLimit: 100
            ),
        ] {
            try self.run(command, at: bar.start)
        }
        self.recorded = []
    }

    mutating func run(_ command: Command, at time: Int64) throws {
        let context = CommandContext(time: time, correlationID: "test")
        for event in try self.engine.decide(self.state, command, context: context).events {
            self.state.apply(EventEnvelope(timestamp: context.time, event: event))
            self.recorded.append(event.typeName)
        }
    }
}
