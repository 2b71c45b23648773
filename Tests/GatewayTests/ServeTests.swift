import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Gateway
@testable import Ledger
@testable import Projections

/// `curl` against the running server (a POST when `json` or `body` is given): (status, body). curl runs off the
/// cooperative pool, so waiting for it never holds a thread the in-process servers of other tests need.
func http(
    _ url: String,
    json: String? = nil,
    body: String? = nil,
    contentType: String = "text/plain",
    token: String? = nil
) async throws -> (Int, String) {
    let content = json.map { ("application/json", $0) } ?? body.map { (contentType, $0) }
    return try await onOwnThread { try curl(url, content: content, token: token) }
}

private func curl(_ url: String, content: (type: String, body: String)?, token: String?) throws -> (Int, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments =
        ["-s", "-m", "10", "-w", "\n%{http_code}"]
        + (content.map { ["-H", "Content-Type: \($0.type)", "--data-binary", $0.body] } ?? [])
        + (token.map { ["-H", "Authorization: Bearer \($0)"] } ?? []) + [url]
    let output = OutputFile()
    process.standardOutput = output.handle
    try process.run()
    process.waitUntilExit()
    let text = output.text
    let code = Int(text.split(separator: "\n").last ?? "0") ?? 0
    return (code, String(text.split(separator: "\n").dropLast().joined(separator: "\n")))
}

func freePort() -> Int { freeLoopbackPort() }

/// A `stockboom serve` process on a loopback port, stopped with SIGTERM.
final class Server: @unchecked Sendable {
    // @unchecked: the process and output file are set once in init and only read afterwards.
    let process = Process()
    let output = OutputFile()
    let port: Int

    init(directory: String, environment: [String: String], arguments: [String] = []) async throws {
        self.port = freePort()
        self.process.executableURL = URL(fileURLWithPath: try stockboomExecutable())
        self.process.arguments = ["serve", "--dir", directory, "--port", String(self.port)] + arguments
        self.process.environment = environment.merging(["SWIFT_BACKTRACE": "enable=no", "PATH": "/usr/bin:/bin"]) { $1 }
        self.process.standardOutput = self.output.handle
        self.process.standardError = self.output.handle  // the log lines (JSON) are on standard error
        try self.process.run()
        for _ in 0..<200 {
            if (try? await http("http://127.0.0.1:\(self.port)/metrics").0) == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        self.process.terminate()
        throw ServerDidNotStart()
    }

    struct ServerDidNotStart: Error {}

    var url: String { "http://127.0.0.1:\(self.port)" }

    /// SIGTERM; returns the exit status and what the server printed.
    func stop() async -> (Int32, String) {
        kill(self.process.processIdentifier, SIGTERM)
        return
            (try? await onOwnThread {
                self.process.waitUntilExit()
                return (self.process.terminationStatus, self.output.text)
            }) ?? (-1, "")
    }
}

@Suite(.serialized) struct ServeTests {
    static func services() throws -> [String: String] {
        let environment = ProcessInfo.processInfo.environment
        let database = try #require(
            environment["DATABASE_URL"],
            "DATABASE_URL is unset: run the tests with `make test`"
        )
        let redis = try #require(environment["REDIS_URL"], "REDIS_URL is unset: run the tests with `make test`")
        return ["DATABASE_URL": database, "REDIS_URL": redis]
    }

    /// Each server test gets a database of its own (a database built from another log is refused).
    static func servicesWithFreshDatabase(_ tag: String) throws -> [String: String] {
        var environment = try Self.services()
        environment["DATABASE_URL"] = try PostgresConnection.recreateDatabase(
            "sb_test_serve_\(tag)",
            serverURL: environment["DATABASE_URL"]!
        )  // set above
        return environment
    }

