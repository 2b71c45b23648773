public import AsyncHTTPClient
import Engine
import Foundation
public import Jobs
import NIOCore
import NIOHTTP1
import Storage

/// notification: e-mail through SMTP and an optional webhook, then `NotificationSent` once either delivered. When
/// neither did, a permanent refusal of each (SMTP 5xx, a webhook's 4xx) or the last attempt records
/// `NotificationFailed`; otherwise the job is retried.
public struct NotificationHandler: JobHandler {
    let engine: EngineClient
    let mailer: SMTPMailer?
    let webhook: String?
    let http: HTTPClient
    let metrics: WorkerMetrics?

    public init(
        engine: EngineClient,
        mailer: SMTPMailer?,
        webhook: String?,
        http: HTTPClient = .shared,
        metrics: WorkerMetrics? = nil
    ) {
        self.engine = engine
        self.metrics = metrics
        self.mailer = mailer
        self.webhook = webhook
        self.http = http
    }

    /// What the job says: which notification (the job's id is its log offset). Older jobs carried the address
    /// and the text too; they are ignored — both come from the engine.
    struct Data: Codable {
        var notification: String
    }

    public func handle(_ job: Job) async throws -> JobResult {
        let reference = try JSONDecoder().decode(Data.self, from: Foundation.Data(job.data.utf8))
        let data = try await self.engine.notification(reference.notification, offset: job.id)
        if data.delivered { return .done }  // a retried or repeated job: sent already
        guard let email = data.email else {
            try await self.engine.record(
                .notificationFailed(
                    notification: data.notification,
                    channel: "none",
                    detail: "the recipient's account no longer exists"
                )
            )
            return .done
        }
        // Every configured channel is tried. One that delivered is enough: the notification is sent (the
        // other's failure in its detail), and never retried — a retry would tell the person twice. Only when
        // none delivered is the job retried, or failed for good once every failure is permanent or the
        // attempts are used up.
        var delivered: [(channel: String, detail: String)] = []
        var failures: [DeliveryFailure] = []
        if let mailer = self.mailer {
            do {
                let detail = try await mailer.send(
                    to: email,
                    subject: "[StockBoom] \(data.title)",
                    body: "\(data.title)\n\n\(data.message)\n\n— StockBoom (\(data.kind))"
                )
                delivered.append(("email", detail))
            } catch {
                let permanent = (error as? SMTPError)?.permanent ?? false
                self.metrics?.smtpFailure(permanent: permanent)
                failures.append(DeliveryFailure(channel: "email", message: "\(error)", permanent: permanent))
            }
        }
        if let webhook = self.webhook {
            do {
                var request = HTTPClientRequest(url: webhook)
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(data)))
                let response = try await self.http.execute(request, timeout: .seconds(10))
                let code = Int(response.status.code)
                if (200..<300).contains(code) {
                    delivered.append(("webhook", "webhook \(code)"))
                } else {
                    // A 4xx other than a timeout or a rate limit will answer the same again.
                    let permanent = (400..<500).contains(code) && code != 408 && code != 429
                    failures.append(
                        DeliveryFailure(channel: "webhook", message: "answered HTTP \(code)", permanent: permanent)
                    )
                }
            } catch {
                failures.append(DeliveryFailure(channel: "webhook", message: "\(error)", permanent: false))
            }
        }
        if delivered.isEmpty && failures.isEmpty {
            try await self.engine.record(
                .notificationFailed(
                    notification: data.notification,
                    channel: "none",
                    detail: "no channel configured (SMTP_HOST, NOTIFY_WEBHOOK_URL)"
                )
            )
            return .done
        }
        guard delivered.isEmpty else {
            try await self.engine.record(
                .notificationSent(
                    notification: data.notification,
                    channel: delivered.map(\.channel).joined(separator: "+"),
                    detail: (delivered.map(\.detail) + failures.map(\.description)).joined(separator: "; ")
                )
            )
            return .done
        }
        let failure = DeliveryFailures(failures: failures)
        if failure.permanent || job.attemptsMade + 1 >= job.maxAttempts {
            try await self.engine.record(
                .notificationFailed(
                    notification: data.notification,
                    channel: failures.map(\.channel).joined(separator: "+"),
                    detail: failure.description
                )
            )
            if failure.permanent { return .done }
        }
        throw failure
    }
}

/// One channel's failure to deliver a notification (its description names the channel).
struct DeliveryFailure: Sendable, CustomStringConvertible {
    var channel: String
    var message: String
    var permanent: Bool
    var description: String { "\(self.channel): \(self.message)" }
}

/// Every configured channel failed: permanent when each failure is.
struct DeliveryFailures: Error, Sendable, CustomStringConvertible {
    var failures: [DeliveryFailure]
    var permanent: Bool { self.failures.allSatisfy(\.permanent) }
    var description: String { self.failures.map(\.description).joined(separator: "; ") }
}
