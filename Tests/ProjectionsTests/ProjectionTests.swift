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

/// A database of its own for one test (dropped and created anew), on the server of `DATABASE_URL`.
func freshDatabase(_ tag: String) throws -> String {
    try PostgresConnection.recreateDatabase("sb_test_\(tag)", serverURL: try LiveServers.databaseURL())
}

/// A log written by the live runtime from generated commands; returns the engine's final state.
func workloadLog(_ directory: String, commands: Int, seed: UInt64) async throws -> EngineState {
    var configuration = LogConfiguration()
    configuration.durability = .none
    let log = try EventLog(directory: directory, configuration: configuration)
    let runtime = try EngineRuntime(log: log, engine: Engine(), snapshotEveryEvents: 500)
    var generator = CommandGenerator(seed: seed)
    for _ in 0..<commands {
        let (command, context) = generator.next(state: runtime.state)
        _ = try? await runtime.execute(command, context: context)
    }
    let state = runtime.state
    await runtime.close()
    log.close()
    return state
}

/// Expects equal row lists, reporting only the first difference (tables are long).
func expectRows(_ actual: [[String?]], _ expected: [[String?]], _ name: String, sourceLocation: SourceLocation) {
    if actual == expected { return }
    let index =
        (0..<min(actual.count, expected.count)).first { actual[$0] != expected[$0] }
        ?? min(actual.count, expected.count)
    let got = index < actual.count ? "\(actual[index])" : "nothing"
    let want = index < expected.count ? "\(expected[index])" : "nothing"
    Issue.record(
        "\(name): \(actual.count) rows, expected \(expected.count); first difference at row \(index): got \(got), expected \(want)",
        sourceLocation: sourceLocation
    )
}

/// Compares every read-model table with the engine state folded independently from the log.
func expectTablesMatch(
    _ database: PostgresConnection,
    _ state: EngineState,
    log: EventLog,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let trades = try database.query(
        "SELECT id, status, filled_quantity, average_price, commission, tax, failure_reason, broker_account_id FROM trades ORDER BY id"
    ).rows
    let expectedTrades = state.orders.values.sorted { $0.id < $1.id }.map { order -> [String?] in
        [
            order.id.description, order.status.description, String(order.filledQuantity),
            String(order.averageFillPrice), String(order.commission), String(order.tax), order.failureReason?.rawValue,
            order.account.description,
        ]
    }
    expectRows(trades, expectedTrades, "trades", sourceLocation: sourceLocation)
    let accounts = try database.query(
        "SELECT id, cash, reserved_cash, realized_profit FROM broker_accounts ORDER BY id"
    ).rows
    expectRows(
        accounts,
        state.accounts.values.sorted { $0.id < $1.id }.map {
            [$0.id.description, String($0.cash), String($0.reservedCash), String($0.realizedProfit)]
        },
        "broker_accounts",
        sourceLocation: sourceLocation
    )
    let positions = try database.query(
        "SELECT broker_account_id, stock_id, quantity, cost_basis FROM positions ORDER BY broker_account_id, stock_id"
    ).rows
    var expectedPositions: [[String?]] = []
    for account in state.accounts.values.sorted(by: { $0.id < $1.id }) {
        for (stock, position) in account.positions.sorted(by: { $0.key < $1.key }) {
            expectedPositions.append([
                account.id.description, stock.description, String(position.quantity), String(position.costBasis),
            ])
        }
    }
    expectRows(positions, expectedPositions, "positions", sourceLocation: sourceLocation)
    // Candles, order events and notifications: counted and checked against the log itself.
    var candleKeys = Set<String>()
    var orderEvents = 0
    var notifications: [String: Bool] = [:]
    try log.scan(from: 0) { view in
        guard let event = try? EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp) else {
            return .continue
        }
        if case .candleClosed(let c) = event.event { candleKeys.insert("\(c.stock)|\(c.timeframe)|\(c.start)") }
        if event.event.orderID != nil { orderEvents += 1 }
        if case .notificationCreated(let n) = event.event { notifications[n.notification.description] = false }
        if case .notificationRead(let n) = event.event { notifications[n.notification.description] = true }
        return .continue
    }
    #expect(
        try database.query("SELECT count(*) FROM candles").rows == [[String(candleKeys.count)]],
        "candles",
        sourceLocation: sourceLocation
    )
    #expect(
        try database.query("SELECT count(*) FROM order_events").rows == [[String(orderEvents)]],
        "order_events: none lost, none doubled",
        sourceLocation: sourceLocation
    )
    let storedNotifications = try database.query("SELECT id, is_read FROM notifications ORDER BY id").rows
    expectRows(
        storedNotifications,
        notifications.sorted { $0.key < $1.key }.map { [$0.key, $0.value ? "t" : "f"] },
        "notifications",
        sourceLocation: sourceLocation
    )
    let stocks = try database.query("SELECT id, last_price FROM stocks ORDER BY id").rows
    expectRows(
        stocks,
        state.stocks.values.sorted { $0.code < $1.code }.map {
            [$0.code.description, String($0.marketData.lastClose)]
        },
        "stocks",
        sourceLocation: sourceLocation
    )
}