    @Test func healthMetricsAndGracefulShutdown() async throws {
        let directory = TemporaryDirectory("serve")
        let server = try await Server(directory: directory.path, environment: try Self.servicesWithFreshDatabase("ok"))
        let (status, body) = try await http(server.url + "/health")
        #expect(status == 200, "\(body)")
        let health = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(health["status"] as? String == "ok")
        #expect((health["postgres"] as? [String: Any])?["ok"] as? Bool == true)
        #expect((health["redis"] as? [String: Any])?["ok"] as? Bool == true)
        #expect((health["log"] as? [String: Any])?["writable"] as? Bool == true)
        let (metricsStatus, metrics) = try await http(server.url + "/metrics")
        #expect(metricsStatus == 200)
        for name in [
            "http_request_duration_seconds_bucket", "bullmq_queue_size", "bullmq_queue_waiting_count",
            "postgres_connections_active",
            "redis_connected_clients", "process_cpu_usage_percent", "process_memory_usage_bytes",
            "stockboom_log_head_offset",
            "stockboom_log_fsync_seconds_mean", "stockboom_projection_lag_events",
        ] {
            #expect(metrics.contains(name), "\(name) missing from /metrics")
        }
        #expect(metrics.contains("route=\"/health\""), "requests are labelled by route")
        #expect(metrics.contains("queue=\"trade-execution\""))
        let (notFound, problem) = try await http(server.url + "/no-such-route")
        #expect(notFound == 404)
        let details = try #require(
            try JSONSerialization.jsonObject(with: Data(problem.utf8)) as? [String: Any],
            "errors are problem details: \(problem)"
        )
        #expect(details["status"] as? Int == 404)
        #expect(details["title"] as? String == "Not Found")
        #expect((details["detail"] as? String)?.contains("/no-such-route") == true)
        #expect(details["type"] as? String == "about:blank")
        let (exit, output) = await server.stop()
        #expect(exit == 0, "SIGTERM must end in a clean exit: \(output)")
        #expect(output.contains("stopped cleanly"))
        #expect(FileManager.default.fileExists(atPath: directory.path + "/CLEAN"), "the log was closed cleanly")
        #expect(
            !(try SnapshotStore(logDirectory: directory.path).list()).isEmpty,
            "the engine wrote a snapshot on the way out"
        )
    }

    @Test func shutdownEndsOpenEventStreams() async throws {
        let directory = TemporaryDirectory("serve")
        var environment = try Self.servicesWithFreshDatabase("stream")
        environment["BCRYPT_COST"] = "4"
        let server = try await Server(directory: directory.path, environment: environment)
        let (_, body) = try await http(
            server.url + "/api/auth/register",
            json: "{\"email\":\"a@example.com\",\"password\":\"sturdy-pass-123\"}"
        )
        let token =
            ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["token"] as? String ?? ""
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        client.arguments = [
            "-sN", "-m", "60", "-H", "Authorization: Bearer \(token)", server.url + "/api/stream?from=0",
        ]
        let output = OutputFile()
        client.standardOutput = output.handle
        try client.run()
        // The stream is open once its first event arrived (a fixed wait lost the race under a full CI run).
        let opened = ContinuousClock.now + .seconds(30)
        while !output.text.contains("event: UserRegistered"), ContinuousClock.now < opened {
            try await Task.sleep(for: .milliseconds(50))
        }
        let started = Date()
        let (exit, log) = await server.stop()
        #expect(exit == 0, "\(log.suffix(2000))")
        #expect(Date().timeIntervalSince(started) < 10, "SIGTERM must not wait for an open stream")
        try await onOwnThread { client.waitUntilExit() }
        let received = output.text
        #expect(received.contains("event: UserRegistered"), "\(received)")
    }

    /// The log on a 4 MiB tmpfs of the test's own: when it fills, writes answer 503 naming the cause, /health
    /// names the log, nothing acknowledged is lost (a restart finds it), and writes work again once space returns.
    @Test(.enabled(if: SmallFileSystem.available, "mounting a tmpfs needs root"))
    func aFullLogDiskIsAClearRefusalNotCorruption() async throws {
        let disk = try SmallFileSystem(megabytes: 4, "serve-diskfull")
        var environment = try Self.servicesWithFreshDatabase("diskfull")
        // the session outlives the restart
        environment["JWT_SECRET"] = "a fixed secret of more than thirty-two characters"
        var server = try await Server(directory: disk.path + "/log", environment: environment)
        let (_, session) = try await http(
            server.url + "/api/auth/register",
            json: #"{"email":"full@example.com","password":"sturdy-pass-123"}"#
        )
        let token = try #require(
            (try JSONSerialization.jsonObject(with: Data(session.utf8)) as? [String: Any])?["token"] as? String,
            "\(session)"
        )
        let (first, _) = try await http(
            server.url + "/api/broker-accounts",
            json: #"{"broker":"SIMULATED","accountNumber":"5012345601","initialCash":1000000}"#,
            token: token
        )
        #expect(first == 201)

        let ballast = disk.fill("ballast", bytes: 64 << 20)  // until the file system refuses
        // The segment's last page may still take a frame or two; then the disk is really full.
        var acknowledged = 1
        var refusal: (Int, String)?
        for number in 2..<200 {
            let (status, body) = try await http(
                server.url + "/api/broker-accounts",
                json:
                    #"{"broker":"SIMULATED","accountNumber":"50123456\#(String(format: "%02d", number % 100))","initialCash":1000000}"#,
                token: token
            )
            if status == 201 {
                acknowledged += 1
                continue
            }
            refusal = (status, body)
            break
        }
        let (refused, problem) = try #require(refusal, "the disk never filled")
        #expect(refused == 503, "\(problem)")
        #expect(problem.contains("file system is full"), "\(problem)")
        let (health, report) = try await http(server.url + "/health")
        #expect(health == 503)
        #expect(report.contains("\"failing\":[\"log\"]") && report.contains("is full"), "\(report)")

        try FileManager.default.removeItem(atPath: ballast)
        let (third, _) = try await http(
            server.url + "/api/broker-accounts",
            json: #"{"broker":"SIMULATED","accountNumber":"5012345603","initialCash":1000000}"#,
            token: token
        )
        #expect(third == 201, "writes resume once space returns")
        acknowledged += 1
        try await Task.sleep(for: .milliseconds(1_100))  // /health answers from a check at most a second old
        #expect(try await http(server.url + "/health").0 == 200)
        func accountNumbers() async throws -> [String] {
            let (_, body) = try await http(server.url + "/api/broker-accounts", token: token)
            let list =
                (try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["items"]
                as? [[String: Any]] ?? []
            return list.compactMap { $0["id"] as? String }.sorted()
        }
        let before = try await accountNumbers()
        #expect(before.count == acknowledged, "every acknowledged account and nothing else: \(before)")
        #expect(await server.stop().0 == 0)
        server = try await Server(directory: disk.path + "/log", environment: environment)
        let after = try await accountNumbers()
        #expect(after == before, "what was acknowledged survives the restart: \(after) vs \(before)")
        #expect(await server.stop().0 == 0)
    }

    @Test func healthNamesTheFailingPart() async throws {
        let directory = TemporaryDirectory("serve")
        var environment = try Self.servicesWithFreshDatabase("redis")
        environment["REDIS_URL"] = "redis://127.0.0.1:1"
        let server = try await Server(directory: directory.path, environment: environment)
        let (status, body) = try await http(server.url + "/health")
        #expect(status == 503)
        #expect(body.contains("\"failing\":[\"redis\"]"), "\(body)")
        _ = await server.stop()
    }

    @Test func aDatabaseOfAnotherLogIsNamed() async throws {
        // Projections at offset 500 of some log, and a fresh, empty log here.
        var environment = try Self.servicesWithFreshDatabase("foreign")
        let database = try PostgresConnection(url: environment["DATABASE_URL"]!)  // set by servicesWithFreshDatabase
        try Migrator.migrate(database)
        try database.execute("INSERT INTO projection_checkpoints (name, last_offset) VALUES ('market', 500)")
        environment["REDIS_URL"] = try Self.services()["REDIS_URL"]
        let directory = TemporaryDirectory("serve")
        let server = try await Server(directory: directory.path, environment: environment)
        let (status, body) = try await http(server.url + "/health")
        #expect(status == 503)
        #expect(body.contains("\"failing\":[\"projections\"]"), "\(body)")
        _ = await server.stop()
    }
}

