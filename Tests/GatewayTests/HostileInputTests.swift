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
@testable import Projections

/// The findings of the hostile-input review (issue 17), each as it was reported: a single request that broke
/// the system. Each test failed before the fix.
@Suite struct HostileInputTests {
    /// Finding 1: a NUL byte in a sign-up e-mail answered 201 and then stopped the trading and notifications
    /// projections for good. Now refused at the edge (422, nothing recorded), as are other control characters,
    /// right-to-left overrides and look-alike letters; addresses are stored lower-cased.
    @Test func signUpRefusesAddressesThatAreNotWhatTheySeem() async throws {
        let harness = try await APIHarness("hostile_signup")
        try await harness.app.test(.router) { client in
            let head = harness.runtime.nextOffset
            for email in [
                "victim\u{0}@example.com", "trader@exa\u{0}mple.com", "\u{202E}moc.elgoog@evil.com",
                "pаypal@example.com", "line\nbreak@example.com", "tab\t@example.com", "a@b.c\u{7F}",
            ] {
                let reply = try await client.call(
                    .post,
                    "/api/auth/register",
                    json: ["email": email, "password": "a long enough passphrase"]
                )
                #expect(reply.status == 422, "\(email.debugDescription): \(reply.status) \(reply.text)")
            }
            for password in [String(repeating: " ", count: 12), "aaaaaaaaaaaa", "abababababab", "1234567890", "short1"]
            {
                let reply = try await client.call(
                    .post,
                    "/api/auth/register",
                    json: ["email": "weak@example.com", "password": password]
                )
                #expect(reply.status == 422, "password \(password.debugDescription): \(reply.status)")
            }
            #expect(harness.runtime.nextOffset == head, "nothing refused reached the log")
            let mixed = try await client.call(
                .post,
                "/api/auth/register",
                json: ["email": "  Mixed.Case@Example.COM ", "password": "a long enough passphrase"]
            )
            #expect(
                mixed.status == 201
                    && (mixed.json["user"] as? [String: Any])?["email"] as? String == "mixed.case@example.com",
                "\(mixed.text)"
            )
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/login",
                    json: ["email": "MIXED.case@example.com", "password": "a long enough passphrase"]
                ).status == 200
            )
            // The read models follow: every projection at the head, none failing.
            try harness.project()
            #expect(try harness.projections.status().allSatisfy { $0.lag == 0 && $0.failure == nil })
        }
        await harness.close()
    }

    /// Finding 2: a candle priced 1e18 was accepted, and the next portfolio view trapped on
    /// `quantity × lastPrice`; two candles of volume 2^62 in one 5-minute bucket trapped the roll-up. Now the
    /// engine's bounds refuse them where they enter (the worker's CSV route names the line), and a fill at
    /// such a price is refused too.
    @Test func pricesAndVolumesBeyondTheBoundsAreRefusedWhereTheyEnter() async throws {
        let token = InternalCandlesTests.token
        let harness = try await APIHarness("hostile_prices", workerToken: token)
        try await harness.app.test(.router) { client in
            let trader = try await client.register("holder@example.com")
            let account = try await client.simulatedAccount(trader.token, cash: 50_000_000)
            let order = try await client.call(
                .post,
                "/api/orders",
                token: trader.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 10, "price": 55_000]
            )
            #expect(order.status == 201, "\(order.text)")
            let id = try #require(order.json["id"] as? String).flatMap(OrderID.init)
            let fill = try await harness.runtime.execute(
                .recordFill(try #require(id), quantity: 10, price: 55_000, fillID: "f1"),
                context: harness.services.context("test")
            )
            #expect(!fill.decision.events.isEmpty)
            let nine = KST.instant(day: KST.day(APIHarness.sessionTime), hour: 9)
            func csv(_ minute: Int64, price: Int64, volume: Int64) -> String {
                "005930,1m,\(nine + minute * KST.minuteMicros),\(price),\(price),\(price),\(price),\(volume)"
            }
            let head = harness.runtime.nextOffset
            let hostile = [
                csv(0, price: 1_000_000_000_000_000_000, volume: 1), csv(1, price: 55_000, volume: 1 << 62),
                csv(2, price: 55_000, volume: 1 << 62), csv(3, price: Int64.max, volume: Int64.max),
            ]
            var headers = HTTPFields()
            headers[.authorization] = "Bearer \(token)"
            headers[.contentType] = "text/csv"
            let reply = try await client.execute(
                uri: "/internal/candles",
                method: .post,
                headers: headers,
                body: ByteBuffer(string: hostile.joined(separator: "\n") + "\n")
            ) { response in
                Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: response.body))
            }
            #expect(reply.status < 500, "\(reply.text)")
            #expect(reply.json["recorded"] as? Int ?? 0 == 0, "no bar beyond the bounds recorded: \(reply.text)")
            #expect(harness.runtime.nextOffset == head)
            // Straight to the engine: refused, naming the field.
            let candle = Candle(
                stock: APIHarness.samsung,
                timeframe: .minute1,
                start: nine,
                open: 1 << 60,
                high: 1 << 60,
                low: 1 << 60,
                close: 1 << 60,
                volume: 1
            )
            await #expect(throws: EngineError.self) {
                try await harness.runtime.execute(.ingestCandle(candle), context: harness.services.context("test"))
            }
            await #expect(throws: EngineError.self) {
                try await harness.runtime.execute(
                    .depositCash(account: AccountID(account)!, amount: Int64.max),
                    context: harness.services.context("test")
                )
            }
            // The portfolio still answers.
            let portfolio = try await client.call(
                .get,
                "/api/portfolio?brokerAccountId=\(account)",
                token: trader.token
            )
            #expect(portfolio.status == 200, "\(portfolio.text)")
        }
        await harness.close()
    }

    /// A read model that cannot apply an event is loud: `/health` is 503 naming the projection, the offset and
    /// the error, `stockboom_projection_failing` is 1, the other read models go on to the head, and the failure
    /// clears itself with the commit that gets past the event. (Before, the runner stopped every model behind
    /// the failing one and `/health` said ok.)
    @Test func aStuckProjectionIsNamedAndHoldsBackOnlyItself() async throws {
        let harness = try await APIHarness("hostile_stuck")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("stuck@example.com")
            try harness.project()
            // PostgreSQL will refuse one notification's row (a stand-in for any row it cannot store).
            try harness.projections.database.execute(
                "ALTER TABLE notifications ADD CONSTRAINT poison CHECK (title <> 'poison')"
            )
            let user = try #require(UserID(alice.user))
            let poisoned = try await harness.runtime.execute(
                .notify(user: user, kind: "TEST", title: "poison", message: "m"),
                context: harness.services.context("test")
            )
            _ = try await harness.runtime.execute(
                .notify(user: user, kind: "TEST", title: "fine", message: "m"),
                context: harness.services.context("test")
            )
            _ = try await client.register("after@example.com")
            #expect(throws: ProjectionFailures.self) { try harness.projections.catchUp() }
            // the retry pins the exact event
            #expect(throws: ProjectionFailures.self) { try harness.projections.catchUp() }
            let statuses = try harness.projections.status()
            let notifications = try #require(statuses.first { $0.name == "notifications" })
            #expect(
                notifications.failure?.offset == poisoned.offsets.first
                    && notifications.offset == poisoned.offsets.first,
                "\(statuses)"
            )
            #expect(
                notifications.failure?.error.contains("poison") == true && (notifications.failure?.attempts ?? 0) >= 2
            )
            #expect(
                statuses.filter { $0.name != "notifications" }.allSatisfy { $0.lag == 0 && $0.failure == nil },
                "the others went on: \(statuses)"
            )
            let health = try await client.call(.get, "/health")
            #expect(health.status == 503 && (health.json["failing"] as? [String]) == ["projections"], "\(health.text)")
            let named =
                (health.json["projections"] as? [[String: Any]])?.first { $0["name"] as? String == "notifications" }?[
                    "failing"
                ] as? [String: Any]
            #expect(
                named?["offset"] as? Int == Int(poisoned.offsets.first ?? 0)
                    && (named?["error"] as? String)?.contains("poison") == true,
                "\(health.text)"
            )
            let metrics = try await client.call(.get, "/metrics")
            #expect(
                metrics.text.contains(#"stockboom_projection_failing{projection="notifications"} 1"#),
                "the failing gauge"
            )
            // Fixed (here: the constraint dropped): the next pass gets past it and the failure is gone.
            try harness.projections.database.execute("ALTER TABLE notifications DROP CONSTRAINT poison")
            try harness.projections.catchUp()
            #expect(try harness.projections.status().allSatisfy { $0.lag == 0 && $0.failure == nil })
            try await Task.sleep(for: .milliseconds(1_100))  // /health answers from a check at most a second old
            #expect(try await client.call(.get, "/health").status == 200)
        }
        await harness.close()
    }
}
