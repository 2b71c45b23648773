public import Engine
import Foundation
public import Ledger
import Synchronization

/// The outcome of one command run by the runtime.
public struct Execution: Sendable {
    public var decision: Decision
    /// The offsets the decision's events got, in order (empty when it decided nothing).
    public var offsets: [UInt64]
}

/// The live engine: the deterministic core wired to the log.
///
/// Single writer: commands are queued to one task on a thread of its own, which takes up to `batchCommandsMax`
/// of them, decides each against a working copy of the state (so later commands in the batch see earlier ones),
/// appends all their events in one durable group commit, and only then publishes the new state and answers the
/// callers. If the append fails, the working copy is dropped and every command of the batch fails: no
/// caller is told yes about events that are not durable.
///
/// Recovery is the newest valid snapshot plus the log's tail; a snapshot is written every
/// `snapshotEveryEvents` events and on `close()`.
public final class EngineRuntime: Sendable {
    private struct Job: Sendable {
        let command: Command
        let context: CommandContext
        /// Hands the outcome to the caller (resumes its continuation).
        let finish: @Sendable (Result<Execution, any Error>) -> Void
    }

    private struct Shared: Sendable {
        var state: EngineState
        var nextOffset: UInt64
        var lastSnapshotEvents: UInt64
        var jobs: [Job] = []
        var closing = false
        var closed = false
    }

    public let log: EventLog
    public let engine: Engine
    public let snapshots: SnapshotStore
    public let snapshotEveryEvents: UInt64
    /// What recovery did: snapshot used, events replayed, records skipped.
    public let recovery: RecoveryReport
    private let shared: Mutex<Shared>
    /// The writer's second copy of the state (left-right): the previously published state plus the events of
    /// the batch published since. The writer mutates it in place, so a batch costs the events it applies, not a
    /// copy-on-write copy of every order and account (which grew with the day: O(orders) per batch). Nil after
    /// a failed append; the next batch then starts from a copy of the published state.
    private let spare = Mutex<Spare?>(nil)
    private struct Spare: Sendable {
        var state: EngineState
        var behind: [EventEnvelope]
    }
    private let wake: AsyncStream<Void>.Continuation
    private let consumer = Mutex<Task<Void, Never>?>(nil)
    /// The writer's thread: the consumer task runs there, so a command waits for the kernel's scheduler, not
    /// for the cooperative pool (two threads here) to be free of other work.
    private let writerThread = DedicatedExecutor(threads: 1)
    /// True while a periodic snapshot is being written on its own thread.
    private let snapshotting = Mutex(false)
    /// Serializes snapshot writes (periodic, `close`, and callers of `writeSnapshot`).
    private let snapshotWrite = Mutex(())
    /// Why commands are refused right now (a follower, a primary stepping down), or nil when they are taken.
    private let refusal = Mutex<LedgerError?>(nil)
    /// Serializes `catchUp` calls.
    private let following = Mutex(())
    static let batchCommandsMax = 512

