import Foundation
import Storage
import Synchronization
import TestSupport
import Testing

/// The operator guide's `DATABASE_URL=…?connection_limit=20`: the limit is the pool's, libpq never sees it.
@Suite struct PostgresURLTests {
    @Test func theConnectionLimitIsTakenOutAndEverythingElseKept() throws {
        let plain = "postgresql://user:pass@host:5432/db"
        #expect(try PostgresURL.split(plain) == (plain, nil))
        #expect(try PostgresURL.split(plain + "?connection_limit=20") == (plain, 20))
        #expect(
            try PostgresURL.split(plain + "?sslmode=disable&connection_limit=7&application_name=x")
                == (plain + "?sslmode=disable&application_name=x", 7)
        )
        #expect(try PostgresURL.split("postgres://h/db?connection_limit=3#frag") == ("postgres://h/db#frag", 3))
        // A keyword/value string is libpq's own syntax: left alone.
        #expect(try PostgresURL.split("host=h dbname=db") == ("host=h dbname=db", nil))
        // Hostile limits are refused with a message that names the parameter, never trapped on.
        for bad in ["0", "-1", "1001", "99999999999999999999999", "", "2%00", "20\u{0}", "abc", "1e3"] {
            #expect(throws: PostgresError.self, "\(bad.debugDescription)") {
                _ = try PostgresURL.split(plain + "?connection_limit=" + bad)
            }
            do {
                _ = try PostgresURL.split(plain + "?connection_limit=" + bad)
            } catch {
                #expect(error.message.contains("connection_limit"))
            }
        }
    }

    /// The server's notices reach the connection's handler (by default the process's JSON log), never libpq's
    /// raw `WARNING:  …` on standard error.
    @Test func serverNoticesReachTheHandler() throws {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let seen = Mutex<[PostgresNotice]>([])
        let connection = try PostgresConnection(url: server) { notice in seen.withLock { $0.append(notice) } }
        try connection.execute("COMMIT")  // outside a transaction: a warning, not an error
        try connection.execute("SET client_min_messages TO notice")
        try connection.execute("DROP TABLE IF EXISTS sb_no_such_table_\(getpid())")
        let notices = seen.withLock { $0 }
        #expect(notices.count == 2, "\(notices)")
        #expect(
            notices.first
                == PostgresNotice(
                    severity: "WARNING",
                    sqlState: "25P01",
                    message: "there is no transaction in progress"
                )
        )
        #expect(notices.last?.severity == "NOTICE" && notices.last?.sqlState == "00000")
        // A hostile message (control characters, markup) is data to the handler, and the default logs it.
        try connection.query("DO $$ BEGIN RAISE WARNING '%', E'line\\nbreak \\u0007 <b>'; END $$")
        #expect(seen.withLock { $0.last?.message } == "line\nbreak \u{7} <b>")
        PostgresNotice.log(seen.withLock { $0.last! })
    }

    @Test func theGuidesURLConnects() async throws {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let separator = server.contains("?") ? "&" : "?"
        let connection = try PostgresConnection(url: server + separator + "connection_limit=20")
        #expect(try connection.query("SELECT 1").rows == [["1"]])
        // A program given the guide's URL: `db migrate` connects and runs.
        let database = try PostgresConnection.recreateDatabase("sb_test_guide_url", serverURL: server)
        let guideURL = database + (database.contains("?") ? "&" : "?") + "connection_limit=20"
        let (status, output, errors) = try await runStockboom(["db", "migrate", "--database-url", guideURL])
        #expect(status == 0, "\(output) \(errors)")
        // libpq still names the parameters it does not know.
        #expect(throws: PostgresError.self) {
            _ = try PostgresConnection(url: server + separator + "pool_timeout=10")
        }
    }
}
