public import AsyncHTTPClient
import Engine
import Foundation
public import Jobs
import NIOCore
import NIOHTTP1
import Storage

/// notification: e-mail through SMTP (and an optional webhook), then `NotificationSent`. A permanent SMTP
/// refusal (5xx) or the last attempt records `NotificationFailed`.
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
        var channels: [String] = []
        var details: [String] = []
        do {
            if let mailer = self.mailer {
                do {
                    details.append(
                        try await mailer.send(
                            to: email,
                            subject: "[StockBoom] \(data.title)",
                            body: "\(data.title)\n\n\(data.message)\n\n— StockBoom (\(data.kind))"
                        )
                    )
                } catch {
                    self.metrics?.smtpFailure(permanent: (error as? SMTPError)?.permanent ?? false)
                    throw error
                }
                channels.append("email")
            }
            if let webhook = self.webhook {
                var request = HTTPClientRequest(url: webhook)
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(data)))
                let response = try await self.http.execute(request, timeout: .seconds(10))
                guard (200..<300).contains(Int(response.status.code)) else {
                    throw SMTPError(code: 0, message: "webhook answered HTTP \(response.status.code)")
                }
                details.append("webhook \(response.status.code)")
                channels.append("webhook")
            }
        } catch let error as SMTPError where error.permanent || job.attemptsMade + 1 >= job.maxAttempts {
            try await self.engine.record(
                .notificationFailed(
                    notification: data.notification,
                    channel: channels.first ?? "email",
                    detail: error.description
                )
            )
            if error.permanent { return .done }
            throw error
        }
        guard !channels.isEmpty else {
            try await self.engine.record(
                .notificationFailed(
                    notification: data.notification,
                    channel: "none",
                    detail: "no channel configured (SMTP_HOST, NOTIFY_WEBHOOK_URL)"
                )
            )
            return .done
        }
        try await self.engine.record(
            .notificationSent(
                notification: data.notification,
                channel: channels.joined(separator: "+"),
                detail: details.joined(separator: "; ")
            )
        )
        return .done
    }
}
