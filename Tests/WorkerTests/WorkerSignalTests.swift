import Engine
import Foundation
import Simulation
import Synchronization
import TestSupport
import Testing
import Worker

/// SIGTERM while `stockboom worker` is still starting: its first reconciliation waits on the broker before the
/// service group (which listens for signals) exists. The signal used to take the default action — the process
/// killed in the middle of a broker request, exit by signal 15 (a test's `stop() == 0` right after the start-up
/// pass adopted cash failed so once). It is now taken from the start and ends the worker gracefully: exit 0.
@Suite struct WorkerSignalTests {
    /// A loopback port that takes connections and never answers (a broker that hangs); `taken` counts them.
    final class SilentPort: Sendable {
        let port: Int
        let taken = Mutex(0)
        private let descriptor: Int32

        init() throws {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, length) == 0 && listen(descriptor, 16) == 0
                        && getsockname(descriptor, $0, &length) == 0
                }
            }
            guard descriptor >= 0, bound else { throw CocoaError(.fileWriteUnknown) }
            self.descriptor = descriptor
            self.port = Int(UInt16(bigEndian: address.sin_port))
            Thread.detachNewThread { [self] in
                while true {
                    let connection = accept(descriptor, nil, nil)
                    guard connection >= 0 else { return }  // closed
                    self.taken.withLock { $0 += 1 }  // held open, never read, never answered
                }
            }
        }

        func close() { shutdown(self.descriptor, Int32(SHUT_RDWR)) }
    }

    @Test func aSignalDuringTheStartUpReconciliationStopsTheWorkerGracefully() async throws {
        let (rig, sink) = try await WorkerEndToEndTests.rig("startsignal", redisDatabase: 37)
        defer { sink.killed() }
        let mock = KISFake(now: WorkerEndToEndTests.session)
        mock.state.withLock {
            $0.rateLimit = 200
            $0.bucket.tokens = 200
        }
        try await withServer(mock.router()) { kis in
            let serve = try await WorkerEndToEndTests.serve(rig)
            // An account with credentials and a stored token: reconciled at start-up.
            _ = try await WorkerEndToEndTests.reconciledTrader(rig, mock, kis: kis)
            let silent = try SilentPort()
            defer { silent.close() }
            let worker = try WorkerEndToEndTests.worker(rig, kis: silent.port, extra: ["--reconcile-seconds", "1"])
            defer { worker.killed() }
            // The start-up pass asks the hanging broker (the client waits 10 s for an answer).
            try await WorkerEndToEndTests.waitFor(30, "the start-up reconciliation at the broker") {
                silent.taken.withLock { $0 } > 0
            }
            let sent = ContinuousClock.now
            let status = await worker.stop()
            #expect(worker.process.terminationReason == .exit, "ended by the signal, not by itself: \(worker.log)")
            #expect(status == 0, "exit \(status): \(worker.log.suffix(2_000))")
            // Graceful: after the pending broker request, not instead of it, and not after a whole pass more.
            #expect(ContinuousClock.now - sent < .seconds(30))
            #expect(await serve.stop() == 0)
        }
    }
}
