import Foundation
import Storage
import TestSupport
import Testing

/// The hourly health check restarts the api only when a restart can help, against real `serve` processes; the
/// systemd units it belongs to are valid units.
@Suite(.serialized) struct HealthCheckTests {
    static func serve(_ directory: TemporaryDirectory, port: Int, databaseURL: String) throws -> Process {
        var environment = try OperationsTests.environment()
        environment["DATABASE_URL"] = databaseURL
        return try OperationsTests.startServe(log: directory.file("log-\(port)"), port: port, environment: environment)
    }

    /// Runs scripts/healthcheck.sh against `port`: (exit status, output, whether it restarted).
    static func check(_ directory: TemporaryDirectory, port: Int) async throws -> (Int32, String, Bool) {
        let marker = directory.file("restarted-\(UUID().uuidString)")
        var environment = ProcessInfo.processInfo.environment
        environment["HEALTH_URL"] = "http://127.0.0.1:\(port)/health"
        environment["RESTART_COMMAND"] = "touch '\(marker)'"
        environment["HEALTH_TIMEOUT"] = "3"
        let (status, output) = try await OperationsTests.run(
            "/bin/bash",
            [OperationsTests.repositoryRoot + "/scripts/healthcheck.sh"],
            environment: environment
        )
        return (status, output, FileManager.default.fileExists(atPath: marker))
    }

    static func waitForHealth(_ port: Int, status wanted: String) async throws -> Bool {
        try await OperationsTests.waitFor("http://127.0.0.1:\(port)/health", status: wanted)
    }

    @Test func theApiIsRestartedOnlyWhenARestartCanHelp() async throws {
        let directory = TemporaryDirectory("healthcheck")
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let database = try PostgresConnection.recreateDatabase("sb_test_healthcheck", serverURL: server)

        // Healthy: nothing to do.
        let healthyPort = freeLoopbackPort()
        let healthy = try Self.serve(directory, port: healthyPort, databaseURL: database)
        defer { kill(healthy.processIdentifier, SIGKILL) }
        #expect(try await Self.waitForHealth(healthyPort, status: "200"))
        let ok = try await Self.check(directory, port: healthyPort)
        #expect(ok.0 == 0 && !ok.2, "\(ok)")

        // PostgreSQL goes away under a running api: it answers 503 naming it; a restart cannot fix that.
        let postgres = try await onOwnThread { try PrivatePostgres() }  // initdb and start, off the cooperative pool
        let orphanPort = freeLoopbackPort()
        let orphan = try Self.serve(directory, port: orphanPort, databaseURL: postgres.url)
        defer { kill(orphan.processIdentifier, SIGKILL) }
        #expect(try await Self.waitForHealth(orphanPort, status: "200"))
        try await onOwnThread { try postgres.kill9() }
        #expect(try await Self.waitForHealth(orphanPort, status: "503"))
        let down = try await Self.check(directory, port: orphanPort)
        #expect(down.0 == 1 && !down.2, "\(down)")
        #expect(down.1.contains("failing postgres") && down.1.contains("not restarting"), "\(down.1)")

        // No answer at all: restarted.
        kill(healthy.processIdentifier, SIGKILL)
        healthy.waitUntilExit()
        let gone = try await Self.check(directory, port: healthyPort)
        #expect(gone.0 == 0 && gone.2, "\(gone)")
        #expect(gone.1.contains("no answer"), "\(gone.1)")
    }

    @Test func theSystemdUnitsAreValidAndInstall() async throws {
        let root = OperationsTests.repositoryRoot
        for unit in [
            "stockboom-api.service", "stockboom-worker.service", "stockboom-healthcheck.service",
            "stockboom-healthcheck.timer",
        ] {
            let (_, output) = try await OperationsTests.run(
                "/usr/bin/systemd-analyze",
                ["verify", root + "/scripts/systemd/" + unit]
            )
            // The executables are not installed on the machine running the tests; anything else is a fault.
            let faults = output.split(separator: "\n").filter { !$0.contains("is not executable: No such file") }
            #expect(faults.isEmpty, "\(unit): \(faults)")
        }
        let directory = TemporaryDirectory("systemd")
        var environment = ProcessInfo.processInfo.environment
        environment["DESTDIR"] = directory.path
        environment["STOCKBOOM_BINARY"] = try stockboomExecutable()
        let (status, output) = try await OperationsTests.run(
            "/bin/bash",
            [root + "/scripts/systemd/install.sh"],
            environment: environment
        )
        #expect(status == 0, "\(output)")
        for path in [
            "/usr/local/bin/stockboom", "/usr/local/lib/stockboom/healthcheck.sh",
            "/etc/systemd/system/stockboom-api.service", "/etc/systemd/system/stockboom-healthcheck.timer",
            "/etc/stockboom/stockboom.env",
        ] {
            #expect(FileManager.default.fileExists(atPath: directory.path + path), "\(path)")
        }
        let attributes = try FileManager.default.attributesOfItem(
            atPath: directory.path + "/etc/stockboom/stockboom.env"
        )
        #expect((attributes[.posixPermissions] as? Int) == 0o600, "the env file holds secrets")
    }
}
