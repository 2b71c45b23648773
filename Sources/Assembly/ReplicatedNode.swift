public import Engine
import Foundation
public import Gateway
import Jobs
import Ledger
public import Logging
public import Replication
import Runtime
import Storage
import Synchronization
import UnixSignals

/// One node of a replicated installation: a follower that copies the stream into its log and serves reads, and
/// that becomes the primary when it holds the leadership lease.
///
/// Every node starts as a follower. A follower locates its log against the stream (cutting back a suffix the
/// stream does not hold: an `async` primary's last commits, reported by offset and event type), copies every
/// stored commit byte for byte, keeps its engine state and (with a database) its projections current, serves the
/// read API, and answers writes with 503 naming the primary. When nobody holds the lease it takes it, drains the
/// stream to its end, publishes a promotion record (the fence: a deposed primary's next publish is refused), and
/// starts taking writes and dispatching jobs. A primary renews the lease every third of its time; when it loses
/// the lease or its stream (fenced, or quorum lost in `sync` mode) it refuses writes at once and rejoins as a
/// follower.
public final class ReplicatedNode: Sendable {
    public let settings: ReplicationSettings
    public let directory: String
    private let serveOptions: ServeOptions
    private let engine: Engine
    private let logger: Logger
    private let state: Mutex<NodeState>
    private let stopping = Mutex(false)
    /// Set by the replicator or the lease keeper when a primary must step down.
    private let lost = Mutex<String?>(nil)

    private struct NodeState {
        var report: ReplicationReport
        var log: EventLog?
        var replicator: StreamReplicator?
        var streamOffset: UInt64 = 0
        var behindSince: ContinuousClock.Instant?
        var baseURL: String?
    }

    public init(settings: ReplicationSettings, directory: String, serve: ServeOptions, engine: Engine, logger: Logger) {
        self.settings = settings
        self.directory = directory
        var options = serve
        options.stopOnSignals = false
        // One feed (one Redis subscription on a thread of its own) for every serve side this node starts.
        if options.liveFeed == nil { options.liveFeed = options.redis.map { LiveEventFeed(endpoint: $0) } }
        self.serveOptions = options
        self.engine = engine
        self.logger = logger
        self.state = Mutex(
            NodeState(
                report: ReplicationReport(
                    mode: settings.mode.rawValue,
                    role: "starting",
                    node: settings.node,
                    headOffset: 0,
                    headHash: ""
                )
            )
        )
    }

    /// The node's replication as `/health` shows it.
    public var report: ReplicationReport {
        self.state.withLock { state in
            var report = state.report
            if let log = state.log {
                let head = log.head
                report.headOffset = head.nextOffset
                report.headHash = head.hash
                if report.role == "follower" {
                    report.lagEvents = state.streamOffset > head.nextOffset ? state.streamOffset - head.nextOffset : 0
                    report.lagSeconds = state.behindSince.map { Self.seconds(ContinuousClock.now - $0) } ?? 0
                }
            }
            if let status = state.replicator?.status {
                report.lagEvents = status.committedOffset - status.replicatedOffset
                report.lagSeconds = status.lagSeconds
                report.streamLastSequence = status.lastSequence
                report.refusal = status.refusal ?? report.refusal
            }
            return report
        }
    }

    /// The API's URL while serving (it changes only with the port).
    public var baseURL: String? { self.state.withLock { $0.baseURL } }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func update(_ body: (inout ReplicationReport) -> Void) { self.state.withLock { body(&$0.report) } }

    /// Stops the node: a primary refuses writes, finishes what is in flight, lets the lease go and closes.
    public func stop() { self.stopping.withLock { $0 = true } }
    private var isStopping: Bool { self.stopping.withLock { $0 } }

