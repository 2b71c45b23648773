import Foundation
import TestSupport
import Testing

@testable import Engine

/// Strategies as data: rule sets parse, refuse mistakes with their line and column, run as strategies with the
/// same context as Swift ones, and are stored as versioned events of their owner.
@Suite struct RuleSetTests {
    static let dip = """
        # buy the dip in an uptrend
        entry: rsi_14 < 30 and close > sma_200
        exit: rsi_14 > 70   # sell on strength
        stop: 3%
        target: 6%
        trail: 2%
        size: 10% equity
        """

    @Test func theIssuesExampleParses() throws {
        let rules = try RuleSet(parsing: Self.dip)
        #expect(rules.indicators.map(\.description) == ["rsi_14", "close", "sma_200"])
        #expect(rules.exits == ExitPlan(stopLoss: 300, takeProfit: 600, trail: 200))
        #expect(rules.sizing == .percentOfEquity(basisPoints: 1_000))
        #expect(rules.exit != nil)
        #expect(try RuleSet(parsing: "entry: close > 1\nsize: 1,000,000 krw").sizing == .amount(1_000_000))
        #expect(try RuleSet(parsing: "entry: close > 1\nsize: 7 shares").sizing == .shares(7))
        #expect(try RuleSet(parsing: "entry: close > 1").sizing == .shares(10), "the default size")
        let crossing = try RuleSet(parsing: "entry: sma_5 crosses_above sma_20@5m\nexit: sma_5 crosses_below sma_20@5m")
        #expect(crossing.memories == 2 && crossing.indicators.count == 2, "each crossing remembers its own bar before")
    }

    @Test func mistakesAreRefusedWithTheirLineAndColumn() {
        let cases: [(String, String)] = [
            ("entry: rsi_14 < 30 and close > smaa_200", "line 1, column 32: unknown indicator 'smaa_200'"),
            ("exit: close > 1", "line 1, column 1: an 'entry:' line is required"),
            ("entry: close >", "line 1, column 15: expected a value, found the end of the line"),
            ("entry: (close > 1", "line 1, column 18: expected ')' to close the '(' at column 8"),
            ("# ok\n\nentry: close > 1 1", "line 3, column 18: unexpected '1'"),
            ("entry: close > 1\nentry: close < 2", "line 2, column 1: 'entry' is given twice"),
            ("entry: close > 1\nstop: 3", "line 2, column 7: expected a percentage like 3% or 2.5%"),
            ("entry: close > 1\ntrail: 90%", "line 2, column 8: trail must be 0.1% to 50.0%"),
            ("entry: close > 1\nsize: 10 lots", "line 2, column 7: expected a size like"),
            ("entry: close > 1\nsize: 0 shares", "line 2, column 7: size in shares must be 1 to"),
            ("entry: close > 1\nsize: 99999999999999999999 krw", "size in KRW must be 1 to"),
            ("entry: close > 1\nrun: rm -rf /", "line 2, column 1: unknown key 'run'"),
            ("entry close > 1", "line 1, column 1: expected 'key: value'"),
            ("entry: rsi_1 < 3", "line 1, column 8: rsi: parameter 1 must be in 2...1000"),
            ("entry: close > 1e999", "line 1, column 17: unexpected 'e'"),
            ("entry: close > 1.2.3", "'1.2.3' is not a number"),
            ("entry: and close", "line 1, column 8: expected a value before 'and'"),
            ("entry: close > $1", "line 1, column 16: unexpected '$'"),
            ("entry: close\u{0} > 1", "unexpected"),
            (
                "entry: " + String(repeating: "(", count: 40) + "close" + String(repeating: ")", count: 40),
                "nested too deeply"
            ),
            ("entry: " + String(repeating: "not ", count: 40) + "close", "nested too deeply"),
            ("entry: " + String(repeating: "-", count: 40) + "close", "nested too deeply"),
            ("entry: " + (1...33).map { "sma_\($0 + 1)" }.joined(separator: " + "), "at most 32 different indicators"),
            (String(repeating: "#", count: 5_000), "at most 4096 bytes"),
            ("entry: " + String(repeating: "close + ", count: 300) + "1 > 0", "at most 256 operators"),
            ("entry: " + String(repeating: "1+1>0 and ", count: 150) + "close > 1", "at most 256 operators"),
        ]
        for (source, message) in cases {
            do {
                _ = try RuleSet(parsing: source)
                Issue.record("accepted: \(source.prefix(60))")
            } catch {
                #expect(error.description.contains(message), "\(source.prefix(60)): \(error)")
            }
        }
    }

