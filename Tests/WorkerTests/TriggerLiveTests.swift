import Engine
import Foundation
import Ledger
import Simulation
import Synchronization
import TestSupport
import Testing

/// A stop-loss armed by hand, live: the stock has no strategy and nobody watches it, yet the worker collects it
/// every minute because a trigger is armed on it, fetches its quote each time, and the quote — 51,000 while the
/// broker's minute bars run late — fires the stop before any bar could. The exit reaches the broker.
@Suite struct TriggerLiveTests {
    @Test func aQuoteFiresAHandArmedStopOnAStockNobodyWatches() async throws {
        try await Self.withArmedStop("trigger_live", redisDatabase: 34) { rig, mock, _, token, triggerID in
            func current() async throws -> [String: Any] {
                let items =
                    try await WorkerEndToEndTests.call(rig, "GET", "/api/triggers", token: token).1["items"]
                    as? [[String: Any]] ?? []
                return items.first { $0["id"] as? String == triggerID } ?? [:]
            }
            // The quote falls under the stop while the minute bars run five minutes late: only the quote can tell.
            // At first a VI holds the stock, shown by the same quote: the status is recorded before the quote, so
            // the stop waits; it fires at the next minute's collection, which finds the VI over.
            mock.state.withLock {
                $0.feedLagMinutes = 5
                $0.interruptedStocks = ["005930": "1"]
                $0.prices["005930"] = 51_000
            }
            try await WorkerEndToEndTests.waitFor(60, "the VI recorded") {
                try await WorkerEndToEndTests.call(rig, "GET", "/api/market-data/stocks/005930", token: token).1[
                    "tradingStatus"
                ] as? String == "VI"
            }
            try await Task.sleep(for: .seconds(1))  // the rest of that request: the quote after the status
            #expect(try await current()["status"] as? String == "ARMED", "a VI holds the stop")
            mock.state.withLock { $0.interruptedStocks = [:] }
            try await WorkerEndToEndTests.waitFor(120, "the stop fired") {
                try await current()["status"] as? String == "FIRED"
            }
            let exit = try #require(try await current()["order"] as? String)
            try await WorkerEndToEndTests.waitFor(60, "the exit filled at the broker") {
                try await WorkerEndToEndTests.call(rig, "GET", "/api/orders/\(exit)", token: token).1["status"]
                    as? String == "FILLED"
            }
            #expect(mock.state.withLock { $0.orders.filter { $0.side == "01" }.count } == 1, "one exit sent")
            // The log: the quote recorded, the trigger fired on it (at the quote's time, not a minute's start).
            let log = try EventLog(directory: rig.directory.path, readOnly: true)
            defer { log.close() }
            var quotes: Set<Int64> = []
            var firedAt: Int64?
            var bars = 0
            for record in try log.read(from: 0, maxRecords: .max) {
                switch try EventCodec.decode(record.payload, offset: record.offset, timestamp: record.timestamp).event {
                case .quoteRecorded(let quote) where quote.price == 51_000: quotes.insert(quote.at)
                case .triggerFired(let fired): firedAt = fired.barStart
                case .candleClosed(let bar) where bar.stock.description == "005930" && bar.timeframe == .minute1:
                    bars += 1
                default: break
                }
            }
            // (Not necessarily the first such quote: the clocks agree to the second only, so a quote taken just
            // after the arming can carry an earlier time than the trigger's, and a trigger sees only what came
            // after it.)
            #expect(
                firedAt.map { quotes.contains($0) } == true,
                "fired on a quote: \(quotes.sorted()), \(String(describing: firedAt))"
            )
            #expect(bars > 0, "the stock nobody watches was collected for its trigger")
            #expect((firedAt ?? 0) % KST.minuteMicros != 0, "a quote's time, not a bar's start")
            #expect(mock.state.withLock { $0.violations } == [])
        }
    }

    /// A worker whose clock runs ahead of the engine's sends quotes the engine refuses ("ahead of the engine's
    /// clock"). That is told in the worker's log; the collection itself does not fail (it did: the whole group
    /// fetched again each minute, its cached prices left to expire).
    @Test func aQuoteTheEngineRefusesDoesNotFailTheCollection() async throws {
        let tenMinutes: Int64 = 10 * 60_000_000
        try await Self.withArmedStop("trigger_ahead", redisDatabase: 35, workerAhead: tenMinutes) {
            _,
            _,
            worker,
            _,
            _ in
            try await WorkerEndToEndTests.waitFor(60, "a refused quote told") {
                worker.log.contains("the engine refused a trigger quote")
            }
            try await Task.sleep(for: .seconds(2))  // another collection or two
            let failed = worker.log.split(separator: "\n").filter {
                $0.contains("data-collection job") && $0.contains("failed")
            }
            #expect(failed.isEmpty, "\(failed.prefix(3))")
        }
    }

    /// serve, the KIS fake (its clock following serve's) and a worker collecting every half second, its session
    /// clock `workerAhead` µs past serve's; a trader who bought 10 × 005930 through the broker and armed a
    /// stop-loss at 52,000 on it, on a stock no strategy runs on. `body` gets the rig, the fake, the worker, the
    /// trader's token and the trigger's id; both processes are stopped after it.
    static func withArmedStop(
        _ tag: String,
        redisDatabase: Int,
        workerAhead: Int64 = 0,
        _ body: @Sendable (WorkerEndToEndTests.Rig, KISFake, Child, String, String) async throws -> Void
    ) async throws {
        let (rig, sink) = try await WorkerEndToEndTests.rig(tag, redisDatabase: redisDatabase)
        defer { sink.killed() }
        let mock = KISFake(now: WorkerEndToEndTests.session)
        mock.state.withLock {
            $0.rateLimit = 20
            $0.bucket.tokens = 20
        }
        try await withServer(mock.router()) { kis in
            let serve = try await WorkerEndToEndTests.serve(rig)
            mock.runClock()
            let (token, account) = try await WorkerEndToEndTests.trader(rig, mock)
            // The worker's session clock set to serve's (the fake broker's follows serve's), plus `workerAhead`: a
            // quote carries the time serve's clock would give it, not one a process start late.
            let now = mock.state.withLock { $0.now } + workerAhead
            let worker = try WorkerEndToEndTests.worker(
                rig,
                kis: kis,
                extra: ["--reconcile-seconds", "1", "--collect-seconds", "0.5", "--clock-start", ISOTime.kst(now)]
            )
            try await WorkerEndToEndTests.waitForAdoptedCash(rig, token, account)
            try await WorkerEndToEndTests.bought(rig, token, account)
            let (armed, trigger) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/triggers",
                token: token,
                json:
                    #"{"brokerAccountId":"\#(account)","stockId":"005930","kind":"STOP_LOSS","quantity":10,"triggerPrice":52000}"#
            )
            #expect(armed == 201, "\(trigger)")
            try await body(rig, mock, worker, token, try #require(trigger["id"] as? String))
            #expect(await worker.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }
}
