import Foundation
import Projections
import Storage
import TestSupport
import Testing

/// The operations files (docker/, .env.example) checked by real validators against a running server, and the
/// commands' structured log lines.
@Suite(.serialized) struct OperationsTests {
    static func environment() throws -> [String: String] {
        let environment = ProcessInfo.processInfo.environment
        let database = try #require(
            environment["DATABASE_URL"],
            "DATABASE_URL is unset: run the tests with `make test`"
        )
        let redis = try #require(environment["REDIS_URL"], "REDIS_URL is unset: run the tests with `make test`")
        return ["DATABASE_URL": database, "REDIS_URL": redis, "SWIFT_BACKTRACE": "enable=no", "PATH": "/usr/bin:/bin"]
    }

    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    /// `stockboom serve --dir log --port port` with `environment`; its standard error into `stderr` (dropped when
    /// nil). The caller stops it.
    static func startServe(log: String, port: Int, environment: [String: String], stderr: OutputFile? = nil) throws
        -> Process
    {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try stockboomExecutable())
        server.arguments = ["serve", "--dir", log, "--port", String(port)]
        server.environment = environment
        server.standardOutput = FileHandle.nullDevice
        server.standardError = stderr?.handle ?? FileHandle.nullDevice
        try server.run()
        return server
    }

    /// Asks `url` (curl with `extra` arguments) every 100 ms for up to 20 s until it answers HTTP `status`.
    static func waitFor(_ url: String, status: String = "200", curl extra: [String] = []) async throws -> Bool {
        for _ in 0..<200 {
            let (_, code) = try await Self.run(
                "/usr/bin/curl",
                ["-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}"] + extra + [url]
            )
            if code == status { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Runs a program to its end: (status, standard output and error together).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> (
        Int32, String
    ) {
        try await onOwnThread { try Self.runWaiting(executable, arguments, environment: environment) }
    }

    private static func runWaiting(_ executable: String, _ arguments: [String], environment: [String: String]?) throws
        -> (Int32, String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = OutputFile()
        process.standardOutput = output.handle
        process.standardError = output.handle
        try process.run()
        process.waitUntilExit()
        return (process.terminationStatus, output.text)
    }

    @Test func dockerPrometheusGrafanaAndEnvironmentFilesAreValidAgainstTheServedMetrics() async throws {
        let directory = TemporaryDirectory("operations")
        let port = freeLoopbackPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: try stockboomExecutable())
        server.arguments = ["serve", "--dir", directory.path + "/log", "--port", String(port)]
        // A database of its own: a shared one may hold read models of another log (serve then says so).
        var environment = try Self.environment()
        environment["DATABASE_URL"] = try PostgresConnection.recreateDatabase(
            "sb_test_operations",
            serverURL: try #require(environment["DATABASE_URL"])
        )
        server.environment = environment
        let logLines = OutputFile()
        server.standardOutput = FileHandle.nullDevice
        server.standardError = logLines.handle
        try server.run()
        defer {
            if server.isRunning {
                kill(server.processIdentifier, SIGKILL)
                server.waitUntilExit()
            }
        }
        var scrape = ""
        for _ in 0..<200 {
            _ = try? await Self.run("/usr/bin/curl", ["-fsS", "-m", "5", "http://127.0.0.1:\(port)/health"])
            let (status, body) = try await Self.run(
                "/usr/bin/curl",
                ["-fsS", "-m", "5", "http://127.0.0.1:\(port)/metrics"]
            )
            if status == 0, body.contains("http_request_duration_seconds_bucket") {
                scrape = body
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!scrape.isEmpty, "the server never answered /metrics")
        let metrics = directory.path + "/metrics.txt"
        try scrape.write(toFile: metrics, atomically: true, encoding: .utf8)

        // The worker's port too: the worker's rules and panels use its metrics.
        let workerPort = freeLoopbackPort()
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: try stockboomExecutable())
        worker.arguments = [
            "worker", "--dir", directory.path + "/log", "--server", "http://127.0.0.1:\(port)", "--concurrency",
            "data-analysis=1", "--http-port", String(workerPort),
        ]
        worker.environment = try Self.environment()
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = FileHandle.nullDevice
        try worker.run()
        defer {
            if worker.isRunning {
                kill(worker.processIdentifier, SIGKILL)
                worker.waitUntilExit()
            }
        }
        var workerScrape = ""
        for _ in 0..<200 {
            let (status, body) = try await Self.run(
                "/usr/bin/curl",
                ["-fsS", "-m", "5", "http://127.0.0.1:\(workerPort)/metrics"]
            )
            if status == 0, body.contains("stockboom_worker_jobs_total") {
                workerScrape = body
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!workerScrape.isEmpty, "the worker never answered /metrics")
        let workerMetrics = directory.path + "/worker-metrics.txt"
        try workerScrape.write(toFile: workerMetrics, atomically: true, encoding: .utf8)
        kill(worker.processIdentifier, SIGTERM)
        let (status, report) = try await Self.run(
            "/usr/bin/env",
            [
                "python3", Self.repositoryRoot + "/Tests/OperationsTests/validate_operations.py", Self.repositoryRoot,
                metrics, workerMetrics,
            ],
            environment: ProcessInfo.processInfo.environment
        )
        #expect(
            status == 0,
            "\(report.split(separator: "\n").filter { $0.hasPrefix("FAIL") || !$0.hasPrefix("ok") }.joined(separator: "\n"))"
        )
        #expect(report.contains("promtool test rules"), "promtool ran: \(report.suffix(400))")

        // The server's own log lines: JSON objects with a level, so `grep ERROR` finds errors.
        kill(server.processIdentifier, SIGTERM)
        try await onOwnThread { server.waitUntilExit() }
        #expect(server.terminationStatus == 0)
        let lines = logLines.text.split(separator: "\n")
        #expect(lines.count >= 3, "recovered, listening, stopped")
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(
                object?["level"] is String && object?["message"] is String && object?["time"] is String,
                "not a structured log line: \(line)"
            )
        }
        #expect(lines.contains { $0.contains("\"message\":\"listening\"") })
    }

    /// `stockboom demo` (the main job) on a small market: the whole system runs the day, every risk reason is
    /// refused once, every notification reaches the SMTP sink, the read models end at the head, and the
    /// summary says so.
    @Test func theDemoRunsADayThroughTheWholeSystem() async throws {
        var environment = try Self.environment()
        let directory = TemporaryDirectory("demo")
        let mail = directory.path + "/mail"
        for sub in ["new", "cur", "tmp"] {
            try FileManager.default.createDirectory(atPath: mail + "/" + sub, withIntermediateDirectories: true)
        }
        let smtpPort = freeLoopbackPort()
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sink.arguments = [
            "python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(smtpPort)", "-c", "aiosmtpd.handlers.Mailbox", mail,
        ]
        sink.environment = ProcessInfo.processInfo.environment
        sink.standardOutput = FileHandle.nullDevice
        sink.standardError = FileHandle.nullDevice
        try sink.run()
        defer {
            kill(sink.processIdentifier, SIGKILL)  // aiosmtpd ignores SIGTERM while serving
            sink.waitUntilExit()
        }
        for _ in 0..<100
        where
            (try? await Self.run(
                "/usr/bin/env",
                ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', \(smtpPort)), 1).close()"]
            ).0) != 0
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        let redis = try #require(environment["REDIS_URL"])
        environment["REDIS_URL"] =
            (redis.split(separator: "/").count > 2
                ? redis.split(separator: "/").dropLast().joined(separator: "/") : redis) + "/16"
        environment["SMTP_HOST"] = "127.0.0.1"
        environment["SMTP_PORT"] = String(smtpPort)
        let (status, output, errors) = try await runStockboom(
            [
                "demo", "--dir", directory.path + "/log", "--stocks", "20", "--strategy-stocks", "2", "--port",
                String(freeLoopbackPort()), "--database", "sb_test_demo",
            ],
            environment: environment,
            program: "stockboom-sim"
        )
        #expect(status == 0, "\(output)\(errors.suffix(2_000))")
        for reason in [
            "ACCOUNT_HALTED", "DAILY_LIMIT_EXCEEDED", "INSUFFICIENT_BALANCE", "INSUFFICIENT_SHARES", "MARKET_CLOSED",
            "PRICE_NOT_ON_TICK", "PRICE_OUT_OF_RANGE", "TOKEN_EXPIRED",
        ] {
            #expect(output.contains(reason), "no order refused for \(reason)")
        }
        #expect(output.contains("FILLED"), "the strategies traded and the exchange filled")
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("mail ") }, "\(output)")
        let counts = line.split(separator: " ").compactMap { Int($0) }
        #expect(counts.count >= 2 && counts[0] > 0 && counts[0] == counts[1], "every notification delivered: \(line)")
        let files = try FileManager.default.contentsOfDirectory(atPath: mail + "/new")
        #expect(files.count == counts.first, "the sink holds one message per notification (\(files.count))")
        #expect(output.contains("(lag 0)"), "read models at the head: \(output)")
        let queues = try #require(output.split(separator: "\n").first { $0.hasPrefix("queues ") })
        let failed = queues.split(separator: ";").map { part in
            part.split(separator: " ").split(separator: "failed,").first?.last.flatMap { Int($0) }
        }
        #expect(!failed.isEmpty && failed.allSatisfy { $0 == 0 }, "no job failed: \(queues)")
        #expect(output.contains("hash chain intact") && output.contains("give the live state's digest"))
        for line in errors.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "log lines are JSON: \(line)")
            #expect(!line.contains("\"level\":\"ERROR\""), "no errors during the demo: \(line)")
        }
    }

    /// The cron scripts of the guide's schedule run against a real log and database: daily backups with
    /// retention (each one verified), the read-model cleanup.
    /// `scripts/env-file.sh`, the runbook's way to edit the deployment's secrets file (rotations, replication):
    /// values kept byte for byte, the file 0600, hostile names and multi-line values refused with the file
    /// unchanged.
    @Test func theEnvFileScriptEditsInPlaceAndRefusesWhatItCannotWrite() async throws {
        let directory = TemporaryDirectory("env-file")
        let file = directory.path + "/.env.production"
        let original = "A=1\nJWT_SECRET=abc+/=def==\nB=two words\n"
        try original.write(toFile: file, atomically: true, encoding: .utf8)
        let script = Self.repositoryRoot + "/scripts/env-file.sh"
        let environment = ["ENV_FILE": file, "PATH": "/usr/bin:/bin"]
        func env(_ arguments: String...) async throws -> (Int32, String) {
            try await Self.run("/bin/bash", [script] + arguments, environment: environment)
        }
        #expect(try await env("get", "JWT_SECRET") == (0, "abc+/=def==\n"))
        #expect(try await env("set", "JWT_SECRET_PREVIOUS", "abc+/=def==").0 == 0)
        #expect(try await env("set", "JWT_SECRET", "new $key `x` 'q'").0 == 0)
        #expect(try await env("unset", "A").0 == 0)
        let edited = try String(contentsOfFile: file, encoding: .utf8)
        #expect(edited == "B=two words\nJWT_SECRET_PREVIOUS=abc+/=def==\nJWT_SECRET=new $key `x` 'q'\n")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        for bad in [
            ["get", "NOPE"], ["set", "A;rm -rf /", "1"], ["set", "B", "one\ntwo"], ["set", "B", "cr\r"],
            ["set", "", "x"], ["drop", "B"], ["set", "B"],
        ] {
            let (status, output) = try await Self.run("/bin/bash", [script] + bad, environment: environment)
            #expect(status != 0 && !output.isEmpty, "\(bad): \(status) \(output)")
        }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == edited, "a refused edit changes nothing")
        let missing = try await Self.run(
            "/bin/bash",
            [script, "get", "A"],
            environment: ["ENV_FILE": directory.path + "/none", "PATH": "/usr/bin:/bin"]
        )
        #expect(missing.0 == 1 && missing.1.contains("does not exist"))
    }

    @Test func theCronScriptsBackUpWithRetentionAndCleanUp() async throws {
        let directory = TemporaryDirectory("cron")
        let log = directory.path + "/log"
        let repository = directory.path + "/backups"
        var environment = try Self.environment()
        environment["STOCKBOOM"] = try stockboomExecutable()
        environment["STOCKBOOM_LOG_DIR"] = log
        environment["STOCKBOOM_BACKUP_DIR"] = repository
        environment["KEEP"] = "2"
        var ids: [String] = []
        for round in 0..<3 {
            let lines = (0..<500).map { "{\"round\":\(round),\"n\":\($0)}" }.joined(separator: "\n") + "\n"
            let appended = try await runStockboom(["log", "append", "--dir", log], input: lines)
            #expect(appended.0 == 0, "\(appended.2)")
            let (status, output) = try await Self.run(
                "/bin/bash",
                [Self.repositoryRoot + "/scripts/backup.sh"],
                environment: environment
            )
            #expect(status == 0, "\(output)")
            #expect(output.contains(": ok"), "the new backup is verified: \(output)")
            if let id = output.split(separator: "\n").first(where: { $0.hasPrefix("backup ") })?.split(separator: " ")[
                1
            ].dropLast() {
                ids.append(String(id))
            }
        }
        let listed = try await runStockboom(["backup", "list", "--from", repository, "--json"])
        let backups = try #require(
            try JSONSerialization.jsonObject(with: Data(listed.1.utf8)) as? [[String: Any]],
            "\(listed)"
        )
        #expect(
            backups.compactMap { $0["id"] as? String } == Array(ids.suffix(2)),
            "KEEP=2 keeps the newest two: \(listed.1) of \(ids)"
        )
        #expect(backups.last?["nextOffset"] as? Int == 1_500)

        environment["DATABASE_URL"] = try PostgresConnection.recreateDatabase(
            "sb_test_cron",
            serverURL: try #require(environment["DATABASE_URL"])
        )
        let migrated = try await runStockboom(
            ["db", "migrate"],
            environment: ["DATABASE_URL": environment["DATABASE_URL"]!]
        )
        #expect(migrated.0 == 0, "\(migrated)")
        let (status, output) = try await Self.run(
            "/bin/bash",
            [Self.repositoryRoot + "/scripts/cleanup.sh"],
            environment: environment
        )
        #expect(status == 0 && output.contains("deleted"), "\(output)")
        // The guide's pg_dump backup still works (for the credentials, which live only in PostgreSQL).
        environment["BACKUP_DIR"] = directory.path + "/postgres"
        let dumped = try await Self.run(
            "/bin/bash",
            [Self.repositoryRoot + "/scripts/backup-postgres.sh"],
            environment: environment
        )
        #expect(dumped.0 == 0 && dumped.1.contains("Backup completed"), "\(dumped.1)")
        let dumps = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/postgres").filter {
            $0.hasSuffix(".sql.gz")
        }
        #expect(dumps.count == 1)
        let listing = try await Self.run(
            "/bin/bash",
            [
                "-c",
                "gunzip -c '\(directory.path)/postgres/\(dumps.first ?? "")' | grep -c 'CREATE TABLE public.user_credentials'",
            ]
        )
        #expect(
            listing.1.trimmingCharacters(in: .whitespacesAndNewlines) == "1",
            "the dump holds the credentials table: \(listing.1)"
        )
    }

    @Test func aFailingCommandEndsWithOneErrorLineThatIsJSON() async throws {
        let strange = "/nonexistent/with \"quotes\" and\nnewline"
        let (status, output, errors) = try await runStockboom(["log", "inspect", "--dir", strange])
        #expect(status == 1)
        #expect(output.isEmpty, "data goes to standard output, logs to standard error")
        let lines = errors.split(separator: "\n")
        #expect(lines.count == 1, "\(errors)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["level"] as? String == "ERROR")
        #expect(
            (object["message"] as? String)?.contains(strange) == true,
            "the message names the file, escaped: \(errors)"
        )
        #expect(object["command"] as? String == "inspect")
        #expect(lines[0].contains("ERROR"), "grep ERROR finds it")
        // Help and usage errors stay ArgumentParser's plain text.
        let help = try await runStockboom(["backup", "--help"])
        #expect(help.0 == 0 && help.1.contains("USAGE: stockboom backup"), "\(help)")
        let usage = try await runStockboom(["backup", "create", "--keep", "0"])
        #expect(usage.0 == 64 && usage.2.contains("--keep must be at least 1"), "\(usage)")
    }
}
