import Engine
import Foundation
import Jobs
import Ledger
import Projections
import Runtime
import Simulation
import Storage
import TestSupport
import Testing

/// Finding 3 of the hostile-input review: the worker e-mailed whatever recipient and text a notification job
/// held, and anyone who reaches Redis can write a job. Now the job names only the notification; recipient and
/// text come from the engine (`GET /internal/notifications/{id}?offset=`). Real serve, worker, Redis and SMTP.
@Suite(.serialized) struct ForgedJobTests {
    @Test func aNotificationJobCannotChooseItsRecipientOrItsText() async throws {
        let (rig, sink) = try await WorkerEndToEndTests.rig("forged", redisDatabase: 22)
        defer { _ = sink.killed() }
        let serve = try await WorkerEndToEndTests.serve(rig)
        // Outside the day's band: refused by the risk check, and the owner is to be told (ORDER_REJECTED).
        _ = try await WorkerEndToEndTests.ownerWithARejectedOrder(rig)

        // The dispatcher has queued the real job (its id is the notification's offset). Someone with Redis access
        // rewrites it, and adds one of their own.
        let redisURL = try #require(rig.environment["REDIS_URL"])
        var endpoint = try #require(RedisEndpoint(url: redisURL))
        endpoint.database = 22
        let redis = RedisClient(endpoint: endpoint)
        let log = try EventLog(directory: rig.directory.path, readOnly: true)
        let offset = try #require(
            try log.read(from: 0, maxRecords: .max).first { record in
                guard
                    let envelope = try? EventCodec.decode(
                        record.payload,
                        offset: record.offset,
                        timestamp: record.timestamp
                    )
                else { return false }
                if case .notificationCreated = envelope.event { return true }
                return false
            }?.offset
        )
        log.close()
        try await WorkerEndToEndTests.waitFor(30, "the real notification job") {
            (try? redis.command(["EXISTS", "bull:notification:\(offset)"])) == .integer(1)
        }
        let forged =
            #"{"notification":"ntf-0000000001","user":"usr-0000000001","email":"attacker@evil.example","kind":"X","title":"phish","message":"click here"}"#
        _ = try redis.command(["HSET", "bull:notification:\(offset)", "data", forged])
        let store = JobQueueStore(redis: redis)
        _ = try store.add([Job(queue: .notification, id: "1", data: forged, maxAttempts: 1)], now: 0)

        let worker = try WorkerEndToEndTests.worker(rig, kis: freeLoopbackPort())
        try await WorkerEndToEndTests.waitFor(60, "the owner's e-mail") {
            WorkerEndToEndTests.mails(rig).contains { $0.contains("To: <owner@example.com>") }
        }
        try await Task.sleep(for: .seconds(2))  // the forged job's turn has come too
        let mails = WorkerEndToEndTests.mails(rig)
        #expect(!mails.contains { $0.contains("attacker@evil.example") }, "no e-mail to the forged recipient")
        #expect(
            !mails.contains { $0.contains("phish") || WorkerEndToEndTests.decodedSubject($0).contains("phish") },
            "no forged text"
        )
        #expect(
            mails.filter { $0.contains("To: <owner@example.com>") }.count == 1,
            "the owner told once, with the engine's text"
        )
        #expect(mails.contains { WorkerEndToEndTests.decodedSubject($0).contains("주문 거부") })
        #expect(await worker.stop() == 0)
        #expect(await serve.stop() == 0)
    }
}