@Suite(.serialized) struct SchemathesisTests {
    /// schemathesis generates requests from /openapi.json (valid and invalid) against a real server and checks
    /// every answer against the document: no 500s, no undocumented statuses, invalid input refused.
    @Test func theServerHonoursItsOpenAPIDocument() async throws {
        var environment = try ServeTests.servicesWithFreshDatabase("schemathesis")
        environment["BCRYPT_COST"] = "4"
        let directory = TemporaryDirectory("schemathesis")
        let server = try await Server(
            directory: directory.path,
            environment: environment,
            arguments: ["--clock-start", "2025-01-06T10:00:00+09:00"]
        )
        let (status, body) = try await http(
            server.url + "/api/auth/register",
            json: "{\"email\":\"st@example.com\",\"password\":\"sturdy-pass-123\"}"
        )
        #expect(status == 201, "\(body)")
        let token =
            ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["token"] as? String ?? ""
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Schemathesis/run.sh"
        ).path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, server.url, token]
        process.environment = ProcessInfo.processInfo.environment
        let output = OutputFile()
        process.standardOutput = output.handle
        process.standardError = output.handle
        try process.run()
        let text = try await onOwnThread {  // minutes of schemathesis, waited for off the cooperative pool
            process.waitUntilExit()
            return output.text
        }
        #expect(process.terminationStatus == 0, "schemathesis found failures:\n\(text.suffix(6000))")
        let (exit, log) = await server.stop()
        #expect(exit == 0, "\(log.suffix(2000))")
    }
}

