import Foundation
import Projections
import Storage
import TestSupport
import Testing

/// Rotating `STOCKBOOM_SECRETS_KEY`: while the previous key is given everything still opens, `db reseal-secrets`
/// moves every stored secret under the new key in one transaction, and a secret under neither key stops it with
/// nothing changed.
@Suite(.serialized) struct SecretsRotationTests {
    static let old: [UInt8] = Array(repeating: 0x11, count: 32)
    static let new: [UInt8] = Array(repeating: 0x22, count: 32)
    static let stranger: [UInt8] = Array(repeating: 0x33, count: 32)

    static func hex(_ key: [UInt8]) -> String { key.map { String(format: "%02x", $0) }.joined() }

    static func database() throws -> (String, PostgresConnection) {
        let server = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"], "run the tests with `make test`")
        let url = try PostgresConnection.recreateDatabase("sb_test_reseal", serverURL: server)
        let connection = try PostgresConnection(url: url)
        _ = try Migrator.migrate(connection)
        return (url, connection)
    }

    static func store(_ connection: PostgresConnection, account: String, under key: [UInt8]) throws {
        let box = SecretBox(key: key)
        _ = try connection.query(
            "INSERT INTO broker_credentials (broker_account_id, user_id, sealed_app_key, sealed_app_secret, sealed_account_number) VALUES ($1, 'usr-1', $2, $3, $4)",
            [account, try box.seal("key-\(account)"), try box.seal("secret-\(account)"), try box.seal("5012345601")]
        )
        _ = try connection.query(
            "INSERT INTO broker_tokens (broker_account_id, sealed_token, issued_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 day')",
            [account, try box.seal("token-\(account)")]
        )
    }

    @Test func theCommandMovesEverySecretUnderTheNewKey() async throws {
        let (url, connection) = try Self.database()
        try Self.store(connection, account: "acc-1", under: Self.old)
        try Self.store(connection, account: "acc-2", under: Self.old)

        // The window: processes given both keys open the old secrets.
        let window = SecretBox(key: Self.new, previous: Self.old)
        #expect(try connection.brokerCredentials(account: "acc-1", box: window)?.appSecret == "secret-acc-1")
        #expect(throws: SecretBox.Failure.self) {
            _ = try connection.brokerCredentials(account: "acc-1", box: SecretBox(key: Self.new))
        }

        let environment = [
            "STOCKBOOM_SECRETS_KEY": Self.hex(Self.new), "STOCKBOOM_SECRETS_KEY_PREVIOUS": Self.hex(Self.old),
        ]
        let (status, output, errors) = try await runStockboom(
            ["db", "reseal-secrets", "--database-url", url],
            environment: environment
        )
        #expect(status == 0, "\(output) \(errors)")
        #expect(output.contains("re-sealed 8 secret(s)"), "3 credentials and a token for each of 2 accounts: \(output)")
        // After: the new key alone opens everything; the old one nothing.
        let after = SecretBox(key: Self.new)
        for account in ["acc-1", "acc-2"] {
            let credentials = try #require(try connection.brokerCredentials(account: account, box: after))
            #expect(credentials.appKey == "key-\(account)" && credentials.accountNumber == "5012345601")
            #expect(throws: SecretBox.Failure.self) {
                _ = try connection.brokerCredentials(account: account, box: SecretBox(key: Self.old))
            }
        }
        // Again: nothing left to do.
        let again = try await runStockboom(["db", "reseal-secrets", "--database-url", url], environment: environment)
        #expect(again.1.contains("re-sealed 0 secret(s) under the current key; 8 already were"), "\(again)")
    }

    @Test func aSecretUnderNeitherKeyStopsItAndNothingChanges() throws {
        let (_, connection) = try Self.database()
        try Self.store(connection, account: "acc-1", under: Self.old)
        try Self.store(connection, account: "acc-9", under: Self.stranger)
        let before = try connection.query("SELECT sealed_app_key FROM broker_credentials ORDER BY 1").rows
        #expect(throws: SecretBox.Failure.self) {
            _ = try connection.reseal(SecretBox(key: Self.new, previous: Self.old))
        }
        let after = try connection.query("SELECT sealed_app_key FROM broker_credentials ORDER BY 1").rows
        #expect(before == after, "rolled back: acc-1 was not re-sealed either")
        // Forged sealed text (not base64, truncated, another format) is reported, not trapped on.
        _ = try connection.query(
            "UPDATE broker_credentials SET sealed_app_key = 'v1:%%%' WHERE broker_account_id = 'acc-9'"
        )
        #expect(throws: SecretBox.Failure.self) {
            _ = try connection.reseal(SecretBox(key: Self.new, previous: Self.old))
        }
        for forged in ["", "v2:AAAA", "v1:" + String(repeating: "A", count: 8), "v1:\u{0}\u{7}"] {
            #expect(SecretBox(key: Self.new, previous: Self.old).opener(forged) == nil, "\(forged)")
        }
    }
}
