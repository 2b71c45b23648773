import Engine
import Foundation
import Hummingbird
import Ledger
import Synchronization
import TestSupport
import Testing

/// The notification handler's channels through a real `serve`, worker, SMTP sink and webhook: a webhook that
/// refuses for good (404) does not stop the e-mail; the notification is sent once, by e-mail, with the webhook's
/// refusal named as the webhook's (not as SMTP's) in the recorded detail, and no retry tells the person twice.
@Suite struct NotificationDeliveryTests {
    @Test func aRefusingWebhookDoesNotStopTheEmailNorSendItTwice() async throws {
        let (base, sink) = try await WorkerEndToEndTests.rig("delivery", redisDatabase: 33)
        defer { _ = sink.killed() }
        let hits = Mutex(0)
        let router = Router()
        router.post("/hook") { _, _ -> Response in
            hits.withLock { $0 += 1 }
            return Response(status: .notFound)
        }
        try await withServer(router) { port in
            let rig = base.with(["NOTIFY_WEBHOOK_URL": "http://127.0.0.1:\(port)/hook"])
            let serve = try await WorkerEndToEndTests.serve(rig)
            _ = try await WorkerEndToEndTests.ownerWithARejectedOrder(rig)
            let worker = try WorkerEndToEndTests.worker(rig, kis: freeLoopbackPort())
            try await WorkerEndToEndTests.waitFor(60, "the owner's e-mail") {
                WorkerEndToEndTests.mails(rig).contains { $0.contains("To: <owner@example.com>") }
            }
            func delivery() throws -> [DomainEvent] {
                let log = try EventLog(directory: rig.directory.path, readOnly: true)
                defer { log.close() }
                return try log.read(from: 0, maxRecords: .max).compactMap { record in
                    let event = try EventCodec.decode(
                        record.payload,
                        offset: record.offset,
                        timestamp: record.timestamp
                    )
                    .event
                    switch event {
                    case .notificationSent, .notificationFailed: return event
                    default: return nil
                    }
                }
            }
            try await WorkerEndToEndTests.waitFor(30, "the delivery recorded") { try !delivery().isEmpty }
            try await Task.sleep(for: .seconds(2))  // time for a retry, were there one
            let recorded = try delivery()
            #expect(recorded.count == 1, "\(recorded)")
            guard case .notificationSent(let sent) = recorded.first else {
                Issue.record("not sent: \(recorded)")
                return
            }
            #expect(sent.channel == "email", "\(sent)")
            #expect(sent.detail.contains("webhook: answered HTTP 404") && !sent.detail.contains("SMTP:"), "\(sent)")
            // Once, unless the sink (loaded by the tests beside this one) failed the first e-mail: with no channel
            // delivered, the attempt is retried whole.
            #expect((1...3).contains(hits.withLock { $0 }), "the webhook asked")
            let mails = WorkerEndToEndTests.mails(rig).filter { $0.contains("To: <owner@example.com>") }
            #expect(mails.count == 1, "told once")
            #expect(await worker.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }
}