/// The dashboard in a real browser.
@Suite struct BrowserTests {
    /// Runs `Browser/<name>` with python3 (off the cooperative pool): its exit status, its output, and the JSON
    /// object it printed (its report; empty when it printed none).
    static func script(_ name: String, _ arguments: [String]) async throws -> (
        status: Int32, text: String, report: [String: Any]
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "python3",
                URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/\(name)")
                    .path,
            ]
            + arguments
        let output = OutputFile()
        process.standardOutput = output.handle
        process.standardError = output.handle
        try process.run()
        let text = try await onOwnThread {
            process.waitUntilExit()
            return output.text
        }
        let report = ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
        return (process.terminationStatus, text, report)
    }

    /// `stockboom backtest --report DIR` writes a page a person opens from the file: Chromium draws its three
    /// charts (equity against buy-and-hold, drawdown, the trades on the prices) and its tables match the JSON.
    @Test func aBacktestReportOpensAndDrawsItsCharts() async throws {
        let folder = TemporaryDirectory("report")
        let data = folder.file("bars.csv")
        try GeneratedDailyBars.csv(code: "005930", name: "생성된주식", seed: 3).write(
            toFile: data,
            atomically: true,
            encoding: .utf8
        )
        let (status, output, errors) = try await runStockboom([
            "backtest", "--data", data, "--strategy", "rsi-reversion", "--params", "percent=20", "--from", "20150105",
            "--dir", folder.file("log"), "--report", folder.file("report"), "--json",
        ])
        try #require(status == 0, "\(errors)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let document = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: folder.file("report/report.json")))
            )
                as? [String: Any]
        )
        let trades = try #require(document["trades"] as? [[String: Any]])
        #expect(!trades.isEmpty && (summary["fills"] as? Int ?? 0) >= trades.count, "filled orders listed")
        #expect((document["equity"] as? [Any])?.count == (document["buyAndHold"] as? [Any])?.count)
        let keep = ProcessInfo.processInfo.environment["STOCKBOOM_SCREENSHOTS"]
        let (shown, text, report) = try await Self.script(
            "report.py",
            [folder.file("report/report.html"), (keep ?? folder.path) + "/backtest-report.png"]
        )
        #expect(shown == 0, "\(text)")
        #expect(report["charts"] as? Int == 3 && (report["scriptErrors"] as? [Any])?.isEmpty == true, "\(text)")
        #expect(report["tradeRows"] as? Int == trades.count, "every trade listed")
        #expect(report["monthCells"] as? Int == (document["monthly"] as? [Any])?.count, "a cell per month")
        #expect((report["monthlyRows"] as? Int ?? 0) >= 10, "a row per year")
        #expect((report["chartBars"] as? Int ?? 0) > 100 && report["lang"] as? String == "ko")
    }

    /// Headless Chromium (Debian) signs in through the form at / and must then show the portfolio; a wrong
    /// password must not. Driven over the DevTools protocol by `Browser/sign_in.py`.
    @Test func aBrowserSignsInAndSeesThePortfolio() async throws {
        var environment = try ServeTests.servicesWithFreshDatabase("browser")
        environment["BCRYPT_COST"] = "4"
        let directory = TemporaryDirectory("browser")
        let server = try await Server(
            directory: directory.path,
            environment: environment,
            arguments: ["--clock-start", "2025-01-06T10:00:00+09:00"]
        )
        let (status, body) = try await http(
            server.url + "/api/auth/register",
            json: #"{"email":"browser@example.com","password":"a long browser password"}"#
        )
        #expect(status == 201, "\(body)")
        let token =
            ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["token"] as? String ?? ""
        let (created, account) = try await http(
            server.url + "/api/broker-accounts",
            json: #"{"broker":"SIMULATED","accountNumber":"5012345678","initialCash":7654321}"#,
            token: token
        )
        #expect(created == 201, "\(account)")

        func browse(_ password: String, kill: String? = nil) async throws -> [String: Any] {
            let (status, text, report) = try await Self.script(
                "sign_in.py",
                [server.url, "browser@example.com", password] + (kill.map { [$0] } ?? [])
            )
            #expect(status == 0, "\(text)")
            return report.isEmpty ? ["output": text] : report
        }

        let page = try await browse("a long browser password")
        let portfolio = try #require(page["portfolio"] as? String, "\(page)")
        #expect(portfolio.contains("7,654,321"), "the deposited cash is on the page: \(portfolio)")
        #expect(portfolio.contains("******5678"), "the account, masked: \(portfolio)")
        #expect(
            page["sections"] as? [String] == ["portfolio", "trade", "orders", "chart", "strategies", "notifications"],
            "a trader's page; the system panel is an operator's: \(page)"
        )
        #expect(page["cookieVisibleToScript"] as? Bool == false, "the session cookie is HttpOnly")
        #expect(page["system"] is NSNull, "\(page)")
        #expect(page["lang"] as? String == "ko", "Korean first: \(page)")
        // The kill switch, pressed as a person would: not sent until the box is ticked, then the account halted.
        let accountID = try #require(
            ((try? JSONSerialization.jsonObject(with: Data(account.utf8))) as? [String: Any])?["id"] as? String
        )
        let killed = try #require(
            try await browse("a long browser password", kill: accountID)["kill"] as? [String: Any]
        )
        #expect(killed["button"] as? Bool == true, "\(killed)")
        #expect(killed["stayedWithoutConfirm"] as? Bool == true, "an unticked box sends nothing: \(killed)")
        #expect(killed["haltedWithoutConfirm"] as? Bool == false, "\(killed)")
        #expect((killed["halted"] as? String)?.contains("kill switch pressed by") == true, "\(killed)")
        #expect(killed["buttonAfter"] as? Bool == false, "a halted account shows its reason, not the switch")
        #expect(killed["resumed"] as? Bool == true, "resumed from the page, the switch is back: \(killed)")
        let refused = try await browse("not the password")
        #expect(refused["portfolio"] is NSNull, "a wrong password shows no portfolio: \(refused)")
        #expect(refused["signinAgain"] as? Bool == true, "but the form again: \(refused)")
        let (exit, log) = await server.stop()
        #expect(exit == 0, "\(log.suffix(2000))")
    }
}

