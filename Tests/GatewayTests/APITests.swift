import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Runtime
import Simulation
import Storage
import Synchronization
import TestSupport
import Testing

@testable import Engine
@testable import Gateway
@testable import Ledger
@testable import Projections

@Suite(.serialized) struct APITests {
    @Test func authAndPerUserIsolation() async throws {
        let harness = try await APIHarness("auth")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let bob = try await client.register("bob@example.com")
            #expect(alice.user != bob.user)
            // Same address again (any case) → 409; weak password → 422; malformed → 400.
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/register",
                    json: ["email": "ALICE@example.com", "password": "another password"]
                ).status == 409
            )
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/register",
                    json: ["email": "carol@example.com", "password": "short"]
                ).status == 422
            )
            #expect(try await client.call(.post, "/api/auth/register", raw: "{\"email\": ").status == 400)
            // Login: right password → token that works; wrong → 401 with the same message as an unknown address.
            let login = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "alice@example.com", "password": "correct horse battery"]
            )
            #expect(login.status == 200)
            let token = try #require(login.json["token"] as? String)
            #expect(
                try await client.call(.get, "/api/auth/me", token: token).json["email"] as? String
                    == "alice@example.com"
            )
            let wrong = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "alice@example.com", "password": "wrong password"]
            )
            let unknown = try await client.call(
                .post,
                "/api/auth/login",
                json: ["email": "nobody@example.com", "password": "wrong password"]
            )
            #expect(wrong.status == 401 && unknown.status == 401 && wrong.detail == unknown.detail)
            // No token, a bad token: 401 problem details.
            let anonymous = try await client.call(.get, "/api/orders")
            #expect(anonymous.status == 401)
            #expect(anonymous.headers[.contentType] == "application/problem+json")
            #expect(try await client.call(.get, "/api/orders", token: "not.a.token").status == 401)
            // Alice's account, order and notification; Bob asks for each by id and gets 404.
            let account = try await client.simulatedAccount(alice.token)
            let order = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 10, "price": 55_000]
            )
            #expect(order.status == 201, "\(order.text)")
            let orderID = try #require(order.json["id"] as? String)
            let offTick = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_050]
            )
            // a rejection is an order with a reason, and a notification
            #expect(offTick.json["status"] as? String == "REJECTED")
            try harness.project()
            let notifications = try await client.call(.get, "/api/notifications", token: alice.token)
            let notification = try #require(notifications.items.first?["id"] as? String, "\(notifications.text)")
            for (method, path) in [
                (HTTPRequest.Method.get, "/api/broker-accounts/\(account)"),
                (.delete, "/api/broker-accounts/\(account)"),
                (.get, "/api/orders/\(orderID)"), (.get, "/api/orders/\(orderID)/audit"),
                (.post, "/api/orders/\(orderID)/cancel"),
                (.post, "/api/notifications/\(notification)/read"),
            ] {
                let reply = try await client.call(method, path, token: bob.token)
                #expect(reply.status == 404, "Bob must not reach \(method) \(path): \(reply.status) \(reply.text)")
            }
            let bobOrder = try await client.call(
                .post,
                "/api/orders",
                token: bob.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(bobOrder.status == 404, "Bob cannot order on Alice's account")
            #expect(try await client.call(.get, "/api/orders", token: bob.token).items.isEmpty)
            #expect(try await client.call(.get, "/api/broker-accounts", token: bob.token).items.isEmpty)
            #expect(try await client.call(.get, "/api/notifications", token: bob.token).items.isEmpty)
            #expect(try await client.call(.get, "/api/trades", token: bob.token).items.isEmpty)
            #expect(try await client.call(.get, "/api/trades", token: alice.token).items.count == 2)
            // Alice marks her notification read.
            #expect(
                try await client.call(.post, "/api/notifications/\(notification)/read", token: alice.token).status
                    == 204
            )
            #expect(
                try await client.call(.get, "/api/notifications?unread=true", token: alice.token).items.contains {
                    $0["id"] as? String == notification
                } == false
            )
        }
        await harness.close()
    }

    @Test func orderPlacementIsIdempotentAndValidated() async throws {
        let harness = try await APIHarness("orders")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let body: [String: Any] = [
                "brokerAccountId": account, "stockId": "005930", "side": "BUY", "type": "LIMIT", "quantity": 10,
                "price": 55_000,
            ]
            let first = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: body,
                headers: ["Idempotency-Key": "retry-1"]
            )
            #expect(first.status == 201)
            #expect(first.json["status"] as? String == "PENDING")
            let again = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: body,
                headers: ["Idempotency-Key": "retry-1"]
            )
            #expect(again.status == 200)
            #expect(again.json["id"] as? String == first.json["id"] as? String)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            var changed = body
            changed["quantity"] = 11
            #expect(
                try await client.call(
                    .post,
                    "/api/orders",
                    token: alice.token,
                    json: changed,
                    headers: ["Idempotency-Key": "retry-1"]
                ).status == 422
            )
            #expect(
                try await client.call(.get, "/api/orders", token: alice.token).items.count == 1,
                "a retried POST does not double the order"
            )
            let reserved = harness.runtime.state.accounts[AccountID(account)!]!.reservedCash
            #expect(reserved > 550_000 && reserved < 560_000, "one order's cash reserved, not two: \(reserved)")

            // Bad input: each a 4xx problem naming what is wrong, never a 500.
            let cases: [(Any, Int, String)] = [
                (
                    ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": -5, "price": 55_000],
                    422, "quantity"
                ),
                (
                    [
                        "brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": "ten",
                        "price": 55_000,
                    ], 400, "quantity"
                ),
                (
                    ["brokerAccountId": account, "stockId": "999999", "side": "BUY", "quantity": 1, "price": 55_000],
                    404, "999999"
                ),
                (
                    ["brokerAccountId": account, "stockId": "5930", "side": "BUY", "quantity": 1, "price": 55_000], 400,
                    "six digits"
                ),
                (
                    ["brokerAccountId": account, "stockId": "005930", "side": "HOLD", "quantity": 1, "price": 55_000],
                    422, "side"
                ),
                (["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1], 422, "price"),
                (["stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000], 400, "brokerAccountId"),
                ([1, 2, 3], 400, "body"),
            ]
            for (json, status, mention) in cases {
                let reply = try await client.call(.post, "/api/orders", token: alice.token, json: json)
                #expect(reply.status == status, "\(json) → \(reply.status) \(reply.text)")
                #expect(reply.detail.contains(mention), "the message names \(mention): \(reply.detail)")
                #expect(reply.headers[.contentType] == "application/problem+json")
            }
            #expect(try await client.call(.post, "/api/orders", token: alice.token, raw: "{not json").status == 400)
            let tooLarge = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                raw: "{\"pad\":\"" + String(repeating: "x", count: 100_000) + "\"}"
            )
            #expect(tooLarge.status == 413)
            // Off tick and out of the daily band: recorded rejections with the engine's reason codes.
            let offTick = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_050]
            )
            #expect(
                offTick.status == 201 && offTick.json["failureReason"] as? String == "PRICE_NOT_ON_TICK",
                "\(offTick.text)"
            )
            let tooHigh = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 80_000]
            )
            #expect(tooHigh.json["failureReason"] as? String == "PRICE_OUT_OF_RANGE")
            // Cancel, then cancel again: 409 naming the state.
            let id = try #require(first.json["id"] as? String)
            let cancelled = try await client.call(.post, "/api/orders/\(id)/cancel", token: alice.token)
            #expect(cancelled.json["status"] as? String == "CANCELLED")
            let twice = try await client.call(.post, "/api/orders/\(id)/cancel", token: alice.token)
            #expect(twice.status == 409 && twice.detail.contains("CANCELLED"))
            // Filters.
            #expect(try await client.call(.get, "/api/orders?status=REJECTED", token: alice.token).items.count == 2)
            #expect(try await client.call(.get, "/api/orders?status=NOPE", token: alice.token).status == 400)
        }
        await harness.close()
    }

    @Test func orderRateLimitAnswers429() async throws {
        let harness = try await APIHarness("ratelimit") {
            $0.ordersPerSecond = 0.01
            $0.orderBurst = 3
        }  // no refill within the test, however loaded the machine
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let account = try await client.simulatedAccount(alice.token)
            var statuses: [Int] = []
            for _ in 0..<5 {
                statuses.append(
                    try await client.call(
                        .post,
                        "/api/orders",
                        token: alice.token,
                        json: [
                            "brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1,
                            "price": 55_000,
                        ]
                    ).status
                )
            }
            #expect(statuses == [201, 201, 201, 429, 429])
            let limited = try await client.call(.post, "/api/orders", token: alice.token, json: [:] as [String: Any])
            #expect(limited.headers[.retryAfter] != nil)
            // Another user has a bucket of their own.
            let bob = try await client.register("bob@example.com")
            let bobAccount = try await client.simulatedAccount(bob.token)
            #expect(
                try await client.call(
                    .post,
                    "/api/orders",
                    token: bob.token,
                    json: [
                        "brokerAccountId": bobAccount, "stockId": "005930", "side": "BUY", "quantity": 1,
                        "price": 55_000,
                    ]
                ).status == 201
            )
        }
        await harness.close()
    }

    /// A follower (or a primary without quorum) answers every write 503 with the reason before its handler looks
    /// anything up: an account the primary opened a moment ago is not "not found" here. Reads, sign-in and the
    /// writes that stay out of the log are served; nothing reaches the log while refused.
    @Test func aNodeThatRefusesCommandsAnswersEveryWrite503First() async throws {
        let harness = try await APIHarness("readonly")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let reason = "this node is a follower; send writes to the primary at http://primary.example:3001"
            harness.runtime.refuseCommands(LedgerError(code: .unavailable, message: reason))
            let before = harness.log.nextOffset
            let writes: [(HTTPRequest.Method, String, [String: Any])] = [
                // An account this node has never seen, and a malformed body: 503 all the same.
                (
                    .post, "/api/orders",
                    [
                        "brokerAccountId": "acc-0000009999", "stockId": "005930", "side": "BUY", "quantity": 1,
                        "price": 55_000,
                    ]
                ),
                (.post, "/api/orders", ["quantity": "\u{0}9223372036854775807"]),
                (.post, "/api/orders/ord-0000000001/cancel", [:]),
                (.delete, "/api/broker-accounts/\(account)", [:]),
                (.post, "/api/broker-accounts", ["broker": "SIMULATED", "accountNumber": "5012345678"]),
                (.post, "/api/strategies", ["brokerAccountId": account]),
                (.post, "/api/auth/register", ["email": "bob@example.com", "password": "correct horse battery"]),
            ]
            for (method, path, body) in writes {
                let answer = try await client.call(method, path, token: alice.token, json: body)
                #expect(answer.status == 503, "\(method) \(path): \(answer.status) \(answer.json)")
                #expect(answer.json["detail"] as? String == reason, "\(method) \(path)")
                #expect(answer.headers[.retryAfter] == "1")
            }
            #expect(harness.log.nextOffset == before)
            // Reads and sign-in are served while refused.
            #expect(try await client.call(.get, "/api/broker-accounts", token: alice.token).status == 200)
            #expect(
                try await client.call(
                    .post,
                    "/api/auth/login",
                    json: ["email": "alice@example.com", "password": "correct horse battery"]
                ).status == 200
            )
            // Taken again, the same write goes through.
            harness.runtime.refuseCommands(nil)
            #expect(
                try await client.call(
                    .post,
                    "/api/orders",
                    token: alice.token,
                    json: [
                        "brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000,
                    ]
                ).status == 201
            )
        }
        await harness.close()
    }

    @Test func auditShowsTheLifecycleAndDetectsTampering() async throws {
        let harness = try await APIHarness("audit")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let placed = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 10, "price": 55_000]
            )
            let id = try #require(placed.json["id"] as? String)
            let order = OrderID(id)!
            // The broker side (issue 6's worker) reported through the engine: submitted, accepted, partly filled.
            let context = CommandContext(time: APIHarness.sessionTime + 1_000_000)
            _ = try await harness.runtime.execute(.recordSubmitted(order), context: context)
            _ = try await harness.runtime.execute(
                .recordAccepted(order, brokerOrderNumber: "0000117057"),
                context: context
            )
            // the first events via the read model, the fill via the log scan after the checkpoint
            try harness.project()
            _ = try await harness.runtime.execute(
                .recordFill(order, quantity: 4, price: 55_000, fillID: "F1"),
                context: context
            )
            let audit = try await client.call(.get, "/api/orders/\(id)/audit", token: alice.token)
            #expect(audit.status == 200, "\(audit.text)")
            let events = try #require(audit.json["events"] as? [[String: Any]])
            #expect(
                events.map { $0["type"] as? String ?? "" } == [
                    "OrderRequested", "OrderSubmitted", "OrderAccepted", "OrderPartiallyFilled",
                ]
            )
            let offsets = events.compactMap { ($0["offset"] as? NSNumber)?.uint64Value }
            #expect(offsets == offsets.sorted() && offsets.count == 4)
            #expect(events.allSatisfy { ($0["frameHash"] as? String)?.count == 64 })
            #expect((events.last?["payload"] as? [String: Any])?["fillId"] as? String == "F1")
            let verification = try #require(audit.json["verification"] as? [String: Any])
            #expect(verification["ok"] as? Bool == true, "\(verification)")

            // Tamper with the frame of the order's first event: the audit reports the file and byte, not ok.
            let offset = offsets[0]
            let attestation = try harness.log.attest(offsets: [offset])
            let entry = try #require(attestation.entries.first)
            let path = harness.directory.path + "/" + entry.segment
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            try handle.seek(toOffset: entry.framePosition + 100)
            let byte = try #require(try handle.read(upToCount: 1)?.first)
            try handle.seek(toOffset: entry.framePosition + 100)
            try handle.write(contentsOf: Data([byte ^ 0xFF]))
            try handle.close()
            let tampered = try await client.call(.get, "/api/orders/\(id)/audit", token: alice.token)
            let report = try #require(tampered.json["verification"] as? [String: Any], "\(tampered.text)")
            #expect(report["ok"] as? Bool == false)
            let problems = report["problems"] as? [String] ?? []
            #expect(
                problems.contains { $0.contains(entry.segment) && $0.contains("byte \(entry.framePosition)") },
                "\(problems)"
            )
        }
        await harness.close()
    }

    @Test func portfolioNowAndAsOfAPastTime() async throws {
        let harness = try await APIHarness("portfolio")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let account = try await client.simulatedAccount(alice.token, cash: 1_000_000)
            let beforeDeposit = harness.clock.read()
            harness.clock.now.withLock { $0 += 60_000_000 }
            _ = try await harness.runtime.execute(
                .depositCash(account: AccountID(account)!, amount: 500_000),
                context: CommandContext(time: harness.clock.read())
            )
            let now = try await client.call(.get, "/api/portfolio", token: alice.token)
            #expect(now.items.first?["cash"] as? Int == 1_500_000, "\(now.text)")
            let past = try await client.call(
                .get,
                "/api/portfolio?asOf=\(beforeDeposit)&brokerAccountId=\(account)",
                token: alice.token
            )
            #expect(past.status == 200, "\(past.text)")
            #expect(
                past.items.first?["cash"] as? Int == 1_000_000,
                "the portfolio as it was before the deposit: \(past.text)"
            )
            #expect(try await client.call(.get, "/api/portfolio?asOf=yesterday", token: alice.token).status == 400)
        }
        await harness.close()
    }

    @Test func marketDataCandlesIndicatorsQuoteAndBacktest() async throws {
        let harness = try await APIHarness("market")
        try await harness.ingestCandles(40)
        try harness.project()
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let stocks = try await client.call(.get, "/api/market-data/stocks", token: alice.token)
            #expect(stocks.items.map { $0["id"] as? String ?? "" } == ["000660", "005930"])
            let candles = try await client.call(
                .get,
                "/api/market-data/stocks/005930/candles?timeframe=1m&from=2025-01-06T09:10:00%2B09:00&to=2025-01-06T09:20:00%2B09:00",
                token: alice.token
            )
            let rows = try #require(candles.json["candles"] as? [[String: Any]], "\(candles.text)")
            #expect(rows.count == 10)
            #expect(rows.first?["timestamp"] as? String == "2025-01-06T00:10:00.000000Z")
            let fiveMinute = try await client.call(
                .get,
                "/api/market-data/stocks/005930/candles?timeframe=5m",
                token: alice.token
            )
            #expect(
                (fiveMinute.json["candles"] as? [[String: Any]])?.count == 8,
                "40 minutes from 09:00 close 8 five-minute candles: \(fiveMinute.text)"
            )
            #expect(
                try await client.call(.get, "/api/market-data/stocks/005930/candles?timeframe=2m", token: alice.token)
                    .status == 400
            )
            #expect(
                try await client.call(.get, "/api/market-data/stocks/123456/candles", token: alice.token).status == 404
            )
            let indicators = try await client.call(
                .get,
                "/api/market-data/stocks/005930/indicators?timeframe=1m&names=sma_5,rsi_14",
                token: alice.token
            )
            let last = try #require(
                (indicators.json["rows"] as? [[String: Any]])?.last?["values"] as? [String: Double],
                "\(indicators.text)"
            )
            // SMA 5 of the last five closes, computed here independently.
            var sum = 0.0
            for minute in 35..<40 {
                let close: Int = 55_000 + ((minute % 10) - 5) * 100 + (minute / 10) * 100
                sum += Double(close)
            }
            let sma: Double = last["sma_5"] ?? 0
            #expect(abs(sma - sum / 5) < 1e-9)
            #expect(last["rsi_14"] != nil)
            let quote = try await client.call(.get, "/api/market-data/stocks/005930/quote", token: alice.token)
            #expect(
                quote.json["price"] as? Int
                    == Int(harness.runtime.state.stocks[APIHarness.samsung]!.marketData.lastClose)
            )
            let backtest = try await client.call(
                .post,
                "/api/backtests",
                token: alice.token,
                json: [
                    "stockId": "005930", "strategy": "ma-cross", "parameters": "fast=2,slow=5,quantity=10",
                    "timeframe": "1m",
                ]
            )
            #expect(backtest.status == 201, "\(backtest.text)")
            #expect(backtest.json["status"] as? String == "COMPLETED")
            #expect((backtest.json["report"] as? [String: Any])?["bars"] as? Int == 40)
            let id = try #require(backtest.json["id"] as? String)
            #expect(try await client.call(.get, "/api/backtests/\(id)", token: alice.token).status == 200)
            let bob = try await client.register("bob@example.com")
            #expect(try await client.call(.get, "/api/backtests/\(id)", token: bob.token).status == 404)
            #expect(
                try await client.call(
                    .post,
                    "/api/backtests",
                    token: alice.token,
                    json: ["stockId": "005930", "strategy": "moon"]
                ).status == 422
            )
            // The guide's token-status answers without a token (counts only).
            let status = try await client.call(.get, "/api/market-data/kis/token-status")
            #expect(status.status == 200 && status.json["kisAccounts"] as? Int == 0)
        }
        await harness.close()
    }

    @Test func kisCredentialsAreSealedNeverLoggedNeverReturned() async throws {
        let harness = try await APIHarness("secrets")
        let appKey = "PSabcdefKEY-" + UUID().uuidString
        let appSecret = "SECRET-" + UUID().uuidString
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com", password: "hunter2-hunter2")
            let created = try await client.call(
                .post,
                "/api/broker-accounts",
                token: alice.token,
                json: ["broker": "KIS_PAPER", "accountNumber": "50123456-01", "appKey": appKey, "appSecret": appSecret]
            )
            #expect(created.status == 201, "\(created.text)")
            #expect(created.json["hasCredentials"] as? Bool == true)
            #expect(
                !created.text.contains(appKey) && !created.text.contains(appSecret)
                    && !created.text.contains("50123456")
            )
            let listed = try await client.call(.get, "/api/broker-accounts", token: alice.token)
            #expect(!listed.text.contains(appKey) && !listed.text.contains(appSecret))
            #expect(
                try await client.call(
                    .post,
                    "/api/broker-accounts",
                    token: alice.token,
                    json: ["broker": "KIS_REAL", "accountNumber": "50123456"]
                ).status == 422,
                "KIS needs credentials"
            )
            let test = try await client.call(
                .post,
                "/api/trades/test",
                token: alice.token,
                json: ["brokerAccountId": created.json["id"] as? String ?? "", "stockId": "005930"]
            )
            #expect(test.status == 200 && test.json["ok"] as? Bool == false, "no token yet: \(test.text)")
            #expect(
                (test.json["checks"] as? [[String: Any]])?.contains {
                    $0["name"] as? String == "token" && $0["ok"] as? Bool == false
                } == true
            )
        }
        // In PostgreSQL: sealed, and opening with the key gives the secret back.
        let database = try PostgresConnection(url: harness.databaseURL)
        let row = try #require(
            try database.query("SELECT sealed_app_key, sealed_app_secret FROM broker_credentials").rows.first
        )
        #expect(row[0]?.hasPrefix("v1:") == true && row[0]?.contains(appKey) == false)
        #expect(try harness.services.secrets.open(row[1] ?? "") == appSecret)
        let hash = try database.query("SELECT password_hash FROM user_credentials").rows.first?[0] ?? ""
        #expect(hash.hasPrefix("$2") && !hash.contains("hunter2"))
        // In the log: neither in any decoded event nor anywhere in the raw bytes.
        var rendered = ""
        try harness.log.scan(from: 0) { view in
            if let envelope = try? EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp) {
                rendered += envelope.json()
            }
            return .continue
        }
        for secret in [appKey, appSecret, "hunter2", "50123456-01"] {
            #expect(!rendered.contains(secret), "\(secret) entered the log")
        }
        await harness.close()
        for file in FileManager.default.enumerator(atPath: harness.directory.path)?.compactMap({ $0 as? String }) ?? []
        {
            var isDirectory: ObjCBool = false
            guard
                FileManager.default.fileExists(atPath: harness.directory.path + "/" + file, isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: harness.directory.path + "/" + file))
            #expect(
                bytes.range(of: Data(appSecret.utf8)) == nil && bytes.range(of: Data("hunter2".utf8)) == nil,
                "a secret is in \(file)"
            )
        }
    }

    @Test func closingAnAccountRefusesWorkingOrdersThenHidesIt() async throws {
        let harness = try await APIHarness("close")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let order = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            let refused = try await client.call(.delete, "/api/broker-accounts/\(account)", token: alice.token)
            #expect(refused.status == 409 && refused.detail.contains("working order"), "\(refused.text)")
            _ = try await client.call(
                .post,
                "/api/orders/\(order.json["id"] as? String ?? "")/cancel",
                token: alice.token
            )
            #expect(try await client.call(.delete, "/api/broker-accounts/\(account)", token: alice.token).status == 204)
            #expect(try await client.call(.get, "/api/broker-accounts", token: alice.token).items.isEmpty)
            #expect(
                try await client.call(
                    .post,
                    "/api/orders",
                    token: alice.token,
                    json: [
                        "brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000,
                    ]
                ).status == 404
            )
        }
        // The closing survives a restart (event + snapshot v2).
        await harness.close()
        let reopened = try EventLog(directory: harness.directory.path)
        let runtime = try EngineRuntime(log: reopened, engine: Engine())
        #expect(runtime.state.accounts.values.first?.closedAt != nil)
        #expect(runtime.recovery.snapshotOffset != nil, "recovered from the v2 snapshot written at close")
        await runtime.close()
        reopened.close()
    }

    @Test func theKillSwitchStopsStrategiesCancelsOrdersAndHaltsOnlyTheOwnersAccount() async throws {
        let harness = try await APIHarness("kill")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let bob = try await client.register("bob@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let bobs = try await client.simulatedAccount(bob.token)
            for stock in ["005930", "000660"] {
                let enabled = try await client.call(
                    .post,
                    "/api/strategies",
                    token: alice.token,
                    json: ["brokerAccountId": account, "stockId": stock, "strategy": "ma-cross"]
                )
                #expect(enabled.status < 300, "\(enabled.text)")
            }
            var orders: [String] = []
            for (index, owner) in [(alice.token, account), (alice.token, account), (bob.token, bobs)].enumerated() {
                let placed = try await client.call(
                    .post,
                    "/api/orders",
                    token: owner.0,
                    json: [
                        "brokerAccountId": owner.1, "stockId": "005930", "side": "BUY", "quantity": 1,
                        "price": 55_000 + index * 100,
                    ]
                )
                orders.append(placed.json["id"] as? String ?? "")
            }
            // Hostile and careless presses change nothing: another user's account, no confirmation, bad bodies.
            let path = "/api/broker-accounts/\(account)/kill-switch"
            #expect(try await client.call(.post, path, token: bob.token, json: ["confirm": true]).status == 404)
            #expect(try await client.call(.post, path, json: ["confirm": true]).status == 401)
            for body in [
                #"{}"#, #"{"confirm":false}"#, #"{"confirm":"yes"}"#, #"{"confirm":true,"also":1}"#,
                #"{"confirm":9223372036854775808}"#, "not json\u{0}",
            ] {
                let reply = try await client.call(.post, path, token: alice.token, raw: body)
                #expect((400..<500).contains(reply.status), "\(body): \(reply.status) \(reply.text)")
            }
            // The dashboard's form: a cross-site post (no CSRF token, a forged one) or another user's account.
            let csrf = String(repeating: "c", count: 40)
            for (cookie, form) in [
                ("sb_csrf=\(csrf)", "account=\(account)&confirm=yes"),
                ("sb_csrf=\(csrf)", "csrf=\(String(repeating: "d", count: 40))&account=\(account)&confirm=yes"),
                ("sb_csrf=\(csrf)", "csrf=\(csrf)&account=\(bobs)&confirm=yes"),
                ("sb_csrf=\(csrf)", "csrf=\(csrf)&account=\(account)&confirm=no"),
                ("sb_csrf=\(csrf)", "csrf=\(csrf)&account=%00\(account)&confirm=yes"),
            ] {
                let reply = try await client.call(
                    .post,
                    "/kill-switch",
                    token: alice.token,
                    raw: form,
                    headers: ["content-type": "application/x-www-form-urlencoded", "cookie": cookie]
                )
                #expect([403, 404, 422].contains(reply.status), "\(form): \(reply.status) \(reply.text)")
            }
            #expect(harness.runtime.state.accounts.values.allSatisfy { $0.haltReason == nil })

            let pressed = try await client.call(.post, path, token: alice.token, json: ["confirm": true])
            #expect(pressed.status == 200, "\(pressed.text)")
            #expect(
                (pressed.json["strategiesDisabled"] as? [String])?.sorted() == ["ma-cross@000660", "ma-cross@005930"]
            )
            #expect((pressed.json["ordersCancelled"] as? [String])?.sorted() == Array(orders.prefix(2)).sorted())
            #expect((pressed.json["haltedReason"] as? String)?.contains("kill switch pressed by \(alice.user)") == true)
            let state = harness.runtime.state
            #expect(state.accounts.values.first { $0.id.description == account }?.strategies.isEmpty == true)
            // Bob's account, order and strategies are untouched.
            #expect(state.accounts.values.first { $0.id.description == bobs }?.haltReason == nil)
            let bobsOrder = try await client.call(.get, "/api/orders/\(orders[2])", token: bob.token)
            #expect(bobsOrder.json["status"] as? String == "PENDING", "\(bobsOrder.text)")
            // Halted: a new order is refused in words; a second press adds nothing.
            let after = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(after.json["status"] as? String == "REJECTED", "\(after.text)")
            let head = harness.runtime.committed.nextOffset
            let again = try await client.call(.post, path, token: alice.token, json: ["confirm": true])
            #expect(again.status == 200 && (again.json["ordersCancelled"] as? [String])?.isEmpty == true)
            #expect(harness.runtime.committed.nextOffset == head, "a second press records nothing")

            // Resuming: the owner only, confirmed; a simulated account's books are the engine's, so it agrees.
            let resume = "/api/broker-accounts/\(account)/resume"
            #expect(try await client.call(.post, resume, token: bob.token, json: ["confirm": true]).status == 404)
            #expect(try await client.call(.post, resume, token: alice.token, json: ["confirm": false]).status == 422)
            let resumed = try await client.call(.post, resume, token: alice.token, json: ["confirm": true])
            #expect(resumed.status == 200 && resumed.json["haltedReason"] == nil, "\(resumed.text)")
            let again2 = try await client.call(.post, resume, token: alice.token, json: ["confirm": true])
            #expect(again2.status == 409, "not halted any more: \(again2.text)")
            let trading = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(trading.json["status"] as? String == "PENDING", "takes orders again: \(trading.text)")
            // Halted with that order working: a resume waits for it to end.
            _ = try await harness.runtime.execute(
                .haltAccount(AccountID(account)!, reason: "test"),
                context: CommandContext(time: harness.clock.read())
            )
            let waiting = try await client.call(.post, resume, token: alice.token, json: ["confirm": true])
            #expect(waiting.status == 409 && waiting.detail.contains("orders still working"), "\(waiting.text)")
        }
    }

    @Test func operatorsSeeEveryAccountHaltAndResumeAndStopAllTradingOnTheRecord() async throws {
        let harness = try await APIHarness("operator")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let oscar = try await client.register("oscar@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let context = CommandContext(time: harness.clock.read())
            // Until the role is given (the command line's way), the operator routes do not exist for anyone.
            for token in [alice.token, oscar.token] {
                #expect(try await client.call(.get, "/api/operator/accounts", token: token).status == 404)
                #expect(
                    try await client.call(.post, "/api/operator/trading/halt", token: token, json: ["reason": "x"])
                        .status == 404
                )
            }
            _ = try await harness.runtime.execute(.grantOperator(UserID(oscar.user)!, by: "test"), context: context)
            let listed = try await client.call(.get, "/api/operator/accounts", token: oscar.token)
            #expect(listed.status == 200 && listed.items.count == 1, "\(listed.text)")
            #expect(try await client.call(.get, "/api/operator/accounts", token: alice.token).status == 404)

            // Halting someone's account: a reason the owner reads; hostile reasons refused.
            let halt = "/api/operator/accounts/\(account)/halt"
            for bad in [
                "", String(repeating: "가", count: 201), "a\u{0}b", "line\nbreak", "\u{202E}reversed",
                "para\u{2028}graph",
                "\u{2066}isolate", "bom\u{FEFF}",
            ] {
                let reply = try await client.call(.post, halt, token: oscar.token, json: ["reason": bad])
                #expect(reply.status == 422, "\(bad.debugDescription): \(reply.status)")
            }
            #expect(
                try await client.call(
                    .post,
                    "/api/operator/accounts/acc-9999999999/halt",
                    token: oscar.token,
                    json: [
                        "reason": "x"
                    ]
                ).status == 404
            )
            // The longest reason (200 Hangul syllables, 600 bytes) reaches the owner whole.
            let long = String(repeating: "가", count: 200)
            let longHalt = try await client.call(.post, halt, token: oscar.token, json: ["reason": long])
            #expect((longHalt.json["haltedReason"] as? String)?.hasSuffix(": " + long) == true, "\(longHalt.text)")
            _ = try await client.call(
                .post,
                "/api/operator/accounts/\(account)/resume",
                token: oscar.token,
                json: [
                    "confirm": true
                ]
            )
            let halted = try await client.call(.post, halt, token: oscar.token, json: ["reason": "<b>점검</b> \"q\""])
            #expect(halted.status == 200, "\(halted.text)")
            let reason = halted.json["haltedReason"] as? String ?? ""
            #expect(reason == "halted by operator \(oscar.user): <b>점검</b> \"q\"", "\(reason)")
            let refused = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(refused.json["status"] as? String == "REJECTED")
            // Resumed on the owner's behalf: recorded with the operator's id.
            let resumed = try await client.call(
                .post,
                "/api/operator/accounts/\(account)/resume",
                token: oscar.token,
                json: ["confirm": true]
            )
            #expect(resumed.status == 200 && resumed.json["haltedReason"] == nil, "\(resumed.text)")
            #expect(harness.runtime.state.accounts.values.allSatisfy { $0.haltReason == nil })

            // The global kill switch: every account refuses new orders until an operator resumes trading.
            let stop = try await client.call(
                .post,
                "/api/operator/trading/halt",
                token: oscar.token,
                json: ["reason": "시장 급변"]
            )
            #expect((stop.json["halted"] as? String)?.contains("시장 급변 (\(oscar.user))") == true, "\(stop.text)")
            let blocked = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(blocked.json["status"] as? String == "REJECTED", "\(blocked.text)")
            #expect("\(blocked.json["failureMessage"] ?? blocked.text)".contains("every account"), "\(blocked.text)")
            let go = try await client.call(
                .post,
                "/api/operator/trading/resume",
                token: oscar.token,
                json: ["reason": "정상화"]
            )
            #expect(go.status == 200 && go.json["halted"] == nil, "\(go.text)")
            let trading = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(trading.json["status"] as? String == "PENDING", "\(trading.text)")
            // The guide's manual re-order: a REJECTED order placed again for its owner, once; others refused.
            let rejected = try #require(refused.json["id"] as? String)
            #expect(
                try await client.call(.post, "/api/operator/orders/\(rejected)/resubmit", token: alice.token).status
                    == 404
            )
            let reordered = try await client.call(
                .post,
                "/api/operator/orders/\(rejected)/resubmit",
                token: oscar.token
            )
            #expect(reordered.status == 201 && reordered.json["status"] as? String == "PENDING", "\(reordered.text)")
            #expect(reordered.json["id"] as? String != rejected)
            let twice = try await client.call(.post, "/api/operator/orders/\(rejected)/resubmit", token: oscar.token)
            #expect(twice.status == 200 && twice.json["id"] as? String == reordered.json["id"] as? String)
            let working = try #require(reordered.json["id"] as? String)
            let notFailed = try await client.call(.post, "/api/operator/orders/\(working)/resubmit", token: oscar.token)
            #expect(notFailed.status == 409, "\(notFailed.text)")
            for bad in ["ord-9999999999", "ord-%00", "x"] {
                let reply = try await client.call(.post, "/api/operator/orders/\(bad)/resubmit", token: oscar.token)
                #expect(reply.status == 404, "\(bad): \(reply.status)")
            }
            let mine = try await client.call(.get, "/api/orders/\(working)", token: alice.token)
            #expect(mine.status == 200, "the re-order is the owner's: \(mine.text)")
            let version = try await client.call(.get, "/api/version")
            #expect(
                version.status == 200 && version.json["snapshotVersion"] as? Int == Int(EngineState.snapshotVersion),
                "\(version.text)"
            )
            // A revoked operator is a trader again.
            _ = try await harness.runtime.execute(.revokeOperator(UserID(oscar.user)!, by: "test"), context: context)
            #expect(try await client.call(.get, "/api/operator/accounts", token: oscar.token).status == 404)
            _ = try await harness.runtime.execute(.grantOperator(UserID(oscar.user)!, by: "test"), context: context)
            _ = try await client.call(.post, "/api/operator/trading/halt", token: oscar.token, json: ["reason": "밤"])
        }
        // The role and the halt live in the log and the snapshot (v5): a restart keeps both.
        await harness.close()
        let reopened = try EventLog(directory: harness.directory.path)
        let runtime = try EngineRuntime(log: reopened, engine: Engine())
        #expect(runtime.state.operators.count == 1)
        #expect(runtime.state.tradingHalt?.contains("밤") == true)
        #expect(runtime.recovery.snapshotOffset != nil, "recovered from the snapshot written at close")
        await runtime.close()
        reopened.close()
    }

    @Test func liveStreamCarriesOnlyTheUsersEventsAndResumes() async throws {
        let harness = try await APIHarness("stream")
        try await harness.live { client in
            let alice = try await client.register("alice@example.com")
            let bob = try await client.register("bob@example.com")
            let account = try await client.simulatedAccount(alice.token)
            _ = try await client.simulatedAccount(bob.token)
            let placed = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 1, "price": 55_000]
            )
            #expect(placed.status == 201)
            let port = try #require(client.port)
            let events = try await Self.sse("http://127.0.0.1:\(port)/api/stream?from=0", token: alice.token, expect: 4)
            try #require(
                events.map(\.type) == ["UserRegistered", "BrokerAccountRegistered", "CashDeposited", "OrderRequested"],
                "\(events)"
            )
            #expect(events.allSatisfy { !$0.data.contains("bob@example.com") })
            // Resume after the second event: Last-Event-ID.
            let resumed = try await Self.sse(
                "http://127.0.0.1:\(port)/api/stream",
                token: alice.token,
                lastEventID: events[1].id,
                expect: 2
            )
            #expect(resumed.map(\.id) == Array(events.dropFirst(2).map(\.id)))
            #expect(
                try await Self.sse("http://127.0.0.1:\(port)/api/stream?from=0", token: nil, expect: 0).isEmpty,
                "no token, no stream"
            )
        }
        await harness.close()
    }

    /// With Redis, a message on the `stockboom:events` channel wakes the stream, but what it sends is read from
    /// the log: a forged message (anyone who reaches Redis can PUBLISH) with another body and SSE lines in it is
    /// never sent, and the real event at that offset is not skipped (both happened before: finding 3).
    @Test func liveStreamSendsTheLogNotTheChannelsMessages() async throws {
        let url = try #require(
            ProcessInfo.processInfo.environment["REDIS_URL"],
            "REDIS_URL is unset: run the tests with `make test`"
        )
        let endpoint = try #require(RedisEndpoint(url: url))
        let channel = "stockboom:events:test-\(UUID().uuidString)"
        let feed = LiveEventFeed(endpoint: endpoint, channel: channel)
        let harness = try await APIHarness("stream_pubsub", liveFeed: feed)
        try await harness.live { client in
            let alice = try await client.register("alice@example.com")
            for _ in 0..<50 where !feed.isConnected { try await Task.sleep(for: .milliseconds(100)) }
            let port = try #require(client.port)
            let from = harness.runtime.nextOffset
            async let events = Self.sse(
                "http://127.0.0.1:\(port)/api/stream?from=\(from)",
                token: alice.token,
                expect: 2
            )
            try await Task.sleep(for: .milliseconds(500))
            // Forged for the next offset, addressed to alice, with an extra SSE event inside, published before the
            // real events are committed: BrokerAccountRegistered at `from`, CashDeposited after it.
            let forged =
                "\(from) \(alice.user) BrokerAccountRegistered\n{\"via\":\"pubsub\"}\n\nevent: OrderFilled\ndata: {\"injected\":true}"
            _ = try RedisClient(endpoint: endpoint).command(["PUBLISH", channel, forged])
            _ = try await client.simulatedAccount(alice.token)
            _ = try RedisClient(endpoint: endpoint).command([
                "PUBLISH", channel, "\(from + 1) \(alice.user) CashDeposited\n{}",
            ])  // a wake-up
            let received = try await events
            #expect(
                received.map(\.type) == ["BrokerAccountRegistered", "CashDeposited"],
                "the log's two events, nothing else: \(received)"
            )
            #expect(
                received.first?.id == String(from) && received.first?.data.contains("\"via\"") == false,
                "the log's body: \(received)"
            )
            #expect(!received.contains { $0.data.contains("injected") })
        }
        await harness.close()
    }

    /// Reads an SSE stream with curl until `expect` events arrived (then one more second, to catch extras) or
    /// 20 s passed, and parses its events. A stream does not end by itself.
    static func sse(_ url: String, token: String?, lastEventID: String? = nil, expect: Int) async throws -> [(
        id: String, type: String, data: String
    )] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        var arguments = ["-s", "-N", "-m", "20", url]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let lastEventID { arguments += ["-H", "Last-Event-ID: \(lastEventID)"] }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        let received = Mutex(Data())
        output.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            received.withLock { $0.append(chunk) }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        var settled: Date?
        while process.isRunning, Date() < deadline {
            if settled == nil, Self.parse(received.withLock { $0 }).count >= expect {
                settled = Date().addingTimeInterval(1)
            }
            if let settled, Date() > settled { break }
            try await Task.sleep(for: .milliseconds(50))  // not Thread.sleep: the in-process server needs the pool
        }
        if process.isRunning { process.terminate() }
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        output.fileHandleForReading.readabilityHandler = nil
        return Self.parse(received.withLock { $0 })
    }

    static func parse(_ bytes: Data) -> [(id: String, type: String, data: String)] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\n\n").compactMap { block in
            var id = ""
            var type = ""
            var data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            return id.isEmpty ? nil : (id, type, data)
        }
    }

    @Test func productionRefusesToStartWithoutSecrets() async throws {
        #expect(throws: GatewayConfiguration.Refusal.self) {
            try GatewayConfiguration.fromEnvironment(["NODE_ENV": "production"])
        }
        #expect(throws: GatewayConfiguration.Refusal.self) {
            try GatewayConfiguration.fromEnvironment(["NODE_ENV": "production", "JWT_SECRET": "short"])
        }
        let key = Data(repeating: 1, count: 32).base64EncodedString()
        let strong = "q8Vd2LmZx7RtN4pKw9YsB3hJc6FgT1eA5uXo0iQn"
        // Long but weak: a repeated character, a placeholder.
        for weak in [
            String(repeating: "s", count: 40), "change-me-change-me-change-me-change-me",
            "my-super-jwt-secret-for-stockboom-2025",
        ] {
            #expect(throws: GatewayConfiguration.Refusal.self) {
                try GatewayConfiguration.fromEnvironment([
                    "NODE_ENV": "production", "JWT_SECRET": weak, "STOCKBOOM_SECRETS_KEY": key,
                ])
            }
        }
        // The flag in any case is production (it used to run in development mode, with a random secret);
        // a value that is no known environment refuses to start.
        for flag in ["Production", "PRODUCTION", " production "] {
            #expect(throws: GatewayConfiguration.Refusal.self) {
                try GatewayConfiguration.fromEnvironment(["STOCKBOOM_ENV": flag])
            }
        }
        #expect(throws: GatewayConfiguration.Refusal.self) {
            try GatewayConfiguration.fromEnvironment([
                "STOCKBOOM_ENV": "prod", "JWT_SECRET": strong, "STOCKBOOM_SECRETS_KEY": key,
            ])
        }
        let (configuration, warnings) = try GatewayConfiguration.fromEnvironment([
            "STOCKBOOM_ENV": "Production", "JWT_SECRET": strong, "STOCKBOOM_SECRETS_KEY": key,
        ])
        #expect(warnings.isEmpty && configuration.bcryptCost == 12)
        // And the server itself: exits non-zero naming the variable.
        let directory = TemporaryDirectory("serve-production")
        var environment = try ServeTests.services()
        environment["NODE_ENV"] = "production"
        let (status, output, errors) = try await runStockboom(
            ["serve", "--dir", directory.path, "--port", String(freePort())],
            environment: environment
        )
        #expect(status != 0)
        #expect((output + errors).contains("JWT_SECRET"), "\(output)\(errors)")
    }
}

