import Foundation
import Projections
import Storage
import Testing

@testable import Worker

/// The worker notices replaced KIS credentials (`PUT /api/broker-accounts/{id}/credentials`, a re-sealing under a
/// new secrets key) without a restart, and keeps its client while nothing changed.
@Suite struct BrokerDirectoryTests {
    @Test func replacedCredentialsGiveANewClient() async throws {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let url = try PostgresConnection.recreateDatabase("sb_test_directory", serverURL: server)
        let database = try PostgresConnection(url: url)
        _ = try Migrator.migrate(database)
        let box = SecretBox(key: Array(repeating: 7, count: 32))
        _ = try database.query(
            "INSERT INTO broker_credentials (broker_account_id, user_id, sealed_app_key, sealed_app_secret, sealed_account_number) VALUES ('acc-0000000001', 'usr-1', $1, $2, $3)",
            [try box.seal("old-key"), try box.seal("old-secret"), try box.seal("5012345601")]
        )
        let directory = BrokerDirectory(
            databaseURL: url,
            box: box,
            baseURL: "http://127.0.0.1:1",
            engine: EngineClient(baseURL: "http://127.0.0.1:1", token: "t"),
            clock: { 0 }
        )
        await directory.setCredentialsRecheck(.zero)
        let first = try await directory.client(account: "acc-0000000001", broker: "KIS_PAPER")
        let same = try await directory.client(account: "acc-0000000001", broker: "KIS_PAPER")
        #expect(first === same, "nothing changed: the same client (its token and budget)")
        _ = try database.query(
            "UPDATE broker_credentials SET sealed_app_key = $1, sealed_app_secret = $2",
            [try box.seal("new-key"), try box.seal("new-secret")]
        )
        let replaced = try await directory.client(account: "acc-0000000001", broker: "KIS_PAPER")
        #expect(first !== replaced, "the new key gets a client of its own")
        // Gone: the account's jobs fail for good with the reason, not with a stale key.
        _ = try database.query("DELETE FROM broker_credentials")
        await #expect(throws: JobFailure.self) {
            _ = try await directory.client(account: "acc-0000000001", broker: "KIS_PAPER")
        }
    }
}