extension BrowserTests {
    /// The dashboard as a trader and an operator use it (`Browser/dashboard.py`, headless Chromium): live over
    /// SSE without a reload, the chart with candles, volume and the fill as a marker, an order the engine refuses
    /// shown in words and one it takes, its fill arriving live, a cancel, a strategy on and off, the operator's
    /// halt of all trading, the order's lifecycle page with the chain check, /docs, and English on request.
    /// Every user-supplied string (a stock name, a notification, a client order id, a halt reason) carries
    /// markup and must show as text. `STOCKBOOM_SCREENSHOTS=DIR` keeps the screenshots (docs/screenshots).
    @Test func aTraderAndAnOperatorUseTheLiveDashboard() async throws {
        var environment = try ServeTests.servicesWithFreshDatabase("browser_live")
        environment["BCRYPT_COST"] = "4"
        let worker = "browser-worker-token-0123456789abcdef"
        environment["STOCKBOOM_WORKER_TOKEN"] = worker
        let directory = TemporaryDirectory("browser-live")
        let server = try await Server(
            directory: directory.path,
            environment: environment,
            arguments: ["--clock-start", "2025-01-06T10:00:00+09:00"]
        )
        func object(_ text: String) -> [String: Any] {
            ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
        }
        let (registered, session) = try await http(
            server.url + "/api/auth/register",
            json: #"{"email":"trader@example.com","password":"a long browser password"}"#
        )
        #expect(registered == 201, "\(session)")
        let token = object(session)["token"] as? String ?? ""
        let (_, me) = try await http(server.url + "/api/auth/me", token: token)
        let user = try #require(object(me)["id"] as? String)
        let (_, account) = try await http(
            server.url + "/api/broker-accounts",
            json: #"{"broker":"SIMULATED","accountNumber":"5012345678","initialCash":10000000}"#,
            token: token
        )
        let accountID = try #require(object(account)["id"] as? String, "\(account)")
        // As the worker and the operator's CLI would: a stock whose name carries markup, the operator role, and a
        // notification made of markup.
        let commands = """
            {"commands":[{"listStock":{"stock":"005930","name":"삼성<b>전자</b>&<i>","market":"KOSPI","previousClose":70000}},
            {"grantOperator":{"user":"\(user)","by":"browser-test"}},
            {"notify":{"user":"\(user)","kind":"SYSTEM","title":"<script>alert(1)</script>","message":"\\"><img src=x onerror=alert(2)>"}}]}
            """
        let (recorded, results) = try await http(server.url + "/internal/commands", json: commands, token: worker)
        #expect(recorded == 200 && !results.contains("422"), "\(results)")
        // Two hours of one-minute bars before 10:00 KST (µs since the epoch), as the collector posts them.
        var bars = ""
        var price: Int64 = 70_000
        let start: Int64 = 1_736_125_200_000_000
        for minute in -120..<0 {
            let close = price + [-200, -100, 0, 100, 200][(minute + 1_000) % 5]
            bars +=
                "005930,1m,\(start + Int64(minute) * 60_000_000),\(price),\(max(price, close) + 100),\(min(price, close) - 100),\(close),\(1_000 + (minute + 200) * 37)\n"
            price = close
        }
        let (candled, candleAnswer) = try await http(
            server.url + "/internal/candles",
            body: bars,
            contentType: "text/csv",
            token: worker
        )
        #expect(candled == 200, "\(candleAnswer)")
        let keep = ProcessInfo.processInfo.environment["STOCKBOOM_SCREENSHOTS"]
        let shots = TemporaryDirectory("browser-shots")
        let (status, text, report) = try await Self.script(
            "dashboard.py",
            [
                server.url, "trader@example.com", "a long browser password", accountID, worker, "005930",
                keep ?? shots.path,
            ]
        )
        #expect(status == 0, "\(text)")
        #expect(report["lang"] as? String == "ko", "\(text)")
        #expect(report["stream"] as? String == "open", "the page subscribed to /api/stream: \(text)")
        #expect(report["candles"] as? Int == 120, "\(text)")
        #expect((report["chartCanvas"] as? Int ?? 0) > 0, "the chart library drew: \(text)")
        #expect((report["rulesOffTick"] as? String)?.contains("✗") == true, "the tick rule before sending: \(text)")
        #expect((report["refusal"] as? String)?.contains("not on the 100 KRW tick") == true, "\(text)")
        let placed = try #require(report["placed"] as? String, "\(text)")
        #expect(report["inTable"] as? Bool == true, "\(text)")
        #expect(report["fillRecorded"] as? Int == 200, "\(text)")
        #expect(report["filledLive"] as? Bool == true, "the fill arrived without a reload: \(text)")
        #expect(report["markers"] as? Int == 1, "the fill is a marker on the chart: \(text)")
        #expect((report["portfolioAfterFill"] as? String)?.contains("70,009원") == true, "avg price with fee: \(text)")
        #expect(report["cancelled"] as? String == "CANCELLED", "\(text)")
        // Protective orders from the page: refused in words, armed, cancelled; a trailing stop fired live by a bar.
        #expect((report["triggerRefused"] as? String)?.contains("held") == true, "\(text)")
        #expect(report["stopArmed"] as? Bool == true && report["stopCancelled"] as? Bool == true, "\(text)")
        #expect(report["trailLevel"] as? String == "68,600원", "2 % under the last close 70,000, on the tick: \(text)")
        #expect(report["barRecorded"] as? Int == 200, "\(text)")
        let exitOrder = try #require(report["trailFired"] as? String, "the trailing stop fired: \(text)")
        #expect(exitOrder.hasPrefix("ord-") && report["exitShown"] as? Bool == true, "its exit in the table: \(text)")
        #expect((report["strategyOn"] as? String)?.contains("fast=3,slow=7,quantity=2") == true, "\(text)")
        #expect(report["strategyOff"] as? Bool == true, "\(text)")
        // The rule-set editor: a mistake named with its place, which is selected; checked; saved; enabled.
        let mistake = try #require(report["ruleMistake"] as? String, "\(text)")
        #expect(mistake.contains("line 3"), "\(text)")
        let place = report["ruleMistakeAt"] as? [Any]
        #expect((place?.first as? Int ?? 0) > 30, "the caret on line 3: \(text)")
        #expect((report["ruleChecked"] as? String)?.contains("rsi_14") == true, "\(text)")
        #expect((report["ruleSaved"] as? String)?.contains("rule:dip v1") == true, "\(text)")
        #expect((report["ruleListed"] as? String)?.contains("v1") == true, "\(text)")
        #expect((report["ruleEnabled"] as? String)?.contains("version=1") == true, "pinned to its version: \(text)")
        #expect((report["ruleLoaded"] as? String)?.contains("target: 6%") == true, "\(text)")
        #expect((report["system"] as? String)?.contains("trade-execution") == true, "the operator's panel: \(text)")
        #expect((report["tradingHalted"] as? String)?.contains("점검 <b>중</b>") == true, "as text: \(text)")
        #expect(report["haltMarkup"] as? Bool == false, "\(text)")
        #expect(report["tradingResumed"] as? Bool == true, "\(text)")
        #expect(report["stayed"] as? Bool == true, "all of it without a reload or a navigation: \(text)")
        #expect(report["escaped"] as? Int == 0, "no markup from user strings became elements: \(text)")
        #expect((report["notifications"] as? String)?.contains("<script>alert(1)</script>") == true, "\(text)")
        #expect((report["orders"] as? String)?.contains("삼성<b>전자</b>&<i>") == true, "\(text)")
        let readOnly = try #require(report["operatorView"] as? [String: Any], "\(text)")
        #expect((readOnly["heading"] as? String)?.contains(accountID) == true, "\(text)")
        #expect((readOnly["portfolio"] as? String)?.contains("70,009원") == true, "\(text)")
        #expect(readOnly["controls"] as? Int == 0, "an operator's view of an account is read-only: \(text)")
        let rejected = try #require((readOnly["resubmittable"] as? [String])?.first, "the REJECTED order: \(text)")
        let resubmitted = try #require(report["resubmitted"] as? String, "\(text)")
        #expect(resubmitted != rejected && report["resubmittedShown"] as? Bool == true, "\(text)")
        let lifecycle = try #require(report["orderPage"] as? [String: Any], "\(text)")
        #expect(
            lifecycle["events"] as? [String] == ["OrderRequested", "OrderSubmitted", "OrderAccepted", "OrderFilled"],
            "\(text)"
        )
        let offsets = lifecycle["offsets"] as? [Int] ?? []
        #expect(offsets.count == 4 && offsets == offsets.sorted(), "\(text)")
        #expect(lifecycle["verified"] as? Bool == true, "\(text)")
        #expect((report["otherOrder"] as? String)?.contains("no order") == true, "\(text)")
        #expect((report["docsOperations"] as? Int ?? 0) >= 50, "Swagger UI shows the operations: \(text)")
        #expect(report["english"] as? String == "en Portfolio", "\(text)")
        for name in ["dashboard.png", "order.png", "docs.png"] {
            let data = FileManager.default.contents(atPath: (keep ?? shots.path) + "/" + name) ?? Data()
            #expect(data.count > 10_000 && data.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name): \(data.count) bytes")
        }
        // The order the script placed is the trader's; the audit API agrees with the page.
        let (audited, audit) = try await http(server.url + "/api/orders/\(placed)/audit", token: token)
        #expect(audited == 200 && audit.contains("OrderFilled"), "\(audit)")
        let (exit, log) = await server.stop()
        #expect(exit == 0, "\(log.suffix(2000))")
    }
}