/// Protective orders through the API: armed, listed and cancelled by their owner only; hostile values refused in
/// words; a bar that crosses the level places the exit, which is an order of the owner's (`source: TRIGGER`).
@Suite struct TriggerAPITests {
    @Test func triggersAreTheirOwnersAndFireOnTheBarThatCrossesThem() async throws {
        let harness = try await APIHarness("triggers")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let bob = try await client.register("bob@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let bought = try await client.call(
                .post,
                "/api/orders",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 10, "price": 55_000]
            )
            let order = try #require(OrderID(bought.json["id"] as? String ?? ""), "\(bought.text)")
            let context = CommandContext(time: APIHarness.sessionTime + 1_000_000)
            _ = try await harness.runtime.execute(.recordSubmitted(order), context: context)
            _ = try await harness.runtime.execute(
                .recordAccepted(order, brokerOrderNumber: "0000117058"),
                context: context
            )
            _ = try await harness.runtime.execute(
                .recordFill(order, quantity: 10, price: 55_000, fillID: "F1"),
                context: context
            )
            let stop: [String: Any] = [
                "brokerAccountId": account, "stockId": "005930", "kind": "STOP_LOSS", "quantity": 10,
                "triggerPrice": 54_000, "group": "b1",
            ]
            // Refused in words, nothing armed: more than held, off the tick, a trail out of range, hostile values.
            var hostile: [[String: Any]] = []
            for (key, value) in [
                ("quantity", 11 as Any), ("triggerPrice", 54_010), ("kind", "DROP TABLE"), ("side", "SHORT"),
                ("quantity", Int64.max), ("triggerPrice", Int64.min), ("group", "b\u{0}1"), ("limitPrice", -50),
                ("stockId", "<script>"), ("brokerAccountId", "acc-0000000099"), ("extra", 1),
            ] {
                var body = stop
                body[key] = value
                hostile.append(body)
            }
            hostile.append([
                "brokerAccountId": account, "stockId": "005930", "kind": "TRAILING_STOP", "quantity": 1,
                "trailPercent": 1e300,
            ])
            hostile.append([
                "brokerAccountId": account, "stockId": "005930", "kind": "TRAILING_STOP", "quantity": 1,
                "trailPercent": 0.01,
            ])
            for body in hostile {
                let reply = try await client.call(.post, "/api/triggers", token: alice.token, json: body)
                #expect((400..<500).contains(reply.status), "\(body): \(reply.status) \(reply.text)")
                #expect(reply.json["detail"] is String, "\(reply.text)")
            }
            #expect((try await client.call(.get, "/api/triggers", token: alice.token)).json["count"] as? Int == 0)
            // Bob cannot arm on Alice's account.
            #expect(try await client.call(.post, "/api/triggers", token: bob.token, json: stop).status == 404)
            let armed = try await client.call(.post, "/api/triggers", token: alice.token, json: stop)
            #expect(armed.status == 201 && armed.json["level"] as? Int == 54_000, "\(armed.text)")
            let id = try #require(armed.json["id"] as? String)
            var target = stop
            target["kind"] = "TAKE_PROFIT"
            target["triggerPrice"] = 60_000
            let targetID = try #require(
                (try await client.call(.post, "/api/triggers", token: alice.token, json: target)).json["id"] as? String
            )
            #expect((try await client.call(.get, "/api/triggers", token: bob.token)).json["count"] as? Int == 0)
            // A VI on the stock: its status in the API, and the dashboard says why the triggers wait.
            let sessionContext = CommandContext(time: APIHarness.sessionTime + 60_000_000)
            for status in [StockTradingStatus.volatilityInterruption, .trading] {
                _ = try await harness.runtime.execute(
                    .setStockStatus(stock: APIHarness.samsung, status: status, reason: "KRX VI (KIS vi_cls_code=1)"),
                    context: sessionContext
                )
                let stock = try await client.call(.get, "/api/market-data/stocks/005930", token: alice.token)
                #expect(stock.json["tradingStatus"] as? String == status.description, "\(stock.text)")
                let page = try await client.call(.get, "/", token: alice.token).text
                let waiting = page.contains("waiting: a VI holds the stock") || page.contains("(VI) 발동 중: 대기")
                #expect(waiting == (status == .volatilityInterruption), "\(status)")
            }
            #expect(try await client.call(.post, "/api/triggers/\(id)/cancel", token: bob.token).status == 404)
            #expect(try await client.call(.post, "/api/triggers/trg-0/cancel", token: alice.token).status == 404)
            // A bar through the stop: the exit is placed, the target cancelled with it.
            let bar = Candle(
                stock: APIHarness.samsung,
                timeframe: .minute1,
                start: APIHarness.sessionTime + 120_000_000,
                open: 54_500,
                high: 54_600,
                low: 53_900,
                close: 54_000,
                volume: 100
            )
            _ = try await harness.runtime.execute(
                .ingestCandle(bar),
                context: CommandContext(time: bar.start + 60_000_000)
            )
            let list = try await client.call(.get, "/api/triggers", token: alice.token)
            let items = try #require(list.json["items"] as? [[String: Any]])
            let fired = try #require(items.first { $0["id"] as? String == id })
            #expect(fired["status"] as? String == "FIRED", "\(list.text)")
            #expect(items.first { $0["id"] as? String == targetID }?["status"] as? String == "CANCELLED")
            let exit = try #require(fired["order"] as? String)
            let shown = try await client.call(.get, "/api/orders/\(exit)", token: alice.token)
            #expect(shown.json["source"] as? String == "TRIGGER" && shown.json["side"] as? String == "SELL")
            #expect(try await client.call(.get, "/api/orders/\(exit)", token: bob.token).status == 404)
            #expect(try await client.call(.post, "/api/triggers/\(id)/cancel", token: alice.token).status == 409)
            // A bracket: the order with its exits, waiting for its fill; a bad bracket refuses the whole order.
            var entry: [String: Any] = [
                "brokerAccountId": account, "stockId": "005930", "side": "BUY", "quantity": 2, "price": 55_000,
            ]
            for bad in [
                [:], ["trailPercent": 1e9], ["stopLossPrice": 53_001], ["stopLossPrice": -5], ["stopLossPercent": 0],
                ["takeProfitPercent": 100], ["stopLossPercent": Double.greatestFiniteMagnitude],
                ["stopLossPrice": 53_000, "stopLossPercent": 3],
            ] as [[String: Any]] {
                entry["bracket"] = bad
                let reply = try await client.call(.post, "/api/orders", token: alice.token, json: entry)
                #expect((400..<500).contains(reply.status), "\(bad): \(reply.status) \(reply.text)")
            }
            let before = (try await client.call(.get, "/api/orders", token: alice.token)).json["count"] as? Int
            entry["bracket"] = ["stopLossPrice": 53_000, "takeProfitPrice": 58_000]
            let bracketed = try await client.call(.post, "/api/orders", token: alice.token, json: entry)
            #expect(bracketed.status == 201, "\(bracketed.text)")
            #expect(
                (try await client.call(.get, "/api/orders", token: alice.token)).json["count"] as? Int == (before ?? 0)
                    + 1
            )
            let exits =
                ((try await client.call(.get, "/api/triggers", token: alice.token)).json["items"] as? [[String: Any]]
                ?? [])
                .filter { $0["entry"] as? String == bracketed.json["id"] as? String }
            #expect(
                exits.count == 2
                    && exits.allSatisfy { $0["watching"] as? Bool == false && $0["status"] as? String == "ARMED" },
                "\(exits)"
            )
            // Percentages from the fill: no level until the entry fills.
            entry["bracket"] = ["stopLossPercent": 3, "takeProfitPercent": 6.5]
            let fromFill = try await client.call(.post, "/api/orders", token: alice.token, json: entry)
            #expect(fromFill.status == 201, "\(fromFill.text)")
            let offsets =
                ((try await client.call(.get, "/api/triggers", token: alice.token)).json["items"] as? [[String: Any]]
                ?? [])
                .filter { $0["entry"] as? String == fromFill.json["id"] as? String }
            #expect(offsets.compactMap { $0["offsetPercent"] as? Double }.sorted() == [3, 6.5], "\(offsets)")
            #expect(offsets.allSatisfy { $0["triggerPrice"] as? Int == 0 }, "\(offsets)")
        }
        await harness.close()
    }
}

