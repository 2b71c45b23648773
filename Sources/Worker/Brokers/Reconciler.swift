import Foundation
public import Jobs
import Projections

/// Compares each KIS account's broker-side state with the engine's, at worker start-up and then every
/// `interval`. Events it records carry the correlation id `reconcile`.
///
/// * No token, or one about to expire → issue (reported as `BrokerTokenIssued`, expiry only).
/// * Cash: the broker's settled cash (D+2, `prvs_rcdl_excc_amt`, else the deposit) above the engine's is
///   adopted as a deposit — against the engine's cash it was compared with, so a reconciler in another
///   worker process that compared the same balance does not deposit it again — when no order of the account
///   works, before and after the broker's answer (a fill the log has not heard of yet also moves it). Below it, or shares that
///   differ, with no order still working to explain it, is a mismatch that cannot be resolved here: the
///   account is halted (`AccountHalted`, so risk checks refuse its orders) and its owner is notified, once
///   however many reconcilers see it. With orders working, differences wait for their fills.
/// * A cash difference of at most `roundingTolerance` KRW either way, no order working, is the broker's rounding of
///   commission and tax (KIS truncates them per execution or per day, the engine per recorded fill): the engine
///   follows it (`CashAdjusted`, with the reason) instead of halting the account or recording a deposit.
/// * A missing report (KIS unreachable, an error) changes nothing: unknown is never "flat".
/// * Fills of known orders the log lacks are adopted by the trade-execution jobs' polls.
public struct Reconciler: Sendable {
    let engine: EngineClient
    let brokers: BrokerDirectory
    let report: @Sendable (String) -> Void

    /// KRW of difference taken for the broker's rounding of fees (see above): 1 KRW per fee truncated differently,
    /// a day of hundreds of fills, and far below any deposit or any amount a mismatch is made of.
    public static let roundingTolerance: Int64 = 1_000

    public init(engine: EngineClient, brokers: BrokerDirectory, report: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.brokers = brokers
        self.report = report
    }

    /// One pass over every KIS account; returns what it did, a line per account.
    @discardableResult
    public func reconcileAll() async -> [String] {
        let accounts: [WorkerAccountView]
        do {
            accounts = try await self.engine.accounts()
        } catch {
            self.report("reconciliation skipped: \(error)")
            return []
        }
        var lines: [String] = []
        for account in accounts where !account.halted {
            do {
                lines.append(try await self.reconcile(account))
            } catch {
                lines.append("\(account.id): broker state unknown (\(error)); nothing changed")
                self.report(lines.last!)
            }
        }
        return lines
    }

    /// What differs between the engine's books of an account with no working order and the broker's: less cash
    /// at the broker (beyond `roundingTolerance`), or other share counts. (More cash at the broker is a deposit to
    /// adopt, not a difference.) Also what an owner's resume asks.
    public static func differences(_ account: WorkerAccountView, _ balance: KISBalance) -> [String] {
        var problems: [String] = []
        let (short, overflow) = account.cash.subtractingReportingOverflow(balance.cash)
        if overflow || short > Self.roundingTolerance {  // (a few won are the broker's rounding of fees)
            problems.append("the broker holds \(balance.cash) KRW, the engine \(account.cash)")
        }
        var broker: [String: Int64] = [:]
        for holding in balance.holdings where holding.quantity != 0 { broker[holding.stock] = holding.quantity }
        for code in Set(broker.keys).union(account.positions.keys).sorted()
        where broker[code] ?? 0 != account.positions[code] ?? 0 {
            problems.append(
                "\(code): the broker holds \(broker[code] ?? 0) shares, the engine \(account.positions[code] ?? 0)"
            )
        }
        return problems
    }

    func reconcile(_ account: WorkerAccountView) async throws -> String {
        let client = try await self.brokers.client(account: account.id, broker: account.broker)
        _ = try await client.validToken()  // a new one is reported by the directory's client
        let balance = try await client.balance()
        var problems: [String] = []
        var actions: [String] = []
        // More cash at the broker is a deposit only when no order works, seen again after the broker answered: a
        // sale KIS filled that the log has not heard of yet also shows as more cash there, and adopting it would
        // count the sale twice once its fill is recorded (and then halt the account for the engine's surplus).
        // A difference within `roundingTolerance` either way is the broker's rounding of fees, followed as such.
        if balance.cash != account.cash {
            // (Overflows only against an engine cash far below zero; then it is neither deposit nor rounding.)
            let (difference, overflow) = balance.cash.subtractingReportingOverflow(account.cash)
            let rounding = !overflow && difference.magnitude <= UInt64(Self.roundingTolerance)
            // Less at the broker beyond rounding (or a figure out of all range): a mismatch once no order explains
            // it (`differences` below); nothing to record here.
            let mismatch = overflow || (difference < 0 && !rounding)
            let settled =
                account.workingOrders == 0 && !mismatch
                ? try await self.engine.accounts().first { $0.id == account.id } : nil
            if mismatch {
                // (`differences` below)
            } else if settled?.workingOrders != 0 {
                // (Rounding below the engine's cash waits too: `differences` does not count it.)
                if difference > 0 {
                    actions.append("\(difference) KRW more at the broker waits for the working orders' fills")
                }
            } else if settled?.cash != account.cash {
                actions.append("cash moved while the broker answered; the next pass compares again")
            } else {
                // Against the cash compared: another worker's reconciler may have moved it meanwhile.
                let more = difference > 0 ? "more" : "less"
                let recorded = try await self.engine.record(
                    rounding
                        ? .adjustCash(
                            account: account.id,
                            amount: difference,
                            expectedCash: account.cash,
                            reason: "fee rounding at the broker: \(difference.magnitude) KRW \(more) than the engine's"
                        )
                        : .deposit(account: account.id, amount: difference, expectedCash: account.cash),
                    correlation: "reconcile"
                )
                actions.append(
                    !recorded.appended
                        ? "cash moved meanwhile (\(recorded.error ?? "")); the next pass compares again"
                        : rounding ? "followed the broker's rounding by \(difference)" : "adopted cash \(difference)"
                )
            }
        }
        if account.workingOrders == 0 { problems += Self.differences(account, balance) }
        if !problems.isEmpty {
            let reason = "reconciliation mismatch: " + problems.joined(separator: "; ")
            // The halt notifies the owner (once, however many reconcilers see it).
            try await self.engine.record(
                .halt(account: account.id, reason: String(reason.prefix(500))),
                correlation: "reconcile"
            )
            self.report("\(account.id) halted: \(reason)")
            return "\(account.id): halted (\(problems.count) mismatch(es))"
        }
        return "\(account.id): in agreement" + (actions.isEmpty ? "" : " after " + actions.joined(separator: ", "))
    }
}
