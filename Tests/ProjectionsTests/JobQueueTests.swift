import Foundation
import Jobs
import Runtime
import Simulation
import Storage
import Testing

@testable import Projections

/// The queues against a real Redis (a database of their own, flushed first).
@Suite(.serialized) struct JobQueueTests {
    static func store(database: Int) throws -> JobQueueStore {
        let url = try #require(
            ProcessInfo.processInfo.environment["REDIS_URL"],
            "REDIS_URL is unset: run the tests with `make test`"
        )
        var endpoint = try #require(RedisEndpoint(url: url))
        endpoint.database = database
        let client = RedisClient(endpoint: endpoint)
        _ = try client.command(["FLUSHDB"])
        var store = JobQueueStore(redis: client)
        store.backoffMs = 1_000
        return store
    }

    static func llen(_ store: JobQueueStore, _ key: String) throws -> Int64 {
        guard case .integer(let length) = try store.redis.command(["LLEN", key]) else { return -1 }
        return length
    }

    /// An id in `wait` without its record (a FLUSHDB between the consumer's BLMOVE and its reservation, or a
    /// hand-deleted record) is dropped, not handed out as a data-less job — and leaves no record behind that
    /// would keep the real job, derived again under the same id, from being added.
    @Test func anIdWithoutItsRecordIsDroppedAndTheJobCanBeAddedAgain() throws {
        let store = try Self.store(database: 11)
        _ = try store.redis.command(["LPUSH", "bull:trade-execution:wait", "503"])
        let ghost = try store.reserve(.tradeExecution, max: 1, waitSeconds: 0.1, now: 1, token: "t1")
        #expect(ghost.isEmpty, "\(ghost)")
        #expect(
            try store.counts(.tradeExecution) == QueueCounts(wait: 0, active: 0, delayed: 0, completed: 0, failed: 0)
        )
        guard case .integer(let exists) = try store.redis.command(["EXISTS", "bull:trade-execution:503"]) else {
            Issue.record("EXISTS did not answer an integer")
            return
        }
        #expect(exists == 0, "no record made for it")
        let job = Job(queue: .tradeExecution, id: "503", data: #"{"order":"ord-0000000043"}"#)
        #expect(try store.add([job], now: 2) == 1, "the re-derived job is added")
        let real = try store.reserve(.tradeExecution, max: 1, waitSeconds: 0.1, now: 3, token: "t2")
        #expect(real.map(\.data) == [#"{"order":"ord-0000000043"}"#] && real.first?.maxAttempts == 5)
    }

    @Test func addIsIdempotentAndJobsRunInOrder() throws {
        let store = try Self.store(database: 11)
        let jobs = (1...5).map { Job(queue: .tradeExecution, id: String($0 * 10), data: "{\"n\":\($0)}") }
        #expect(try store.add(jobs, now: 1) == 5)
        #expect(try store.add(Array(jobs.prefix(2)), now: 2) == 0, "the same ids again add nothing")
        // The guide's command answers.
        #expect(try Self.llen(store, "bull:trade-execution:wait") == 5)
        let first = try store.reserve(.tradeExecution, max: 2, waitSeconds: 0.1, now: 3, token: "t1")
        #expect(first.map(\.id) == ["10", "20"])
        #expect(first.first?.data == "{\"n\":1}")
        #expect(
            try store.counts(.tradeExecution) == QueueCounts(wait: 3, active: 2, delayed: 0, completed: 0, failed: 0)
        )
        #expect(try store.complete(.tradeExecution, ids: ["10", "20"], token: "t1", now: 4) == 2)
        #expect(
            try store.complete(.tradeExecution, ids: ["10"], token: "t1", now: 4) == 0,
            "completing twice does nothing"
        )
        #expect(
            try store.counts(.tradeExecution) == QueueCounts(wait: 3, active: 0, delayed: 0, completed: 2, failed: 0)
        )
        let rest = try store.reserve(.tradeExecution, max: 10, waitSeconds: 0.1, now: 5, token: "t2")
        #expect(rest.map(\.id) == ["30", "40", "50"])
        #expect(
            try store.reserve(.tradeExecution, max: 10, waitSeconds: 0.1, now: 6, token: "t3").isEmpty,
            "an empty queue waits, then answers nothing"
        )
    }

    @Test func failuresBackOffThenLandInFailedWithTheirError() throws {
        let store = try Self.store(database: 12)
        try store.add([Job(queue: .notification, id: "7", data: "{}", maxAttempts: 2)], now: 0)
        let job = try #require(try store.reserve(.notification, max: 1, waitSeconds: 0.1, now: 1_000, token: "a").first)
        #expect(try store.fail(job, error: "SMTP 451 try later", now: 1_000) == .delayed)
        #expect(try store.counts(.notification).delayed == 1)
        #expect(try store.maintain(.notification, now: 1_500).promoted == 0, "not due before the back-off")
        #expect(try store.maintain(.notification, now: 2_000).promoted == 1)
        let again = try #require(
            try store.reserve(.notification, max: 1, waitSeconds: 0.1, now: 2_000, token: "b").first
        )
        #expect(again.attemptsMade == 1 && again.lastError == "SMTP 451 try later")
        #expect(try store.fail(again, error: "SMTP 550 no such user", now: 2_100) == .failed)
        #expect(try Self.llen(store, "bull:notification:failed") == 1)
        let stored = try #require(try store.job(.notification, id: "7"))
        #expect(stored["failedReason"] == "SMTP 550 no such user" && stored["attemptsMade"] == "2")
        #expect(try store.retryFailed(.notification) == 1)
        #expect(try store.counts(.notification) == QueueCounts(wait: 1, active: 0, delayed: 0, completed: 0, failed: 0))
        #expect(try store.job(.notification, id: "7")?["attemptsMade"] == "0")
    }

    @Test func aJobWhoseWorkerDiedReturnsToWaitAfterTwoChecks() throws {
        let store = try Self.store(database: 13)
        try store.add([Job(queue: .dataCollection, id: "c1", data: "{}")], now: 0)
        let job = try #require(
            try store.reserve(.dataCollection, max: 1, waitSeconds: 0.1, now: 0, token: "dead").first
        )
        #expect(try store.maintain(.dataCollection, now: 1).requeued == 0, "locked: not stalled")
        // The worker dies: its lock expires.
        _ = try store.redis.command(["DEL", "bull:data-collection:c1:lock"])
        #expect(try store.maintain(.dataCollection, now: 2).requeued == 0, "first check only marks it")
        #expect(try store.maintain(.dataCollection, now: 3).requeued == 1, "second check without a lock: back to wait")
        #expect(
            try store.counts(.dataCollection) == QueueCounts(wait: 1, active: 0, delayed: 0, completed: 0, failed: 0)
        )
        #expect(
            try store.complete(.dataCollection, ids: [job.id], token: "dead", now: 4) == 0,
            "the dead worker's token no longer completes it"
        )
        #expect(try store.fail(job, error: "late", now: 4) == .lost)
        let retaken = try #require(
            try store.reserve(.dataCollection, max: 1, waitSeconds: 0.1, now: 5, token: "alive").first
        )
        #expect(retaken.id == "c1")
        #expect(try store.extendLock(retaken))
        #expect(try store.complete(.dataCollection, ids: ["c1"], token: "alive", now: 6) == 1)
    }

    @Test func aLostServerIsAnErrorThenReconnects() throws {
        let client = RedisClient(
            endpoint: RedisEndpoint(host: "127.0.0.1", port: 1, password: nil, database: 0),
            timeoutSeconds: 1
        )
        #expect(throws: RedisError.self) { try client.command(["PING"]) }
        #expect(!client.isConnected)
        let store = try Self.store(database: 14)
        // Kill our own connection from the server side: the next call fails, the one after reconnects.
        guard case .integer(let id) = try store.redis.command(["CLIENT", "ID"]) else {
            Issue.record("no client id")
            return
        }
        let other = RedisClient(endpoint: store.redis.endpoint)
        _ = try other.command(["CLIENT", "KILL", "ID", String(id)])
        #expect(throws: RedisError.self) { try store.redis.command(["PING"]) }
        #expect(try store.redis.command(["PING"]) == .status("PONG"))
    }
}

extension JobQueueTests {
    @Test func aLockKeptAliveIsNeverTakenForADeadWorker() async throws {
        var store = try Self.store(database: 15)
        store.lockMs = 300
        try store.add([Job(queue: .tradeExecution, id: "9", data: "{}")], now: 0)
        let job = try #require(
            try store.reserve(.tradeExecution, max: 1, waitSeconds: 0.1, now: 0, token: "live").first
        )
        // The keep-alive runs on a thread of its own, and the job is completed there right after the last
        // extension: its 100-ms rhythm against the 300-ms lock must not wait for a cooperative thread that other
        // tests keep busy (once, in a loaded `make test`, the completion awaited after the loop came too late).
        let keeper = store
        let (steps, completed) = try await blocking {
            let steps = try (0..<12).map { step in
                usleep(100_000)
                return (
                    extended: try keeper.extendLock(job),
                    requeued: try keeper.maintain(.tradeExecution, now: Int64(step)).requeued
                )
            }
            return (steps, try keeper.complete(.tradeExecution, ids: ["9"], token: "live", now: 99))
        }
        for (step, result) in steps.enumerated() {
            #expect(result.extended, "step \(step)")
            #expect(result.requeued == 0, "step \(step)")
        }
        #expect(completed == 1)
    }
}