    /// Opens the runtime on a log: loads the newest valid snapshot and replays the tail.
    public init(log: EventLog, engine: Engine, fees: FeeSchedule = FeeSchedule(), snapshotEveryEvents: UInt64 = 100_000)
        throws
    {
        precondition(!log.isReadOnly, "the runtime writes to its log")
        precondition(snapshotEveryEvents > 0)
        self.log = log
        self.engine = engine
        self.snapshots = SnapshotStore(logDirectory: log.directory)
        self.snapshotEveryEvents = snapshotEveryEvents
        let (state, report) = try Self.recover(log: log, snapshots: self.snapshots, fees: fees, toOffset: nil)
        self.recovery = report
        self.shared = Mutex(Shared(state: state, nextOffset: log.nextOffset, lastSnapshotEvents: state.eventCount))
        let (signals, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.wake = wake
        // The task holds the runtime until `close()` ends the wake-up stream.
        let task = Task(executorPreference: self.writerThread) { await self.consume(signals) }
        self.consumer.withLock { $0 = task }
    }

    /// The committed state (every event in it is durable). A copy: hold it briefly, or use `read`, since
    /// a copy held while the writer mutates costs the writer a full copy of what it shares.
    public var state: EngineState { self.shared.withLock { $0.state } }

    /// The committed state with the offset it covers (every event before `nextOffset` is in it).
    public var committed: (state: EngineState, nextOffset: UInt64) {
        self.shared.withLock { ($0.state, $0.nextOffset) }
    }

    /// Runs `body` on the committed state under the runtime's lock, without copying it. Keep `body` short.
    public func read<T: Sendable, E: Error>(_ body: (EngineState) throws(E) -> T) throws(E) -> T {
        try self.shared.withLock { shared throws(E) -> T in try body(shared.state) }
    }

    /// The offset the next event will get.
    public var nextOffset: UInt64 { self.shared.withLock { $0.nextOffset } }

    /// Runs a command: decided, made durable, applied. Throws `EngineError` for a refused command and
    /// `LedgerError` if the log could not take the events (then nothing happened).
    public func execute(_ command: Command, context: CommandContext) async throws -> Execution {
        try await self.execute(all: [command], context: context)[0].get()
    }

    /// Runs commands in order as one submission: queued together, so they are decided one after another
    /// (each sees the ones before) and share group commits instead of waiting for one each. Each gets its own
    /// outcome: a refused command does not stop the ones after it.
    public func execute(all commands: [Command], context: CommandContext) async -> [Result<Execution, any Error>] {
        guard !commands.isEmpty else { return [] }
        if let refusal = self.refusal.withLock({ $0 }) { return commands.map { _ in .failure(refusal) } }
        return await withCheckedContinuation {
            (continuation: CheckedContinuation<[Result<Execution, any Error>], Never>) in
            let outcomes = Outcomes(count: commands.count, continuation: continuation)
            let accepted = self.shared.withLock { shared -> Bool in
                guard !shared.closing else { return false }
                for (index, command) in commands.enumerated() {
                    shared.jobs.append(Job(command: command, context: context, finish: { outcomes.set(index, $0) }))
                }
                return true
            }
            if accepted {
                self.wake.yield()
            } else {
                for index in commands.indices {
                    outcomes.set(index, .failure(LedgerError(code: .closed, message: "the engine runtime is closed")))
                }
            }
        }
    }

    /// The outcomes of one submission, collected until the last arrives.
    private final class Outcomes: Sendable {
        private let results: Mutex<(values: [Result<Execution, any Error>?], missing: Int)>
        private let continuation: CheckedContinuation<[Result<Execution, any Error>], Never>

        init(count: Int, continuation: CheckedContinuation<[Result<Execution, any Error>], Never>) {
            self.results = Mutex((Array(repeating: nil, count: count), count))
            self.continuation = continuation
        }

        func set(_ index: Int, _ outcome: Result<Execution, any Error>) {
            let done = self.results.withLock { results -> [Result<Execution, any Error>]? in
                results.values[index] = outcome
                results.missing -= 1
                return results.missing == 0 ? results.values.map { $0! } : nil
            }
            if let done { self.continuation.resume(returning: done) }
        }
    }

    private func consume(_ signals: AsyncStream<Void>) async {
        for await _ in signals {
            while true {
                let jobs = self.shared.withLock { shared -> [Job] in
                    let taken = Array(shared.jobs.prefix(Self.batchCommandsMax))
                    shared.jobs.removeFirst(taken.count)
                    return taken
                }
                if jobs.isEmpty { break }
                await self.process(jobs)
            }
        }
    }

    /// Refuses every command from now on with `reason` (code `.unavailable`: a follower, or a primary that lost its
    /// lease or the stream), or takes them again (nil). Commands already queued still go to the log, whose
    /// replication refuses them if this node is no longer the primary.
    public func refuseCommands(_ reason: LedgerError?) { self.refusal.withLock { $0 = reason } }

    /// Why commands are refused, or nil.
    public var commandRefusal: LedgerError? { self.refusal.withLock { $0 } }

    /// Applies records that reached the log without going through this runtime — a follower's log copied from the
    /// primary — so that the state follows the log. Call it while commands are refused.
    ///
    /// - Returns: the number of engine events applied.
    @discardableResult
    public func catchUp() throws -> Int {
        try self.following.withLock { _ in
            let from = self.shared.withLock { $0.nextOffset }
            let end = self.log.nextOffset
            guard end > from else { return 0 }
            var working = self.takeWorkingState()
            var applied: [EventEnvelope] = []
            var failure: EngineError?
            try self.log.scan(from: from, to: end) { view in
                guard EventCodec.isEngineEvent(view.payload) else { return .continue }
                do {
                    let envelope = try EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp)
                    working.apply(envelope)
                    applied.append(envelope)
                    return .continue
                } catch {
                    failure = EngineError.undecodable("record at offset \(view.offset): \(error)")
                    return .stop
                }
            }
            if let failure {
                // The working copy is half-applied: drop it (the next batch starts from the published state).
                throw failure
            }
            let (previous, snapshotDue) = self.shared.withLock { shared -> (EngineState, Bool) in
                let previous = shared.state
                shared.state = working
                shared.nextOffset = end
                return (previous, working.eventCount - shared.lastSnapshotEvents >= self.snapshotEveryEvents)
            }
            self.spare.withLock { $0 = Spare(state: previous, behind: applied) }
            if snapshotDue { self.snapshotInBackground() }
            return applied.count
        }
    }

