import Foundation
import Runtime
import Simulation
import Storage
import Testing

@testable import Jobs
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

    /// The queue board's actions on a real Redis: each moves only a job in the state it names, a held job is
    /// not removed from under its worker, and a paused queue hands out nothing (the job BLMOVE took goes back).
    @Test func theBoardsActionsMoveOnlyWhatTheyName() throws {
        let store = try Self.store(database: 41)
        try store.add((1...4).map { Job(queue: .notification, id: "n\($0)", data: #"{"n":"<b>\#($0)</b>"}"#) }, now: 5)
        // n1 held by a worker, n2 failed for good, n3 delayed, n4 waiting.
        let held = try #require(
            try store.reserve(.notification, max: 1, waitSeconds: 0.1, now: 10, token: "w:1/x#a").first
        )
        #expect(held.id == "n1")
        var failing = try #require(
            try store.reserve(.notification, max: 1, waitSeconds: 0.1, now: 11, token: "t").first
        )
        failing.maxAttempts = 1
        _ = try store.redis.command(["HSET", "bull:notification:n2", "maxAttempts", "1"])
        #expect(try store.fail(failing, error: "webhook <i>503</i>", now: 12) == .failed)
        let delaying = try #require(
            try store.reserve(.notification, max: 1, waitSeconds: 0.1, now: 13, token: "u").first
        )
        #expect(try store.fail(delaying, error: "later", now: 14) == .delayed)

        let failed = try store.jobs(.notification, state: .failed, offset: 0, limit: 10)
        #expect(failed.total == 1 && failed.jobs.first?.failedReason == "webhook <i>503</i>")
        #expect(failed.jobs.first?.data == #"{"n":"<b>2</b>"}"#, "\(failed)")
        let active = try store.jobs(.notification, state: .active, offset: 0, limit: 10)
        #expect(active.jobs.first?.holder == "w:1/x#a" && active.jobs.first?.processedOn == 10, "\(active)")
        #expect(try store.jobs(.notification, state: .delayed, offset: 0, limit: 10).jobs.first?.dueAt == 1_014)

        #expect(try store.retry(.notification, id: "n4") == false, "waiting, not failed")
        #expect(try store.promote(.notification, id: "n2") == false, "failed, not delayed")
        #expect(try store.remove(.notification, id: "n1") == .heldByAWorker)
        #expect(try store.remove(.notification, id: "nope") == .notFound)
        #expect(try store.retry(.notification, id: "n2"))
        #expect(try store.job(.notification, id: "n2")?["attemptsMade"] == "0")
        #expect(try store.promote(.notification, id: "n3"))
        #expect(try store.remove(.notification, id: "n4") == .removed)
        #expect(try store.job(.notification, id: "n4") == nil, "the record went with it")
        #expect(try store.counts(.notification) == QueueCounts(wait: 2, active: 1, delayed: 0, completed: 0, failed: 0))

        // Paused: nothing is handed out, and what waits stays in its order.
        try store.pause(.notification)
        #expect(try store.isPaused(.notification))
        #expect(try store.reserve(.notification, max: 5, waitSeconds: 0.1, now: 20, token: "p").isEmpty)
        #expect(try store.counts(.notification).wait == 2)
        try store.resume(.notification)
        let after = try store.reserve(.notification, max: 5, waitSeconds: 0.1, now: 21, token: "r")
        #expect(after.map(\.id) == ["n2", "n3"], "\(after)")
        #expect(try store.complete(.notification, ids: ["n2", "n3"], token: "r", now: 22) == 2)
        #expect(try store.cleanCompleted(.notification) == 2)
        #expect(try store.job(.notification, id: "n2") == nil)
        #expect(try store.counts(.notification).completed == 0)

        try store.heartbeat(worker: "host:7", queue: .notification, startedAt: 100, now: 200)
        try store.heartbeat(worker: "old:1", queue: .notification, startedAt: 1, now: 2)
        // Forged values (a hand-edited Redis): shown without a time, dropped, never trapped on.
        _ = try store.redis.command(["ZADD", "bull:notification:delayed", "inf", "f1", "1e300", "f2", "-5", "f3"])
        let forged = try store.jobs(.notification, state: .delayed, offset: 0, limit: 10)
        #expect(forged.jobs.count == 3 && forged.jobs.allSatisfy { $0.dueAt == nil }, "\(forged)")
        _ = try store.redis.command(["HSET", "stockboom:workers", "x:1/notification", "0 -9223372036854775808"])
        _ = try store.redis.command(["HSET", "stockboom:workers", "y:1/notification", "9223372036854775807 1"])
        #expect(
            try store.workers(now: 300, forgetAfterMs: 250)
                == [WorkerBeat(worker: "host:7", queue: "notification", startedAt: 100, seenAt: 200)],
            "a heartbeat older than the limit is forgotten"
        )
    }

    /// A consumer paused between its BLMOVE and the reservation for two stalled checks (a loaded machine): the
    /// check returns the job to `wait`, and the late reservation must not hand it out as well — the job runs once
    /// per attempt (seen as 6/5 attempts on the queue board under a full test run).
    @Test func aJobTheStalledCheckTookBackIsNotHandedOutTwice() throws {
        let store = try Self.store(database: 42)
        try store.add([Job(queue: .notification, id: "s1", data: "{}")], now: 0)
        // As BLMOVE leaves it: in `active`, no lock yet.
        _ = try store.redis.command(["LMOVE", "bull:notification:wait", "bull:notification:active", "RIGHT", "LEFT"])
        #expect(try store.maintain(.notification, now: 1).requeued == 0, "a suspect after one check")
        #expect(try store.maintain(.notification, now: 2).requeued == 1, "returned to wait after two")
        // The paused consumer's reservation arrives now, naming the job it moved.
        let late = try store.script(
            JobQueueStore.eval(
                JobQueueStore.reserveScript,
                keys: [
                    JobQueueStore.key(.notification, "wait"), JobQueueStore.key(.notification, "active"),
                    JobQueueStore.key(.notification, "meta"),
                ],
                arguments: ["bull:notification:", "1", "30000", "late", "3", "s1"]
            )
        )
        // It takes the job from `wait` (where the check put it), once: no copy is left there to run a second time.
        guard case .array(let fields) = late else {
            Issue.record("the reservation answered \(late)")
            return
        }
        #expect(fields.first?.text == "s1" && fields.count == 5, "\(late)")
        let again = try store.reserve(.notification, max: 5, waitSeconds: 0.1, now: 4, token: "next")
        #expect(again.isEmpty, "handed out twice: \(again.map(\.id))")
        #expect(try store.counts(.notification) == QueueCounts(wait: 0, active: 1, delayed: 0, completed: 0, failed: 0))
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
