import Foundation
public import Ledger
import Synchronization

/// How a primary acknowledges appends.
public enum ReplicationMode: String, Sendable, CaseIterable {
    /// After the local fdatasync and the stream's quorum: nothing acknowledged is lost with any one host.
    case sync
    /// After the local fdatasync; frames follow to the stream in the background (the lag is measured).
    case async
}

/// Where the replicated log lives in NATS and how long a primary waits for it.
public struct ReplicationSettings: Sendable {
    /// `nats://host:port` of the cluster's servers (any one is enough to connect).
    public var servers: [String]
    public var mode: ReplicationMode
    /// This node's name (unique in the cluster) and the URL clients reach its API at (named to them as the
    /// primary).
    public var node: String
    public var advertiseURL: String
    public var stream = "STOCKBOOM_LOG"
    public var subject = "stockboom.log"
    public var replicas = 3
    /// Stream retention: the logs and backups keep the full history; the stream only what followers may need.
    public var maxBytes: Int64 = 1 << 30
    public var maxAgeSeconds: Int64 = 7 * 86_400
    public var bucket = "STOCKBOOM_LEADER"
    public var leaseKey = "primary"
    /// The lease expires this long after the primary's last renewal; it renews every third of it.
    public var leaseMillis: Int64 = 2_000
    /// How long a `sync` append waits for the stream's quorum (retrying through a leader election) before it is
    /// refused. nats-server 2.9 elects a new stream leader 4–8 s after losing one (measured 4.0 to 8.0 s here), so
    /// 15 s rides out an election on a loaded machine; a quorum that is really gone is reported after it.
    public var quorumWaitMillis: Int64 = 15_000

    public init(servers: [String], mode: ReplicationMode, node: String, advertiseURL: String) {
        self.servers = servers
        self.mode = mode
        self.node = node
        self.advertiseURL = advertiseURL
    }

    public var streamSettings: StreamSettings {
        StreamSettings(
            name: self.stream,
            subject: self.subject,
            replicas: self.replicas,
            maxBytes: self.maxBytes,
            maxAgeSeconds: self.maxAgeSeconds
        )
    }
}

/// A primary's replication sink: publishes every group commit to the stream, in order, one message per commit
/// (message id = its first offset; expected last sequence = the previous commit's), so that only the current
/// primary can extend the stream.
///
/// `sync`: the writer thread waits for the stream's acknowledgement before the commit is visible or answered,
/// retrying through a leader election for up to `quorumWaitMillis`. `async`: the commit is queued and a thread of
/// its own publishes it (bounded queue: a writer far ahead waits).
///
/// When the stream refuses a commit for good — another primary extended it (fenced) or, in `sync`, its quorum
/// is gone — the replicator refuses every later commit and calls `onLost` once: the node stops being primary.
public final class StreamReplicator: ReplicationSink, Sendable {
    private struct State {
        var lastSequence: UInt64
        /// The offset after the last commit the stream acknowledged.
        var replicatedOffset: UInt64
        /// The offset after the last commit handed over.
        var committedOffset: UInt64
        var refusal: LedgerError?
        var queue: [ReplicatedWrite] = []
        var queuedBytes = 0
        var stopping = false
        var published: UInt64 = 0
        /// When the oldest queued commit was handed over (async lag in time).
        var oldestQueuedAt: ContinuousClock.Instant?
    }

    public let settings: ReplicationSettings
    private let client: NATSClient
    private let state: Mutex<State>
    private let condition = NSCondition()
    private let onLost: @Sendable (String) -> Void
    private let publishNanos = Mutex<[UInt64]>([])
    static let queueBytesMax = 64 << 20

    /// - Parameters:
    ///   - lastSequence: the stream's last sequence when this node became primary (it holds the log's end).
    ///   - offset: the log's next offset at that moment.
    public init(
        client: NATSClient,
        settings: ReplicationSettings,
        lastSequence: UInt64,
        offset: UInt64,
        onLost: @escaping @Sendable (String) -> Void
    ) {
        self.client = client
        self.settings = settings
        self.onLost = onLost
        self.state = Mutex(State(lastSequence: lastSequence, replicatedOffset: offset, committedOffset: offset))
        if settings.mode == .async {
            let thread = Thread { [self] in self.publishQueued() }
            thread.name = "stockboom-replicator"
            thread.start()
        }
    }

    /// What the replicator has done, for `/health` and the metrics.
    public struct Status: Sendable {
        public var mode: ReplicationMode
        public var lastSequence: UInt64
        public var replicatedOffset: UInt64
        public var committedOffset: UInt64
        public var queuedCommits: Int
        public var lagSeconds: Double
        public var refusal: String?
        public var published: UInt64
    }

    public var status: Status {
        self.state.withLock { state in
            Status(
                mode: self.settings.mode,
                lastSequence: state.lastSequence,
                replicatedOffset: state.replicatedOffset,
                committedOffset: state.committedOffset,
                queuedCommits: state.queue.count,
                lagSeconds: state.oldestQueuedAt.map { Self.seconds(ContinuousClock.now - $0) } ?? 0,
                refusal: state.refusal?.message,
                published: state.published
            )
        }
    }

