import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Storage
import Testing

@testable import Gateway

/// Replacing a KIS account's app key and secret through the API: sealed like the first ones, the old key's token
/// dropped, never returned; only the owner, only an open KIS account, only printable values.
@Suite struct BrokerCredentialsTests {
    @Test func anAccountsKeyIsReplacedInPlace() async throws {
        let harness = try await APIHarness("credentials")
        let (newKey, newSecret) = ("PSnewKEY-" + UUID().uuidString, "NEWSECRET-" + UUID().uuidString)
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice-keys@example.com")
            let bob = try await client.register("bob-keys@example.com")
            let created = try await client.call(
                .post,
                "/api/broker-accounts",
                token: alice.token,
                json: ["broker": "KIS_PAPER", "accountNumber": "50123456-01", "appKey": "old-key", "appSecret": "old"]
            )
            let accountID = created.json["id"] as? String ?? ""
            let path = "/api/broker-accounts/\(accountID)/credentials"
            let database = try PostgresConnection(url: harness.databaseURL)
            _ = try database.query(
                "INSERT INTO broker_tokens (broker_account_id, sealed_token, issued_at, expires_at) VALUES ($1, $2, now(), now() + interval '1 day')",
                [accountID, try harness.services.secrets.seal("token-of-the-old-key")]
            )

            // Another user's account: 404, as if it did not exist; nothing changes.
            let foreign = try await client.call(
                .put,
                path,
                token: bob.token,
                json: ["appKey": "stolen", "appSecret": "stolen"]
            )
            #expect(foreign.status == 404, "\(foreign.text)")
            #expect(try await client.call(.put, path, json: ["appKey": "a", "appSecret": "b"]).status == 401)

            // Hostile bodies: 4xx, nothing changes.
            let hostile: [Any] = [
                ["appKey": "key\u{0}", "appSecret": "s"], ["appKey": "key\nInjected: 1", "appSecret": "s"],
                ["appKey": "with space", "appSecret": "s"],
                ["appKey": String(repeating: "k", count: 513), "appSecret": "s"],
                ["appKey": "", "appSecret": "s"], ["appKey": "k"], ["appKey": 12, "appSecret": "s"],
                ["appKey": "k", "appSecret": "s", "accountNumber": "999"], ["appKey": "키", "appSecret": "s"],
                ["appKey": "k", "appSecret": "\u{202E}s"],
            ]
            for body in hostile {
                let answer = try await client.call(.put, path, token: alice.token, json: body)
                #expect((400...422).contains(answer.status), "\(body): \(answer.status) \(answer.text)")
            }
            let unchanged = try #require(
                try database.brokerCredentials(account: accountID, box: harness.services.secrets)
            )
            #expect(unchanged.appKey == "old-key")

            let replaced = try await client.call(
                .put,
                path,
                token: alice.token,
                json: ["appKey": newKey, "appSecret": newSecret]
            )
            #expect(replaced.status == 200, "\(replaced.text)")
            #expect(!replaced.text.contains(newKey) && !replaced.text.contains(newSecret), "never returned")
            let stored = try #require(try database.brokerCredentials(account: accountID, box: harness.services.secrets))
            #expect(stored.appKey == newKey && stored.appSecret == newSecret && stored.accountNumber == "50123456-01")
            #expect(
                try database.query("SELECT 1 FROM broker_tokens WHERE broker_account_id = $1", [accountID]).rows
                    .isEmpty,
                "the old key's token is dropped"
            )
            let sealed = try database.query("SELECT sealed_app_key FROM broker_credentials").rows.first?[0] ?? ""
            #expect(sealed.hasPrefix("v1:") && !sealed.contains(newKey))

            // A simulated account has nothing to replace.
            let simulated = try await client.simulatedAccount(alice.token)
            #expect(
                try await client.call(
                    .put,
                    "/api/broker-accounts/\(simulated)/credentials",
                    token: alice.token,
                    json: ["appKey": "k", "appSecret": "s"]
                ).status == 409
            )
        }
        await harness.close()
    }
}
