import Assembly
import Foundation
import Jobs
import Storage
import TestSupport
import Testing
import Worker

/// The worker's own HTTP port: `/health` tells a hung worker from a healthy one, and `/metrics` counts its jobs.
@Suite(.serialized) struct WorkerHealthTests {
    static func get(_ url: String) async throws -> (status: Int, body: String) {
        let output = OutputFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        // A generous timeout: /health pings Redis through the blocking pool, which this test process shares with
        // every other suite running beside it.
        process.arguments = ["-sS", "-m", "30", "-w", "\n%{http_code}", url]
        process.standardOutput = output.handle
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await onOwnThread { process.waitUntilExit() }
        let text = output.text
        let status = Int(text.split(separator: "\n").last ?? "") ?? 0
        return (status, String(text.dropLast(String(status).count + 1)))
    }

    @Test func aHungConsumerMakesHealthAnswer503UntilItTurnsAgain() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["REDIS_URL"], "run the tests with `make test`")
        var redis = try #require(RedisEndpoint(url: url))
        redis.database = 28
        let store = JobQueueStore(redis: RedisClient(endpoint: redis))
        _ = try store.redis.command(["FLUSHDB"])
        let engine = try SilentListener()
        var options = WorkerOptions(serverURL: "http://127.0.0.1:\(engine.port)", token: "t", redis: redis)
        options.concurrency = [.dataAnalysis: 1]
        options.httpPort = 0
        options.stallSeconds = 3  // an idle consumer's turn is a reservation of at most a second
        let worker = try await WorkerSide.start(options: options)
        let base = "http://127.0.0.1:\(try #require(worker.httpPort))"

        // Idle: the consumer turns every second (an empty reservation), well within the limit.
        try await Task.sleep(for: .seconds(4))
        var idle = try await Self.get(base + "/health")
        for _ in 0..<10 where idle.status == 0 {  // no answer in time (a loaded machine), not a 503
            try await Task.sleep(for: .seconds(1))
            idle = try await Self.get(base + "/health")
        }
        #expect(idle.status == 200, "\(idle)")
        #expect(idle.body.contains(#""status":"ok""#), "\(idle.body)")

        // A job whose engine call never answers: the consumer's turn grows past the limit.
        _ = try store.add(
            [Job(queue: .dataAnalysis, id: "1", data: #"{"stock":"005930","start":1764979200000000}"#, maxAttempts: 3)],
            now: 0
        )
        var hung = (status: 0, body: "")
        for _ in 0..<100 {
            hung = try await Self.get(base + "/health")
            if hung.status == 503 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(hung.status == 503, "\(hung)")
        #expect(hung.body.contains(#""status":"hung""#) && hung.body.contains("data-analysis-0"), "\(hung.body)")
        let stalledScrape = try await Self.get(base + "/metrics")
        #expect(stalledScrape.body.contains("stockboom_worker_stalled_consumers 1"), "\(stalledScrape.body)")

        // The engine goes away: the call fails, the attempt is recorded, the consumer turns again.
        engine.close()
        var recovered = (status: 0, body: "")
        for _ in 0..<300 {
            recovered = try await Self.get(base + "/health")
            if recovered.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(recovered.status == 200, "\(recovered)")
        // The gauge follows (each scrape counts anew; under a loaded machine an idle turn can itself run past the
        // 3-s limit for a moment, so the scrape is retried until it shows none stalled).
        var scrape = try await Self.get(base + "/metrics")
        for _ in 0..<100 where !scrape.body.contains("stockboom_worker_stalled_consumers 0") {
            try await Task.sleep(for: .milliseconds(300))
            scrape = try await Self.get(base + "/metrics")
        }
        // At least the attempt that hung is recorded as retried (a slow scrape loop can see its next retry too:
        // the engine is still gone, so that one fails as well).
        let retried = scrape.body.split(separator: "\n").first {
            $0.hasPrefix(#"stockboom_worker_jobs_total{queue="data-analysis",outcome="retried"} "#)
        }.flatMap { Int($0.split(separator: " ").last ?? "") }
        #expect((retried ?? 0) >= 1, "\(scrape.body)")
        #expect(scrape.body.contains("stockboom_worker_stalled_consumers 0"), "\(scrape.body)")
        #expect(scrape.body.contains("process_memory_usage_bytes"), "\(scrape.body)")
        #expect(scrape.body.contains("stockboom_worker_job_duration_seconds_bucket"), "\(scrape.body)")
        await worker.stop()
    }

    @Test func aPortThatCannotBeBoundIsAStartUpError() async throws {
        let url = try #require(ProcessInfo.processInfo.environment["REDIS_URL"], "run the tests with `make test`")
        var redis = try #require(RedisEndpoint(url: url))
        redis.database = 28
        _ = try RedisClient(endpoint: redis).command(["FLUSHDB"])
        let taken = try SilentListener()
        defer { taken.close() }
        var options = WorkerOptions(serverURL: "http://127.0.0.1:1", token: "t", redis: redis)
        options.concurrency = [.dataAnalysis: 1]
        options.httpPort = taken.port
        await #expect(throws: AssemblyError.self) { _ = try await WorkerSide.start(options: options) }
    }
}
