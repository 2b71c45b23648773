import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Engine
@testable import Ledger
@testable import Projections

/// `stockboom backup create` beside a live engine, then `backup restore` to an earlier offset: the restored log's
/// state is the state the live engine had at that offset (digest), and PostgreSQL and Redis are rebuilt from it.
@Suite(.serialized) struct BackupRestoreTests {
    @Test func pointInTimeRestoreEqualsTheLiveStateAtThatOffset() async throws {
        let serverURL = try LiveServers.databaseURL()
        let databaseURL = try PostgresConnection.recreateDatabase("sb_test_restore", serverURL: serverURL)
        var endpoint = try LiveServers.redisEndpoint()
        endpoint.database = 2
        let store = JobQueueStore(redis: RedisClient(endpoint: endpoint))
        _ = try store.redis.command(["FLUSHDB"])
        // Jobs of the future: a restore must remove what its log no longer explains.
        _ = try store.add(
            [Job(queue: .tradeExecution, id: "999999999", data: "{\"order\":\"999\"}", maxAttempts: 5)],
            now: 0
        )
        let redisURL = RedisEndpoint(host: endpoint.host, port: endpoint.port, password: endpoint.password, database: 2)
            .url

        let directory = TemporaryDirectory("restore-live")
        let repository = TemporaryDirectory("restore-repo")
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = 256 << 10
        let log = try EventLog(directory: directory.path, configuration: configuration)
        let runtime = try EngineRuntime(log: log, engine: Engine(), snapshotEveryEvents: 400)
        var generator = CommandGenerator(seed: 11)
        var pointInTime: (offset: UInt64, state: EngineState)?
        var atBackup: (offset: UInt64, digest: String)?
        for step in 0..<1_600 {
            let (command, context) = generator.next(state: runtime.state)
            _ = try? await runtime.execute(command, context: context)
            if step == 700 { pointInTime = (runtime.nextOffset, runtime.state) }
            if step == 1_100 {
                // Online: the engine holds the log's writer lock while the backup process reads it.
                atBackup = (runtime.nextOffset, runtime.state.digest)
                let (status, output, errors) = try await runStockboom([
                    "backup", "create", "--dir", directory.path, "--to", repository.path,
                ])
                #expect(status == 0, "\(output)\(errors)")
            }
        }
        let end = runtime.nextOffset
        await runtime.close()
        log.close()
        let (cut, live) = try #require(pointInTime)
        let backup = try #require(atBackup)
        #expect(
            cut < backup.offset && backup.offset < end,
            "the cut lies inside the backup, which ends before the live log does"
        )

        let verified = try await runStockboom(["backup", "verify", "--from", repository.path])
        #expect(verified.0 == 0 && verified.1.contains(": ok"), "\(verified.1)\(verified.2)")

        // Point in time, with the read models and queues rebuilt.
        let target = TemporaryDirectory("restore-target")
        let restored = try await runStockboom(
            [
                "backup", "restore", "--from", repository.path, "--to", target.path + "/log", "--to-offset",
                String(cut), "--keep-everything",
            ],
            environment: ["DATABASE_URL": databaseURL, "REDIS_URL": redisURL]
        )
        #expect(restored.0 == 0, "\(restored.1)\(restored.2)")
        #expect(restored.1.contains("records [0, \(cut))"))
        let replay = try await runStockboom(["replay", "--dir", target.path + "/log", "--json", "--no-snapshots"])
        let replayed = try #require(
            try JSONSerialization.jsonObject(with: Data(replay.1.utf8)) as? [String: Any],
            "\(replay.2)"
        )
        #expect(
            replayed["stateDigest"] as? String == live.digest,
            "the restored log's state is the live state at offset \(cut)"
        )
        #expect(replayed["toOffset"] as? Int == Int(cut))

        // PostgreSQL: the trades table holds exactly the orders the live engine had then, with their statuses.
        let database = try PostgresConnection(url: databaseURL)
        var stored: [String: Int] = [:]
        for row in try database.query("SELECT status, count(*) FROM trades GROUP BY status").rows {
            stored[row[0]!] = Int(row[1]!)!
        }
        var expected: [String: Int] = [:]
        for order in live.orders.values { expected[order.status.description, default: 0] += 1 }
        #expect(stored == expected)
        #expect(!expected.isEmpty)

        // Redis: the checkpoint is the cut, the job from the future is gone, and every job names an order that
        // was still working at a KIS broker then.
        #expect(try JobDispatcher.checkpoint(store) == cut)
        #expect(try store.job(.tradeExecution, id: "999999999") == nil)
        let waiting = try store.redis.command(["LRANGE", "bull:trade-execution:wait", "0", "-1"])
        guard case .array(let ids) = waiting else {
            Issue.record("no wait list: \(waiting)")
            return
        }
        let working = live.orders.values.filter {
            !$0.status.isTerminal && live.accounts[$0.account]?.broker != .simulated
        }
        #expect(!working.isEmpty, "the workload leaves orders working at the cut")
        var named = Set<String>()
        for id in ids.compactMap(\.text) {
            let job = try #require(try store.job(.tradeExecution, id: id))
            let order = try #require(
                job["data"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }?[
                    "order"
                ]
            )
            named.insert(order)
            #expect(UInt64(id)! < cut, "job \(id) comes from an event before the cut")
        }
        #expect(named == Set(working.map(\.id.description)))

        // The whole backup: the chain head and state the live engine had when the backup ran.
        let whole = TemporaryDirectory("restore-whole")
        let full = try await runStockboom([
            "backup", "restore", "--from", repository.path, "--to", whole.path, "--log-only",
        ])
        #expect(full.0 == 0, "\(full.1)\(full.2)")
        #expect(full.1.contains("digest \(backup.digest)"), "\(full.1)")
    }
}
