import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Jobs
import Ledger
import Runtime
import Simulation
import Storage
import Synchronization
import Testing

@testable import Gateway

/// Finding 8 of the hostile-input review: the worker token could do anything on the public port, and
/// `/health`, `/metrics` and the token-status route told anyone per-user counts. Now `/internal/*`, `/metrics`
/// and the detailed `/health` answer only internal clients (loopback and private networks by default, never
/// through a proxy). Over real TCP from 127.0.0.1.
@Suite struct InternalNetworkTests {
    static let token = "worker-token-for-the-network-tests"

    @Test func cidrsParseAndMatch() throws {
        let networks = try #require(InternalNetworks("10.0.0.0/8, 192.168.1.0/24,::1/128,fd00::/8"))
        #expect(
            networks.contains("10.200.3.4") && networks.contains("192.168.1.77") && networks.contains("::1")
                && networks.contains("fd12::1")
        )
        #expect(networks.contains("::ffff:10.1.2.3"), "an IPv4 client on a dual-stack socket")
        #expect(
            !networks.contains("192.168.2.1") && !networks.contains("11.0.0.1") && !networks.contains("2001:db8::1")
                && !networks.contains("not an address")
        )
        #expect(
            InternalNetworks.default.contains("127.0.0.1") && InternalNetworks.default.contains("172.18.0.5")
                && !InternalNetworks.default.contains("8.8.8.8")
        )
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "::1/129"] {
            #expect(InternalNetworks(bad) == nil, "\(bad)")
        }
    }

    /// The scrape keeps its PostgreSQL connection from one scrape to the next (one backend, the same pid), instead
    /// of starting and ending a backend per scrape; a connection terminated under it is replaced on the next one.
    @Test func metricsScrapesReuseTheirConnection() async throws {
        let harness = try await APIHarness("metrics_held", workerToken: Self.token)
        let url = harness.databaseURL
        try await harness.live { client in
            let observer = try PostgresConnection(url: url)
            func scrapers() throws -> [String] {
                try observer.query(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%FROM projection_checkpoints ORDER BY name%'"
                ).rows.compactMap { $0[0] }
            }
            #expect(try await client.call(.get, "/metrics").status == 200)
            let first = try scrapers()
            #expect(first.count == 1, "one connection kept after the scrape: \(first)")
            for _ in 0..<3 { #expect(try await client.call(.get, "/metrics").status == 200) }
            #expect(try scrapers() == first, "the same backend")
            _ = try observer.query("SELECT pg_terminate_backend(\(first.first ?? "0"))")
            let scrape = try await client.call(.get, "/metrics")
            #expect(
                scrape.status == 200 && scrape.text.contains("postgres_connections_active"),
                "\(scrape.text.prefix(200))"
            )
            let replaced = try scrapers()
            #expect(replaced.count == 1 && replaced != first, "a new connection: \(replaced)")
        }
        await harness.close()
    }

    @Test func loopbackIsInternalButNotThroughAProxy() async throws {
        let harness = try await APIHarness("internal_default", workerToken: Self.token)
        try await harness.live { client in
            #expect(try await client.call(.get, "/metrics").status == 200)
            let health = try await client.call(.get, "/health")
            #expect(
                health.status == 200 && health.json["log"] != nil,
                "the detailed health for the host: \(health.text)"
            )
            #expect(try await client.call(.get, "/internal/stocks", token: Self.token).status == 200)
            // The same client through a reverse proxy is public.
            for header in ["X-Forwarded-For", "Forwarded", "X-Real-IP"] {
                let proxied = ["\(header)": header == "Forwarded" ? "for=203.0.113.7" : "203.0.113.7"]
                #expect(try await client.call(.get, "/metrics", headers: proxied).status == 404, "\(header)")
                #expect(
                    try await client.call(.get, "/internal/stocks", token: Self.token, headers: proxied).status == 404,
                    "\(header)"
                )
                let publicHealth = try await client.call(.get, "/health", headers: proxied)
                #expect(
                    publicHealth.status == 200 && publicHealth.text == #"{"status":"ok"}"#,
                    "\(header): \(publicHealth.text)"
                )
            }
        }
        await harness.close()
    }

    /// Rotating the worker token: during the window the old and the new are both accepted, anything else is not;
    /// afterwards only the new one.
    @Test func theWorkerTokenRotatesWithoutRefusingEitherWorker() async throws {
        let new = "worker-token-after-the-rotation"
        let during = try await APIHarness("internal_rotation", workerToken: new, previousWorkerToken: Self.token)
        try await during.live { client async throws in
            #expect(try await client.call(.get, "/internal/stocks", token: Self.token).status == 200, "old")
            #expect(try await client.call(.get, "/internal/stocks", token: new).status == 200, "new")
            // (A NUL cannot be sent: HTTPField turns it into a space and trims it before it leaves the client.)
            for wrong in [
                "", "x", Self.token + new, String(Self.token.dropLast()), Self.token + " x", new.uppercased(),
            ] {
                #expect(try await client.call(.get, "/internal/stocks", token: wrong).status == 401, "\(wrong)")
            }
        }
        await during.close()
        let after = try await APIHarness("internal_rotated", workerToken: new)
        try await after.live { client async throws in
            #expect(try await client.call(.get, "/internal/stocks", token: Self.token).status == 401, "old: no more")
            #expect(try await client.call(.get, "/internal/stocks", token: new).status == 200)
        }
        await after.close()
    }

    @Test func outsideTheNetworksOnlyLivenessAndPublicRoutesAnswer() async throws {
        let harness = try await APIHarness(
            "internal_public",
            workerToken: Self.token,
            internalNetworks: InternalNetworks("10.0.0.0/8")!
        )
        try await harness.live { client in
            let alice = try await client.register("public@example.com")
            #expect(try await client.call(.get, "/metrics").status == 404)
            let health = try await client.call(.get, "/health")
            #expect(
                health.status == 200 && health.text == #"{"status":"ok"}"#,
                "no parts, offsets or errors: \(health.text)"
            )
            // The worker's routes, even with the worker's token: as if they did not exist.
            for path in ["/internal/stocks", "/internal/accounts", "/internal/orders/ord-0000000001"] {
                #expect(try await client.call(.get, path, token: Self.token).status == 404, "\(path)")
            }
            #expect(
                try await client.call(
                    .post,
                    "/internal/commands",
                    token: Self.token,
                    json: ["commands": [[String: Any]]()]
                ).status == 404
            )
            // KIS token status: a stranger learns only whether KIS is configured; a user sees their own accounts.
            _ = try await client.call(
                .post,
                "/api/broker-accounts",
                token: alice.token,
                json: ["broker": "KIS_PAPER", "accountNumber": "5012345601", "appKey": "k", "appSecret": "s"]
            )
            let anonymous = try await client.call(.get, "/api/market-data/kis/token-status")
            #expect(anonymous.status == 200 && anonymous.json["kisAccounts"] as? Int == 0, "\(anonymous.text)")
            let own = try await client.call(.get, "/api/market-data/kis/token-status", token: alice.token)
            #expect(own.json["kisAccounts"] as? Int == 1, "\(own.text)")
            // The public API itself is untouched.
            #expect(try await client.call(.get, "/api/auth/me", token: alice.token).status == 200)
        }
        await harness.close()
    }

    /// Finding 8: `/health` opened a PostgreSQL and a Redis connection per call, and it is public. Now every
    /// caller within a second shares one check.
    @Test func healthChecksAreSharedNotOnePerCaller() async throws {
        let harness = try await APIHarness("internal_health")
        try await harness.app.test(.router) { client in
            let directory = harness.log.directory
            let before = HealthReport.checksMade.withLock { $0[directory] ?? 0 }
            let started = ContinuousClock.now
            var statuses: Set<Int> = []
            for _ in 0..<40 { statuses.insert(try await client.call(.get, "/health").status) }
            #expect(statuses == [200])
            let seconds = Int((ContinuousClock.now - started).components.seconds)
            let checks = HealthReport.checksMade.withLock { $0[directory] ?? 0 } - before
            // At most one check per started second (one per call, as before, would be 40).
            #expect(
                checks <= seconds + 1 && (seconds >= 39 || checks < 40),
                "\(checks) checks for 40 calls in \(seconds) s"
            )
        }
        await harness.close()
    }
}
