import Engine
import Foundation
import Gateway
import Jobs
import Synchronization
import Worker

/// `POST /api/trades/test` for a KIS account, for real (the operator guide's "KIS API integration test"): the
/// account's token (the stored one, or a new one from KIS), then a read-only balance inquiry, then a quote of
/// the stock — each step with its time and what KIS answered; a failed step skips the rest. The same client the
/// worker uses (sealed credentials, the app key's shared rate budget, token sealed into `broker_tokens`).
enum BrokerProbe {
    /// The worker's reconciliation of one account, asked now (resuming a halted account): the token, the
    /// broker's balance, and `Reconciler.differences` against the engine's books — unknown if KIS has not answered
    /// within `seconds` (the person waiting is told so; the account stays halted).
    static func agreement(_ directory: BrokerDirectory, account: WorkerAccountView, within seconds: Int = 5) async
        -> BrokerAgreement
    {
        let answer = Mutex<CheckedContinuation<BrokerAgreement, Never>?>(nil)
        return await withCheckedContinuation { continuation in
            answer.withLock { $0 = continuation }
            let finish: @Sendable (BrokerAgreement) -> Void = { result in
                answer.withLock { pending in
                    pending?.resume(returning: result)
                    pending = nil
                }
            }
            let asking = Task { finish(await Self.ask(directory, account: account)) }
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                asking.cancel()
                finish(.unknown("KIS did not answer within \(seconds) s"))
            }
        }
    }

    private static func ask(_ directory: BrokerDirectory, account: WorkerAccountView) async -> BrokerAgreement {
        do {
            let client = try await directory.client(account: account.id, broker: account.broker)
            _ = try await client.validToken()
            let balance = try await client.balance()
            let differences = Reconciler.differences(account, balance)
            guard differences.isEmpty else { return .differs(differences) }
            let shares = balance.holdings.filter { $0.quantity != 0 }.count
            return .agrees(
                "reconciled: the broker holds \(balance.cash) KRW (the engine \(account.cash)) and \(shares) holding(s), as the engine"
            )
        } catch {
            return .unknown("\(error)")
        }
    }

    static func run(_ directory: BrokerDirectory, account: String, broker: String, stock: String) async
        -> [BrokerCheck]
    {
        var checks: [BrokerCheck] = []
        func step(_ name: String, _ body: () async throws -> String) async -> Bool {
            let started = ContinuousClock.now
            do {
                let detail = try await body()
                checks.append(
                    BrokerCheck(name: name, ok: true, detail: "\(detail) (\(Self.millis(since: started)) ms)")
                )
                return true
            } catch {
                checks.append(
                    BrokerCheck(name: name, ok: false, detail: "\(error) (\(Self.millis(since: started)) ms)")
                )
                return false
            }
        }
        var client: KISClient?
        guard
            await step(
                "credentials",
                {
                    client = try await directory.client(account: account, broker: broker)
                    return "app key and secret open under this server's key"
                }
            ), let client
        else { return checks }
        let steps: [(String, () async throws -> String)] = [
            (
                "token",
                {
                    let token = try await client.validToken()
                    return "access token valid until \(ISOTime.utc(token.expiresAt))"
                }
            ),
            (
                "balance",
                {
                    let balance = try await client.balance()
                    return "inquire-balance answered: deposit \(balance.cash) KRW, \(balance.holdings.count) holding(s)"
                }
            ),
            (
                "quote",
                {
                    let quote = try await client.quote(stock)
                    return "inquire-price answered: \(stock) at \(quote.price) KRW"
                }
            ),
        ]
        for (name, body) in steps {
            guard await step(name, body) else {
                let skipped = steps.drop { $0.0 != name }.dropFirst().map(\.0)
                for later in skipped {
                    checks.append(BrokerCheck(name: later, ok: false, detail: "skipped: \(name) failed"))
                }
                break
            }
        }
        return checks
    }

    static func millis(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1_000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