@Suite(.serialized) struct ProjectionTests {
    @Test func tablesEqualAnIndependentFoldOfTheLog() async throws {
        let directory = TemporaryDirectory("proj")
        let state = try await workloadLog(directory.path, commands: 3_000, seed: 21)
        let url = try freshDatabase("fold")
        let log = try EventLog(directory: directory.path, readOnly: true)
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        let applied = try runner.catchUp(batchEvents: 333)
        #expect(applied == log.nextOffset * 3, "three models, every event")
        #expect(try runner.status().allSatisfy { $0.lag == 0 })
        try expectTablesMatch(runner.database, state, log: log)
        // Idempotent: catching up again applies nothing and changes nothing.
        #expect(try runner.catchUp() == 0)
        try expectTablesMatch(runner.database, state, log: log)
        // Every row knows the offset that last changed it.
        #expect(
            try runner.database.query("SELECT count(*) FROM trades WHERE last_offset >= $1", [String(log.nextOffset)])
                .rows == [["0"]]
        )
    }

    @Test func exactlyOnceAcrossTerminatedBackends() async throws {
        let directory = TemporaryDirectory("proj")
        let state = try await workloadLog(directory.path, commands: 3_000, seed: 22)
        let url = try freshDatabase("terminate")
        let log = try EventLog(directory: directory.path, readOnly: true)
        let killer = try PostgresConnection(url: url)
        var random = SeededRandom(seed: 5)
        var terminations = 0
        var attempts = 0
        while attempts < 40 {
            attempts += 1
            let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
            let pid = runner.database.backendPID
            let delay = UInt32.random(in: 5_000...150_000, using: &random)
            let done = Mutex(false)
            let thread = Thread {
                usleep(delay)
                if !done.withLock({ $0 }) { _ = try? killer.query("SELECT pg_terminate_backend($1)", [String(pid)]) }
            }
            thread.start()
            do {
                try runner.catchUp(batchEvents: 97)
                done.withLock { $0 = true }
                if try runner.status().allSatisfy({ $0.lag == 0 }) { break }
            } catch {
                done.withLock { $0 = true }
                terminations += 1
            }
            try await Task.sleep(for: .milliseconds(50))  // let the killer thread finish before the next round
        }
        #expect(terminations > 0, "some runs must have been cut by pg_terminate_backend")
        // Finish without interference; whatever the kills interrupted must now be there exactly once.
        let verifier = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        try verifier.catchUp(batchEvents: 97)
        #expect(try verifier.status().allSatisfy { $0.lag == 0 })
        try expectTablesMatch(verifier.database, state, log: log)
        print("projection terminate test: \(terminations) backends terminated mid-run, \(attempts) runs")
    }

    /// The projector process SIGKILLed at random moments while catching up; each restart resumes from the
    /// checkpoints, and the final tables equal the independent fold.
    @Test func killedProjectorProcessesLeaveNoGapAndNoDouble() async throws {
        let directory = TemporaryDirectory("proj")
        let state = try await workloadLog(directory.path, commands: 6_000, seed: 26)
        let url = try freshDatabase("kill")
        var random = SeededRandom(seed: 8)
        var progress: [UInt64] = []
        for _ in 0..<6 {
            _ = try await runAndKill(
                ["projections", "run", "--dir", directory.path, "--database-url", url, "--batch", "150"],
                after: UInt32.random(in: 150_000...600_000, using: &random)
            )
            progress.append(try checkpointSum(url))
        }
        let log = try EventLog(directory: directory.path, readOnly: true)
        #expect(
            progress.contains { $0 > 0 && $0 < 3 * log.nextOffset },
            "some kill must have landed mid-catch-up: \(progress)"
        )
        print("projection kill test: checkpoints after each kill \(progress) of \(3 * log.nextOffset)")
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        try runner.catchUp()
        try expectTablesMatch(runner.database, state, log: log)
    }

    /// The sum of the projections' checkpoints; 0 while the schema does not exist yet — a kill that lands
    /// before the first migration commits (a slow start on a busy machine) leaves no table, and that is
    /// progress 0, not a failure (migrations are transactions: there is no half-made table).
    private func checkpointSum(_ url: String) throws -> UInt64 {
        let connection = try PostgresConnection(url: url)
        guard try connection.query("SELECT to_regclass('projection_checkpoints') IS NOT NULL").rows == [["t"]] else {
            return 0
        }
        let rows = try connection.query("SELECT coalesce(sum(last_offset), 0) FROM projection_checkpoints").rows
        return UInt64(rows.first?.first.flatMap { $0 } ?? "0") ?? 0
    }

    @Test func rebuildingOneProjectionLeavesTheOthers() async throws {
        let directory = TemporaryDirectory("proj")
        let state = try await workloadLog(directory.path, commands: 1_500, seed: 23)
        let url = try freshDatabase("rebuild")
        let log = try EventLog(directory: directory.path, readOnly: true)
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        try runner.catchUp()
        let tradesBefore = try runner.database.query("SELECT id, last_offset FROM trades ORDER BY id").rows
        let replayed = try runner.rebuild("notifications", retention: nil)
        #expect(replayed == log.nextOffset)
        #expect(try runner.database.query("SELECT id, last_offset FROM trades ORDER BY id").rows == tradesBefore)
        try expectTablesMatch(runner.database, state, log: log)
        #expect(throws: PostgresError.self) { _ = try runner.rebuild("nope") }
    }

    @Test func liveModeFollowsAppendsAndSurvivesALostConnection() async throws {
        let directory = TemporaryDirectory("proj")
        _ = try await workloadLog(directory.path, commands: 500, seed: 24)
        let url = try freshDatabase("live")
        var configuration = LogConfiguration()
        configuration.durability = .none
        let writer = try EventLog(directory: directory.path, configuration: configuration)
        let runtime = try EngineRuntime(log: writer, engine: Engine())
        let runner = try ProjectionRunner(log: writer, connect: { try PostgresConnection(url: url) })
        let stop = Mutex(false)
        let errors = Mutex(0)
        let thread = Thread {
            runner.runLive(shouldStop: { stop.withLock { $0 } }, onError: { _ in errors.withLock { $0 += 1 } })
        }
        thread.start()
        var generator = CommandGenerator(seed: 99)
        let killer = try PostgresConnection(url: url)
        for step in 0..<600 {
            let (command, context) = generator.next(state: runtime.state)
            _ = try? await runtime.execute(command, context: context)
            if step == 300 {
                _ = try killer.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            }
        }
        let head = writer.nextOffset
        var waited = 0
        while waited < 400 {
            let rows = try killer.query("SELECT min(last_offset) FROM projection_checkpoints").rows
            if let value = rows.first?.first ?? nil, UInt64(value) == head { break }
            try await Task.sleep(nanoseconds: 25_000_000)
            waited += 1
        }
        stop.withLock { $0 = true }
        while thread.isExecuting { try await Task.sleep(nanoseconds: 10_000_000) }
        #expect(errors.withLock { $0 } > 0, "the terminated connection must have been noticed and retried")
        let state = runtime.state
        await runtime.close()
        writer.close()
        let log = try EventLog(directory: directory.path, readOnly: true)
        try expectTablesMatch(try PostgresConnection(url: url), state, log: log)
    }

    @Test func cleanupHonoursTheGuidesRetention() async throws {
        let directory = TemporaryDirectory("proj")
        _ = try await workloadLog(directory.path, commands: 1_500, seed: 25)
        let url = try freshDatabase("cleanup")
        let log = try EventLog(directory: directory.path, readOnly: true)
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        try runner.catchUp()
        let minuteCandles =
            Int(try runner.database.query("SELECT count(*) FROM candles WHERE timeframe = '1m'").rows[0][0] ?? "0") ?? 0
        #expect(minuteCandles > 0)
        #expect(
            try runner.cleanup(candleDays: 100_000, notificationDays: 100_000, cancelledTradeDays: 100_000).values
                .allSatisfy { $0 == 0 }
        )
        // The workload's data is from March 2025: older than a year now.
        let deleted = try runner.cleanup(candleDays: 365, notificationDays: 90, cancelledTradeDays: 180)
        #expect(deleted["candles"] == minuteCandles)
        #expect(try runner.database.query("SELECT count(*) FROM candles WHERE timeframe = '1m'").rows == [["0"]])
        #expect(try runner.database.query("SELECT count(*) FROM trades WHERE status = 'CANCELLED'").rows == [["0"]])
        #expect(try runner.database.query("SELECT count(*) FROM notifications WHERE is_read").rows == [["0"]])
        #expect(
            try runner.database.query("SELECT count(*) FROM candles WHERE timeframe <> '1m'").rows[0][0] != "0",
            "only 1m candles are pruned"
        )
        // A rebuild honours the same retention: the pruned rows do not come back.
        _ = try runner.rebuild("market")
        #expect(try runner.database.query("SELECT count(*) FROM candles WHERE timeframe = '1m'").rows == [["0"]])
        _ = try runner.rebuild("market", retention: nil)
        #expect(
            try runner.database.query("SELECT count(*) FROM candles WHERE timeframe = '1m'").rows == [
                [String(minuteCandles)]
            ]
        )
    }
}
