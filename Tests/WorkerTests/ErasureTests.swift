import Engine
import Foundation
import Jobs
import Ledger
import Projections
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

/// Finding 7 of the hostile-input review: `UserRegistered` carried the e-mail address in clear, in segments,
/// backups, Redis and PostgreSQL, and there was no way to erase a person. Now the address enters the log only
/// sealed under a key of the person's own (PostgreSQL `person_keys`); erasing them deletes the key, the
/// login and the sealed broker credentials, and records `UserErased`. A real `serve`, PostgreSQL and Redis.
@Suite(.serialized) struct ErasureTests {
    @Test func anErasedPersonIsNowhereAndTheLogStillVerifies() async throws {
        let (rig, sink) = try await WorkerEndToEndTests.rig("erasure", redisDatabase: 21)
        defer { _ = sink.killed() }
        let serve = try await WorkerEndToEndTests.serve(rig)
        let email = "erase.me.\(UUID().uuidString.prefix(8).lowercased())@example.com"
        let (status, session) = try await WorkerEndToEndTests.call(
            rig,
            "POST",
            "/api/auth/register",
            json: #"{"email":"\#(email)","password":"a long erasable password"}"#
        )
        #expect(status == 201, "\(session)")
        let token = try #require(session["token"] as? String)
        let user = try #require((session["user"] as? [String: Any])?["id"] as? String)
        let (opened, account) = try await WorkerEndToEndTests.call(
            rig,
            "POST",
            "/api/broker-accounts",
            token: token,
            json: #"{"broker":"SIMULATED","accountNumber":"5012345678","initialCash":1000000}"#
        )
        #expect(opened == 201, "\(account)")
        let accountID = try #require(account["id"] as? String)

        // The log holds the address only sealed; the read model shows it while the key exists.
        let database = try PostgresConnection(url: try #require(rig.environment["DATABASE_URL"]))
        func userRow() throws -> String? {
            try database.query("SELECT email FROM users WHERE id = $1", [user]).rows.first?[0] ?? nil
        }
        try await WorkerEndToEndTests.waitFor(30, "the users row") { (try? userRow()) == email }
        let log = try EventLog(directory: rig.directory.path, readOnly: true)
        let records = try log.read(from: 0, maxRecords: .max)
        log.close()
        #expect(
            !records.contains { $0.payload.windowContains(Array(email.utf8)) },
            "no record holds the address in clear"
        )
        #expect(records.contains { $0.payload.windowContains(Array("sealed:".utf8)) }, "UserRegistered holds it sealed")

        // Confirmed by password; refused while an account is open.
        #expect(
            try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/auth/erase",
                token: token,
                json: #"{"password":"not the password at all"}"#
            ).0 == 403
        )
        #expect(
            try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/auth/erase",
                token: token,
                json: #"{"password":"a long erasable password"}"#
            ).0 == 409
        )
        #expect(
            try await WorkerEndToEndTests.call(rig, "DELETE", "/api/broker-accounts/\(accountID)", token: token).0
                == 204
        )
        #expect(
            try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/auth/erase",
                token: token,
                json: #"{"password":"a long erasable password"}"#
            ).0 == 204
        )

        // Gone: the session, the login, the key; the read model says so; an operator's second erasure is a no-op.
        #expect(try await WorkerEndToEndTests.call(rig, "GET", "/api/auth/me", token: token).0 == 401)
        #expect(
            try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/auth/login",
                json: #"{"email":"\#(email)","password":"a long erasable password"}"#
            ).0 == 401
        )
        #expect(try database.query("SELECT count(*) FROM person_keys WHERE user_id = $1", [user]).rows.first?[0] == "0")
        try await WorkerEndToEndTests.waitFor(30, "the users row erased") { (try? userRow()) == PersonalData.erased }
        let workerToken = try String(contentsOfFile: rig.directory.path + "/worker.token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(
            try await WorkerEndToEndTests.call(rig, "POST", "/internal/users/\(user)/erase", token: workerToken).0
                == 204
        )
        // Nowhere in clear, base64 or hex: log records, snapshots, other files, a pg_dump, every Redis key and value.
        try await WorkerEndToEndTests.expectAbsent(
            email,
            rig: rig,
            redisDatabase: 21,
            minimumRecords: 6,
            minimumKeys: 1
        )
        #expect(await serve.stop() == 0)

        // The hash chain is untouched, and a rebuild from the log shows the person erased.
        let (verified, output, errors) = try await runStockboom(["log", "verify", "--dir", rig.directory.path])
        #expect(verified == 0, "\(output)\(errors)")
        let (rebuilt, _, rebuildErrors) = try await runStockboom(
            ["projections", "rebuild", "trading", "--dir", rig.directory.path],
            environment: rig.environment
        )
        #expect(rebuilt == 0, "\(rebuildErrors)")
        #expect(try userRow() == PersonalData.erased)
    }
}

extension Array where Element == UInt8 {
    func windowContains(_ needle: [UInt8]) -> Bool {
        self.count >= needle.count
            && (0...(self.count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
