import Engine
import Foundation
import Ledger
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing

/// `stockboom data import` against the strict KIS fake: paged and rate limited, resumable, broken rows refused
/// (never recorded, never a trap), the history usable by a backtest and projected into a database's candles.
@Suite struct DataImportTests {
    static func weekdays(_ from: String, _ to: String) -> Int {
        (KST.day(yyyymmdd: from)!...KST.day(yyyymmdd: to)!).filter { KST.weekday(day: $0) < 5 }.count
    }

    @Test func historyIsImportedPagedResumedAndProjected() async throws {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let mock = KISFake(now: wallClockMicros())
        let folder = TemporaryDirectory("history")
        try await withServer(mock.router()) { port in
            let (key, secret) = mock.state.withLock { ($0.appKey, $0.appSecret) }
            let database = try PostgresConnection.recreateDatabase("sb_test_history", serverURL: server)
            let environment = [
                "KIS_APP_KEY": key, "KIS_APP_SECRET": secret, "KIS_BASE_URL": "http://127.0.0.1:\(port)",
                "DATABASE_URL": database,
            ]
            func importing(_ to: String, _ extra: [String] = [], into log: String? = nil) async throws -> String {
                // The fake issues one token a minute, as KIS does: each run is a minute later.
                mock.state.withLock { $0.now += 61_000_000 }
                let (status, output, errors) = try await runStockboom(
                    [
                        "data", "import", "--stocks", "005930,000660", "--from", "20250101", "--to", to, "--log",
                        log ?? folder.file("log"),
                    ] + extra,
                    environment: environment
                )
                #expect(status == 0, "\(errors)")
                return output
            }
            let first = try await importing("20250331")
            #expect(first.contains("005930: \(Self.weekdays("20250101", "20250331")) bars recorded"), "\(first)")
            // Resumed: only the days after the newest one recorded.
            let second = try await importing("20250630")
            #expect(
                second.contains(
                    "005930: \(Self.weekdays("20250401", "20250630")) bars recorded (resumed after 20250331)"
                ),
                "\(second)"
            )
            let third = try await importing("20250630", ["--project"])
            #expect(third.contains("005930: 0 bars recorded") && third.contains("projected"), "\(third)")
            // A call per stock and window of 140 days (≤ 100 trading days: one KIS page); the resumed runs asked
            // only for what was missing, the third for nothing.
            let calls = mock.state.withLock { $0.requests.filter { $0.trID == "FHKST03010100" }.count }
            #expect(calls == 4, "\(calls)")
            #expect(mock.state.withLock { $0.violations }.isEmpty)
            let half = Self.weekdays("20250101", "20250630")
            let candles = try PostgresConnection(url: database).query(
                "SELECT stock_id, count(*) FROM candles WHERE timeframe = '1d' GROUP BY stock_id ORDER BY stock_id"
            ).rows
            #expect(candles == [["000660", String(half)], ["005930", String(half)]], "\(candles)")
            // The history is something to test on.
            let (status, report, errors) = try await runStockboom([
                "backtest", "--from-log", folder.file("log"), "--timeframe", "1d", "--strategy", "ma-cross", "--dir",
                folder.file("bt"), "--json",
            ])
            try #require(status == 0, "\(errors)")
            let bars = (try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any])?["bars"] as? Int
            #expect(bars == 2 * half)
            // Broken rows (a high under its low, a negative close, an unreadable open) are refused, never recorded.
            mock.state.withLock { $0.brokenDailyRows = 3 }
            let broken = try await importing("20250331", into: folder.file("broken"))
            #expect(
                broken.contains("005930: \(Self.weekdays("20250101", "20250331") - 3) bars recorded, 3 refused"),
                "\(broken)"
            )
            // Mistakes in the command line stop it before any request.
            for arguments in [["--stocks", "5930'--"], ["--stocks", "005930", "--from", "1999"], ["--kis", "live"]] {
                let (bad, _, message) = try await runStockboom(
                    ["data", "import", "--from", "20250101", "--stocks", "005930", "--log", folder.file("x")]
                        + arguments,
                    environment: environment
                )
                #expect(bad != 0 && !message.isEmpty, "\(arguments)")
            }
        }
    }
}
