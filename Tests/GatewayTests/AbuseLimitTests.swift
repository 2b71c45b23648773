import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Runtime
import Simulation
import Storage
import Testing

@testable import Gateway

/// Finding 6 of the hostile-input review: 40 wrong passwords in a row were 40 × 401, never 429; sign-ups and
/// strategies were unlimited. And finding 8's headers. Each test failed before the fix.
@Suite struct AbuseLimitTests {
    @Test func wrongPasswordsBackOffPerAccountAndPerAddress() async throws {
        let harness = try await APIHarness("abuse_login")
        try await harness.app.test(.router) { client in
            _ = try await client.register("target@example.com")
            _ = try await client.register("other@example.com")
            for attempt in 1...5 {
                let reply = try await client.call(
                    .post,
                    "/api/auth/login",
                    json: ["email": "target@example.com", "password": "guess number \(attempt)"]
                )
                #expect(reply.status == 401, "attempt \(attempt) costs nothing yet")
            }
            let sixth = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "target@example.com", "password": "guess number 6"]
            )
            #expect(sixth.status == 401)
            let blocked = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "TARGET@example.com", "password": "correct horse battery"]
            )
            #expect(
                blocked.status == 429 && blocked.headers[.retryAfter].flatMap { Int($0) } ?? 0 >= 1,
                "even the right password waits: \(blocked.status)"
            )
            // Another account from the same address is not blocked by that account's back-off…
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/login",
                    json: ["email": "other@example.com", "password": "correct horse battery"]
                ).status == 200
            )
            // …but the address is, after 20 wrong passwords across accounts.
            var statuses: [Int] = []
            for attempt in 0..<16 {
                statuses.append(
                    try await client.call(
                        .post,
                        "/api/auth/login",
                        json: ["email": "nobody\(attempt)@example.com", "password": "wrong password"]
                    ).status
                )
            }
            #expect(statuses.last == 429, "\(statuses)")
        }
        await harness.close()
    }

    @Test func signUpsAndStrategiesAreCapped() async throws {
        let harness = try await APIHarness("abuse_caps") { configuration in
            configuration.signUpsPerHour = 2
            configuration.strategiesPerUser = 1
        }
        try await harness.app.test(.router) { client in
            let alice = try await client.register("caps1@example.com")
            _ = try await client.register("caps2@example.com")
            let third = try await client.call(
                .post,
                "/api/auth/register",
                json: ["email": "caps3@example.com", "password": "correct horse battery"]
            )
            #expect(third.status == 429 && third.headers[.retryAfter] != nil, "\(third.status) \(third.text)")
            let account = try await client.simulatedAccount(alice.token)
            let first = try await client.call(
                .post,
                "/api/strategies",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "strategy": "ma-cross"]
            )
            #expect(first.status == 201, "\(first.text)")
            let again = try await client.call(
                .post,
                "/api/strategies",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "strategy": "ma-cross"]
            )
            #expect(again.status == 201, "the same one again is not a new one")
            let second = try await client.call(
                .post,
                "/api/strategies",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "000660", "strategy": "ma-cross"]
            )
            #expect(second.status == 409, "\(second.text)")
        }
        await harness.close()
    }

    @Test func everyAnswerForbidsSniffingFramingAndReferrers() async throws {
        let harness = try await APIHarness("abuse_headers")
        try await harness.app.test(.router) { client in
            for path in ["/health", "/", "/api/orders", "/no-such-route"] {
                let reply = try await client.call(.get, path)
                #expect(reply.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(path)")
                #expect(
                    reply.headers[HTTPField.Name("X-Frame-Options")!] == "DENY"
                        && reply.headers[HTTPField.Name("Referrer-Policy")!] == "same-origin",
                    "\(path)"
                )
            }
        }
        await harness.close()
    }
}
