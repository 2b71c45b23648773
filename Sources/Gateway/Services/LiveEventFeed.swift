import Foundation
public import Jobs
import Projections
public import Storage
import Synchronization

/// The gateway's side of the `stockboom:events` pub/sub channel: one Redis subscription per process, on a
/// thread of its own, fanned out to the open live streams. A lost connection is re-established with back-off
/// and every stream is told to look at the log (`nil` item), which fills whatever was published meanwhile.
public final class LiveEventFeed: Sendable {
    public struct Item: Sendable {
        public let offset: UInt64
        /// The owner's user id, or "-".
        public let user: String
        public let type: String
        public let json: String
    }

    private let listeners = Mutex<[UUID: AsyncStream<Item?>.Continuation]>([:])
    private let connected = Atomic<Bool>(false)

    public init(endpoint: RedisEndpoint, channel: String = JobDispatcher.eventsChannel) {
        let thread = Thread { [self] in self.run(endpoint: endpoint, channel: channel) }
        thread.name = "live-event-feed"
        thread.start()
    }

    /// Whether the subscription is up now.
    public var isConnected: Bool { self.connected.load(ordering: .relaxed) }

    /// Delivers every message (and `nil` on reconnects) to `continuation` until `remove`.
    func add(_ continuation: AsyncStream<Item?>.Continuation) -> UUID {
        let id = UUID()
        self.listeners.withLock { $0[id] = continuation }
        return id
    }

    func remove(_ id: UUID) {
        _ = self.listeners.withLock { $0.removeValue(forKey: id) }
    }

    private func broadcast(_ item: Item?) {
        for continuation in self.listeners.withLock({ Array($0.values) }) { continuation.yield(item) }
    }

    static func parse(_ bytes: [UInt8]) -> Item? {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let head = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard head.count == 3, let offset = UInt64(head[0]) else { return nil }
        return Item(
            offset: offset,
            user: String(head[1]),
            type: String(head[2]),
            json: String(decoding: bytes[(newline + 1)...], as: UTF8.self)
        )
    }

    private func run(endpoint: RedisEndpoint, channel: String) {
        var delay: UInt32 = 100_000
        while true {
            do {
                let connection = try RedisConnection(endpoint: endpoint, timeoutSeconds: 5)
                try connection.subscribe(channel)
                connection.waitIndefinitely()
                self.connected.store(true, ordering: .relaxed)
                self.broadcast(nil)  // anything published before this subscription is in the log
                delay = 100_000
                while true {
                    guard case .array(let parts) = try connection.nextPush(), parts.count == 3,
                        case .string(let payload) = parts[2]
                    else { continue }
                    if let item = Self.parse(payload) { self.broadcast(item) }
                }
            } catch {
                self.connected.store(false, ordering: .relaxed)
                usleep(delay)
                delay = min(delay * 2, 5_000_000)
            }
        }
    }
}