    /// A context fed `closes`, then the strategy's intents on the last bar.
    static func run(_ source: String, closes: [Int64], holding: Holding = Holding()) throws -> [[StrategyIntent]] {
        let rules = try RuleSet(parsing: source)
        var runner = StrategyRunner(RuleStrategy(name: "rule:test", rules: rules))
        let start = KST.instant(day: KST.day(year: 2025, month: 1, day: 3), hour: 9)
        return closes.enumerated().map { index, close in
            runner.step(
                Candle(
                    stock: World.samsung,
                    timeframe: .minute1,
                    start: start + Int64(index) * KST.minuteMicros,
                    open: close,
                    high: close,
                    low: close,
                    close: close,
                    volume: 100
                ),
                holding: holding
            )
        }
    }

    @Test func rulesDecideAsWritten() throws {
        // sma_2 crosses above sma_4 once in this series: at the sixth bar (98 against 97.75, from 96.5 < 97.5).
        let closes: [Int64] = [100, 99, 98, 97, 96, 100, 104, 108, 109, 110]
        let intents = try Self.run("entry: sma_2 crosses_above sma_4\nstop: 2%\nsize: 5 shares", closes: closes)
        let buys = intents.enumerated().filter { !$0.element.isEmpty }
        #expect(buys.map(\.offset) == [5], "only the bar where the short average crosses: \(intents)")
        guard case .order(let order) = buys.first?.element.first else {
            Issue.record("no order")
            return
        }
        #expect(order.side == .buy && order.sizing == .shares(5) && order.exits == ExitPlan(stopLoss: 200))
        // Warm-up: a value not known yet makes every comparison false (never a buy on a half-made average).
        #expect(try Self.run("entry: sma_20 > 0", closes: Array(repeating: 100, count: 19)).allSatisfy(\.isEmpty))
        #expect(try Self.run("entry: not sma_20 > 0", closes: [100]).allSatisfy(\.isEmpty))
        // Arithmetic, percent literals, division by zero (unknown, so false).
        #expect(try Self.run("entry: close > 2% and close < 100.5", closes: [100]).first?.isEmpty == false)
        let arithmetic = try Self.run("entry: (close * 2 - 50) / 10 == 15", closes: [100])
        #expect(arithmetic.first?.isEmpty == false)
        #expect(try Self.run("entry: close / 0 < 1", closes: [100]).first?.isEmpty == true)
        // The holding: an exit that reads the average price, only when there is something to sell.
        var held = Holding()
        held.quantity = 10
        held.sellable = 10
        held.averagePrice = 120
        let exit = try Self.run("entry: close < 0\nexit: close < avg_price * 95%", closes: [110], holding: held)
        #expect(exit.first?.first?.side == .sell)
        #expect(try Self.run("entry: close < 0\nexit: close < avg_price * 95%", closes: [115], holding: held) == [[]])
        // Flat with a working order: no second entry.
        var waiting = Holding()
        waiting.workingOrders = [WorkingOrder(id: OrderID(value: 1), side: .buy, type: .market, price: 0, remaining: 1)]
        #expect(try Self.run("entry: close > 1", closes: [100], holding: waiting) == [[]])
    }