    /// Runs until `stop()` or SIGTERM/SIGINT.
    public func run() async throws {
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                self.logger.info("stopping on a signal")
                self.stop()
                return
            }
        }
        defer { signals.cancel() }
        let client = try await self.connect()
        defer { client.close() }
        let lease = try await self.retrying("opening the lease bucket") {
            try LeaderLease(client: client, settings: self.settings)
        }
        var truncateTo: UInt64?
        while !self.isStopping {
            if let offset = truncateTo {
                try self.cut(to: offset)
                truncateTo = nil
            }
            let log = try EventLog(directory: self.directory)
            let runtime = try EngineRuntime(log: log, engine: self.engine)
            self.state.withLock { $0.log = log }
            self.update { $0.role = "follower" }
            runtime.refuseCommands(self.followerRefusal(primary: nil))
            var serve = try await self.startServe(log: log, runtime: runtime, primary: false)
            let outcome = try await self.follow(log: log, runtime: runtime, client: client, lease: lease)
            await serve.stop()
            switch outcome {
            case .stop:
                await runtime.close()
                log.close()
                return
            case .truncate(let offset):
                await runtime.close()
                log.close()
                truncateTo = offset
                continue
            case .promote(let lastSequence, let revision):
                self.lost.withLock { $0 = nil }
                let replicator = StreamReplicator(
                    client: client,
                    settings: self.settings,
                    lastSequence: lastSequence,
                    offset: log.nextOffset
                ) { reason in
                    self.lost.withLock { $0 = $0 ?? reason }
                }
                log.replicate(to: replicator)
                self.state.withLock { $0.replicator = replicator }
                var promoted = false
                do {
                    // The fence: the first commit of this term extends the stream past what a deposed primary expects.
                    _ = try await log.append(self.promotionRecord(revision: revision, offset: log.nextOffset))
                    try runtime.catchUp()
                    promoted = true
                } catch {
                    self.logger.error("promotion failed", metadata: ["error": "\(error)"])
                }
                var reason = "the promotion record was refused"
                if promoted {
                    runtime.refuseCommands(nil)
                    self.update {
                        $0.role = "primary"
                        $0.primary = self.settings.advertiseURL
                        $0.leaseHeld = true
                        $0.refusal = nil
                    }
                    serve = try await self.startServe(log: log, runtime: runtime, primary: true)
                    self.logger.notice(
                        "promoted to primary",
                        metadata: [
                            "offset": "\(log.nextOffset)", "sequence": "\(lastSequence)", "lease": "\(revision)",
                        ]
                    )
                    reason = await self.lead(lease: lease, revision: revision, client: client)
                    // Writes stop first; then what is in flight finishes (refused by the replicator if fenced).
                    runtime.refuseCommands(
                        LedgerError(code: .unavailable, message: "this node stepped down as primary: \(reason)")
                    )
                    await serve.stop()
                }
                replicator.stop()
                log.replicate(to: nil)
                self.state.withLock { $0.replicator = nil }
                self.update {
                    $0.role = "follower"
                    $0.leaseHeld = false
                    $0.refusal = reason
                }
                if self.isStopping {
                    lease.release(revision)
                    await runtime.close()
                    log.close()
                    return
                }
                self.logger.warning("stepped down as primary", metadata: ["reason": .string(reason)])
                await runtime.close()
                log.close()
            }
        }
    }

    private func connect() async throws -> NATSClient {
        let client = try NATSClient(servers: self.settings.servers, name: "stockboom-\(self.settings.node)")
        try await self.retrying("creating the stream") { try client.ensureStream(self.settings.streamSettings) }
        return client
    }

    /// Retries a blocking NATS call every second until it succeeds or the node stops.
    private func retrying<T: Sendable>(_ what: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        var warned = false
        while true {
            do {
                return try await blocking { try body() }
            } catch {
                if self.isStopping { throw error }
                if !warned {
                    self.logger.warning("replication: \(what) failed; retrying", metadata: ["error": "\(error)"])
                    warned = true
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func startServe(log: EventLog, runtime: EngineRuntime, primary: Bool) async throws -> ServeSide {
        var options = self.serveOptions
        if primary {
            // The primary projects into the database every node shares (the next primary resumes from there).
            options.readModelsURL = nil
        } else {
            options.dispatcher = .off
            // A follower projects only into read models of its own.
            options.projections = options.readModelsURL != nil
        }
        options.replication = { [self] in self.report }
        let serve = try await ServeSide.start(log: log, runtime: runtime, options: options)
        self.state.withLock { $0.baseURL = serve.baseURL }
        return serve
    }

    private func followerRefusal(primary: String?) -> LedgerError {
        LedgerError(
            code: .unavailable,
            message: primary.map { "this node is a follower; send writes to the primary at \($0)" }
                ?? "this node is a follower and no primary holds the lease right now; retry shortly"
        )
    }

    private func promotionRecord(revision: UInt64, offset: UInt64) -> [UInt8] {
        var text = #"{"replication":"promoted","node":"#
        JSONObjectWriter.appendQuoted(self.settings.node, to: &text)
        text += #","lease":\#(revision),"offset":\#(offset),"at":\#(wallClockMicros())}"#
        return Array(text.utf8)
    }

    /// Cuts the log back to what the stream holds, reporting every record cut (offset and event type).
    private func cut(to offset: UInt64) throws {
        let removed = try EventLog.truncate(directory: self.directory, toOffset: offset)
        for record in removed {
            let kind: String
            if let envelope = try? EventCodec.decode(record.payload, offset: record.offset, timestamp: record.timestamp)
            {
                kind = envelope.event.typeName
            } else {
                kind = "non-engine record"
            }
            self.logger.error(
                "replication: cut a commit the stream does not hold (acknowledged by this node as an async primary)",
                metadata: ["offset": "\(record.offset)", "type": .string(kind)]
            )
        }
        self.logger.error(
            "replication: the log was cut back to the stream",
            metadata: ["offset": "\(offset)", "records": "\(removed.count)"]
        )
    }

    private enum FollowOutcome {
        case stop
        case truncate(UInt64)
        case promote(lastSequence: UInt64, revision: UInt64)
    }

    /// Copies the stream into the log until this node is promoted, must cut its log, or stops.
    private func follow(log: EventLog, runtime: EngineRuntime, client: NATSClient, lease: LeaderLease) async throws
        -> FollowOutcome
    {
        let follower = StreamFollower(client: client, settings: self.settings)
        let wake = try? client.subscribe(subject: self.settings.subject)
        var next: UInt64?
        var lastLook = ContinuousClock.now - .seconds(60)
        var lastError: String?
        while !self.isStopping {
            do {
                if next == nil {
                    switch try await blocking({ try follower.locate(log) }) {
                    case .follow(let sequence): next = sequence
                    case .truncate(let offset, _): return .truncate(offset)
                    case .cannotJoin(let reason): throw AssemblyError("replication: \(reason)")
                    }
                }
                var sequence = try await self.copy(from: next!, follower: follower, log: log, runtime: runtime)
                next = sequence
                if lastError != nil {
                    self.logger.info("replication: following the stream again")
                    lastError = nil
                }
                self.state.withLock { state in
                    state.report.refusal = state.report.role == "follower" ? state.report.refusal : nil
                    if log.nextOffset >= state.streamOffset { state.behindSince = nil }
                }
                // The lease, the stream's state, and promotion.
                if ContinuousClock.now - lastLook >= .milliseconds(self.settings.leaseMillis / 4) {
                    lastLook = .now
                    let (holder, stream, end) = try await blocking {
                        let stream = try client.streamState(self.settings.stream)
                        // The stream's end offset, for the follower's lag (its last commit's next offset).
                        let last = stream.lastSequence > 0 ? try follower.write(at: stream.lastSequence) : nil
                        return (try lease.current(), stream, last?.nextOffset)
                    }
                    self.observe(stream, log: log)
                    if let end {
                        self.state.withLock { state in
                            state.streamOffset = end
                            if end > log.nextOffset {
                                state.behindSince = state.behindSince ?? .now
                            } else {
                                state.behindSince = nil
                            }
                        }
                    }
                    if let holder, holder.holder?.node != self.settings.node {
                        let url = holder.holder?.url
                        self.update { $0.primary = url }
                        runtime.refuseCommands(self.followerRefusal(primary: url))
                    } else if stream.lastSequence == sequence - 1 || stream.lastSequence == 0 {
                        // Caught up with the stream and nobody else holds the lease: take it (or keep ours).
                        let revision: UInt64?
                        if let holder {
                            revision = try await blocking { try lease.renew(holder.revision) }
                        } else {
                            revision = try await blocking { try lease.acquire() }
                        }
                        if let revision {
                            // Drain what was published meanwhile, then take over from the stream's end.
                            sequence = try await self.copy(
                                from: sequence,
                                follower: follower,
                                log: log,
                                runtime: runtime
                            )
                            return .promote(lastSequence: sequence - 1, revision: revision)
                        }
                    }
                }
            } catch {
                let text = "\(error)"
                if lastError != text {
                    self.logger.warning("replication: following failed; retrying", metadata: ["error": .string(text)])
                    lastError = text
                }
                self.update { $0.quorum = false }
                next = nil  // locate again: the stream may have moved under a new primary
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            let wait = max(20, self.settings.leaseMillis / 4)
            if let wake {
                _ = try? await blocking { wake.wait(timeoutMillis: wait) }
            } else {
                try? await Task.sleep(for: .milliseconds(wait))
            }
        }
        return .stop
    }

    /// Copies every stored commit from `sequence` on; returns the next sequence to copy.
    private func copy(from sequence: UInt64, follower: StreamFollower, log: EventLog, runtime: EngineRuntime)
        async throws
        -> UInt64
    {
        var next = sequence
        while true {
            let at = next
            guard let write = try await blocking({ try follower.write(at: at) }) else { return next }
            if let refused = await Self.apply(write, to: log) {
                throw AssemblyError("stream message \(at) does not continue this log: \(refused.message)")
            }
            next += 1
            try runtime.catchUp()
        }
    }

    private static func apply(_ write: ReplicatedWrite, to log: EventLog) async -> LedgerError? {
        do {
            try await log.applyReplicated(write)
            return nil
        } catch {
            return error
        }
    }

    private func observe(_ stream: StreamState, log: EventLog) {
        let quorum = stream.healthyPeers * 2 > self.settings.replicas
        self.state.withLock { state in
            state.report.streamLastSequence = stream.lastSequence
            state.report.streamPeers = stream.healthyPeers
            state.report.quorum = quorum
        }
    }

    /// Keeps the lease while this node is primary; returns why it must step down.
    private func lead(lease: LeaderLease, revision first: UInt64, client: NATSClient) async -> String {
        var revision = first
        var renewed = ContinuousClock.now
        let interval = Duration.milliseconds(max(50, self.settings.leaseMillis / 3))
        while true {
            if self.isStopping { return "the node is stopping" }
            if let reason = self.lost.withLock({ $0 }) { return reason }
            let slept = ContinuousClock.now
            while ContinuousClock.now - slept < interval {
                if self.isStopping || self.lost.withLock({ $0 }) != nil { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
            if self.isStopping || self.lost.withLock({ $0 }) != nil { continue }
            do {
                let current = revision
                guard let next = try await blocking({ try lease.renew(current) }) else {
                    return "another node holds the lease now"
                }
                revision = next
                renewed = .now
                if let stream = try? await blocking({ try client.streamState(self.settings.stream) }) {
                    self.observe(stream, log: self.state.withLock { $0.log! })
                }
            } catch {
                if ContinuousClock.now - renewed > .milliseconds(self.settings.leaseMillis) {
                    return "the lease could not be renewed for \(self.settings.leaseMillis) ms: \(error)"
                }
            }
        }
    }
}