/// The pages (dashboard, order page, /docs, the vendored files) with hostile requests.
@Suite struct PageTests {
    @Test func pagesShowOnlyTheirOwnersDataAndTakeHostileParameters() async throws {
        let assets = TemporaryDirectory("assets")
        try FileManager.default.createDirectory(atPath: assets.path + "/vendor", withIntermediateDirectories: true)
        try "window.Vendored = 1;".write(toFile: assets.path + "/vendor/lib.js", atomically: true, encoding: .utf8)
        try "not for the web".write(toFile: assets.path + "/secret.txt", atomically: true, encoding: .utf8)
        let harness = try await APIHarness("pages", assetsDirectory: assets.path)
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let bob = try await client.register("bob@example.com")
            let bobAccount = try await client.simulatedAccount(bob.token)
            let placed = try await client.call(
                .post,
                "/api/orders",
                token: bob.token,
                json: [
                    "brokerAccountId": bobAccount, "stockId": "005930", "side": "BUY", "type": "LIMIT", "quantity": 1,
                    "price": 70_000,
                ]
            )
            let order = try #require(placed.json["id"] as? String, "\(placed.text)")
            // A client order id (Idempotency-Key) made of markup is text on both pages.
            let marked = try await client.call(
                .post,
                "/api/orders",
                token: bob.token,
                json: [
                    "brokerAccountId": bobAccount, "stockId": "005930", "side": "BUY", "type": "LIMIT", "quantity": 1,
                    "price": 70_100,
                ],
                headers: ["Idempotency-Key": #"<img/src=x/onerror=alert(1)>"'"#]
            )
            let markedID = try #require(marked.json["id"] as? String, "\(marked.text)")
            for page in ["/", "/orders/\(markedID)"] {
                let reply = try await client.call(.get, page, token: bob.token)
                #expect(reply.status == 200 && !reply.text.contains("<img/src=x"), "\(page)")
                #expect(reply.text.contains("&lt;img/src=x/onerror=alert(1)&gt;&quot;&#39;"), "\(page)")
            }
            // Bob's order page is Bob's: Alice gets 404, nobody signed in is sent to the sign-in page.
            let own = try await client.call(.get, "/orders/\(order)", token: bob.token)
            #expect(own.status == 200 && own.text.contains("OrderRequested"), "\(own.text.prefix(300))")
            #expect(own.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(try await client.call(.get, "/orders/\(order)", token: alice.token).status == 404)
            let anonymous = try await client.call(.get, "/orders/\(order)")
            #expect(anonymous.status == 303 && anonymous.headers[.location] == "/", "\(anonymous.status)")
            for id in ["ord-0", "%3Cscript%3E", "ord-99999999999999999999999", "..%2F..%2Fetc%2Fpasswd"] {
                let reply = try await client.call(.get, "/orders/\(id)", token: bob.token)
                #expect(reply.status == 404 || reply.status == 400, "\(id): \(reply.status)")
            }
            // Hostile query parameters render the page (Korean unless `en` exactly), never a 5xx.
            for query in [
                "page=99999999999999999999999", "page=-7", "page=%00", "lang=%3Cscript%3E", "lang=EN",
                "stock=%3Cimg%20src%3Dx%3E", "stock=005930%00", "page=2&stock=000000",
            ] {
                let reply = try await client.call(.get, "/?\(query)", token: alice.token)
                #expect(reply.status == 200, "\(query): \(reply.status)")
                #expect(reply.text.contains(#"<html lang="ko">"#), "\(query)")
                #expect(!reply.text.contains("<img src=x>") && !reply.text.contains("<script>"), "\(query)")
                #expect(reply.headers[.setCookie]?.contains("sb_lang") != true, "\(query): no language remembered")
            }
            let english = try await client.call(.get, "/?lang=en", token: alice.token)
            #expect(english.text.contains(#"<html lang="en">"#) && english.text.contains("Portfolio"))
            #expect(english.headers[values: .setCookie].contains { $0.hasPrefix("sb_lang=en;") })
            // An account's read-only view is an operator's: Alice gets 404 for Bob's, and for her own.
            #expect(try await client.call(.get, "/operator/accounts/\(bobAccount)", token: alice.token).status == 404)
            #expect(try await client.call(.get, "/operator/accounts/\(bobAccount)").status == 404)
            // Bob's order is not on Alice's page.
            #expect(!(try await client.call(.get, "/", token: alice.token)).text.contains(order))
            // The vendored files: served; nothing outside their folder, however the path is spelled.
            let vendored = try await client.call(.get, "/assets/vendor/lib.js")
            #expect(vendored.status == 200 && vendored.text == "window.Vendored = 1;")
            for path in [
                "/assets/vendor/../secret.txt", "/assets/vendor/%2e%2e/secret.txt", "/assets/vendor/..%2fsecret.txt",
                "/assets/vendor/%2e%2e%2fsecret.txt", "/assets/secret.txt", "/assets/vendor/",
            ] {
                let reply = try await client.call(.get, path)
                #expect(reply.status != 200 && !reply.text.contains("not for the web"), "\(path): \(reply.status)")
            }
            let docs = try await client.call(.get, "/docs")
            #expect(docs.status == 200 && docs.text.contains("/assets/vendor/swagger-ui/swagger-ui-bundle.js"))
            let script = try await client.call(.get, "/assets/dashboard.js")
            #expect(script.status == 200 && script.headers[.contentType]?.hasPrefix("text/javascript") == true)
        }
        await harness.close()
    }
}

