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
    /// `sync`: how many commits may travel to the stream at once. The writer goes on with the next group while
    /// earlier ones wait for the stream's acknowledgement; appenders are answered in order.
    public var commitsInFlight = 4
    /// Keep every publish's round trip for `takePublishTimes` (the benchmarks); off in service.
    public var recordPublishTimes = false

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
/// `sync`: up to `commitsInFlight` commits travel at once (`js_PublishMsgAsync`, each expecting the sequence
/// the one before it will get); a commit is visible and answered once the stream acknowledged it. When an answer
/// is not the one expected (a timeout, a leader election, a duplicate), the replicator stops sending, lets the
/// publishes already sent answer, and re-publishes the unacknowledged commits one at a time under the same
/// message ids — the stream deduplicates the ones it had stored — retrying for up to `quorumWaitMillis`; then
/// it goes back to several in flight. `async`: the commit is queued and a thread of its own publishes it
/// (bounded queue: a writer far ahead waits).
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
        // sync
        /// Commits sent and not yet acknowledged, in order; `backlog`: handed over while recovering.
        var inFlight: [Pending] = []
        var backlog: [Pending] = []
        /// The last sequence the next publish expects (the stream's, plus one per commit in flight).
        var expectedNext: UInt64 = 0
        /// Publishes sent whose answer has not come.
        var unanswered = 0
        var recovering = false
        var recoveries: UInt64 = 0
    }

    private struct Pending {
        let write: ReplicatedWrite
        let body: [UInt8]
        let done: @Sendable (LedgerError?) -> Void
        var sentAt = ContinuousClock.now
    }

    public let settings: ReplicationSettings
    private let client: NATSClient
    private let state: Mutex<State>
    private let condition = NSCondition()
    private let onLost: @Sendable (String) -> Void
    private let publishNanos = Mutex<[UInt64]>([])
    private let publisher = Mutex<NATSClient.AsyncPublisher?>(nil)
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
        var state = State(lastSequence: lastSequence, replicatedOffset: offset, committedOffset: offset)
        state.expectedNext = lastSequence
        self.state = Mutex(state)
        switch settings.mode {
        case .async:
            let thread = Thread { [self] in self.publishQueued() }
            thread.name = "stockboom-replicator"
            thread.start()
        case .sync:
            // Without an async publisher (it could not be created) every commit takes the one-at-a-time path.
            let publisher = try? client.asyncPublisher(maxPending: max(64, settings.commitsInFlight * 2)) {
                [weak self] id, result in self?.answered(id, result)
            }
            self.publisher.withLock { $0 = publisher }
        }
    }

    public var writesInFlightMax: Int { self.settings.mode == .sync ? max(1, self.settings.commitsInFlight) : 1 }

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
        /// `sync`: commits sent and not yet acknowledged; times the pipeline fell back to one at a time.
        public var inFlight: Int
        public var recoveries: UInt64
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
                published: state.published,
                inFlight: state.inFlight.count + state.backlog.count,
                recoveries: state.recoveries
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

    private func record(_ nanos: UInt64) {
        guard self.settings.recordPublishTimes else { return }
        self.publishNanos.withLock { times in if times.count < 1 << 20 { times.append(nanos) } }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    public func replicate(_ write: ReplicatedWrite, done: @escaping @Sendable (LedgerError?) -> Void) {
        switch self.settings.mode {
        case .sync:
            self.send(Pending(write: write, body: write.encoded(), done: done))
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
            done(refusal)
        }
    }

    // MARK: sync

    /// Sends a commit expecting the sequence the commit before it will get; while recovering, queues it.
    private func send(_ pending: Pending) {
        enum Next {
            case refused(LedgerError)
            case queued
            case publish(expected: UInt64)
        }
        let publisher = self.publisher.withLock { $0 }
        let next = self.state.withLock { state -> Next in
            if let refusal = state.refusal { return .refused(refusal) }
            state.committedOffset = pending.write.nextOffset
            if state.recovering || publisher == nil {
                state.backlog.append(pending)
                if !state.recovering {
                    state.recovering = true
                    state.recoveries += 1
                    return .publish(expected: .max)  // start the one-at-a-time path
                }
                return .queued
            }
            let expected = state.expectedNext
            state.expectedNext += 1
            state.inFlight.append(pending)
            state.unanswered += 1
            return .publish(expected: expected)
        }
        switch next {
        case .refused(let refusal):
            pending.done(refusal)
        case .queued:
            return
        case .publish(let expected):
            guard let publisher, expected != .max else { return self.startRecovery() }
            do {
                try publisher.publish(
                    subject: self.settings.subject,
                    body: pending.body,
                    messageID: String(pending.write.firstOffset),
                    expectedLastSequence: expected
                )
            } catch {
                // Not sent (disconnected, too many pending): no answer will come for it.
                let recover = self.state.withLock { state -> Bool in
                    state.unanswered -= 1
                    return self.beginRecovery(&state)
                }
                if recover { self.startRecovery() }
            }
        }
    }

    /// An answer to a publish sent by `send` (the client's thread).
    private func answered(_ messageID: String, _ result: Result<(sequence: UInt64, duplicate: Bool), NATSError>) {
        var recover = false
        let acknowledged = self.state.withLock { state -> Pending? in
            state.unanswered -= 1
            guard !state.recovering, state.refusal == nil else { return nil }
            // Only the acknowledgement of the oldest commit in flight, stored now right after the last one, counts
            // as such; anything else (a timeout, a refusal, a duplicate) goes the careful way.
            guard let head = state.inFlight.first, messageID == String(head.write.firstOffset),
                case .success(let answer) = result, !answer.duplicate, answer.sequence == state.lastSequence + 1
            else {
                recover = self.beginRecovery(&state)
                return nil
            }
            state.inFlight.removeFirst()
            state.lastSequence = answer.sequence
            state.replicatedOffset = head.write.nextOffset
            state.published += 1
            return head
        }
        if let acknowledged {
            let nanos = UInt64(Self.seconds(ContinuousClock.now - acknowledged.sentAt) * 1e9)
            self.record(nanos)
            acknowledged.done(nil)
        }
        if recover { self.startRecovery() }
    }

    private func beginRecovery(_ state: inout State) -> Bool {
        guard !state.recovering, state.refusal == nil else { return false }
        state.recovering = true
        state.recoveries += 1
        return true
    }

    private func startRecovery() {
        let thread = Thread { [self] in self.recover() }
        thread.name = "stockboom-replicator-recovery"
        thread.start()
    }

    /// Lets the publishes already sent answer (each within the client's wait), then re-publishes every commit not
    /// acknowledged, in order, one at a time (`publish`: same message id, deduplicated if the stream stored it),
    /// and goes back to several in flight once none is left — or refuses them all.
    private func recover() {
        let settled = ContinuousClock.now + .milliseconds(self.client.waitMillis + 1_000)
        while self.state.withLock({ $0.unanswered > 0 && !$0.stopping }) && ContinuousClock.now < settled {
            Thread.sleep(forTimeInterval: 0.001)
        }
        while true {
            let next = self.state.withLock { state -> (Pending, UInt64)? in
                if state.inFlight.isEmpty, !state.backlog.isEmpty { state.inFlight.append(state.backlog.removeFirst()) }
                guard let head = state.inFlight.first else {
                    state.recovering = false
                    state.expectedNext = state.lastSequence
                    return nil
                }
                return (head, state.lastSequence)
            }
            guard let (pending, expected) = next else { return }
            switch self.publish(
                pending.write,
                body: pending.body,
                expecting: expected,
                deadlineMillis: self.settings.quorumWaitMillis
            ) {
            case .success(let sequence):
                self.state.withLock { state in
                    state.inFlight.removeFirst()
                    state.lastSequence = sequence
                    state.replicatedOffset = pending.write.nextOffset
                    state.published += 1
                }
                pending.done(nil)
            case .failure(let refusal):
                _ = self.refuse(refusal)
                return
            }
        }
    }

    /// Stops the async publisher (queued commits stay unpublished: the next primary does not have them, and this
    /// node reports them when it rejoins).
    public func stop() {
        self.condition.lock()
        self.state.withLock { $0.stopping = true }
        self.condition.broadcast()
        self.condition.unlock()
        if self.settings.mode == .sync {
            _ = self.refuse(LedgerError(code: .unavailable, message: "replication stopped: this node is stepping down"))
            self.publisher.withLock { $0 }?.close()
        }
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
        let (first, pending) = self.state.withLock { state -> (Bool, [Pending]) in
            defer { if state.refusal == nil { state.refusal = refusal } }
            let pending = state.inFlight + state.backlog
            state.inFlight.removeAll()
            state.backlog.removeAll()
            return (state.refusal == nil, pending)
        }
        // The loss is reported before the commits waiting on it are answered: whoever hears a refusal finds the
        // node's loss already known (a test read it between the two once).
        if first {
            self.condition.lock()
            self.condition.broadcast()
            self.condition.unlock()
            self.onLost(refusal.message)
        }
        for commit in pending { commit.done(refusal) }
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
    private func publish(
        _ write: ReplicatedWrite,
        body: [UInt8]? = nil,
        expecting expected: UInt64,
        deadlineMillis: Int64
    ) -> Result<UInt64, LedgerError> {
        let body = body ?? write.encoded()
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
                self.record(nanos)
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