    /// The caps are the engine's (one command at a time: no two definitions pass with one place left): 50 names
    /// a person, 200 versions a name; at a cap the same source again is still the unchanged answer, not a refusal,
    /// and another person has caps of their own.
    @Test func ruleSetCapsAreDecidedByTheEngine() throws {
        var (world, _) = try World.standard()
        let user = UserID(value: 1)
        for index in 0..<RuleSet.maxPerUser {
            try world.run(.defineStrategy(user: user, name: "r\(index)", source: "entry: close > \(index + 1)"))
        }
        do {
            try world.run(.defineStrategy(user: user, name: "one-more", source: "entry: close > 1"))
            Issue.record("a 51st rule set was taken")
        } catch { #expect(error.code == .conflict, "\(error)") }
        // A new version of a kept name is not a new rule set.
        #expect(try world.run(.defineStrategy(user: user, name: "r0", source: "entry: close > 2")).created == 2)
        for version in 3...RuleSet.maxVersions {
            try world.run(.defineStrategy(user: user, name: "r0", source: "entry: close > \(version)"))
        }
        #expect(world.state.ruleSets[user]?["r0"]?.count == RuleSet.maxVersions)
        do {
            try world.run(.defineStrategy(user: user, name: "r0", source: "entry: close > 999999"))
            Issue.record("a 201st version was taken")
        } catch { #expect(error.code == .conflict, "\(error)") }
        let same = try world.run(
            .defineStrategy(user: user, name: "r0", source: "entry: close > \(RuleSet.maxVersions)")
        )
        #expect(same.events.isEmpty && same.created == UInt64(RuleSet.maxVersions), "unchanged")
        try world.run(.registerUser(email: "other@example.com"))
        #expect(
            try world.run(.defineStrategy(user: UserID(value: 2), name: "r0", source: "entry: close > 1")).created == 1
        )
    }

    @Test func ruleSetsAreVersionedEventsOfTheirOwner() throws {
        var (world, account) = try World.standard()
        let user = UserID(value: 1)
        #expect(try world.run(.defineStrategy(user: user, name: "dip", source: Self.dip)).created == 1)
        #expect(try world.run(.defineStrategy(user: user, name: "dip", source: Self.dip)).events.isEmpty, "unchanged")
        let v2 = Self.dip.replacingOccurrences(of: "stop: 3%", with: "stop: 4%")
        #expect(try world.run(.defineStrategy(user: user, name: "dip", source: v2)).created == 2)
        #expect(world.state.ruleSets[user]?["dip"] == [Self.dip, v2])
        // A mistake is refused with its place; a bad name before any parsing.
        #expect(throws: EngineError.self) {
            try world.run(.defineStrategy(user: user, name: "dip", source: "entry: x"))
        }
        for name in ["", "Dip", "-dip", "dip dip", "d\u{0}p", String(repeating: "a", count: 41), "../dip"] {
            #expect(throws: EngineError.self, "\(name)") {
                try world.run(.defineStrategy(user: user, name: name, source: Self.dip))
            }
        }
        // Enabled pinned to a version (the newest unless named); another person's names are not found.
        try world.run(.enableStrategy(account: account, stock: World.samsung, strategy: "rule:dip", parameters: ""))
        #expect(world.account(account).strategies["rule:dip@005930"]?.parameters == "version=2")
        try world.run(
            .enableStrategy(account: account, stock: World.hynix, strategy: "rule:dip", parameters: "version=1")
        )
        #expect(world.account(account).strategies["rule:dip@000660"]?.parameters == "version=1")
        for parameters in ["version=3", "version=0", "version=-1", "fast=5", "version=99999999999999999999"] {
            #expect(throws: EngineError.self, "\(parameters)") {
                try world.run(
                    .enableStrategy(
                        account: account,
                        stock: World.samsung,
                        strategy: "rule:dip",
                        parameters: parameters
                    )
                )
            }
        }
        try world.run(.registerUser(email: "other@example.com"))
        let other = UserID(value: 2)
        try world.run(.defineStrategy(user: other, name: "mine", source: "entry: close > 1"))
        #expect(throws: EngineError.self, "another person's rule set") {
            try world.run(
                .enableStrategy(account: account, stock: World.samsung, strategy: "rule:mine", parameters: "")
            )
        }
        // Replayed and through a snapshot: the same rule sets.
        #expect(world.replayed().digest == world.state.digest)
        let restored = try EngineState(snapshot: world.state.snapshot())
        #expect(restored.ruleSets == world.state.ruleSets && restored.digest == world.state.digest)
    }
}
