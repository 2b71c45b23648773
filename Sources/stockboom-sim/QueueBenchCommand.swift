import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Logging
import Projections
import Runtime
import Simulation
import Storage
import Worker

/// `stockboom-sim bench queue`: jobs/s through a Redis queue end to end — enqueue, reserve, run, append the
/// outcome as an engine event to a durable log (group commit, fdatasync), complete — with 1 and with 8
/// consumer threads. The log append is the engine's own event encoding into a real `EventLog`; the HTTP hop a
/// deployed worker makes to the gateway is not part of it (see BENCHMARKS.md).
struct QueueBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Jobs/s through a Redis queue: enqueue → run → event appended → done."
    )

    @Option(help: "Jobs per run.") var jobs = 200_000
    @Option(help: "Consumer thread counts to run, comma-separated.") var consumers = "1,8"
    @Option(help: "Jobs each consumer reserves at a time.") var batch = 64
    @Option(help: "Directory for the benchmark logs (emptied).") var dir = "var/bench-queue"

    struct AppendOutcome: JobHandler {
        let log: EventLog
        func handle(_ job: Job) async throws -> JobResult {
            let id = NotificationID(value: UInt64(job.id) ?? 0)
            let envelope = EventEnvelope(
                timestamp: wallClockMicros(),
                correlationID: "bench",
                event: .notificationSent(NotificationDelivery(notification: id, channel: "bench", detail: job.data))
            )
            _ = try await self.log.append(EventCodec.encode(envelope))
            return .done
        }
    }

    func run() async throws {
        guard let text = ProcessInfo.processInfo.environment["REDIS_URL"], let endpoint = RedisEndpoint(url: text)
        else {
            throw ValidationError("REDIS_URL must be set (use a database of its own: it is flushed)")
        }
        let counts = try self.consumers.split(separator: ",").map { text -> Int in
            guard let count = Int(text), (1...256).contains(count) else {
                throw ValidationError("--consumers takes counts 1…256")
            }
            return count
        }
        for count in counts {
            let store = JobQueueStore(redis: RedisClient(endpoint: endpoint))
            _ = try store.redis.command(["FLUSHDB"])
            let directory = self.dir + "/consumers-\(count)"
            try? FileManager.default.removeItem(atPath: directory)
            let log = try EventLog(directory: directory)
            let workers = QueueConsumers(
                endpoint: endpoint,
                queue: .notification,
                concurrency: count,
                batch: self.batch,
                handler: AppendOutcome(log: log),
                lockMs: 60_000,
                report: { Log.command.error("\($0)") }
            )
            let total = self.jobs
            let start = Date()
            workers.start()
            // The producer enqueues on a thread of its own while the consumers run.
            let producer = Thread {
                var next = 0
                while next < total {
                    let chunk = (next..<min(total, next + 1_000)).map {
                        Job(queue: .notification, id: String($0 + 1), data: "{\"n\":\($0)}", maxAttempts: 3)
                    }
                    _ = try? store.add(chunk, now: Int64(Date().timeIntervalSince1970 * 1_000))
                    next += chunk.count
                }
            }
            producer.start()
            var completed = 0
            while completed < total {
                try await Task.sleep(for: .milliseconds(20))
                completed = workers.finishedCount
            }
            let seconds = Date().timeIntervalSince(start)
            let appended = log.nextOffset
            workers.stop()
            let stats = log.statistics
            log.close()
            print(
                String(
                    format:
                        "consumers %3d  batch %3d  jobs %7d  %6.2f s  %8.0f jobs/s  events appended %d in %d commits (fdatasync each)",
                    count,
                    self.batch,
                    total,
                    seconds,
                    Double(total) / seconds,
                    appended,
                    stats.commits
                )
            )
        }
    }
}
