import Engine
import Foundation
import Hummingbird
import Ledger
import Projections
import Runtime
import Storage

/// Notifications: list (newest first), mark read.
struct NotificationsController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/notifications", self.list)
        routes.add(.post, "/api/notifications/{id}/read", self.markRead)
    }

    /// `GET /api/notifications`
    @Sendable func list(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let limit = try Parse.limit(request, default: 100, max: 1_000)
        var unread: String?
        if let text = request.uri.queryParameters.get("unread") {
            guard text == "true" || text == "false" else { throw problem(400, "unread must be true or false") }
            unread = text
        }
        let unreadFilter = unread
        let rows = try await services.database.run { db in
            try db.query(
                """
                SELECT id, type, title, message, is_read, (extract(epoch FROM sent_at) * 1000000)::bigint, (extract(epoch FROM created_at) * 1000000)::bigint
                FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
                """,
                [user.description, String(unreadFilter == nil ? limit : 10_000)]
            ).rows
        }
        // The engine's state is authoritative for "read" (the read model may lag a moment behind).
        let state = services.runtime.state
        let items = rows.map { row -> NotificationBody in
            let id = row[0] ?? ""
            let read = NotificationID(id).flatMap { state.notifications[$0]?.read } ?? (row[4] == "t")
            return NotificationBody(
                id: id,
                type: row[1] ?? "",
                title: row[2] ?? "",
                message: row[3] ?? "",
                isRead: read,
                sentAt: row[5].flatMap(Int64.init).map(ISOTime.utc),
                createdAt: ISOTime.utc(row[6].flatMap(Int64.init) ?? 0)
            )
        }
        let filtered = unreadFilter.map { wanted in items.filter { $0.isRead != (wanted == "true") } } ?? items
        return try APIJSON.response(ListBody(Array(filtered.prefix(limit))))
    }

    /// `POST /api/notifications/{id}/read`
    @Sendable func markRead(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        let text = context.parameter("id")
        guard let id = NotificationID(text), services.runtime.state.notifications[id]?.user == user else {
            throw problem(404, "no notification \(text)")
        }
        _ = try await services.runtime.execute(
            .markNotificationRead(id, user: user),
            context: services.context("api-read")
        )
        return Response(status: .noContent)
    }
}

// MARK: - Bodies

struct NotificationBody: Codable {
    var id: String
    var type: String
    var title: String
    var message: String
    var isRead: Bool
    var sentAt: String?
    var createdAt: String
}
