import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing

@testable import Engine
@testable import Ledger
@testable import Projections

/// The log → queues projection against real Redis: jobs carry their event's offset, only pending work is
/// derived (live and after a flush), and committed events are published on `stockboom:events`.
@Suite(.serialized) struct JobDispatcherTests {
    /// A fresh Redis database (7) and a log with one listed stock, one user with a funded KIS paper account and
    /// one PENDING buy order: work a dispatcher must turn into a trade-execution job.
    struct PendingOrder {
        let endpoint: RedisEndpoint
        let store: JobQueueStore
        let directory: TemporaryDirectory
        let log: EventLog
        let runtime: EngineRuntime
        let time: Int64
        let context: CommandContext
        let samsung = StockCode("005930")!
        let user = UserID(value: 1)
        let placed: Execution

        init(_ name: String) async throws {
            let url = try #require(
                ProcessInfo.processInfo.environment["REDIS_URL"],
                "REDIS_URL is unset: run the tests with `make test`"
            )
            var endpoint = try #require(RedisEndpoint(url: url))
            endpoint.database = 7
            self.endpoint = endpoint
            self.store = JobQueueStore(redis: RedisClient(endpoint: endpoint))
            _ = try self.store.redis.command(["FLUSHDB"])
            self.directory = TemporaryDirectory(name)
            self.log = try EventLog(directory: self.directory.path)
            self.runtime = try EngineRuntime(log: self.log, engine: Engine(calendar: TradingCalendar()))
            self.time = KST.instant(day: KST.day(yyyymmdd: "20250106")!, hour: 10)
            let context = CommandContext(time: self.time)
            self.context = context
            let (runtime, samsung, user) = (self.runtime, StockCode("005930")!, UserID(value: 1))
            _ = try await runtime.execute(
                .listStock(code: samsung, name: "삼성전자", market: "KOSPI", previousClose: 55_000),
                context: context
            )
            _ = try await runtime.execute(.registerUser(email: "\(name)@example.com"), context: context)
            _ = try await runtime.execute(
                .registerAccount(user: user, broker: .kisPaper, accountNumber: "5012345601", dailyOrderLimit: 100),
                context: context
            )
            let account = AccountID(value: 1)
            _ = try await runtime.execute(
                .issueToken(account: account, expiresAt: self.time + 86_400_000_000),
                context: context
            )
            _ = try await runtime.execute(.depositCash(account: account, amount: 10_000_000), context: context)
            self.placed = try await runtime.execute(
                .placeOrder(PlaceOrder(account: account, stock: samsung, side: .buy, quantity: 1, price: 55_000)),
                context: context
            )
        }
    }

    @Test func pendingWorkBecomesJobsOnceAndAFlushRecreatesOnlyWhatIsStillPending() async throws {
        let fixture = try await PendingOrder("dispatcher")
        let (endpoint, store, log, runtime, time, context, samsung, user, placed) =
            (
                fixture.endpoint, fixture.store, fixture.log, fixture.runtime, fixture.time, fixture.context,
                fixture.samsung, fixture.user, fixture.placed
            )
        let order = try #require(placed.decision.order)
        // A channel of the test's own: other tests' servers publish on the default one at the same time.
        let channel = "stockboom:events:test-\(UUID().uuidString)"
        let dispatcher = JobDispatcher(
            log: log,
            store: store,
            channel: channel,
            clock: { time },
            committed: { runtime.committed }
        )

        #expect(try dispatcher.catchUp() == 1)
        #expect(try store.counts(.tradeExecution).wait == 1)
        #expect(
            try store.job(.tradeExecution, id: String(placed.offsets[0]))?["data"]?.contains(order.description) == true,
            "the job id is the OrderRequested offset"
        )
        #expect(try dispatcher.catchUp() == 0, "nothing new: nothing added")

        // Live events are published; a subscriber sees them in log order.
        let subscriber = try RedisConnection(endpoint: endpoint, timeoutSeconds: 5)
        try subscriber.subscribe(channel)
        // Market data has no owner and is not published: the first message is the notification after it.
        let minute = KST.instant(day: KST.day(time), hour: 9)
        let candle = try await runtime.execute(
            .ingestCandle(
                Candle(
                    stock: samsung,
                    timeframe: .minute1,
                    start: minute,
                    open: 55_000,
                    high: 55_100,
                    low: 54_900,
                    close: 55_000,
                    volume: 10
                )
            ),
            context: context
        )
        #expect(!candle.offsets.isEmpty)
        let notified = try await runtime.execute(
            .notify(user: user, kind: "TEST", title: "hello", message: "world"),
            context: context
        )
        #expect(try dispatcher.catchUp() == 1, "a notification job")
        guard case .array(let message) = try subscriber.nextPush(), message.count == 3 else {
            Issue.record("no message")
            return
        }
        #expect(
            message[2].text?.contains("\"offset\":\(notified.offsets[0])") == true
                && message[2].text?.contains("NotificationCreated") == true,
            "\(message)"
        )

        // Redis flushed: from offset 0 again, pending work only — the order (still PENDING) and the notification.
        _ = try store.redis.command(["FLUSHDB"])
        #expect(try dispatcher.catchUp() == 2)
        // The broker rejects the order and the notification is delivered: after another flush nothing of it is pending,
        // only the rejection's own notification.
        _ = try await runtime.execute(.recordSubmitted(order), context: context)
        _ = try await runtime.execute(
            .recordBrokerRejected(order, reason: .marketClosed, message: "장종료"),
            context: context
        )
        _ = try await runtime.execute(
            .recordNotificationSent(NotificationID(value: 1), channel: "email", detail: "250 OK"),
            context: context
        )
        _ = try store.redis.command(["FLUSHDB"])
        #expect(try dispatcher.rebuild() == 1)
        #expect(try store.counts(.tradeExecution).wait == 0)
        #expect(try store.counts(.notification).wait == 1)
        await runtime.close()
        log.close()
    }

    /// A flush that lands during a pass (after it read the checkpoint, before it writes the next one) must not
    /// leave a checkpoint past jobs the flush took: the pass writes none, and the next derives again from 0.
    /// (The fault suite once ended with orders never sent and resting orders never polled again.)
    @Test func aFlushDuringAPassIsNotHiddenByItsCheckpoint() async throws {
        let fixture = try await PendingOrder("dispatcher-flush")
        let (endpoint, store, log, runtime, time, context, user, placed) =
            (
                fixture.endpoint, fixture.store, fixture.log, fixture.runtime, fixture.time, fixture.context,
                fixture.user, fixture.placed
            )
        // The dispatcher reads the engine's state after the checkpoint: a flush is put exactly there.
        let flushDuringPass = Mutex(false)
        let flusher = RedisClient(endpoint: endpoint)
        let dispatcher = JobDispatcher(
            log: log,
            store: store,
            channel: "stockboom:events:test-\(UUID().uuidString)",
            clock: { time },
            committed: {
                if flushDuringPass.withLock({ $0 }) {
                    flushDuringPass.withLock { $0 = false }
                    _ = try? flusher.command(["FLUSHDB"])
                }
                return runtime.committed
            }
        )
        #expect(try dispatcher.catchUp() == 1)
        #expect(try store.job(.tradeExecution, id: String(placed.offsets[0])) != nil)

        // A new event, and a flush in the middle of the pass that takes it.
        _ = try await runtime.execute(
            .notify(user: user, kind: "TEST", title: "hello", message: "world"),
            context: context
        )
        flushDuringPass.withLock { $0 = true }
        _ = try dispatcher.catchUp()
        #expect(try JobDispatcher.checkpoint(store) == nil, "a pass that a flush cut writes no checkpoint")
        // The next pass derives from offset 0: the order's job is back, beside the notification's.
        _ = try dispatcher.catchUp()
        #expect(
            try store.job(.tradeExecution, id: String(placed.offsets[0])) != nil,
            "the pending order has its job again"
        )
        #expect(try store.counts(.tradeExecution).wait == 1)
        #expect(try store.counts(.notification).wait == 1)
        #expect(try JobDispatcher.checkpoint(store) == log.nextOffset)
        await runtime.close()
        log.close()
    }

    /// The bars of a pass go to data-analysis in jobs of up to `barsPerAnalysisJob`, in log order, each bar
    /// with its offset; other queues' jobs are untouched, and a lone bar keeps its job of one.
    /// A bar whose indicators are recorded was analysed (its strategies decided on it): no pass hands it to
    /// data-analysis again — not after a flush or a rebuild, which derive from offset 0 (the bench's day under
    /// faults once placed 4,444 orders instead of ~2,900: every flush re-analysed the whole day's bars with the
    /// positions of the moment, and strategies traded on hours-old bars).
    @Test func analysedBarsAreNotHandedToDataAnalysisAgain() async throws {
        let fixture = try await PendingOrder("analysed")
        let (store, log, runtime, time, context, samsung) = (
            fixture.store, fixture.log, fixture.runtime, fixture.time, fixture.context, fixture.samsung
        )
        _ = try await runtime.execute(
            .enableStrategy(
                account: AccountID(value: 1),
                stock: samsung,
                strategy: "ma-cross",
                parameters: "fast=2,slow=3,quantity=1"
            ),
            context: context
        )
        let open = KST.instant(day: KST.day(time), hour: 9)
        let minutes = (0..<5).map { open + Int64($0) * KST.minuteMicros }
        for start in minutes {
            _ = try await runtime.execute(
                .ingestCandle(
                    Candle(
                        stock: samsung,
                        timeframe: .minute1,
                        start: start,
                        open: 55_000,
                        high: 55_100,
                        low: 54_900,
                        close: 55_000,
                        volume: 10
                    )
                ),
                context: context
            )
        }
        func analyse(_ start: Int64) async throws {
            _ = try await runtime.execute(
                .recordIndicators([
                    IndicatorComputed(stock: samsung, timeframe: .minute1, start: start, name: "sma_5", value: 55_000)
                ]),
                context: context
            )
        }
        for start in minutes.prefix(3) { try await analyse(start) }
        #expect(runtime.state.stocks[samsung]?.lastAnalysedMinute == minutes[2])
        let dispatcher = JobDispatcher(log: log, store: store, clock: { time }, committed: { runtime.committed })
        struct Batch: Decodable {
            struct Bar: Decodable { var start: Int64 }
            var bars: [Bar]
        }
        func analysisStarts() throws -> [Int64] {
            guard case .array(let ids) = try store.redis.command(["LRANGE", "bull:data-analysis:wait", "0", "-1"])
            else { return [] }
            return try ids.compactMap(\.text).flatMap { id -> [Int64] in
                let data = try #require(try store.job(.dataAnalysis, id: id)?["data"])
                if let batch = try? JSONDecoder().decode(Batch.self, from: Data(data.utf8)) {
                    return batch.bars.map(\.start)
                }
                return [try JSONDecoder().decode(Batch.Bar.self, from: Data(data.utf8)).start]
            }.sorted()
        }
        try dispatcher.catchUp()
        #expect(try analysisStarts() == Array(minutes.suffix(2)), "the two bars not analysed yet")
        _ = try store.redis.command(["FLUSHDB"])
        try dispatcher.catchUp()
        #expect(try analysisStarts() == Array(minutes.suffix(2)), "after a flush: the same two, not the day again")
        try await analyse(minutes[4])
        _ = try store.redis.command(["FLUSHDB"])
        #expect(try dispatcher.rebuild() == 1, "the PENDING order's job alone")
        #expect(try analysisStarts().isEmpty, "a bar older than the last analysed one is not analysed late")
        // The guide's `DEL "bull:trade-execution:wait"` drops the list but leaves the job's record: a rebuild puts
        // the job back (a plain add took the record for a job still queued), once.
        func waiting() throws -> [String] {
            guard case .array(let ids) = try store.redis.command(["LRANGE", "bull:trade-execution:wait", "0", "-1"])
            else { return [] }
            return ids.compactMap(\.text)
        }
        let queued = try waiting()
        #expect(queued.count == 1)
        _ = try store.redis.command(["DEL", "bull:trade-execution:wait"])
        #expect(try dispatcher.catchUp() == 0 && waiting().isEmpty, "following the log does not bring it back")
        #expect(try dispatcher.rebuild() == 1)
        #expect(try waiting() == queued)
        #expect(try dispatcher.rebuild() == 0, "a job already waiting is not queued twice")
        #expect(try waiting() == queued)
        #expect(try EngineState(snapshot: runtime.state.snapshot()) == runtime.state, "the marker survives a snapshot")
        await runtime.close()
        log.close()
    }

    @Test func aPassesBarsShareDataAnalysisJobs() throws {
        let per = JobDerivation.barsPerAnalysisJob
        func bar(_ offset: Int) -> Job {
            Job(
                queue: .dataAnalysis,
                id: String(offset),
                data: "{\"offset\":\(offset),\"stock\":\"005930\",\"start\":\(offset)}",
                maxAttempts: 3
            )
        }
        let order = Job(queue: .tradeExecution, id: "7", data: "{}", maxAttempts: 5)
        let bars = (100..<(100 + per + 1)).map(bar)
        let merged = JobDerivation.analysisBatches([order] + bars)
        #expect(merged.filter { $0.queue == .tradeExecution } == [order])
        let analysis = merged.filter { $0.queue == .dataAnalysis }
        #expect(analysis.map(\.id) == ["100-\(99 + per)", String(100 + per)])
        #expect(analysis.last == bars.last, "the one bar left over keeps its job of one")
        struct Batch: Decodable {
            struct Bar: Decodable {
                var offset: Int
                var start: Int
            }
            var bars: [Bar]
        }
        let batch = try JSONDecoder().decode(Batch.self, from: Data(analysis[0].data.utf8))
        #expect(batch.bars.map(\.offset) == Array(100..<(100 + per)))
        #expect(analysis[0].maxAttempts == 3)
        #expect(JobDerivation.analysisBatches([bars[0], order]) == [bars[0], order], "one bar: nothing merged")
    }
}
