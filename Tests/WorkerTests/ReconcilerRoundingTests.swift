import Engine
import Foundation
import Jobs
import Simulation
import Synchronization
import TestSupport
import Testing
import Worker

/// KIS truncates commission and tax per execution or per day; the engine truncates them per recorded fill. The
/// two cash figures can then differ by a few won with nothing wrong, and reconciliation compared them exactly: a
/// won less at the broker halted the account (every later order refused) and a won more was recorded as a
/// deposit. A difference within `Reconciler.roundingTolerance` either way is now followed as the broker's rounding
/// (`CashAdjusted`, with the reason); anything beyond it is what it was — a deposit above, a mismatch below.
@Suite struct ReconcilerRoundingTests {
    @Test func aFewWonEitherWayAreFollowedAsRoundingNotHaltedOrDeposited() async throws {
        try await BrokerRig.with("rounding", redisDatabase: 39) { broker in
            let reconciler = Reconciler(engine: broker.engine, brokers: try broker.brokers(), report: { _ in })
            func pass(brokerCash change: Int64) async throws -> (line: String, view: WorkerAccountView?) {
                broker.mock.state.withLock { $0.cash += change }
                let lines = await reconciler.reconcileAll()
                return (lines.joined(separator: "; "), try await broker.accountView())
            }
            #expect(try await broker.accountView()?.cash == 100_000_000)

            // 3 KRW less at the broker: followed, not a halt.
            var (line, view) = try await pass(brokerCash: -3)
            #expect(view?.cash == 99_999_997 && view?.halted == false, "\(line)")
            #expect(line.contains("followed the broker's rounding by -3"), "\(line)")
            // 7 KRW more: followed as rounding too, not a deposit.
            (line, view) = try await pass(brokerCash: 7)
            #expect(view?.cash == 100_000_004 && view?.halted == false, "\(line)")
            #expect(!line.contains("adopted cash"), "\(line)")
            // Agreement: nothing recorded.
            (line, view) = try await pass(brokerCash: 0)
            #expect(line.hasSuffix("in agreement"), "\(line)")
            // The tolerance's edge below is still rounding.
            (line, view) = try await pass(brokerCash: -Reconciler.roundingTolerance)
            #expect(view?.cash == 100_000_004 - Reconciler.roundingTolerance && view?.halted == false, "\(line)")

            // In the log: three adjustments with their reason, no deposit besides the start-up's adoption.
            let (status, dump, _) = try await runStockboom(["log", "dump", "--dir", broker.rig.directory.path])
            let records = dump.split(separator: "\n")
            let adjusted = records.filter { $0.contains(#""type":"CashAdjusted""#) }
            #expect(status == 0 && adjusted.count == 3, "\(adjusted)")
            #expect(adjusted.allSatisfy { $0.contains("fee rounding at the broker") && $0.contains("reconcile") })
            #expect(records.filter { $0.contains(#""type":"CashDeposited""#) }.count == 1)

            // A deposit is still a deposit; a won beyond the tolerance below is a mismatch, as before.
            (line, view) = try await pass(brokerCash: 5_000_000)
            #expect(line.contains("adopted cash 5000000"), "\(line)")
            (line, view) = try await pass(brokerCash: -(Reconciler.roundingTolerance + 1))
            #expect(view?.halted == true, "\(line)")
            #expect(line.contains("halted"), "\(line)")
        }
    }
}
