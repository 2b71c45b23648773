import Foundation
import Testing
import TestSupport
@testable import Projections

/// A PostgreSQL server of the test's own (initdb on a free port), so that it can be SIGKILLed.
final class PrivatePostgres: @unchecked Sendable {
    // @unchecked: set once in init.
    let directory = TemporaryDirectory("private-pg")
    let port = freeLoopbackPort()
    let bin: String

    var url: String { "postgresql://postgres@127.0.0.1:\(self.port)/stockboom" }
    var data: String { self.directory.path + "/data" }

    init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let version = try #require(versions.sorted { $0.compare($1, options: .numeric) == .orderedAscending }.last, "PostgreSQL is not installed")
        self.bin = "/usr/lib/postgresql/\(version)/bin"
        if getuid() == 0 { try Self.shell("chown -R postgres '\(self.directory.path)'") }
        try self.asPostgres("'\(self.bin)/initdb' -D '\(self.data)' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 > '\(self.directory.path)/initdb.log' 2>&1")
        try self.start()
        try self.asPostgres("'\(self.bin)/createdb' -h 127.0.0.1 -p \(self.port) -U postgres stockboom")
    }

    /// Starts the server; after a SIGKILL, retries while the killed postmaster's backends are still exiting
    /// (they hold its shared memory for a moment).
    func start() throws {
        for _ in 0..<40 {
            if (try? self.startOnce()) != nil { return }
            usleep(250_000)
        }
        try self.startOnce()
    }

    private func startOnce() throws {
        try self.asPostgres("'\(self.bin)/pg_ctl' -D '\(self.data)' -l '\(self.directory.path)/server.log' -w -t 60 -o \"-p \(self.port) -k '\(self.directory.path)' -c listen_addresses=127.0.0.1\" start > /dev/null 2>&1")
    }

    /// SIGKILL of the postmaster (its children follow); returns once the port no longer answers.
    func kill9() throws {
        let pidText = try String(contentsOfFile: self.data + "/postmaster.pid", encoding: .utf8)
        let pid = try #require(pidText.split(separator: "\n").first.flatMap { Int32($0) })
        #expect(kill(pid, SIGKILL) == 0)
        for _ in 0..<200 {
            if (try? Self.shell("'\(self.bin)/pg_isready' -h 127.0.0.1 -p \(self.port) -q")) == nil { return }
            usleep(50_000)
        }
    }

    deinit {
        try? self.asPostgres("'\(self.bin)/pg_ctl' -D '\(self.data)' -m immediate -w stop > /dev/null 2>&1")
    }

    func asPostgres(_ command: String) throws {
        try Self.shell(getuid() == 0 ? "su postgres -s /bin/sh -c \(Self.quote(command))" : command)
    }

    static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// `system(3)`: fork, exec `sh -c`, waitpid. (Foundation's `Process.waitUntilExit` never returned here once
    /// `pg_ctl start` had left the postmaster running in the background.)
    static func shell(_ command: String) throws {
        let status = system(command)
        guard status == 0 else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "failed (\(status)): \(command)"]) }
    }
}

@Suite(.serialized) struct PostgresKillTests {
    /// PostgreSQL SIGKILLed under a running `serve`: commands keep being acknowledged (the log is the truth),
    /// reads from PostgreSQL answer 503 and /health names postgres; after PostgreSQL's crash recovery the read
    /// models catch up from their checkpoints with every acknowledged write exactly once.
    @Test func aKilledPostgreSQLLosesNothingAndTheReadModelsCatchUp() throws {
        let postgres = try PrivatePostgres()
        var environment = try ServeTests.services()
        environment["DATABASE_URL"] = postgres.url
        environment["JWT_SECRET"] = "a fixed secret of more than thirty-two characters"
        environment["BCRYPT_COST"] = "4"
        let directory = TemporaryDirectory("serve-pgkill")
        let server = try Server(directory: directory.path, environment: environment)
        let (_, session) = try http(server.url + "/api/auth/register", json: #"{"email":"pgkill@example.com","password":"password123"}"#)
        let token = try #require((try JSONSerialization.jsonObject(with: Data(session.utf8)) as? [String: Any])?["token"] as? String, "\(session)")
        func open(_ number: Int) throws -> Int {
            try http(server.url + "/api/broker-accounts", json: #"{"broker":"SIMULATED","accountNumber":"50123456\#(String(format: "%02d", number))","initialCash":1000000}"#, token: token).0
        }
        for number in 0..<5 { #expect(try open(number) == 201) }

        try postgres.kill9()
        for number in 5..<10 { #expect(try open(number) == 201, "writes go on without PostgreSQL: they are in the log") }
        let (health, report) = try http(server.url + "/health")
        #expect(health == 503 && report.contains("postgres"), "\(report)")
        #expect(try http(server.url + "/api/broker-accounts", token: token).0 == 503, "a read from PostgreSQL answers 503 while it is down")

        try postgres.start()  // crash recovery
        var rows = -1
        for _ in 0..<300 {
            if let connection = try? PostgresConnection(url: postgres.url),
                let count = try? connection.query("SELECT count(*) FROM broker_accounts").rows.first?[0].flatMap({ Int($0) }) {
                rows = count
                if rows == 10 { break }
            }
            usleep(100_000)
        }
        #expect(rows == 10, "every acknowledged account once in the read model after the restart (\(rows))")
        // Each pooled API connection to the killed server fails one request (503, "try again shortly") and is
        // replaced: within the pool's size (4) plus one, reads answer again.
        var list = ""
        var statuses: [Int] = []
        for _ in 0..<5 {
            let (status, body) = try http(server.url + "/api/broker-accounts", token: token)
            statuses.append(status)
            list = body
            if status == 200 { break }
        }
        #expect(statuses.last == 200 && statuses.dropLast().allSatisfy { $0 == 503 }, "\(statuses)")
        #expect(((try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any])?["count"] as? Int) == 10, "\(list)")
        #expect(try http(server.url + "/health").0 == 200)
        #expect(server.stop().0 == 0)
    }
}
