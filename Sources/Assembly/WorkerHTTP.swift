import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Storage
import Synchronization
import Worker

/// The worker's own HTTP port (`stockboom worker --http-port`, default 3005 on loopback): `GET /metrics` for
/// Prometheus and `GET /health` for the container's health check and the hourly check.
///
/// `/health` answers 200 while every consumer thread keeps turning and Redis answers a `PING`; 503 when a
/// thread's turn is older than the stall limit (a handler or a call that never returns: the worker is hung,
/// and a restart is what mends it) or when Redis does not answer — the body says which.
enum WorkerHTTP {
    struct Health: Encodable {
        struct Stalled: Encodable {
            let thread: String
            let seconds: Double
        }
        let status: String
        let stalled: [Stalled]
        let stallLimitSeconds: Double
        let consumerThreads: Int
        let jobsFinished: Int
        let redis: String
    }

    static func health(_ consumers: [QueueConsumers], stallMs: Int64, redis: RedisEndpoint) async -> Health {
        let stalled = consumers.flatMap { $0.stalled(limitMs: stallMs) }
        let redisState: String
        do {
            redisState = try await blocking {
                let connection = try RedisConnection(endpoint: redis, timeoutSeconds: 2)
                guard case .status = try connection.command(["PING"]) else { return "unexpected answer to PING" }
                return "ok"
            }
        } catch {
            redisState = "unreachable: \(error)"
        }
        return Health(
            status: !stalled.isEmpty ? "hung" : redisState != "ok" ? "redis unreachable" : "ok",
            stalled: stalled.map { .init(thread: $0.thread, seconds: Double($0.ageMs) / 1_000) },
            stallLimitSeconds: Double(stallMs) / 1_000,
            consumerThreads: consumers.reduce(0) { $0 + $1.concurrency + 1 },
            jobsFinished: consumers.reduce(0) { $0 + $1.finishedCount },
            redis: redisState
        )
    }

    static func application(
        consumers: [QueueConsumers],
        metrics: WorkerMetrics,
        options: WorkerOptions,
        port: Int,
        listening: BoundPort
    ) -> some Service {
        let router = Router()
        let stallMs = Int64(options.stallSeconds * 1_000)
        let redis = options.redis
        router.get("/metrics") { _, _ -> Response in
            metrics.refresh(stalledConsumers: consumers.reduce(0) { $0 + $1.stalled(limitMs: stallMs).count })
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.emit()))
            )
        }
        router.get("/health") { _, _ -> Response in
            let health = await Self.health(consumers, stallMs: stallMs, redis: redis)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Response(
                status: health.status == "ok" ? .ok : .serviceUnavailable,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: (try? encoder.encode(health)) ?? Data()))
            )
        }
        let logger = options.logger
        return Application(
            router: router,
            configuration: .init(address: .hostname(options.httpHost, port: port), serverName: "stockboom-worker"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                listening.port.withLock { $0 = bound }
                logger.info("worker http listening", metadata: ["address": "\(options.httpHost):\(bound)"])
            },
            logger: logger
        )
    }
}

/// The port a listener bound, once it has (0 asks for any free one).
final class BoundPort: Sendable {
    let port = Mutex<Int?>(nil)
}
