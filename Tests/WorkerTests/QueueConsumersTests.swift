import Foundation
import Jobs
import Projections
import Runtime
import Simulation
import Storage
import Synchronization
import Testing

@testable import Worker

/// The consumer threads against real Redis.
@Suite(.serialized) struct QueueConsumersTests {
    final class Recorder: Sendable {
        let runs = Mutex<[String: Int]>([:])
        let reports = Mutex<[String]>([])
    }

    struct Polling: JobHandler {
        let recorder: Recorder
        func handle(_ job: Job) async throws -> JobResult {
            let count = self.recorder.runs.withLock { runs -> Int in
                runs[job.id, default: 0] += 1
                return runs[job.id]!
            }
            try await Task.sleep(for: .milliseconds(700))  // longer than half the lock
            return count < 4 ? .later(seconds: 0.2) : .done
        }
    }

    @Test func heldJobsKeepTheirLocksAndPostponedJobsComeBack() async throws {
        let url = try #require(
            ProcessInfo.processInfo.environment["REDIS_URL"],
            "REDIS_URL is unset: run the tests with `make test`"
        )
        var endpoint = try #require(RedisEndpoint(url: url))
        endpoint.database = 8
        let store = JobQueueStore(redis: RedisClient(endpoint: endpoint))
        _ = try store.redis.command(["FLUSHDB"])
        try store.add((1...6).map { Job(queue: .tradeExecution, id: String($0), data: "{}") }, now: 0)
        let recorder = Recorder()
        let consumers = QueueConsumers(
            endpoint: endpoint,
            queue: .tradeExecution,
            concurrency: 3,
            handler: Polling(recorder: recorder),
            lockMs: 1_000,
            report: { message in recorder.reports.withLock { $0.append(message) } }
        )
        consumers.start()
        let deadline = Date().addingTimeInterval(120)  // generous: the whole suite shares two cores
        while Date() < deadline, try store.counts(.tradeExecution).completed < 6 {
            try await Task.sleep(for: .milliseconds(100))
        }
        try await blocking { consumers.stop() }
        #expect(
            try store.counts(.tradeExecution) == QueueCounts(wait: 0, active: 0, delayed: 0, completed: 6, failed: 0)
        )
        #expect(
            recorder.runs.withLock { $0 } == Dictionary(uniqueKeysWithValues: (1...6).map { (String($0), 4) }),
            "each job ran exactly 4 times"
        )
        #expect(recorder.reports.withLock { $0 }.isEmpty, "\(recorder.reports.withLock { $0 })")
    }
}
