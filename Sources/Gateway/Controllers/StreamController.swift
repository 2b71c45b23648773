import Engine
import Foundation
import HTTPTypes
import Hummingbird
import Jobs
import Ledger
import NIOCore
import Projections
import Runtime
import ServiceLifecycle
import Storage

/// Server-Sent Events of the user's own events as they are committed. Each event's `id:` is its log
/// offset: a reconnecting client sends `Last-Event-ID` (or `?from=`) and continues after it.
struct StreamController {
    let services: GatewayServices

    func register(_ routes: RouteTable) {
        routes.add(.get, "/api/stream", self.stream)
    }

    /// `GET /api/stream`
    @Sendable func stream(_ request: Request, context: APIContext) async throws -> Response {
        let user = try context.requireUser()
        var from = services.runtime.nextOffset
        let fromText = request.uri.queryParameters.get("from")
        if let fromText, (UInt64(fromText) ?? .max) > 9_007_199_254_740_991 {
            throw problem(400, "from must be a log offset (a non-negative integer)")
        }
        if let last = request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let offset = UInt64(last) else { throw problem(400, "Last-Event-ID must be an event offset") }
            from = offset + 1
        } else if let text = request.uri.queryParameters.get("from") {
            guard let offset = UInt64(text) else {
                throw problem(400, "from must be a log offset (a non-negative integer)")
            }
            from = offset
        }
        from = min(from, services.runtime.nextOffset)  // nothing exists beyond the end: wait there
        let runtime = services.runtime
        let log = services.log
        let (stream, continuation) = AsyncStream.makeStream(
            of: ByteBuffer.self,
            bufferingPolicy: .bufferingNewest(10_000)
        )
        let producer = Task {
            continuation.yield(ByteBuffer(string: "retry: 2000\n: stream of \(user) from offset \(from)\n\n"))
            // One record from the log: the user's own engine events only; an engine event that does not decode
            // ends the stream with an error naming its offset.
            func send(_ record: LogRecord) throws {
                guard record.payload.withUnsafeBytes({ EventCodec.isEngineEvent($0) }) else { return }
                let envelope = try EventCodec.decode(
                    record.payload,
                    offset: record.offset,
                    timestamp: record.timestamp
                )
                guard GatewayAPI.belongs(envelope.event, to: user, state: runtime.state) else { return }
                continuation.yield(
                    ByteBuffer(
                        string: "id: \(record.offset)\nevent: \(envelope.typeName)\ndata: \(envelope.json())\n\n"
                    )
                )
            }
            do {
                if let feed = services.liveFeed {
                    // Live events arrive on the Redis channel; the log fills whatever the channel did not bring
                    // (the history before `from`'s catch-up, a reconnect, a flush), checked at least every second.
                    let (items, feedContinuation) = AsyncStream.makeStream(
                        of: LiveEventFeed.Item?.self,
                        bufferingPolicy: .bufferingNewest(10_000)
                    )
                    let listener = feed.add(feedContinuation)
                    defer { feed.remove(listener) }
                    let ticker = Task {
                        while !Task.isCancelled {
                            try? await Task.sleep(for: .seconds(1))
                            feedContinuation.yield(nil)
                        }
                    }
                    defer { ticker.cancel() }
                    var next = from
                    func fromLog() throws {
                        let end = runtime.nextOffset
                        while next < end {
                            let records = try log.read(from: next, maxRecords: 1_024)
                            guard !records.isEmpty else { return }
                            for record in records where record.offset < end {
                                try send(record)
                                next = record.offset + 1
                            }
                            if records.last.map({ $0.offset + 1 >= end }) ?? true { return }
                        }
                    }
                    try fromLog()
                    // A message on the channel only says "look now": what is sent is read from the log, never
                    // taken from the message. Anyone who can reach Redis can PUBLISH; a forged message (any
                    // offset, user or text, newlines included) makes the stream look at the log and nothing else.
                    for await _ in items {
                        if Task.isCancelled { break }
                        try fromLog()
                    }
                } else {
                    for try await record in log.tail(from: from) {
                        if Task.isCancelled { break }
                        try send(record)
                    }
                }
            } catch {
                let detail = String(
                    decoding: (try? JSONEncoder().encode(["detail": "the log stream ended: \(error)"])) ?? Data(),
                    as: UTF8.self
                )
                continuation.yield(ByteBuffer(string: "event: error\ndata: \(detail)\n\n"))
            }
            continuation.finish()
        }
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(15))
                continuation.yield(ByteBuffer(string: ": keep-alive\n\n"))
            }
        }
        continuation.onTermination = { _ in
            producer.cancel()
            heartbeat.cancel()
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        // A stream never ends by itself: on SIGTERM it ends, so graceful shutdown does not wait for it forever.
        return Response(
            status: .ok,
            headers: headers,
            body: ResponseBody(asyncSequence: stream.cancelOnGracefulShutdown())
        )
    }
}

extension GatewayAPI {

    static func backtestBody(_ entry: BacktestStore.Entry) -> BacktestBody {
        BacktestBody(
            id: entry.id,
            status: entry.status,
            request: entry.request,
            report: entry.report,
            error: entry.error,
            createdAt: ISOTime.utc(entry.createdAt)
        )
    }

    /// Whether the user may see the event: their registration, their accounts' events, their orders',
    /// their notifications'. Market data is public to signed-in users and not streamed here.
    static func belongs(_ event: DomainEvent, to user: UserID, state: EngineState) -> Bool {
        EventOwnership.owner(of: event, state: state) == user
    }
}
