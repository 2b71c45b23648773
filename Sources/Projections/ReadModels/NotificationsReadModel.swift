public import Engine
public import Ledger
import Runtime
public import Storage
import Synchronization

/// Notifications: created, sent (or failed), read.
public struct NotificationsReadModel: ReadModel {
    public let name = "notifications"
    public let tables = ["notifications"]
    private var created = CopyRows()
    private var updates: [(id: String, sentAt: String?, error: String?, read: Bool, offset: UInt64)] = []

    public init() {}

    public mutating func prepare(log: EventLog, upTo offset: UInt64) throws {
        self.created = CopyRows()
        self.updates.removeAll()
    }

    public mutating func absorb(_ event: EventEnvelope) {
        let offset = event.offset ?? 0
        switch event.event {
        case .notificationCreated(let e):
            self.created.append([
                e.notification.description, e.user.description, e.kind, e.title, e.message, "f", nil, nil,
                sqlTime(event.timestamp), String(offset),
            ])
        case .notificationSent(let e):
            self.updates.append((e.notification.description, sqlTime(event.timestamp), nil, false, offset))
        case .notificationFailed(let e):
            self.updates.append((e.notification.description, nil, "\(e.channel): \(e.detail)", false, offset))
        case .notificationRead(let e):
            self.updates.append((e.notification.description, nil, nil, true, offset))
        default:
            break
        }
    }

    public mutating func flush(into connection: PostgresConnection) throws {
        if !self.created.isEmpty {
            try connection.copyIn(
                "COPY notifications (id, user_id, type, title, message, is_read, sent_at, delivery_error, created_at, last_offset) FROM STDIN",
                data: self.created.bytes
            )
        }
        for update in self.updates {
            try connection.query(
                "UPDATE notifications SET sent_at = COALESCE($2::timestamptz, sent_at), delivery_error = COALESCE($3, delivery_error), is_read = is_read OR $4::boolean, last_offset = $5 WHERE id = $1",
                [update.id, update.sentAt, update.error, update.read ? "t" : "f", String(update.offset)]
            )
        }
        self.created = CopyRows()
        self.updates.removeAll(keepingCapacity: true)
    }
}
