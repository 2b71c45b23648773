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
            var environment = base.environment
            environment["NOTIFY_WEBHOOK_URL"] = "http://127.0.0.1:\(port)/hook"
            let rig = WorkerEndToEndTests.Rig(
                directory: base.directory,
                environment: environment,
                port: base.port,
                mail: base.mail
            )
            let serve = try await WorkerEndToEndTests.serve(rig)
            let (status, session) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/auth/register",
                json: #"{"email":"owner@example.com","password":"a long owner password"}"#
            )
            #expect(status == 201, "\(session)")
            let token = try #require(session["token"] as? String)
            let (_, account) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/broker-accounts",
                token: token,
                json: #"{"broker":"SIMULATED","accountNumber":"5012345678","initialCash":10000000}"#
            )
            let accountID = try #require(account["id"] as? String)
            // Outside the day's band: refused, and the owner is to be told (ORDER_REJECTED).
            let (placed, order) = try await WorkerEndToEndTests.call(
                rig,
                "POST",
                "/api/orders",
                token: token,
                json:
                    #"{"brokerAccountId":"\#(accountID)","stockId":"005930","side":"BUY","quantity":1,"price":100000}"#
            )
            #expect(placed == 201 && order["status"] as? String == "REJECTED", "\(order)")
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
            #expect(hits.withLock { $0 } == 1, "the webhook asked once")
            let mails = WorkerEndToEndTests.mails(rig).filter { $0.contains("To: <owner@example.com>") }
            #expect(mails.count == 1, "told once")
            #expect(await worker.stop() == 0)
            #expect(await serve.stop() == 0)
        }
    }
}
