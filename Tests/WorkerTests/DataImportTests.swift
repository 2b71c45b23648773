import Engine
import Foundation
import Ledger
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing
import Worker

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
    /// `--minutes` on real KIS: every day KIS still keeps minutes of as 1-minute bars (`inquire-time-dailychartprice`,
    /// 120 a page; the day's daily bar is their roll-up), the days before that as daily bars; resumed inside the
    /// last day without doubling a minute; broken minute rows refused. A paper client never asks for them.
    @Test func pastMinuteBarsAreImportedFromRealKISOnly() async throws {
        let today = KST.instant(day: KST.day(yyyymmdd: "20250701")!, hour: 16)
        let mock = KISFake(now: today)
        mock.state.withLock {
            $0.paper = false
            $0.minuteHistoryDays = 10  // minutes kept from 2025-06-23 on
            $0.rateLimit = 50
        }
        let folder = TemporaryDirectory("minutes")
        try await withServer(mock.router()) { port in
            let (key, secret) = mock.state.withLock { ($0.appKey, $0.appSecret) }
            let environment = [
                "KIS_APP_KEY": key, "KIS_APP_SECRET": secret, "KIS_BASE_URL": "http://127.0.0.1:\(port)",
            ]
            func importing(_ log: String) async throws -> String {
                mock.state.withLock { $0.now += 61_000_000 }  // one token a minute
                let (status, output, errors) = try await runStockboom(
                    [
                        "data", "import", "--stocks", "005930", "--from", "20250601", "--to", "20250630", "--minutes",
                        "--kis", "real", "--log", log,
                    ],
                    environment: environment
                )
                #expect(status == 0, "\(errors)")
                return output
            }
            let daily = Self.weekdays("20250601", "20250622")
            let minuteDays = Self.weekdays("20250623", "20250630")
            let minutes = minuteDays * 391  // the fake serves every minute from 09:00 to 15:30
            let first = try await importing(folder.file("log"))
            #expect(first.contains("005930: \(daily + minutes) bars recorded"), "\(first)")
            let pages = mock.state.withLock { $0.requests.filter { $0.trID == "FHKST03010230" }.count }
            #expect(pages <= minuteDays * 4 + 8, "4 pages a day (391 minutes, 120 a page) and a few probes: \(pages)")
            let again = try await importing(folder.file("log"))
            #expect(again.contains("005930: 0 bars recorded (resumed after 20250630)"), "\(again)")
            #expect(mock.state.withLock { $0.violations }.isEmpty)
            // What the log holds: the minutes and their daily roll-ups, one daily bar a day.
            let log = try EventLog(directory: folder.file("log"), readOnly: true)
            var counts: [Timeframe: Int] = [:]
            try log.scan(from: 0) { view in
                if let envelope = try? EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp),
                    case .candleClosed(let candle) = envelope.event
                {
                    counts[candle.timeframe, default: 0] += 1
                }
                return .continue
            }
            log.close()
            #expect(counts[.minute1] == minutes, "\(counts)")
            #expect(counts[.day1] == daily + minuteDays, "\(counts)")
            // Broken rows are refused, never recorded.
            mock.state.withLock { $0.brokenMinuteDays = ["20250624", "20250625"] }
            let broken = try await importing(folder.file("broken"))
            #expect(broken.contains("005930: \(daily + minutes - 2) bars recorded, 2 refused"), "\(broken)")
            // The paper host answers the real-only TR as KIS does (EGW02006), and counts it as a mistake.
            mock.state.withLock {
                $0.paper = true
                $0.now += 61_000_000
            }
            let asking = KISClient(
                environment: .real,
                credentials: KISCredentials(appKey: key, appSecret: secret, accountNumber: "00000000-01"),
                baseURL: "http://127.0.0.1:\(port)",
                clock: { mock.now }
            )
            await #expect(throws: KISError.self) { try await asking.pastMinuteBars("005930", day: "20250630") }
            #expect(mock.state.withLock { $0.violations }.count == 1)
        }
        // The real host's only: a paper client refuses to ask.
        let paper = KISClient(
            environment: .paper,
            credentials: KISCredentials(appKey: "k", appSecret: "s", accountNumber: "00000000-01"),
            baseURL: "http://127.0.0.1:9",
            clock: { wallClockMicros() }
        )
        await #expect(throws: KISError.self) { try await paper.pastMinuteBars("005930", day: "20250630") }
    }
}
