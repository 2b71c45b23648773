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
        let rows = try await services.readModels.run { db in
            try ReadQueries.notifications(user: user.description, limit: unreadFilter == nil ? limit : 10_000, db)
        }
        // The engine's state is authoritative for "read" (the read model may lag a moment behind).
        let state = services.runtime.state
        let items = rows.map { row -> NotificationBody in
            let read = NotificationID(row.id).flatMap { state.notifications[$0]?.read } ?? row.isRead
            return NotificationBody(
                id: row.id,
                type: row.type,
                title: row.title,
                message: row.message,
                isRead: read,
                sentAt: row.sentAt.map(ISOTime.utc),
                createdAt: ISOTime.utc(row.createdAt)
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
