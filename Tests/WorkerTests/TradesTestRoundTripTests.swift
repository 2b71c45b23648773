import Engine
import Foundation
import Simulation
import Synchronization
import TestSupport
import Testing

/// `POST /api/trades/test` for a KIS account asks KIS for real, through `serve` and the strict KIS fake: the
/// token, a read-only balance inquiry, a quote — each reported — and a broken step says what KIS answered and
/// skips the rest.
@Suite struct TradesTestRoundTripTests {
    @Test func theConnectivityTestIsARealRoundTrip() async throws {
        let (base, sink) = try await WorkerEndToEndTests.rig("tradestest", redisDatabase: 31)
        defer { sink.killed() }
        let mock = KISFake(now: WorkerEndToEndTests.session)
        mock.state.withLock {
            $0.rateLimit = 200
            $0.bucket.tokens = 200
            $0.cash = 12_345_000
        }
        try await withServer(mock.router()) { kis in
            let rig = base.with(["KIS_BASE_URL": "http://127.0.0.1:\(kis)"])
            let serve = try await WorkerEndToEndTests.serve(rig)
            let (token, account) = try await WorkerEndToEndTests.trader(rig, mock)
            let body = #"{"brokerAccountId":"\#(account)","stockId":"005930"}"#
            let (status, answer) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/trades/test",
                token: token,
                json: body
            )
            #expect(status == 200, "\(answer)")
            let checks = Dictionary(
                ((answer["checks"] as? [[String: Any]]) ?? []).map { ($0["name"] as? String ?? "", $0) },
                uniquingKeysWith: { first, _ in first }
            )
            for name in ["kis.credentials", "kis.token", "kis.balance", "kis.quote"] {
                #expect(checks[name]?["ok"] as? Bool == true, "\(name): \(checks[name] ?? [:])")
            }
            let deposit = "\(checks["kis.balance"]?["detail"] ?? "")"
            #expect(deposit.contains("12345000"), "the broker's deposit: \(deposit)")
            let paths = mock.state.withLock { $0.requests.map(\.path) }
            let askedBalance = paths.contains { $0.hasSuffix("/inquire-balance") }
            #expect(
                mock.state.withLock { $0.token != nil } && askedBalance,
                "a token was issued, the balance asked: \(paths)"
            )
            #expect(mock.state.withLock { $0.violations } == [])
            // The token is the engine's too (TokenIssued), and sealed in PostgreSQL for the worker.
            let status2 = try await WorkerEndToEndTests.call(
                rig,
                "GET",
                "/api/broker-accounts/\(account)",
                token: token
            )
            #expect(status2.0 == 200)

            // A halted KIS account resumes only on a reconciliation that agrees, asked of the broker now.
            func post(_ path: String) async throws -> (Int, [String: Any]) {
                try await WorkerEndToEndTests.call(
                    rig,
                    "POST",
                    "/api/broker-accounts/\(account)/\(path)",
                    token: token,
                    json: #"{"confirm":true}"#
                )
            }
            #expect(try await post("resume").0 == 409, "not halted")
            #expect(try await post("kill-switch").0 == 200)
            mock.state.withLock { $0.holdings = ["005930": 10] }
            let differs = try await post("resume")
            #expect(differs.0 == 409, "\(differs)")
            #expect("\(differs.1["detail"] ?? "")".contains("005930: the broker holds 10 shares, the engine 0"))
            mock.state.withLock { $0.holdings = [:] }
            let resumed = try await post("resume")
            #expect(resumed.0 == 200 && resumed.1["haltedReason"] == nil, "\(resumed)")
            let dump = try await runStockboom(["log", "dump", "--dir", rig.directory.path])
            let line = dump.1.split(separator: "\n").last { $0.contains("AccountResumed") }.map(String.init) ?? ""
            #expect(line.contains("reconciled: the broker holds 12345000 KRW"), "\(line)")
            #expect(line.contains("user-0000000001"), "who resumed it: \(line)")

            // The portal revoked the secret: the stored token still stands, the balance inquiry is refused
            // with KIS's code, and the quote is not tried.
            mock.state.withLock { $0.appSecret = "revoked" }
            let (_, broken) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/trades/test",
                token: token,
                json: body
            )
            let after = Dictionary(
                ((broken["checks"] as? [[String: Any]]) ?? []).map { ($0["name"] as? String ?? "", $0) },
                uniquingKeysWith: { first, _ in first }
            )
            #expect(broken["ok"] as? Bool == false)
            #expect(after["kis.balance"]?["ok"] as? Bool == false, "\(after)")
            let refusal = "\(after["kis.balance"]?["detail"] ?? "")"
            let quote = "\(after["kis.quote"]?["detail"] ?? "")"
            #expect(refusal.contains("EGW00103"), "KIS's answer: \(after)")
            #expect(quote.contains("skipped"), "\(after)")
            // The broker cannot be asked: a halted account stays halted (503), nothing is recorded.
            #expect(try await post("kill-switch").0 == 200)
            let unknown = try await post("resume")
            #expect(unknown.0 == 503 && "\(unknown.1["detail"] ?? "")".contains("EGW00103"), "\(unknown)")
            #expect(await serve.stop() == 0)
        }
    }
}