extension BrowserTests {
    /// The queue board on its own port, used by an operator in Chromium (`Browser/board.py`): a notification job
    /// whose webhook is down fails for good and shows its error; with the webhook back, retry completes it; a
    /// paused queue holds a new job until resumed; a job made of markup shows as text and is removed; a trader
    /// finds nothing; a forged form is refused. A real `stockboom worker` consumes the queue (its own Redis
    /// database, so no other test's jobs reach it). Every action is in serve's log with the operator's id.
    @Test func anOperatorRetriesAFailedJobOnTheQueueBoard() async throws {
        var environment = try ServeTests.servicesWithFreshDatabase("board")
        environment["BCRYPT_COST"] = "4"
        let worker = "board-worker-token-0123456789abcdef0"
        environment["STOCKBOOM_WORKER_TOKEN"] = worker
        var redis = try #require(RedisEndpoint(url: environment["REDIS_URL"] ?? ""))
        redis.database = 40
        environment["REDIS_URL"] = (environment["REDIS_URL"] ?? "") + "/40"
        let store = JobQueueStore(redis: RedisClient(endpoint: redis))
        _ = try store.redis.command(["FLUSHDB"])
        // Junk as a broken producer could leave it: an id and data of markup, in a queue no consumer here takes.
        try store.add(
            [Job(queue: .dataAnalysis, id: #"<b>evil</b>"'"#, data: #"{"x":"<script>alert(1)</script>"}"#)],
            now: 1
        )
        let directory = TemporaryDirectory("board")
        let boardPort = freePort()
        let server = try await Server(
            directory: directory.path,
            environment: environment,
            arguments: ["--board-port", String(boardPort)]
        )
        let webhookPort = freePort()
        let consumer = Process()
        consumer.executableURL = URL(fileURLWithPath: try stockboomExecutable())
        consumer.arguments = [
            "worker", "--dir", directory.path, "--server", server.url, "--concurrency", "notification=1",
            "--backoff-ms", "50", "--no-http",
        ]
        consumer.environment = environment.merging([
            "NOTIFY_WEBHOOK_URL": "http://127.0.0.1:\(webhookPort)/hook", "SWIFT_BACKTRACE": "enable=no",
            "PATH": "/usr/bin:/bin",
        ]) { $1 }
        let consumerOutput = OutputFile()
        consumer.standardOutput = consumerOutput.handle
        consumer.standardError = consumerOutput.handle
        try consumer.run()
        defer { if consumer.isRunning { consumer.terminate() } }
        let keep = ProcessInfo.processInfo.environment["STOCKBOOM_SCREENSHOTS"]
        let shots = TemporaryDirectory("board-shots")
        let (status, text, report) = try await Self.script(
            "board.py",
            [server.url, "http://127.0.0.1:\(boardPort)", worker, String(webhookPort), keep ?? shots.path]
        )
        #expect(status == 0, "\(text)\nworker: \(consumerOutput.text.suffix(2000))")
        #expect((report["trader"] as? String)?.contains("Not Found") == true, "a trader finds nothing: \(text)")
        #expect(report["signedIn"] as? Bool == true, "\(text)")
        let job = try #require(report["failedJob"] as? String, "\(text)")
        #expect(!job.isEmpty, "\(text)")
        #expect((report["failedError"] as? String ?? "").count > 5, "the job's last error is shown: \(text)")
        #expect(report["failedAttempts"] as? String == "5/5", "\(text)")
        #expect(report["retriedCompleted"] as? Bool == true, "\(text)")
        #expect(report["webhookTitles"] as? [String] == ["first"], "the retry delivered it: \(text)")
        #expect(report["paused"] as? Bool == true, "\(text)")
        #expect(report["waitingWhilePaused"] as? Int == 1, "a paused queue hands out nothing: \(text)")
        #expect(report["webhookWhilePaused"] as? Int == 1, "\(text)")
        #expect(report["webhookAfterResume"] as? [String] == ["first", "second"], "\(text)")
        #expect(report["completedCount"] as? String == "2", "\(text)")
        #expect((report["workers"] as? String)?.contains("notification") == true, "the heartbeat: \(text)")
        #expect((report["junkShown"] as? String)?.contains("<b>evil</b>") == true, "\(text)")
        #expect(report["markupElements"] as? Int == 0, "markup in job ids and data stays text: \(text)")
        #expect(report["junkAfterRemove"] as? Int == 0, "\(text)")
        #expect(report["forged"] as? Int == 403, "\(text)")
        #expect(try store.counts(.dataAnalysis).wait == 0, "the removal reached Redis")
        consumer.terminate()
        consumer.waitUntilExit()
        let (exit, log) = await server.stop()
        #expect(exit == 0, "\(log.suffix(2000))")
        // The operator's actions, with the operator's id, in serve's log.
        for action in ["job retry", "queue pause", "queue resume", "job remove"] {
            #expect(
                log.split(separator: "\n").contains {
                    $0.contains("queue board: \(action)") && $0.contains("user-0000000001")
                },
                "\(action) is logged with the operator: \(log.suffix(3000))"
            )
        }
    }
}

/// Finding 8 of the hostile-input review: slow sockets were held for ever and nothing capped connections.
@Suite(.serialized) struct ConnectionLimitTests {
    /// A TCP connection to 127.0.0.1:`port` with a 2-s receive timeout; -1 when it cannot connect.
    static func connect(_ port: Int) -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return connected == 0 ? descriptor : -1
    }