    /// Writes a snapshot of the committed state now.
    public func writeSnapshot() throws {
        try self.snapshotWrite.withLock { _ in
            let (state, offset) = self.shared.withLock { ($0.state, $0.nextOffset) }
            try self.snapshots.write(offset: offset, state: state.snapshot(), stateVersion: EngineState.snapshotVersion)
            self.shared.withLock { $0.lastSnapshotEvents = max($0.lastSnapshotEvents, state.eventCount) }
            try self.snapshots.prune(keep: 3)
        }
    }

    /// Starts a snapshot on a thread of its own unless one is being written: encoding and fsyncing a day's
    /// state takes long enough to show in order latency if the writer waited for it.
    private func snapshotInBackground() {
        let start = self.snapshotting.withLock { busy -> Bool in
            defer { busy = true }
            return !busy
        }
        guard start else { return }
        let thread = Thread { [self] in
            try? self.writeSnapshot()
            self.snapshotting.withLock { $0 = false }
        }
        thread.name = "stockboom-snapshot"
        thread.start()
    }

    /// Finishes queued commands, writes a snapshot and stops. The log stays open (its owner closes it).
    public func close() async {
        let alreadyClosing = self.shared.withLock { shared -> Bool in
            defer { shared.closing = true }
            return shared.closing
        }
        if alreadyClosing { return }
        self.wake.yield()
        self.wake.finish()
        await self.consumer.withLock { $0 }?.value
        await self.writerThread.shutdown()
        while self.snapshotting.withLock({ $0 }) { try? await Task.sleep(nanoseconds: 5_000_000) }
        try? self.writeSnapshot()
    }

    /// The state the next batch is decided on: the spare brought up to date, or a copy of the published one.
    private func takeWorkingState() -> EngineState {
        guard var spare = self.spare.withLock({ $0.take() }) else { return self.shared.withLock { $0.state } }
        for envelope in spare.behind { spare.state.apply(envelope) }
        return spare.state
    }

