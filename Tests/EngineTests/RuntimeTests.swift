import Foundation
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Engine
@testable import Ledger

@Suite struct RuntimeTests {
    func digest(_ directory: String, snapshots: Bool, toOffset: UInt64? = nil) throws -> (
        String, EngineRuntime.RecoveryReport
    ) {
        let log = try EventLog(directory: directory, readOnly: true)
        let (state, report) = try EngineRuntime.recover(
            log: log,
            snapshots: snapshots ? SnapshotStore(logDirectory: directory) : nil,
            toOffset: toOffset
        )
        return (state.digest, report)
    }

    /// For random command sequences the live state equals the state rebuilt from offset 0, and the state
    /// rebuilt from any snapshot plus the tail, at the end and at random points in between.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func liveStateEqualsReplayAndSnapshotPlusTail(seed: UInt64) async throws {
        let directory = TemporaryDirectory("runtime")
        var configuration = LogConfiguration()
        configuration.durability = .none
        configuration.segmentBytesMax = 128 << 10
        let log = try EventLog(directory: directory.path, configuration: configuration)
        let runtime = try EngineRuntime(log: log, engine: Engine(), snapshotEveryEvents: 97)
        var generator = CommandGenerator(seed: seed)
        var digests: [UInt64: String] = [:]
        var accepted = 0
        for step in 0..<2_500 {
            let (command, context) = generator.next(state: runtime.state)
            if let execution = try? await runtime.execute(command, context: context), !execution.offsets.isEmpty {
                accepted += 1
            }
            if step % 500 == 250 { digests[runtime.nextOffset] = runtime.state.digest }
        }
        let live = runtime.state
        #expect(accepted > 1_500, "the workload must mostly be accepted")
        #expect(live.orders.values.contains { $0.status == .filled })
        #expect(live.orders.values.contains { $0.status == .rejected && $0.rejectedBy == .risk })
        #expect(live.orders.values.contains { $0.status == .partiallyFilled || $0.status == .cancelled })
        // The indexes `apply` keeps event by event are the ones a snapshot rebuilds from the orders and triggers
        // (the digest covers only what a snapshot stores).
        let rebuilt = try EngineState(snapshot: live.snapshot())
        let working = Set(live.orders.values.filter { !$0.status.isTerminal }.map(\.id))
        #expect(live.workingOrders.symmetricDifference(working).isEmpty, "the working index differs from the orders")
        #expect(rebuilt.workingOrders == working)
        #expect(live.brokerOrders == rebuilt.brokerOrders)
        #expect(live.armedTriggers.mapValues(Set.init) == rebuilt.armedTriggers.mapValues(Set.init))
        #expect(live.waitingTriggers.mapValues(Set.init) == rebuilt.waitingTriggers.mapValues(Set.init))
        await runtime.close()
        log.close()
        let (fromZero, zeroReport) = try self.digest(directory.path, snapshots: false)
        let (fromSnapshot, snapshotReport) = try self.digest(directory.path, snapshots: true)
        #expect(fromZero == live.digest)
        #expect(fromSnapshot == live.digest)
        #expect(snapshotReport.snapshotOffset == live.eventCount, "the close wrote a snapshot at the end")
        #expect(zeroReport.replayedEvents == live.eventCount)
        // Time travel: at earlier offsets the snapshot + tail state equals the live state then.
        for (offset, expected) in digests {
            #expect(try self.digest(directory.path, snapshots: true, toOffset: offset).0 == expected)
            #expect(try self.digest(directory.path, snapshots: false, toOffset: offset).0 == expected)
        }
        // Reopening continues from the same state.
        let reopenedLog = try EventLog(directory: directory.path, configuration: configuration)
        let reopened = try EngineRuntime(log: reopenedLog, engine: Engine(), snapshotEveryEvents: 97)
        #expect(reopened.state.digest == live.digest)
        #expect(reopened.recovery.replayedEvents == 0)
        await reopened.close()
        reopenedLog.close()
    }

    /// The single writer runs on a thread of its own: a command from a caller off the cooperative pool (a request on
    /// the server's threads) is decided, made durable and answered while every cooperative thread computes without
    /// suspending — as in `serve` under load or a full test run, where registering a user once waited 20 s behind
    /// other suites' work and the live client gave up.
    @Test func theWriterAnswersWhileEveryCooperativeThreadIsBusy() async throws {
        let directory = TemporaryDirectory("runtime-writer")
        let log = try EventLog(directory: directory.path)
        let runtime = try EngineRuntime(log: log, engine: Engine())
        let answered = Flag()
        let caller = DedicatedExecutor(threads: 1)
        let command = Task(executorPreference: caller) {
            defer { answered.raise() }
            return try await runtime.execute(
                .listStock(code: StockCode("005930")!, name: "삼성전자", market: "KOSPI", previousClose: 71_000),
                context: CommandContext(time: KST.instant(day: KST.day(year: 2025, month: 3, day: 4), hour: 10))
            )
        }
        let endedByAnswer = await spinEveryCooperativeThread(until: answered)
        #expect(endedByAnswer, "the command waited for the cooperative pool")
        let execution = try await command.value
        #expect(execution.offsets == [0] && log.nextOffset == 1)
        await runtime.close()
        await caller.shutdown()
        log.close()
    }

    /// A log the engine cannot read (a record with the engine's marker and an unknown type: a forged or damaged
    /// file) refuses to open a runtime with a clear error — and the writer's thread, started with the runtime,
    /// goes with it: no trap, no thread left behind, and the log opens again once the record is gone.
    @Test func aLogTheEngineCannotReadRefusesTheRuntimeAndLeavesNoThread() async throws {
        let directory = TemporaryDirectory("runtime-unreadable")
        let log = try EventLog(directory: directory.path)
        _ = try await log.append([EventCodec.marker, 0xFF, 0xFF, 0x00, 0x01, 0x0A, 0x1B])
        func threads() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count }
        let before = try threads()
        for _ in 0..<200 {
            #expect(throws: EngineError.self) { _ = try EngineRuntime(log: log, engine: Engine()) }
        }
        // Other suites start and end threads meanwhile; a thread per refused runtime would be 200 more.
        let grown = try threads() - before
        #expect(grown < 100, "\(grown) more threads after 200 refused runtimes")
        log.close()
    }

    @Test func concurrentCommandsAreSerialisedWithoutLostUpdates() async throws {
        let directory = TemporaryDirectory("runtime")
        let log = try EventLog(directory: directory.path)
        let runtime = try EngineRuntime(log: log, engine: Engine())
        let time = KST.instant(day: KST.day(year: 2025, month: 3, day: 4), hour: 10)
        let context = CommandContext(time: time)
        _ = try await runtime.execute(
            .listStock(code: StockCode("005930")!, name: "삼성전자", market: "KOSPI", previousClose: 71_000),
            context: context
        )
        _ = try await runtime.execute(.registerUser(email: "t@example.com"), context: context)
        _ = try await runtime.execute(
            .registerAccount(user: UserID(value: 1), broker: .simulated, accountNumber: "1", dailyOrderLimit: 10_000),
            context: context
        )
        _ = try await runtime.execute(
            .depositCash(account: AccountID(value: 1), amount: 1_000_000_000),
            context: context
        )
        let ids = try await withThrowingTaskGroup(of: OrderID.self) { group in
            for index in 0..<400 {
                group.addTask {
                    let request = PlaceOrder(
                        account: AccountID(value: 1),
                        stock: StockCode("005930")!,
                        side: .buy,
                        quantity: 1,
                        price: 71_000,
                        clientOrderID: "c\(index)"
                    )
                    return try await runtime.execute(.placeOrder(request), context: context).decision.order!
                }
            }
            return try await group.reduce(into: [OrderID]()) { $0.append($1) }
        }
        #expect(Set(ids).count == 400, "every order got its own id")
        let state = runtime.state
        #expect(state.accounts[AccountID(value: 1)]!.reservedCash == 400 * (71_000 + FeeSchedule().commission(71_000)))
        #expect(log.statistics.commits < 400, "commands were group-committed")
        await runtime.close()
        log.close()
        #expect(try self.digest(directory.path, snapshots: false).0 == state.digest)
    }

    /// A search run appends its records a megabyte at a time with one append in flight while the next is decided,
    /// each written batch handed back for the records after the next: its log still holds every record, once and
    /// in order — replaying it gives the run's state.
    @Test func aSearchRunsLogReplaysToItsState() async throws {
        var bars: [Candle] = []
        let first = KST.day(StrategyContextTests.open)
        var day = first
        while bars.count < 100 * 381 {  // ~85,000 records, five megabytes: appends in flight, batches reused
            defer { day += 1 }
            guard KST.weekday(day: day) < 5 else { continue }
            bars += StrategyContextTests.walk(381, seed: UInt64(day)).map {
                var bar = $0
                bar.start += (day - first) * KST.dayMicros
                return bar
            }
        }
        let directory = TemporaryDirectory("search-run")
        let make: ParameterSearch.Make = { (parameters, bars) throws(EngineError) in
            try Backtester(
                stocks: [(StockCode("005930")!, "삼성전자", bars[0].open)],
                strategy: "ma-cross",
                parameters: parameters,
                initialCash: 100_000_000,
                calendar: TradingCalendar(holidays: [KST.day(year: 2025, month: 1, day: 1)]),
                exchange: .init(participationPercent: 100, slippageTicks: 1),
                startTime: bars[0].start - KST.dayMicros
            )
        }
        let parameters = "fast=3,slow=8,percent=20,stop=50,target=80"
        let run = try await ParameterSearch.run(
            parameters: parameters,
            bars: bars,
            make: make,
            directory: directory.path + "/run"
        )
        #expect(run.report.events > 80_000 && run.report.fills > 100, "\(run.report.events) events")
        let log = try EventLog(directory: directory.path + "/run", readOnly: true)
        defer { log.close() }
        #expect(log.nextOffset == run.report.events, "every record the run decided")
        #expect(try self.digest(directory.path + "/run", snapshots: false).0 == run.digest)
        // A bar the backtest refuses after megabytes were appended: the run fails; its log was shut down cleanly
        // and holds what was appended before the refusal.
        var foreign = bars[bars.count - 1]
        foreign.stock = StockCode("000660")!
        await #expect(throws: EngineError.self) {
            try await ParameterSearch.run(
                parameters: parameters,
                bars: bars + [foreign],
                make: make,
                directory: directory.path + "/failed"
            )
        }
        #expect(FileManager.default.fileExists(atPath: directory.path + "/failed/CLEAN"), "closed, not abandoned")
        let failed = try EventLog(directory: directory.path + "/failed")
        defer { failed.close() }
        #expect(failed.nextOffset > 10_000 && failed.nextOffset < run.report.events, "\(failed.nextOffset)")
    }

    /// A child runs the runtime under load and is SIGKILLed at random moments. After each kill: every
    /// acknowledged command's events are in the log, and the snapshot + tail state equals the replay from 0.
    @Test func acknowledgedCommandsSurviveSIGKILL() async throws {
        let directory = TemporaryDirectory("engine-crash")
        var random = SeededRandom(seed: 99)
        var acknowledged: [UInt64: String] = [:]
        var snapshotsUsed = 0
        let kills = Int(ProcessInfo.processInfo.environment["STOCKBOOM_ENGINE_KILLS"] ?? "") ?? 12
        for kill in 0..<kills {
            // The kill's clock starts once the writer has opened the log: under a loaded machine, starting a debug
            // binary can take most of the window, and a writer killed before its first snapshot (every 150 events)
            // shows nothing of recovery from one.
            let lines = try await runAndKill(
                ["stress", "engine", "--dir", directory.path, "--seed", String(kill + 1)],
                after: UInt32.random(in: 250_000...700_000, using: &random),
                startedWhen: "open",
                program: "stockboom-sim"
            )
            for line in lines {
                let fields = line.split(separator: " ")
                if fields.first == "ack", fields.count == 4, let offset = UInt64(fields[1]) {
                    acknowledged[offset] = String(fields[3])
                }
                if fields.first == "open", !line.contains("snapshot=none") { snapshotsUsed += 1 }
            }
            // Recovery (writable open cuts a torn tail), then the checks.
            let log = try EventLog(directory: directory.path)
            log.close()
            let reader = try EventLog(directory: directory.path, readOnly: true)
            for (offset, type) in acknowledged {
                let record = try #require(
                    try reader.read(from: offset, maxRecords: 1).first,
                    "kill \(kill): acknowledged offset \(offset) is missing"
                )
                #expect(
                    try EventCodec.decode(record.payload, offset: offset, timestamp: record.timestamp).typeName == type
                )
            }
            #expect(
                try self.digest(directory.path, snapshots: true).0
                    == (try self.digest(directory.path, snapshots: false)).0,
                "kill \(kill)"
            )
        }
        #expect(acknowledged.count > kills * 10)
        #expect(snapshotsUsed > 0, "restarts must have used snapshots")
        print(
            "engine crash test: \(kills) kills, \(acknowledged.count) acknowledged commands checked, \(snapshotsUsed) restarts from a snapshot"
        )
    }
}
