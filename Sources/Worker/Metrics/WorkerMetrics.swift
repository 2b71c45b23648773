public import Jobs
public import Prometheus
import Telemetry

/// What became of one turn of a job.
public enum JobOutcome: String, Sendable, CaseIterable {
    /// Finished: the job moved to `completed`.
    case completed
    /// Waiting on the outside world (an order resting at the broker): looked at again later, not an attempt.
    case postponed
    /// An attempt failed; the job waits in `delayed` for its next one.
    case retried
    /// Its last attempt failed (or the failure cannot be mended): the job is in `failed`.
    case failed
}

/// Told about every KIS call a client makes (`KISClient.observer`).
public protocol KISObserver: Sendable {
    /// One HTTP exchange: its path (no query), the HTTP status (nil: no answer) and how long it took.
    func kisRequest(path: String, status: Int?, duration: Duration)
    /// A KIS error answer (`msg_cd`; empty for a transport failure).
    func kisError(code: String)
}

/// The worker's metrics (`GET /metrics` on its own port, `stockboom worker --http-port`): jobs by queue and
/// outcome with their durations, KIS calls by path with their HTTP status and the KIS error codes, SMTP
/// failures, consumers that stopped turning, and the process's CPU and memory under the operator guide's names.
///
/// Label values that come from outside are checked: a KIS error code that is not a short run of capitals,
/// digits and underscores counts as `other`, and a path outside `/uapi/…` or `/oauth2/…` as `other`, so a
/// hostile answer cannot grow the number of series.
public final class WorkerMetrics: Sendable, KISObserver {
    public let registry = PrometheusCollectorRegistry()
    private let usage = ProcessUsage()
    static let jobBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .seconds(1), .seconds(2.5),
        .seconds(5), .seconds(15), .seconds(60),
    ]
    static let kisBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
    ]

    public init() {
        // Every series an alert or a panel reads exists from the start at 0: a rate() over a series that appears
        // with its first increment misses that increment.
        for queue in QueueName.allCases {
            for outcome in JobOutcome.allCases { _ = self.jobs(queue, outcome) }
        }
        for kind in ["temporary", "permanent"] { _ = self.smtpFailures(kind) }
        // The KIS series exist before the first call (an account's first token request is its first call).
        _ = self.kisDuration("/oauth2/tokenP")
        _ = self.kisErrors("transport")
        self.setStalledConsumers(0)
    }

    /// The exposition text of every metric (what `/metrics` answers).
    public func emit() -> [UInt8] { self.registry.emitToBuffer() }

    /// One turn of a job.
    public func job(_ queue: QueueName, _ outcome: JobOutcome, duration: Duration) {
        self.jobs(queue, outcome).increment()
        self.registry.makeDurationHistogram(
            descriptor: .named("stockboom_worker_job_duration_seconds", "How long a job's turn took, by queue."),
            labels: [("queue", queue.rawValue)],
            buckets: Self.jobBuckets
        ).record(duration)
    }

    public func kisRequest(path: String, status: Int?, duration: Duration) {
        let path = Self.knownPath(path)
        self.kisDuration(path).record(duration)
        self.registry.makeCounter(
            descriptor: .named("kis_requests_total", "KIS REST calls by path and HTTP status (none: no answer)."),
            labels: [
                ("path", path), ("status", status.map { (100...599).contains($0) ? String($0) : "other" } ?? "none"),
            ]
        ).increment()
    }

    public func kisError(code: String) {
        self.kisErrors(Self.knownCode(code)).increment()
    }

    /// An e-mail the SMTP server refused for good (5xx) or for now (4xx, or no connection).
    public func smtpFailure(permanent: Bool) {
        self.smtpFailures(permanent ? "permanent" : "temporary").increment()
    }

    /// Refreshed at each scrape: the process's CPU and memory, and how many consumers stopped turning.
    public func refresh(stalledConsumers: Int) {
        self.registry.recordProcessUsage(self.usage)
        self.setStalledConsumers(stalledConsumers)
    }

    private func setStalledConsumers(_ count: Int) {
        self.registry.makeGauge(
            descriptor: .named(
                "stockboom_worker_stalled_consumers",
                "Consumer threads whose current turn is older than the stall limit (a hung worker)."
            )
        ).set(Int64(count))
    }

    private func jobs(_ queue: QueueName, _ outcome: JobOutcome) -> Counter {
        self.registry.makeCounter(
            descriptor: .named("stockboom_worker_jobs_total", "Job turns by queue and outcome."),
            labels: [("queue", queue.rawValue), ("outcome", outcome.rawValue)]
        )
    }

    private func kisDuration(_ path: String) -> DurationHistogram {
        self.registry.makeDurationHistogram(
            descriptor: .named("kis_request_duration_seconds", "KIS REST calls by path: how long each took."),
            labels: [("path", path)],
            buckets: Self.kisBuckets
        )
    }

    private func kisErrors(_ code: String) -> Counter {
        self.registry.makeCounter(
            descriptor: .named("kis_errors_total", "KIS error answers by msg_cd (transport: no KIS answer)."),
            labels: [("code", code)]
        )
    }

    private func smtpFailures(_ kind: String) -> Counter {
        self.registry.makeCounter(
            descriptor: .named("smtp_failures_total", "E-mails not delivered, by kind (temporary, permanent)."),
            labels: [("kind", kind)]
        )
    }

    static func knownCode(_ code: String) -> String {
        if code.isEmpty { return "transport" }
        let allowed =
            code.utf8.count <= 16
            && code.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || $0 == 0x5F }
        return allowed ? code : "other"
    }

    static func knownPath(_ path: String) -> String {
        let allowed =
            path.utf8.count <= 80 && (path.hasPrefix("/uapi/") || path.hasPrefix("/oauth2/"))
            && path.utf8.allSatisfy {
                (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2F
                    || $0 == 0x2D || $0 == 0x5F
            }
        return allowed ? path : "other"
    }
}