@Suite struct OpenAPITests {
    @Test func theDocumentDescribesExactlyTheRoutes() async throws {
        let harness = try await APIHarness("openapi")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any]
        )
        #expect(document["openapi"] as? String == "3.0.3")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
        let served = Set(harness.routes.operations.map { "\($0.method) \($0.path)" })
        #expect(
            documented == served,
            "documented only: \(documented.subtracting(served).sorted()); served only: \(served.subtracting(documented).sorted())"
        )
        #expect(served.count >= 30)
        try await harness.app.test(.router) { client in
            let reply = try await client.call(.get, "/openapi.json")
            #expect(reply.status == 200 && reply.text == OpenAPIDocument.json)
        }
        await harness.close()
    }
}

/// Strategies as data over the API: checked with the place of a mistake, stored as versions of their owner,
/// enabled as `rule:<name>` pinned to a version, and backtested.
@Suite struct RuleSetAPITests {
    static let dip = "entry: close crosses_above sma_5\nexit: close crosses_below sma_5\nstop: 3%\nsize: 10 shares"

    @Test func ruleSetsAreCheckedVersionedEnabledAndBacktested() async throws {
        let harness = try await APIHarness("rules")
        try await harness.ingestCandles(60)
        try harness.project()
        try await harness.app.test(.router) { client in
            let alice = try await client.register("alice@example.com")
            let bob = try await client.register("bob@example.com")
            let account = try await client.simulatedAccount(alice.token)
            // Checked without storing: what it reads, or its mistake where it is.
            let check = try await client.call(
                .post,
                "/api/strategies/rules/check",
                token: alice.token,
                json: ["source": Self.dip]
            )
            #expect(
                check.status == 200 && check.json["indicators"] as? [String] == ["close", "sma_5"],
                "\(check.text)"
            )
            #expect(check.json["stopLossPercent"] as? Double == 3)
            let wrong = try await client.call(
                .post,
                "/api/strategies/rules/check",
                token: alice.token,
                json: ["source": "entry: close > smaa_5"]
            )
            #expect(wrong.status == 422)
            #expect((wrong.json["detail"] as? String)?.contains("line 1, column 16: unknown indicator") == true)
            // Hostile bodies: a clear 4xx, nothing stored.
            for body: [String: Any] in [
                ["name": "Dip", "source": Self.dip], ["name": "d\u{0}p", "source": Self.dip],
                ["name": String(repeating: "a", count: 41), "source": Self.dip], ["name": "dip", "source": "entry:"],
                ["name": "dip", "source": String(repeating: "#", count: 5_000)], ["name": "dip"],
                ["name": "dip", "source": Self.dip, "owner": "usr-0000000002"], ["name": 5, "source": Self.dip],
                ["name": "dip", "source": "entry: close > 1\u{202E}"],
            ] {
                let reply = try await client.call(.post, "/api/strategies/rules", token: alice.token, json: body)
                #expect((400..<500).contains(reply.status) && reply.json["detail"] is String, "\(body): \(reply.text)")
            }
            #expect(try await client.call(.get, "/api/strategies/rules", token: alice.token).json["count"] as? Int == 0)
            // Versions: a new source is the next version; the same again stores nothing.
            let first = try await client.call(
                .post,
                "/api/strategies/rules",
                token: alice.token,
                json: ["name": "dip", "source": Self.dip]
            )
            #expect(first.status == 201 && first.json["version"] as? Int == 1, "\(first.text)")
            #expect(first.json["strategy"] as? String == "rule:dip")
            let again = try await client.call(
                .post,
                "/api/strategies/rules",
                token: alice.token,
                json: ["name": "dip", "source": Self.dip]
            )
            #expect(again.status == 200 && again.json["version"] as? Int == 1)
            let second = try await client.call(
                .post,
                "/api/strategies/rules",
                token: alice.token,
                json: ["name": "dip", "source": Self.dip.replacingOccurrences(of: "3%", with: "4%")]
            )
            #expect(second.status == 201 && second.json["version"] as? Int == 2)
            let listed = try await client.call(.get, "/api/strategies/rules", token: alice.token)
            let sets = listed.json["items"] as? [[String: Any]] ?? []
            #expect(sets.count == 1 && (sets.first?["versions"] as? [[String: Any]])?.count == 2, "\(listed.text)")
            #expect(try await client.call(.get, "/api/strategies/rules", token: bob.token).json["count"] as? Int == 0)
            // Enabled as rule:dip, pinned to the newest version unless one is named.
            let enabled = try await client.call(
                .post,
                "/api/strategies",
                token: alice.token,
                json: ["brokerAccountId": account, "stockId": "005930", "strategy": "rule:dip"]
            )
            #expect(enabled.status == 201 && enabled.json["parameters"] as? String == "version=2", "\(enabled.text)")
            for (strategy, parameters, status) in [
                ("rule:dip", "version=3", 404), ("rule:dip", "fast=5", 422), ("rule:nope", "", 404),
                ("rule:../x", "", 422),
            ] {
                let reply = try await client.call(
                    .post,
                    "/api/strategies",
                    token: alice.token,
                    json: [
                        "brokerAccountId": account, "stockId": "005930", "strategy": strategy, "parameters": parameters,
                    ]
                )
                #expect(reply.status == status, "\(strategy) \(parameters): \(reply.text)")
            }
            // Bob cannot run Alice's rule set: on his own account it is not found.
            let bobAccount = try await client.simulatedAccount(bob.token)
            let borrowed = try await client.call(
                .post,
                "/api/strategies",
                token: bob.token,
                json: ["brokerAccountId": bobAccount, "stockId": "005930", "strategy": "rule:dip"]
            )
            #expect(borrowed.status == 404, "\(borrowed.text)")
            // Backtested on the candles, version 1 and the newest; Bob's try finds nothing.
            for parameters in ["version=1", ""] {
                let backtest = try await client.call(
                    .post,
                    "/api/backtests",
                    token: alice.token,
                    json: ["stockId": "005930", "strategy": "rule:dip", "parameters": parameters, "timeframe": "1m"]
                )
                #expect(backtest.status == 201 && backtest.json["status"] as? String == "COMPLETED", "\(backtest.text)")
                let report = backtest.json["report"] as? [String: Any]
                #expect(report?["bars"] as? Int == 60 && (report?["fills"] as? Int ?? 0) > 0, "\(backtest.text)")
                // The report page's data: the trades drawn on the minute bars, against buy-and-hold.
                let id = try #require(backtest.json["id"] as? String)
                let document = try await client.call(.get, "/api/backtests/\(id)/report", token: alice.token)
                #expect(document.status == 200, "\(document.text)")
                let traded = (document.json["trades"] as? [Any])?.count ?? 0
                #expect(traded > 0 && traded <= report?["fills"] as? Int ?? 0, "a filled order per trade")
                #expect(((document.json["chart"] as? [String: Any])?["bars"] as? [Any])?.count == 60)
                #expect((document.json["buyAndHold"] as? [Any])?.count == (document.json["equity"] as? [Any])?.count)
                #expect(try await client.call(.get, "/api/backtests/\(id)/report", token: bob.token).status == 404)
            }
            let bobs = try await client.call(
                .post,
                "/api/backtests",
                token: bob.token,
                json: ["stockId": "005930", "strategy": "rule:dip", "timeframe": "1m"]
            )
            #expect(bobs.status == 404)
        }
        await harness.close()
    }
}
