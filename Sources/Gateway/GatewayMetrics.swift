public import Hummingbird
import Jobs
import Ledger
import Projections
public import Prometheus
import Storage
import Synchronization
import Telemetry

/// The Prometheus metrics of `GET /metrics`: the operator guide's names plus the log's and the
/// projections' own.
///
/// Request durations are recorded as they happen; the gauges that describe other systems (queue sizes,
/// PostgreSQL and Redis connections, process CPU and memory, log counters, projection lag) are refreshed
/// when Prometheus scrapes, on a dedicated thread.
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let usage = ProcessUsage()
    private let lastLog = Mutex(LogStatistics.Values())
    /// The scrape's own connections, kept from one scrape to the next (a connection per scrape was a PostgreSQL
    /// backend started and ended every 15 s, counted in the very gauge it reads); dropped after an error, made
    /// again on the next scrape. Scrapes take turns on them.
    private let held = Mutex(HeldConnections())

    struct HeldConnections: ~Copyable {
        var postgres: PostgresConnection?
        var readModels: PostgresConnection?
        var redis: RedisConnection?

        /// `body` on the connection held in `slot` (made when there is none), and once more on a fresh one when
        /// that fails (the held one lost: a restart, an idle timeout). The connection that answered is kept;
        /// none is kept when neither did.
        static func reusing<Connection, Result>(
            _ slot: inout Connection?,
            _ make: () -> Connection?,
            _ body: (Connection) -> Result?
        ) -> Result? {
            if let held = slot, let result = body(held) { return result }
            slot = make()
            guard let fresh = slot, let result = body(fresh) else {
                slot = nil
                return nil
            }
            return result
        }
    }
    /// Queue names of the operator guide (BullMQ key layout `bull:<queue>:<state>`): every `QueueName`.
    public static let queues = QueueName.allCases.map(\.rawValue)
    static let requestBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]

    /// A metric's name and its `# HELP` line.
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor { .named(name, help) }

    public init() {
        // `stockboom_build_info{version="…"} 1`: which build answers, for dashboards and upgrades.
        self.registry.makeGauge(
            descriptor: Self.descriptor("stockboom_build_info", "The build that answers: version and compiler."),
            labels: [("version", BuildInfo.version), ("swift", BuildInfo.compiler)]
        ).set(Int64(1))
    }

    /// Records one HTTP request (`http_request_duration_seconds{method,route,status}`).
    public func recordRequest(method: String, route: String, status: Int, duration: Duration) {
        self.registry.makeDurationHistogram(
            descriptor: Self.descriptor(
                "http_request_duration_seconds",
                "HTTP request duration by method, route and status."
            ),
            labels: [("method", method), ("route", route), ("status", String(status))],
            buckets: Self.requestBuckets
        ).record(duration)
    }

    /// Refreshes every scrape-time gauge. Blocking: call through `blocking {}`.
    public func refresh(_ dependencies: GatewayDependencies) {
        self.registry.recordProcessUsage(self.usage)
        let log = dependencies.log
        let values = log.statistics
        let previous = self.lastLog.withLock { last -> LogStatistics.Values in
            defer { last = values }
            return last
        }
        self.registry.makeCounter(
            descriptor: Self.descriptor("stockboom_log_appends_total", "Appends to the event log.")
        ).increment(by: Int64(values.appends - min(values.appends, previous.appends)))
        self.registry.makeCounter(
            descriptor: Self.descriptor("stockboom_log_records_total", "Records appended to the event log.")
        ).increment(by: Int64(values.records - min(values.records, previous.records)))
        self.registry.makeCounter(
            descriptor: Self.descriptor("stockboom_log_bytes_written_total", "Bytes written to the log segments.")
        ).increment(by: Int64(values.bytesWritten - min(values.bytesWritten, previous.bytesWritten)))
        self.registry.makeCounter(
            descriptor: Self.descriptor("stockboom_log_fsyncs_total", "fdatasync calls of the log (group commits).")
        ).increment(by: Int64(values.syncs - min(values.syncs, previous.syncs)))
        self.registry.makeGauge(
            descriptor: Self.descriptor("stockboom_log_batch_records", "Mean records per group commit.")
        ).set(values.recordsPerCommit)
        self.registry.makeGauge(
            descriptor: Self.descriptor("stockboom_log_fsync_seconds_mean", "Mean fdatasync time of the log.")
        ).set(values.syncMicrosMean / 1e6)
        self.registry.makeGauge(
            descriptor: Self.descriptor("stockboom_log_fsync_seconds_max", "Longest fdatasync of the log.")
        ).set(Double(values.syncNanosMax) / 1e9)
        // One head for the scrape: the projections' lag below is against this same offset (read again after the
        // PostgreSQL round trips, a burst appended meanwhile counted as lag that the head gauge did not show).
        let head = log.nextOffset
        self.registry.makeGauge(
            descriptor: Self.descriptor("stockboom_log_head_offset", "The offset the next record will have.")
        ).set(Double(head))
        self.registry.makeGauge(
            descriptor: Self.descriptor("stockboom_log_disk_bytes", "Bytes of the log segments on disk.")
        ).set(Double(log.segments.reduce(UInt64(0)) { $0 + $1.bytes }))
        self.registry.makeGauge(descriptor: Self.descriptor("stockboom_log_writable", "1 while the log takes writes."))
            .set(Double(log.writerFailure == nil ? 1 : 0))
        if let disk = try? DiskUsage.of(log.directory) {
            self.registry.makeGauge(
                descriptor: Self.descriptor("stockboom_log_filesystem_size_bytes", "Size of the log file system.")
            ).set(Double(disk.totalBytes))
            self.registry.makeGauge(
                descriptor: Self.descriptor(
                    "stockboom_log_filesystem_available_bytes",
                    "Free space on the log file system."
                )
            ).set(Double(disk.availableBytes))
        }
        if let replication = dependencies.replication?() {
            for role in ["primary", "follower", "starting"] {
                self.registry.makeGauge(
                    descriptor: Self.descriptor("stockboom_replication_role", "1 for this node's replication role."),
                    labels: [("role", role), ("mode", replication.mode)]
                ).set(Double(replication.role == role ? 1 : 0))
            }
            self.registry.makeGauge(
                descriptor: Self.descriptor(
                    "stockboom_replication_lag_events",
                    "Events between this node's log and the stream (follower: behind; async primary: unpublished)."
                )
            ).set(Double(replication.lagEvents))
            self.registry.makeGauge(
                descriptor: Self.descriptor(
                    "stockboom_replication_lag_seconds",
                    "Age of the oldest unreplicated commit."
                )
            ).set(replication.lagSeconds)
            self.registry.makeGauge(
                descriptor: Self.descriptor("stockboom_replication_stream_last_sequence", "The stream's last sequence.")
            ).set(Double(replication.streamLastSequence))
            self.registry.makeGauge(
                descriptor: Self.descriptor("stockboom_replication_stream_peers", "Stream replicas that answer.")
            ).set(Double(replication.streamPeers))
            self.registry.makeGauge(
                descriptor: Self.descriptor("stockboom_replication_quorum", "1 while the stream has a quorum.")
            ).set(Double(replication.quorum ? 1 : 0))
            self.registry.makeGauge(
                descriptor: Self.descriptor("stockboom_replication_lease_held", "1 while this node holds the lease.")
            ).set(Double(replication.leaseHeld ? 1 : 0))
        }
        if let orders = dependencies.ordersByStatus?() {
            for (status, count) in orders {
                self.registry.makeGauge(
                    descriptor: Self.descriptor("stockboom_orders", "Orders by status in the engine state."),
                    labels: [("status", status)]
                ).set(Double(count))
            }
        }
        self.held.withLock { held in self.refreshConnected(dependencies, head: head, held: &held) }
    }

    /// The gauges read through the scrape's held connections.
    private func refreshConnected(_ dependencies: GatewayDependencies, head: UInt64, held: inout HeldConnections) {
        let countsSQL =
            "SELECT count(*) FILTER (WHERE state = 'active'), current_setting('max_connections')::int - count(*), current_setting('max_connections') FROM pg_stat_activity"
        if let url = dependencies.boundedDatabaseURL {
            let counts = HeldConnections.reusing(
                &held.postgres,
                { try? PostgresConnection(url: url) },
                { try? $0.query(countsSQL) }
            )
            if let rows = counts?.rows.first {
                self.registry.makeGauge(
                    descriptor: Self.descriptor(
                        "postgres_connections_active",
                        "Active PostgreSQL connections (pg_stat_activity)."
                    )
                ).set(Double(rows[0] ?? "0") ?? 0)
                self.registry.makeGauge(
                    descriptor: Self.descriptor(
                        "postgres_connections_available",
                        "PostgreSQL connections left before max_connections."
                    )
                ).set(Double(rows[1] ?? "0") ?? 0)
                self.registry.makeGauge(
                    descriptor: Self.descriptor(
                        "postgres_connections_max",
                        "PostgreSQL max_connections (DatabaseConnectionsHigh: active above 80 % of it)."
                    )
                ).set(Double(rows[2] ?? "0") ?? 0)
            }
            // A follower's own read models are in a database of their own.
            let statuses =
                dependencies.readModelsURL == nil
                ? held.postgres.flatMap { try? ProjectionStatus.read($0, head: head) }
                : dependencies.boundedReadModelsURL.flatMap { url in
                    HeldConnections.reusing(
                        &held.readModels,
                        { try? PostgresConnection(url: url) },
                        { try? ProjectionStatus.read($0, head: head) }
                    )
                }
            if let statuses {
                for status in statuses {
                    self.registry.makeGauge(
                        descriptor: Self.descriptor(
                            "stockboom_projection_lag_events",
                            "Events a read model is behind the log head."
                        ),
                        labels: [("projection", status.name)]
                    ).set(Double(status.lag))
                    // 1 while the projection cannot apply the event at its checkpoint (alert: ProjectionFailing).
                    self.registry.makeGauge(
                        descriptor: Self.descriptor(
                            "stockboom_projection_failing",
                            "1 while a read model cannot apply the event at its checkpoint."
                        ),
                        labels: [("projection", status.name)]
                    ).set(status.failure == nil ? 0.0 : 1.0)
                }
            }
        }
        if let endpoint = dependencies.redis,
            let info = HeldConnections.reusing(
                &held.redis,
                { try? RedisConnection(endpoint: endpoint, timeoutSeconds: 2) },
                { try? $0.command(["INFO", "clients"]) }
            ), let redis = held.redis
        {
            if case .string(let bytes) = info {
                let text = String(decoding: bytes, as: UTF8.self)
                if let line = text.split(whereSeparator: \.isNewline).first(where: {
                    $0.hasPrefix("connected_clients:")
                }), let value = Double(line.dropFirst("connected_clients:".count)) {
                    self.registry.makeGauge(
                        descriptor: Self.descriptor("redis_connected_clients", "Clients connected to Redis.")
                    ).set(value)
                }
            }
            for queue in Self.queues {
                var waiting = 0.0
                for state in ["wait", "active", "failed"] {
                    guard case .integer(let length) = (try? redis.command(["LLEN", "bull:\(queue):\(state)"])) ?? .null
                    else { continue }
                    self.registry.makeGauge(
                        descriptor: Self.descriptor(
                            "bullmq_queue_size",
                            "Jobs in a queue state (bull:<queue>:<state>)."
                        ),
                        labels: [("queue", queue), ("state", state)]
                    ).set(Double(length))
                    if state == "wait" { waiting = Double(length) }
                }
                self.registry.makeGauge(
                    descriptor: Self.descriptor("bullmq_queue_waiting_count", "Jobs waiting in a queue."),
                    labels: [("queue", queue)]
                ).set(waiting)
            }
        }
    }
}

/// Records every request's duration by method, route and status.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: GatewayMetrics

    public init(metrics: GatewayMetrics) { self.metrics = metrics }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            self.metrics.recordRequest(
                method: request.method.rawValue,
                route: context.endpointPath ?? "unmatched",
                status: response.status.code,
                duration: ContinuousClock.now - started
            )
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            self.metrics.recordRequest(
                method: request.method.rawValue,
                route: context.endpointPath ?? "unmatched",
                status: status,
                duration: ContinuousClock.now - started
            )
            throw error
        }
    }
}