    /// Recent publish round trips (ns), for the benchmarks; drained by the call.
    public func takePublishTimes() -> [UInt64] {
        self.publishNanos.withLock { times in
            defer { times.removeAll() }
            return times
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    public func replicate(_ write: ReplicatedWrite) -> LedgerError? {
        if let refusal = self.state.withLock({ $0.refusal }) { return refusal }
        switch self.settings.mode {
        case .sync:
            let expected = self.state.withLock { $0.lastSequence }
            switch self.publish(write, expecting: expected, deadlineMillis: self.settings.quorumWaitMillis) {
            case .success(let sequence):
                self.state.withLock {
                    $0.lastSequence = sequence
                    $0.replicatedOffset = write.nextOffset
                    $0.committedOffset = write.nextOffset
                    $0.published += 1
                }
                return nil
            case .failure(let refusal):
                return self.refuse(refusal)
            }
        case .async:
            self.condition.lock()
            while self.state.withLock({ $0.queuedBytes > Self.queueBytesMax && $0.refusal == nil && !$0.stopping }) {
                self.condition.wait()
            }
            let refusal = self.state.withLock { state -> LedgerError? in
                if let refusal = state.refusal { return refusal }
                state.queue.append(write)
                state.queuedBytes += write.frames.count
                state.committedOffset = write.nextOffset
                if state.oldestQueuedAt == nil { state.oldestQueuedAt = .now }
                return nil
            }
            self.condition.broadcast()
            self.condition.unlock()
            return refusal
        }
    }

    /// Stops the async publisher (queued commits stay unpublished: the next primary does not have them, and this
    /// node reports them when it rejoins).
    public func stop() {
        self.condition.lock()
        self.state.withLock { $0.stopping = true }
        self.condition.broadcast()
        self.condition.unlock()
    }

    /// Waits until every queued commit is published (async), or `timeout` passes; true if none is left.
    public func drain(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let done = self.state.withLock { $0.queue.isEmpty || $0.refusal != nil }
            if done { return self.state.withLock { $0.queue.isEmpty } }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return false
    }

    private func refuse(_ refusal: LedgerError) -> LedgerError {
        let first = self.state.withLock { state -> Bool in
            defer { if state.refusal == nil { state.refusal = refusal } }
            return state.refusal == nil
        }
        if first {
            self.condition.lock()
            self.condition.broadcast()
            self.condition.unlock()
            self.onLost(refusal.message)
        }
        return refusal
    }

    private func publishQueued() {
        while true {
            self.condition.lock()
            while self.state.withLock({ $0.queue.isEmpty && !$0.stopping && $0.refusal == nil }) {
                self.condition.wait()
            }
            let (next, expected, stop) = self.state.withLock { state in
                (state.queue.first, state.lastSequence, state.stopping || state.refusal != nil)
            }
            self.condition.unlock()
            if stop { return }
            guard let write = next else { continue }
            // Async waits for quorum for ever: the commits are acknowledged already; a fenced stream ends it.
            switch self.publish(write, expecting: expected, deadlineMillis: .max) {
            case .success(let sequence):
                self.condition.lock()
                self.state.withLock { state in
                    state.queue.removeFirst()
                    state.queuedBytes -= write.frames.count
                    state.lastSequence = sequence
                    state.replicatedOffset = write.nextOffset
                    state.published += 1
                    state.oldestQueuedAt = state.queue.isEmpty ? nil : .now
                }
                self.condition.broadcast()
                self.condition.unlock()
            case .failure(let refusal):
                _ = self.refuse(refusal)
                return
            }
        }
    }

    /// Publishes one commit, retrying (same message id: the stream deduplicates) until it is stored, the stream
    /// refuses it for good, or the deadline passes.
    private func publish(_ write: ReplicatedWrite, expecting expected: UInt64, deadlineMillis: Int64) -> Result<
        UInt64, LedgerError
    > {
        let body = write.encoded()
        let started = ContinuousClock.now
        let deadline = deadlineMillis == .max ? nil : started + .milliseconds(deadlineMillis)
        var lastError = ""
        while true {
            if self.state.withLock({ $0.stopping }) {
                return .failure(
                    LedgerError(code: .unavailable, message: "replication stopped: this node is stepping down")
                )
            }
            let attempt = ContinuousClock.now
            do {
                let (sequence, duplicate) = try self.client.publish(
                    subject: self.settings.subject,
                    body: body,
                    messageID: String(write.firstOffset),
                    expectedLastSequence: expected,
                    waitMillis: min(2_000, deadlineMillis)
                )
                if duplicate {
                    // A retry of a publish the stream stored — or another primary's commit with the same first
                    // offset: only identical bytes count as ours.
                    let stored = try self.client.message(stream: self.settings.stream, sequence: sequence)
                    guard stored == body else {
                        return .failure(
                            self.fenced("the stream holds another primary's commit at offset \(write.firstOffset)")
                        )
                    }
                }
                let nanos = UInt64(Self.seconds(ContinuousClock.now - attempt) * 1e9)
                self.publishNanos.withLock { times in if times.count < 1 << 20 { times.append(nanos) } }
                return .success(sequence)
            } catch {
                if error.isWrongLastSequence {
                    return .failure(
                        self.fenced(
                            "the stream refused commit \(write.firstOffset): another primary extended it past sequence \(expected)"
                        )
                    )
                }
                lastError = error.description
            }
            if let deadline, ContinuousClock.now >= deadline {
                return .failure(
                    LedgerError(
                        code: .unavailable,
                        message:
                            "replication quorum lost: the stream did not store the commit within \(deadlineMillis) ms (\(lastError)); nothing of it was acknowledged"
                    )
                )
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func fenced(_ detail: String) -> LedgerError {
        LedgerError(code: .unavailable, message: "this node is no longer the primary (fenced): \(detail)")
    }
}
