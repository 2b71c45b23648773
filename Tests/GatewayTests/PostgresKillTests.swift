import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

@testable import Projections

@Suite(.serialized) struct PostgresKillTests {
    /// PostgreSQL SIGKILLed under a running `serve`: commands keep being acknowledged (the log is the truth),
    /// reads from PostgreSQL answer 503 and /health names postgres; after PostgreSQL's crash recovery the read
    /// models catch up from their checkpoints with every acknowledged write exactly once.
    @Test func aKilledPostgreSQLLosesNothingAndTheReadModelsCatchUp() async throws {
        let postgres = try await onOwnThread { try PrivatePostgres() }  // initdb, waited for off the cooperative pool
        var environment = try ServeTests.services()
        environment["DATABASE_URL"] = postgres.url
        environment["JWT_SECRET"] = "a fixed secret of more than thirty-two characters"
        environment["BCRYPT_COST"] = "4"
        let directory = TemporaryDirectory("serve-pgkill")
        let server = try await Server(directory: directory.path, environment: environment)
        let (_, session) = try await http(
            server.url + "/api/auth/register",
            json: #"{"email":"pgkill@example.com","password":"sturdy-pass-123"}"#
        )
        let token = try #require(
            (try JSONSerialization.jsonObject(with: Data(session.utf8)) as? [String: Any])?["token"] as? String,
            "\(session)"
        )
        func open(_ number: Int) async throws -> Int {
            try await http(
                server.url + "/api/broker-accounts",
                json:
                    #"{"broker":"SIMULATED","accountNumber":"50123456\#(String(format: "%02d", number))","initialCash":1000000}"#,
                token: token
            ).0
        }
        for number in 0..<5 { #expect(try await open(number) == 201) }

        try await onOwnThread { try postgres.kill9() }
        for number in 5..<10 {
            #expect(try await open(number) == 201, "writes go on without PostgreSQL: they are in the log")
        }
        let (health, report) = try await http(server.url + "/health")
        #expect(health == 503 && report.contains("postgres"), "\(report)")
        #expect(
            try await http(server.url + "/api/broker-accounts", token: token).0 == 503,
            "a read from PostgreSQL answers 503 while it is down"
        )

        try await onOwnThread { try postgres.start() }  // crash recovery
        var rows = -1
        for _ in 0..<300 {
            if let connection = try? PostgresConnection(url: postgres.url),
                let count = try? connection.query("SELECT count(*) FROM broker_accounts").rows.first?[0].flatMap({
                    Int($0)
                })
            {
                rows = count
                if rows == 10 { break }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(rows == 10, "every acknowledged account once in the read model after the restart (\(rows))")
        // Each pooled API connection to the killed server fails one request (503, "try again shortly") and is
        // replaced: within the pool's size (4) plus one, reads answer again.
        var list = ""
        var statuses: [Int] = []
        for _ in 0..<5 {
            let (status, body) = try await http(server.url + "/api/broker-accounts", token: token)
            statuses.append(status)
            list = body
            if status == 200 { break }
        }
        #expect(statuses.last == 200 && statuses.dropLast().allSatisfy { $0 == 503 }, "\(statuses)")
        #expect(
            ((try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: Any])?["count"] as? Int) == 10,
            "\(list)"
        )
        #expect(try await http(server.url + "/health").0 == 200)
        #expect(await server.stop().0 == 0)
    }
}
