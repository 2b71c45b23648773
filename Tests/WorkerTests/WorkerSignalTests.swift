import Engine
import Foundation
import Simulation
import TestSupport
import Testing
import Worker

/// SIGTERM while `stockboom worker` is still starting: its first reconciliation waits on the broker before the
/// service group (which listens for signals) exists. The signal used to take the default action — the process
/// killed in the middle of a broker request, exit by signal 15 (a test's `stop() == 0` right after the start-up
/// pass adopted cash failed so once). It is now taken from the start and ends the worker gracefully: exit 0.
@Suite struct WorkerSignalTests {
    @Test func aSignalDuringTheStartUpReconciliationStopsTheWorkerGracefully() async throws {
        // An account with credentials and a stored token: reconciled at start-up.
        try await BrokerRig.with("startsignal", redisDatabase: 37) { broker in
            let silent = try SilentListener()  // a broker that hangs
            defer { silent.close() }
            let worker = try WorkerEndToEndTests.worker(
                broker.rig,
                kis: silent.port,
                extra: ["--reconcile-seconds", "1"]
            )
            defer { worker.killed() }
            // The start-up pass asks the hanging broker (the client waits 10 s for an answer).
            try await WorkerEndToEndTests.waitFor(30, "the start-up reconciliation at the broker") { silent.isCalled }
            let sent = ContinuousClock.now
            let status = await worker.stop()
            #expect(worker.process.terminationReason == .exit, "ended by the signal, not by itself: \(worker.log)")
            #expect(status == 0, "exit \(status): \(worker.log.suffix(2_000))")
            // Graceful: after the pending broker request, not instead of it, and not after a whole pass more.
            #expect(ContinuousClock.now - sent < .seconds(30))
        }
    }
}
