import Foundation
import Storage
import TestSupport
import Testing

/// Restoring the guide's pg_dump (`scripts/backup-postgres.sh`) into a new database, step by step as the runbook
/// writes it: the dump, `psql` into an empty database, `stockboom db migrate` (which puts back the database's
/// search path, not carried by pg_dump, that the guide's index SQL needs), then `serve` with the same secrets key
/// on the same log: sign-in, sealed KIS credentials and read models are all back.
@Suite(.serialized) struct PostgresDumpRestoreTests {
    static let secretsKey = String(repeating: "5a", count: 32)

    static func serve(_ log: String, database: String, port: Int) throws -> Process {
        var environment = try OperationsTests.environment()
        environment["DATABASE_URL"] = database
        environment["STOCKBOOM_SECRETS_KEY"] = Self.secretsKey
        environment["JWT_SECRET"] = String(repeating: "jwt-secret-", count: 4)
        environment["BCRYPT_COST"] = "4"
        return try OperationsTests.startServe(log: log, port: port, environment: environment)
    }

    static func curl(_ arguments: [String]) async throws -> (status: Int, body: String) {
        let (_, output) = try await OperationsTests.run(
            "/usr/bin/curl",
            ["-s", "-m", "10", "-w", "\n%{http_code}"] + arguments
        )
        let status = Int(output.split(separator: "\n").last ?? "") ?? 0
        return (status, output.split(separator: "\n").dropLast().joined(separator: "\n"))
    }

    static func waitUp(_ port: Int) async throws {
        let up = try await OperationsTests.waitFor("http://127.0.0.1:\(port)/health")
        #expect(up, "serve on \(port) never answered 200")
    }

    static func shell(_ command: String) async throws -> (Int32, String) {
        try await OperationsTests.run(
            "/bin/bash",
            ["-c", "set -o pipefail; " + command],
            environment: ProcessInfo.processInfo.environment
        )
    }

    @Test func aDumpRestoredIntoANewDatabaseServesAsBefore() async throws {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let directory = TemporaryDirectory("pgdump")
        let log = directory.file("log")
        let source = try PostgresConnection.recreateDatabase("sb_test_dump_source", serverURL: server)

        // A day's worth of what only PostgreSQL holds: a password hash, sealed KIS credentials.
        var port = freeLoopbackPort()
        var serving = try Self.serve(log, database: source, port: port)
        try await Self.waitUp(port)
        let credentials = #"{"email":"restore@example.com","password":"a long restore password"}"#
        let registered = try await Self.curl([
            "-X", "POST", "http://127.0.0.1:\(port)/api/auth/register", "-H", "Content-Type: application/json", "-d",
            credentials,
        ])
        #expect(registered.status == 201, "\(registered)")
        let token =
            ((try? JSONSerialization.jsonObject(with: Data(registered.body.utf8))) as? [String: Any])?["token"]
            as? String ?? ""
        let account = try await Self.curl([
            "-X", "POST", "http://127.0.0.1:\(port)/api/broker-accounts", "-H", "Content-Type: application/json",
            "-H", "Authorization: Bearer \(token)", "-d",
            #"{"broker":"KIS_PAPER","accountNumber":"50123456-01","appKey":"restore-key","appSecret":"restore-secret"}"#,
        ])
        #expect(account.status == 201, "\(account)")
        kill(serving.processIdentifier, SIGTERM)
        serving.waitUntilExit()

        // The guide's dump (bare metal: DATABASE_URL), then the runbook's restore into an empty database.
        let dumps = directory.file("postgres")
        let dumped = try await Self.shell(
            "DATABASE_URL='\(source)' BACKUP_DIR='\(dumps)' '\(OperationsTests.repositoryRoot)/scripts/backup-postgres.sh'"
        )
        #expect(dumped.0 == 0, "\(dumped.1)")
        let file = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dumps).first { $0.hasSuffix(".sql.gz") }
        )
        let target = try PostgresConnection.recreateDatabase("sb_test_dump_target", serverURL: server)
        let restored = try await Self.shell(
            "gunzip < '\(dumps)/\(file)' | psql -q -v ON_ERROR_STOP=1 '\(target)' > /dev/null"
        )
        #expect(restored.0 == 0, "\(restored.1)")
        let guideIndexSQL =
            "SELECT schemaname, tablename, indexname FROM pg_stat_user_indexes WHERE idx_scan = 0 AND indexrelname NOT LIKE '%_pkey'"
        // pg_dump does not carry the database's search path: the guide's index SQL fails until migrate.
        #expect(throws: PostgresError.self) { _ = try PostgresConnection(url: target).query(guideIndexSQL) }
        let (migrated, output, errors) = try await runStockboom(["db", "migrate", "--database-url", target])
        #expect(migrated == 0, "\(output) \(errors)")
        let session = try PostgresConnection(url: target)  // a new session: the database's settings apply
        #expect(try session.query("SHOW search_path").rows.first?[0]?.contains("public, pg_catalog") == true)
        #expect(try session.query(guideIndexSQL).rows.count >= 0)
        let key = try #require(SecretBox.parseKey(Self.secretsKey))
        let opened = try session.brokerCredentials(account: "acc-0000000001", box: SecretBox(key: key))
        let sealed = try #require(opened)
        #expect(sealed.appSecret == "restore-secret", "the same STOCKBOOM_SECRETS_KEY opens the restored credentials")

        // serve on the same log and the restored database: sign-in works, the read models are at the head.
        port = freeLoopbackPort()
        serving = try Self.serve(log, database: target, port: port)
        defer { kill(serving.processIdentifier, SIGKILL) }
        try await Self.waitUp(port)
        let login = try await Self.curl([
            "-X", "POST", "http://127.0.0.1:\(port)/api/auth/login", "-H", "Content-Type: application/json", "-d",
            credentials,
        ])
        #expect(login.status == 200, "the password hash came back with the dump: \(login)")
        let status = try await runStockboom(["projections", "status", "--dir", log, "--database-url", target])
        #expect(status.0 == 0 && !status.1.isEmpty, "\(status)")
    }
}
