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

/// Every SQL statement of the operator guide's database sections (seed/000_…, "데이터베이스 관리", "데이터 정리 작업",
/// "장애 대응 3/4", "성능 최적화"), verbatim, against a populated database. The deployment's database name
/// ('stockboom' in the guide) is this test's own database: the one substitution.
@Suite(.serialized) struct OperatorGuideSQLTests {
    @Test func everyStatementRunsAndAnswersWhatTheLogSays() async throws {
        let directory = TemporaryDirectory("guide")
        let state = try await workloadLog(directory.path, commands: 3_000, seed: 31)
        let url = try freshDatabase("guide")
        let database = String(url[url.index(after: url.lastIndex(of: "/")!)...])  // freshDatabase returns …/name
        let log = try EventLog(directory: directory.path, readOnly: true)
        let runner = try ProjectionRunner(log: log, connect: { try PostgresConnection(url: url) })
        try runner.catchUp()
        let sql = try PostgresConnection(url: url)  // a new session: the guide's search path applies
        func run(_ statement: String) throws -> PostgresRows {
            try sql.query(statement.replacingOccurrences(of: "'stockboom'", with: "'\(database)'"))
        }

        // 일반 관리
        #expect(try run("SELECT pg_size_pretty(pg_database_size('stockboom'));").rows.count == 1)
        let sizes = try run(
            """
            SELECT 
              table_name,
              pg_size_pretty(pg_total_relation_size(quote_ident(table_name))) AS size
            FROM information_schema.tables
            WHERE table_schema = 'public'
            ORDER BY pg_total_relation_size(quote_ident(table_name)) DESC;
            """
        ).rows.compactMap { $0[0] }
        for table in [
            "candles", "trades", "notifications", "broker_accounts", "stocks", "indicators", "users", "positions",
            "order_events",
        ] {
            #expect(sizes.contains(table), "\(table)")
        }
        #expect(try run("SELECT count(*) FROM pg_stat_activity;").rows.count == 1)
        _ = try run(
            """
            SELECT 
              pid,
              now() - query_start AS duration,
              query
            FROM pg_stat_activity
            WHERE state = 'active'
            AND now() - query_start > interval '5 seconds';
            """
        )
        // 인덱스 관리
        let indexStats = try run(
            """
            SELECT 
              schemaname,
              tablename,
              indexname,
              idx_scan,
              idx_tup_read,
              idx_tup_fetch
            FROM pg_stat_user_indexes
            ORDER BY idx_scan ASC;
            """
        )
        #expect(indexStats.rows.contains { $0[1] == "trades" && $0[2] == "trades_pkey" })
        _ = try run(
            """
            SELECT 
              schemaname,
              tablename,
              indexname
            FROM pg_stat_user_indexes
            WHERE idx_scan = 0 AND indexrelname NOT LIKE '%_pkey';
            """
        )
        try sql.execute("REINDEX TABLE candles;")
        try sql.execute("REINDEX TABLE indicators;")
        // 유지보수
        try sql.execute("VACUUM ANALYZE;")
        try sql.execute("VACUUM ANALYZE candles;")
        try sql.execute("VACUUM ANALYZE trades;")
        try sql.execute("VACUUM FULL trades;")
        // 장애 대응 3: failed orders, newest first, as the log says.
        let failed = try run(
            """
            SELECT id, stock_id, order_side, quantity, status, failure_reason, created_at
            FROM trades
            WHERE status IN ('REJECTED', 'FAILED')
            ORDER BY created_at DESC
            LIMIT 20;
            """
        ).rows
        let expectedFailed = state.orders.values.filter { $0.status == .rejected || $0.status == .failed }
        #expect(failed.count == min(20, expectedFailed.count))
        for row in failed {
            let order = try #require(OrderID(row[0] ?? "").flatMap { state.orders[$0] })
            #expect(row[4] == order.status.description)
            #expect(row[5] == order.failureReason?.rawValue)
            #expect(row[2] == order.side.description)
        }
        let newest = expectedFailed.map(\.createdAt).max() ?? 0
        #expect(
            try run(
                "SELECT max(created_at) = '\(ISOTime.utc(newest))'::timestamptz FROM trades WHERE status IN ('REJECTED', 'FAILED')"
            ).rows == [["t"]]
        )
        #expect(try run("SELECT * FROM trades WHERE id = 'trade-id';").rows.isEmpty)
        #expect(try run("SELECT * FROM trades WHERE id = 'ord-0000000001';").rows.count == 1)
        #expect(try run("SELECT * FROM broker_accounts WHERE id = 'account-id';").rows.isEmpty)
        let account = try run("SELECT * FROM broker_accounts WHERE id = 'acc-0000000001';")
        #expect(account.rows.count == 1)
        #expect(account.columns.contains("cash"))
        #expect(
            !account.rows[0].contains { $0?.contains("5000") == true && $0?.count == 10 },
            "account numbers are stored masked"
        )
        // 장애 대응 4
        #expect(try run("SELECT count(*) FROM pg_stat_activity;").rows.count == 1)
        // 성능 최적화
        _ = try run(
            """
            SELECT 
              mean_exec_time,
              calls,
              query
            FROM pg_stat_statements
            WHERE mean_exec_time > 1000
            ORDER BY mean_exec_time DESC
            LIMIT 10;
            """
        )
        try sql.execute("CREATE INDEX CONCURRENTLY idx_trades_created_at ON trades(created_at DESC);")
        // 데이터 정리 작업 (the workload is from 2025: its 1m candles are over a year old)
        let minuteCandles = try run("SELECT count(*) FROM candles WHERE timeframe = '1m'").rows[0][0]
        #expect(
            try run(
                """
                DELETE FROM candles 
                WHERE timeframe = '1m' 
                AND timestamp < NOW() - INTERVAL '1 year';
                """
            ).affected == Int(minuteCandles ?? "0")
        )
        _ = try run(
            """
            DELETE FROM notifications 
            WHERE is_read = true 
            AND created_at < NOW() - INTERVAL '3 months';
            """
        )
        let cancelled = state.orders.values.filter { $0.status == .cancelled }.count
        #expect(
            try run(
                """
                DELETE FROM trades 
                WHERE status = 'CANCELLED' 
                AND created_at < NOW() - INTERVAL '6 months';
                """
            ).affected == cancelled
        )
        // 연결 강제 종료 (last: it ends every other session of the database, the runner's included)
        _ = try run(
            """
            SELECT pg_terminate_backend(pid)
            FROM pg_stat_activity
            WHERE datname = 'stockboom' AND pid <> pg_backend_pid();
            """
        )
    }
}