    /// Whether the server closed the connection (a read sees the end, or a reset) within 2 s.
    static func closedByServer(_ descriptor: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, 0)
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    @Test func connectionsBeyondTheCapAreClosedAndTheCapFreesUp() async throws {
        let directory = TemporaryDirectory("serve-cap")
        let server = try await Server(
            directory: directory.path,
            environment: try ServeTests.services(),
            arguments: ["--max-connections", "3"]
        )
        try await Task.sleep(for: .milliseconds(300))  // the start-up probe's connection closes
        // Three slow clients: a request head begun and never finished.
        let held = (0..<3).map { _ in Self.connect(server.port) }
        #expect(held.allSatisfy { $0 >= 0 })
        for descriptor in held { _ = "GET /health HTTP/1.1\r\n".withCString { send(descriptor, $0, 22, 0) } }
        try await Task.sleep(for: .milliseconds(300))
        // The fourth is closed as it opens; the slow ones are still held (no answer, no close).
        let fourth = Self.connect(server.port)
        #expect(fourth >= 0 && Self.closedByServer(fourth), "a connection beyond the cap is closed")
        close(fourth)
        #expect(!Self.closedByServer(held[0]), "the held connections stay open (until the idle timeout)")
        // One slow client leaves: a request gets through again.
        close(held[0])
        // The server sees the close on its event loop: under a loaded machine that can take a moment.
        var status = 0
        for _ in 0..<30 {
            try await Task.sleep(for: .milliseconds(100))
            status = (try? await http(server.url + "/health").0) ?? 0
            if status == 200 { break }
        }
        #expect(status == 200, "a request gets through once a held connection has gone")
        for descriptor in held.dropFirst() { close(descriptor) }
        _ = await server.stop()
    }
}