    private func process(_ jobs: [Job]) async {
        var working = self.takeWorkingState()
        var recorder = EventRecorder(nextOffset: self.shared.withLock { $0.nextOffset })
        var outcomes: [(Job, Result<Execution, any Error>)] = []
        var applied: [EventEnvelope] = []
        for job in jobs {
            do {
                let decision = try self.engine.decide(working, job.command, context: job.context)
                var offsets: [UInt64] = []
                for event in decision.events {
                    let envelope = EventEnvelope(
                        timestamp: job.context.time,
                        causation: job.context.causation,
                        correlationID: job.context.correlationID,
                        event: event
                    )
                    offsets.append(recorder.record(envelope))
                    working.apply(envelope)
                    applied.append(envelope)
                }
                outcomes.append((job, .success(Execution(decision: decision, offsets: offsets))))
            } catch {
                outcomes.append((job, .failure(error)))
            }
        }
        let batch = recorder.take()
        if !batch.isEmpty {
            do {
                let appended = try await self.log.append(batch)
                // Paired check: the log assigned exactly the offsets the recorder predicted (single writer).
                precondition(appended.nextOffset == recorder.nextOffset, "another writer appended to the engine's log")
            } catch {
                for (job, _) in outcomes { job.finish(.failure(error)) }
                return
            }
        }
        let (previous, snapshotDue) = self.shared.withLock { shared -> (EngineState, Bool) in
            let previous = shared.state
            shared.state = working
            shared.nextOffset = recorder.nextOffset
            return (previous, working.eventCount - shared.lastSnapshotEvents >= self.snapshotEveryEvents)
        }
        // The state just replaced becomes the spare; it lacks this batch's events until the next batch applies them.
        self.spare.withLock { $0 = Spare(state: previous, behind: applied) }
        for (job, outcome) in outcomes { job.finish(outcome) }
        if snapshotDue { self.snapshotInBackground() }
    }

    // MARK: Recovery and replay

    /// What recovery found.
    public struct RecoveryReport: Sendable, Equatable {
        /// The snapshot's offset, if one was used.
        public var snapshotOffset: UInt64?
        /// Damaged snapshots passed over.
        public var damagedSnapshots: [String] = []
        /// Events applied from the log after the snapshot.
        public var replayedEvents: UInt64 = 0
        /// Records that are not engine events (e.g. raw lines appended with `stockboom log append`).
        public var foreignRecords: UInt64 = 0
    }

    /// Rebuilds the state as of `toOffset` (exclusive; nil = the whole log) from the newest usable snapshot
    /// and the records after it.
    ///
    /// - Throws: `LedgerError` for a damaged log, `EngineError.undecodable` naming the offset of a record
    ///   that claims to be an engine event but does not decode. Nothing is skipped silently.
    public static func recover(
        log: EventLog,
        snapshots: SnapshotStore?,
        fees: FeeSchedule = FeeSchedule(),
        toOffset: UInt64?
    ) throws -> (EngineState, RecoveryReport) {
        let end = min(toOffset ?? log.nextOffset, log.nextOffset)
        var report = RecoveryReport()
        var state = EngineState(fees: fees)
        var start: UInt64 = 0
        if let snapshots {
            let (snapshot, damaged) = try snapshots.latest(atOrBefore: end)
            report.damagedSnapshots = damaged.map { "\($0.path): \($0.reason)" }
            if let snapshot, EngineState.readableSnapshotVersions.contains(snapshot.stateVersion),
                let restored = try? EngineState(snapshot: snapshot.state), restored.fees == fees
            {
                state = restored
                start = snapshot.offset
                report.snapshotOffset = snapshot.offset
            }
        }
        var failure: EngineError?
        try log.scan(from: start, to: end) { view in
            guard EventCodec.isEngineEvent(view.payload) else {
                report.foreignRecords += 1
                return .continue
            }
            do {
                state.apply(try EventCodec.decode(view.payload, offset: view.offset, timestamp: view.timestamp))
                report.replayedEvents += 1
                return .continue
            } catch {
                failure = EngineError.undecodable("record at offset \(view.offset): \(error)")
                return .stop
            }
        }
        if let failure { throw failure }
        return (state, report)
    }
}
