import Foundation
import Synchronization

/// The single writer of a log: a dedicated thread that group-commits queued appends.
///
/// Blocking `pwrite`/`fdatasync` never run on the cooperative pool (2 threads on this machine). Appenders
/// enqueue and suspend; the thread takes everything queued (up to `batchBytesMax`), encodes one frame,
/// writes it, syncs per the durability policy, publishes the new committed end to readers, and resumes
/// the appenders with their offsets.
///
/// A primary's log hands each commit to its replication sink right after writing it (the fdatasync runs while
/// the commit travels) and goes on with the next group: up to `writesInFlightMax` commits are written but not
/// yet visible. Each becomes visible, and its appenders are answered, in order, once the sink says it is
/// replicated; a refused commit and every later one are cut back from the segment together.
///
/// `@unchecked Sendable`: the queue fields are only touched with `condition` locked; the segment, encoder,
/// compressor and history fields are only touched by the writer thread (and by `stop` after the thread ended).
final class LogWriter: @unchecked Sendable {
    private struct Request {
        let batch: AppendBatch
        /// A primary's write to copy as it is (a follower's log); then `batch` is empty.
        var replicated: ReplicatedWrite? = nil
        let continuation: CheckedContinuation<Result<AppendResult, LedgerError>, Never>?

        func resume(returning result: Result<AppendResult, LedgerError>) {
            self.continuation?.resume(returning: result)
        }
        func with(_ continuation: CheckedContinuation<Result<AppendResult, LedgerError>, Never>) -> Request {
            Request(batch: self.batch, replicated: self.replicated, continuation: continuation)
        }
    }

    private enum StopMode { case clean, crash }

    // Shared state, guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [Request] = []
    private var queueHead = 0
    private var queuedBytes = 0
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var stopping: StopMode?
    private var finished = false
    private var failure: LedgerError?
    /// Appends acknowledged by the last commit: their tasks are about to append again.
    private var lastCommitAppends = 0

    // Writer-thread state.
    private let directory: String
    private let configuration: LogConfiguration
    private var active: ActiveSegment
    private let catalog: SharedCatalog
    private let commits: CommitSignal
    private let compressor = LZ4Compressor()
    private var encoder = BatchEncoder()
    private var history: [UInt8] = []
    private var lastSyncNanos: UInt64 = monotonicNanos()
    let statistics = LogStatistics()
    private var unsyncedBytes: UInt64 = 0
    /// The dictionary frame written by the current group, if any (it is replicated with the record frame).
    private var groupDictionaryFrame: [UInt8] = []
    /// Where each commit goes before it is visible (a primary's replicator); nil for a log of its own.
    private let sink = Mutex<(any ReplicationSink)?>(nil)
    /// Commits written and handed to the sink, not yet answered by it: invisible, their appenders waiting.
    private var inFlight: [InFlight] = []
    /// The sink's answers by a commit's first offset (nil: replicated), guarded by `condition`.
    private var answers: [UInt64: LedgerError?] = [:]
    /// Set when a commit in flight was refused: it and every later one are cut back to `mark` once all are answered.
    private var cutBack: (mark: Mark, error: LedgerError)?

    /// The open segment's committed state at one commit boundary.
    private struct Mark {
        var size: UInt64
        var nextOffset: UInt64
        var lastHash: [UInt8]
        var maxTimestamp: Int64
        var indexCount: Int
        var lastIndexedPosition: UInt64?
        var dictionaryPosition: UInt32
    }

    private struct InFlight {
        let requests: [Request]
        let firstOffset: UInt64
        /// Before the commit (to cut back to) and after it (to publish).
        let before: Mark
        let after: Mark
    }

    init(
        directory: String,
        configuration: LogConfiguration,
        active: ActiveSegment,
        catalog: SharedCatalog,
        commits: CommitSignal
    ) throws(LedgerError) {
        self.directory = directory
        self.configuration = configuration
        self.active = active
        self.catalog = catalog
        self.commits = commits
        if active.dictionaryPosition != 0 {
            let entry = catalog.withLock { $0.segments[$0.segments.count - 1] }
            let dictionary = try DictionaryCache().dictionary(segment: entry, position: active.dictionaryPosition)
            self.compressor.setDictionary(dictionary)
        }
        let thread = Thread { [self] in self.run() }
        thread.name = "stockboom-log-writer"
        thread.start()
    }

    // MARK: Appender side

    func setSink(_ sink: (any ReplicationSink)?) { self.sink.withLock { $0 = sink } }

    /// Queues a primary's write to be copied into this log (a follower's); returns once it is durable and visible.
    func submit(replicated write: ReplicatedWrite) async throws(LedgerError) -> AppendResult {
        try await self.enqueue(
            Request(batch: AppendBatch(), replicated: write, continuation: nil),
            bytes: write.frames.count
        )
    }

    func submit(_ batch: AppendBatch) async throws(LedgerError) -> AppendResult {
        try await self.enqueue(Request(batch: batch, continuation: nil), bytes: batch.encodedBytesMax)
    }

    private func enqueue(_ pending: Request, bytes: Int) async throws(LedgerError) -> AppendResult {
        while !self.hasSpace(for: bytes) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                self.condition.lock()
                let ready =
                    self.queuedBytes + bytes <= self.configuration.queueBytesMax || self.queuedBytes == 0
                    || self.stopping != nil
                if !ready { self.spaceWaiters.append(continuation) }
                self.condition.unlock()
                if ready { continuation.resume() }
            }
        }
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<AppendResult, LedgerError>, Never>) in
            self.condition.lock()
            if let failure = self.failure {
                self.condition.unlock()
                continuation.resume(returning: .failure(failure))
                return
            }
            guard self.stopping == nil else {
                self.condition.unlock()
                continuation.resume(
                    returning: .failure(LedgerError(code: .closed, message: "the log is closed", path: self.directory))
                )
                return
            }
            self.queue.append(pending.with(continuation))
            self.queuedBytes += bytes
            self.condition.signal()
            self.condition.unlock()
        }
        return try result.get()
    }

    private func hasSpace(for bytes: Int) -> Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.queuedBytes + bytes <= self.configuration.queueBytesMax || self.queuedBytes == 0
            || self.stopping != nil
    }

    /// Stops the thread. `clean`: drain the queue, sync, index the open segment and leave a clean marker.
    func stop(clean: Bool) {
        self.condition.lock()
        if self.stopping == nil { self.stopping = clean ? .clean : .crash }
        self.condition.broadcast()
        while !self.finished { self.condition.wait() }
        self.condition.unlock()
    }

    // MARK: Writer thread

    private func run() {
        while true {
            self.settle()
            let (requests, mode, syncDue) = self.takeWork()
            if !requests.isEmpty {
                if mode == .crash {
                    let closed = LedgerError(code: .closed, message: "the log was abandoned", path: self.directory)
                    for request in requests { request.resume(returning: .failure(closed)) }
                } else if let write = requests[0].replicated {
                    self.settleAll()
                    self.copy(write, for: requests[0])
                } else {
                    self.commit(requests)
                }
                continue
            }
            if syncDue { self.syncIfNeeded(force: true) }
            if let mode {
                if mode == .clean && !self.inFlight.isEmpty {
                    self.settleAll()
                    continue
                }
                if mode == .crash {
                    let closed = LedgerError(code: .closed, message: "the log was abandoned", path: self.directory)
                    for entry in self.inFlight {
                        for request in entry.requests { request.resume(returning: .failure(closed)) }
                    }
                    self.inFlight.removeAll()
                }
                self.finish(mode)
                return
            }
        }
    }

    /// Waits for work; returns queued requests (at most `batchBytesMax` of them), the stop mode, and whether an
    /// interval sync is due.
    private func takeWork() -> ([Request], StopMode?, Bool) {
        self.condition.lock()
        defer { self.condition.unlock() }
        let inFlightMax = self.inFlight.isEmpty ? Int.max : (self.sink.withLock { $0?.writesInFlightMax } ?? 1)
        // New work waits while the sink holds its most commits, or while refused commits wait to be cut back.
        let canTake = { self.queueHead < self.queue.count && self.inFlight.count < inFlightMax && self.cutBack == nil }
        let answered = { self.inFlight.first.map { self.answers[$0.firstOffset] != nil } ?? false }
        while !canTake() && !answered() && self.stopping == nil {
            if case .interval(let milliseconds) = self.configuration.durability, self.unsyncedBytes > 0 {
                let deadline = Date(timeIntervalSinceNow: Double(milliseconds) / 1000)
                if !self.condition.wait(until: deadline) { return ([], nil, true) }
            } else {
                self.condition.wait()
            }
        }
        guard canTake() else { return ([], self.stopping, false) }
        self.linger()
        var taken: [Request] = []
        var bytes = 0
        while self.queueHead < self.queue.count {
            let next = self.queue[self.queueHead]
            let size = next.replicated?.frames.count ?? next.batch.encodedBytesMax
            // A replicated write is copied alone, never merged into a group.
            if !taken.isEmpty && (next.replicated != nil || taken[0].replicated != nil) { break }
            if !taken.isEmpty && bytes + size > self.configuration.batchBytesMax { break }
            taken.append(next)
            bytes += size
            self.queueHead += 1
        }
        if self.queueHead == self.queue.count {
            self.queue.removeAll(keepingCapacity: true)
            self.queueHead = 0
        }
        self.queuedBytes -= bytes
        let waiters = self.spaceWaiters
        self.spaceWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
        return (taken, self.stopping, false)
    }

    /// Adaptive group-commit delay (PostgreSQL's `commit_delay`, Kafka's `linger.ms`): when the last commit
    /// acknowledged k > 1 appends, their tasks usually append again within microseconds; waiting up to
    /// `groupCommitLingerMicros` for k requests to queue merges them into one sync instead of two.
    /// A lone appender (k = 1) never waits. Called with `condition` locked.
    private func linger() {
        let expected = self.lastCommitAppends
        let lingerMicros = self.configuration.groupCommitLingerMicros
        guard lingerMicros > 0, expected > 1, self.stopping == nil else { return }
        let deadline = Date(timeIntervalSinceNow: Double(lingerMicros) / 1_000_000)
        while self.queue.count - self.queueHead < expected && self.stopping == nil {
            if !self.condition.wait(until: deadline) { break }
        }
    }

    private func commit(_ requests: [Request]) {
        let now = self.configuration.clock()
        let incoming = requests.reduce(0) { $0 + $1.batch.encodedBytesMax }
        // A segment rolls with nothing in flight: a cut back never reaches into a sealed segment.
        if !self.inFlight.isEmpty && self.rollDue(now: now, incomingBytes: incoming) { self.settleAll() }
        do {
            try self.rollIfNeeded(now: now, incomingBytes: incoming)
        } catch {
            self.fail(requests, error: error)
            return
        }
        let before = self.mark()
        do {
            try self.writeDictionaryIfDue(now: now)
            let sink = self.sink.withLock { $0 }
            var offset = try self.writeRecords(requests, now: now, sink: sink)
            self.condition.lock()
            self.lastCommitAppends = requests.count
            self.condition.unlock()
            if sink != nil {
                self.inFlight.append(
                    InFlight(requests: requests, firstOffset: offset, before: before, after: self.mark())
                )
                return
            }
            for request in requests {
                request.resume(
                    returning: .success(AppendResult(firstOffset: offset, count: request.batch.count))
                )
                offset += UInt64(request.batch.count)
            }
        } catch {
            self.cut(to: before)
            self.fail(requests, error: error)
        }
    }

    private func mark() -> Mark {
        Mark(
            size: self.active.size,
            nextOffset: self.active.nextOffset,
            lastHash: self.active.lastHash,
            maxTimestamp: self.active.maxTimestamp,
            indexCount: self.active.index.count,
            lastIndexedPosition: self.active.lastIndexedPosition,
            dictionaryPosition: self.active.dictionaryPosition
        )
    }

    /// Cuts the open segment back to `mark` (a failed or refused write) and forgets a dictionary frame written
    /// after it.
    private func cut(to mark: Mark) {
        do {
            try self.active.handle.truncate(to: mark.size)
        } catch {
            self.poison(
                LedgerError(
                    code: .io,
                    message: "could not cut back a failed write: \(error.message)",
                    path: self.active.path
                )
            )
        }
        self.active.size = mark.size
        self.active.nextOffset = mark.nextOffset
        self.active.lastHash = mark.lastHash
        self.active.maxTimestamp = mark.maxTimestamp
        self.active.index = self.active.index.prefix(mark.indexCount)
        self.active.lastIndexedPosition = mark.lastIndexedPosition
        if self.active.dictionaryPosition != mark.dictionaryPosition {
            self.active.dictionaryPosition = mark.dictionaryPosition
            self.compressor.setDictionary([])
        }
        self.unsyncedBytes = 0
    }

    /// Called by the sink, on any thread, once per commit.
    private func answer(_ firstOffset: UInt64, _ refusal: LedgerError?) {
        self.condition.lock()
        self.answers[firstOffset] = .some(refusal)
        self.condition.broadcast()  // not `signal`: `stop` may be waiting on the same condition
        self.condition.unlock()
    }

    /// Makes visible, in order, the commits in flight the sink has answered, and answers their appenders; fails
    /// a refused one and every later one, and cuts them back once the last of them is answered.
    private func settle() {
        guard !self.inFlight.isEmpty else { return }
        self.condition.lock()
        var settled: [LedgerError?] = []
        while settled.count < self.inFlight.count,
            let answer = self.answers.removeValue(forKey: self.inFlight[settled.count].firstOffset)
        {
            settled.append(answer)
        }
        self.condition.unlock()
        for answer in settled {
            let entry = self.inFlight.removeFirst()
            if let error = self.cutBack?.error ?? answer ?? self.currentFailure() {
                if self.cutBack == nil { self.cutBack = (entry.before, error) }
                self.fail(entry.requests, error: error)
                continue
            }
            self.publishActive(entry.after)
            var offset = entry.firstOffset
            for request in entry.requests {
                request.resume(returning: .success(AppendResult(firstOffset: offset, count: request.batch.count)))
                offset += UInt64(request.batch.count)
            }
        }
        if self.inFlight.isEmpty, let cutBack = self.cutBack {
            self.cut(to: cutBack.mark)
            self.cutBack = nil
        }
    }

    /// Waits until the sink has answered every commit in flight, and settles them.
    private func settleAll() {
        while !self.inFlight.isEmpty {
            self.condition.lock()
            while self.answers[self.inFlight[0].firstOffset] == nil { self.condition.wait() }
            self.condition.unlock()
            self.settle()
        }
    }

    /// Encodes, writes and syncs one frame; updates the catalog. Returns the first offset.
    private func writeRecords(_ requests: [Request], now: Int64, sink: (any ReplicationSink)?) throws(LedgerError)
        -> UInt64
    {
        self.encoder.reset()
        for request in requests {
            let batch = request.batch
            batch.bytes.withUnsafeBytes { raw in
                var start = 0
                for record in 0..<batch.count {
                    let length = Int(batch.lengths[record])
                    let stamp = batch.timestamps[record]
                    self.encoder.add(
                        timestamp: stamp == AppendBatch.stampAtCommit ? now : stamp,
                        payload: UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    )
                    start += length
                }
            }
        }
        let baseOffset = self.active.nextOffset
        let (frame, hash) = self.encoder.encodeRecords(
            baseOffset: baseOffset,
            previousHash: self.active.lastHash,
            compressor: self.compressor,
            dictionaryPosition: self.active.dictionaryPosition
        )
        let position = self.active.size
        try self.active.handle.write(frame, at: position)
        self.unsyncedBytes += UInt64(frame.count)
        if let sink {
            // The commit travels to the stream while this thread syncs it locally; it is visible and answered
            // only when both are done (`settle`).
            let dictionary = self.groupDictionaryFrame
            let start = position - UInt64(dictionary.count)
            let write = ReplicatedWrite(
                segmentBase: self.active.baseOffset,
                position: start,
                segmentHeader: start == UInt64(Layout.segmentHeaderBytes)
                    ? try self.active.handle.read(count: Layout.segmentHeaderBytes, at: 0) : [],
                frames: dictionary + frame,
                firstOffset: baseOffset,
                nextOffset: baseOffset + UInt64(self.encoder.recordCount),
                lastHash: hash
            )
            sink.replicate(write) { [weak self] refusal in self?.answer(baseOffset, refusal) }
        }
        self.syncIfNeeded(force: false)
        self.statistics.recordCommit(
            appends: requests.count,
            records: Int(self.encoder.recordCount),
            bytes: frame.count
        )
        if let failure = self.currentFailure() { throw failure }

        // Durable (per policy): make it visible — once replicated, with a sink.
        let maxBefore = self.active.maxTimestamp
        self.active.size += UInt64(frame.count)
        self.active.nextOffset += UInt64(self.encoder.recordCount)
        self.active.lastHash = hash
        self.active.maxTimestamp = max(self.active.maxTimestamp, self.encoder.maxTimestamp)
        if self.active.lastIndexedPosition.map({ position - $0 >= UInt64(self.configuration.indexIntervalBytes) })
            ?? true
        {
            self.active.index.add(
                relativeOffset: UInt32(baseOffset - self.active.baseOffset),
                position: UInt32(position),
                maxTimestampBefore: maxBefore
            )
            self.active.lastIndexedPosition = position
        }
        if sink == nil { self.publishActive(self.mark()) }
        if self.configuration.dictionaryEnabled {
            self.history.append(contentsOf: self.encoder.records)
            if self.history.count > 2 * LZ4Codec.dictionaryBytesMax {
                self.history.removeFirst(self.history.count - LZ4Codec.dictionaryBytesMax)
            }
        }
        return baseOffset
    }

    /// Makes the open segment visible to readers up to `mark`.
    private func publishActive(_ mark: Mark) {
        let active = self.active
        let index = active.index.prefix(mark.indexCount)
        self.catalog.withLock { catalog in
            let last = catalog.segments.count - 1
            precondition(catalog.segments[last].baseOffset == active.baseOffset)
            catalog.segments[last].committedBytes = mark.size
            catalog.segments[last].nextOffset = mark.nextOffset
            catalog.segments[last].maxTimestamp = mark.maxTimestamp
            catalog.segments[last].index = index
            catalog.lastHash = mark.lastHash
        }
        self.commits.publish(nextOffset: mark.nextOffset)
    }

    /// Writes a dictionary frame (the most recent records, `dictionaryBytes` of them) when the open segment has none.
    private func writeDictionaryIfDue(now: Int64) throws(LedgerError) {
        self.groupDictionaryFrame = []
        let dictionaryBytes = self.configuration.dictionaryBytes
        guard self.configuration.dictionaryEnabled, self.active.dictionaryPosition == 0,
            self.history.count >= dictionaryBytes
        else { return }
        let dictionary = Array(self.history.suffix(dictionaryBytes))
        let (frame, hash) = self.encoder.encodeDictionary(
            dictionary,
            baseOffset: self.active.nextOffset,
            timestamp: now,
            previousHash: self.active.lastHash,
            compressor: self.compressor
        )
        let position = self.active.size
        try self.active.handle.write(frame, at: position)
        self.groupDictionaryFrame = frame
        // The dictionary frame becomes durable with the record frame that follows it (same sync).
        self.active.size += UInt64(frame.count)
        self.active.lastHash = hash
        self.active.dictionaryPosition = UInt32(position)
        self.compressor.setDictionary(dictionary)
    }

    private func rollDue(now: Int64, incomingBytes: Int) -> Bool {
        guard self.active.nextOffset > self.active.baseOffset else { return false }
        let tooBig =
            self.active.size + UInt64(incomingBytes + Layout.batchHeaderBytes) > self.configuration.segmentBytesMax
        let tooOld = now - self.active.createdAtMicros >= self.configuration.segmentAgeMaxMicros
        return tooBig || tooOld
    }

    private func rollIfNeeded(now: Int64, incomingBytes: Int) throws(LedgerError) {
        guard self.rollDue(now: now, incomingBytes: incomingBytes) else { return }
        try self.roll(
            to: SegmentHeader(
                baseOffset: self.active.nextOffset,
                createdAtMicros: now,
                previousHash: self.active.lastHash
            )
        )
    }

    /// Seals the open segment and opens a new one starting with `header`.
    private func roll(to header: SegmentHeader) throws(LedgerError) {
        if self.configuration.durability != .everyBatch { try self.active.handle.syncData() }
        try self.active.writeIndexFiles(directory: self.directory)
        let base = header.baseOffset
        let now = header.createdAtMicros
        try Recovery.createSegment(directory: self.directory, header: header)
        let path = SegmentName.path(directory: self.directory, baseOffset: base)
        let handle = try FileHandle.open(path, writable: true)
        let newActive = ActiveSegment(
            baseOffset: base,
            path: path,
            handle: handle,
            size: UInt64(Layout.segmentHeaderBytes),
            nextOffset: base,
            lastHash: self.active.lastHash,
            maxTimestamp: .min,
            index: SegmentIndex(),
            lastIndexedPosition: nil,
            dictionaryPosition: 0,
            createdAtMicros: now
        )
        let readHandle = try FileHandle.open(path, writable: false)
        self.catalog.withLock { catalog in
            catalog.segments[catalog.segments.count - 1].sealed = true
            catalog.segments.append(
                SegmentEntry(
                    baseOffset: base,
                    path: path,
                    handle: readHandle,
                    committedBytes: newActive.size,
                    nextOffset: base,
                    maxTimestamp: .min,
                    index: SegmentIndex(),
                    sealed: false
                )
            )
        }
        self.active = newActive
        self.compressor.setDictionary([])
    }

    /// Copies a primary's write (a follower's log): checks that it continues this log exactly (segment, byte
    /// position, offsets, every frame's CRC and chain link), writes the same bytes, syncs, and makes them visible.
    /// A write that does not fit is refused whole and changes nothing.
    private func copy(_ write: ReplicatedWrite, for request: Request) {
        do {
            try self.copy(write)
            request.resume(
                returning: .success(
                    AppendResult(firstOffset: write.firstOffset, count: Int(write.nextOffset - write.firstOffset))
                )
            )
        } catch {
            request.resume(returning: .failure(error))
        }
    }

    private func copy(_ write: ReplicatedWrite) throws(LedgerError) {
        guard write.firstOffset == self.active.nextOffset else {
            throw .invalid(
                "a replicated write starts at offset \(write.firstOffset) but this log's next offset is \(self.active.nextOffset)"
            )
        }
        if !write.segmentHeader.isEmpty {
            let header = try SegmentHeader.decode(write.segmentHeader, path: "replicated segment header")
            guard header.baseOffset == write.segmentBase, header.previousHash == self.active.lastHash else {
                throw .invalid(
                    "a replicated segment header does not continue this log's chain at offset \(write.firstOffset)"
                )
            }
            if header.baseOffset == self.active.baseOffset {
                // The open segment is still empty (the primary's came with the same base): take its header bytes.
                guard self.active.size == UInt64(Layout.segmentHeaderBytes) else {
                    throw .invalid(
                        "a replicated segment header for segment \(header.baseOffset), which already holds records"
                    )
                }
                try self.active.handle.write(write.segmentHeader, at: 0)
                self.active.createdAtMicros = header.createdAtMicros
            } else {
                try self.roll(to: header)
            }
        }
        guard write.segmentBase == self.active.baseOffset, write.position == self.active.size else {
            throw .invalid(
                "a replicated write for segment \(write.segmentBase) at byte \(write.position); this log's open segment is \(self.active.baseOffset) at byte \(self.active.size)"
            )
        }
        // Check every frame before writing any byte.
        let checked = write.frames.withUnsafeBytes { raw in
            Self.check(
                frames: raw,
                at: write.position,
                offset: self.active.nextOffset,
                hash: self.active.lastHash,
                dictionaryPosition: self.active.dictionaryPosition
            )
        }
        let (offset, hash, dictionaryPosition, dictionary, recordFrames) = try checked.get()
        guard offset == write.nextOffset, hash == write.lastHash, !recordFrames.isEmpty else {
            throw .invalid(
                "a replicated write's frames end at offset \(offset), not the \(write.nextOffset) it declares"
            )
        }
        do {
            try self.active.handle.write(write.frames, at: write.position)
        } catch {
            _ = try? self.active.handle.truncate(to: write.position)
            throw error
        }
        self.unsyncedBytes += UInt64(write.frames.count)
        self.syncIfNeeded(force: false)
        if let failure = self.currentFailure() { throw failure }
        for (header, position) in recordFrames {
            if self.active.lastIndexedPosition.map({ position - $0 >= UInt64(self.configuration.indexIntervalBytes) })
                ?? true
            {
                self.active.index.add(
                    relativeOffset: UInt32(header.baseOffset - self.active.baseOffset),
                    position: UInt32(position),
                    maxTimestampBefore: self.active.maxTimestamp
                )
                self.active.lastIndexedPosition = position
            }
            self.active.maxTimestamp = max(self.active.maxTimestamp, header.maxTimestamp)
        }
        self.active.size = write.position + UInt64(write.frames.count)
        self.active.nextOffset = write.nextOffset
        self.active.lastHash = write.lastHash
        if let dictionary {
            self.active.dictionaryPosition = dictionaryPosition
            self.compressor.setDictionary(dictionary)
        }
        self.statistics.recordCommit(
            appends: 1,
            records: Int(write.nextOffset - write.firstOffset),
            bytes: write.frames.count
        )
        self.publishActive(self.mark())
    }

    private typealias CheckedFrames = (
        offset: UInt64, hash: [UInt8], dictionaryPosition: UInt32, dictionary: [UInt8]?,
        recordFrames: [(header: BatchHeader, position: UInt64)]
    )

    /// Checks replicated frames against the log they must continue: structure, CRC, offsets, chain, dictionary.
    private static func check(
        frames raw: UnsafeRawBufferPointer,
        at base: UInt64,
        offset first: UInt64,
        hash previous: [UInt8],
        dictionaryPosition current: UInt32
    ) -> Result<CheckedFrames, LedgerError> {
        var result: CheckedFrames = (first, previous, current, nil, [])
        var start = 0
        while start < raw.count {
            let position = base + UInt64(start)
            let frame = UnsafeRawBufferPointer(rebasing: raw[start...])
            guard case .success(let header) = BatchFrame.validate(frame) else {
                return .failure(.invalid("a replicated frame at byte \(position) fails its checks"))
            }
            let bytes = UnsafeRawBufferPointer(rebasing: frame[0..<header.frameBytes])
            guard header.baseOffset == result.offset, header.previousHash == result.hash else {
                return .failure(
                    .invalid(
                        "a replicated frame at byte \(position) does not continue the chain at offset \(result.offset)"
                    )
                )
            }
            if header.isDictionary {
                guard case .success(let body) = BatchFrame.body(header: header, frame: bytes, dictionary: nil) else {
                    return .failure(.invalid("a replicated dictionary frame at byte \(position) does not decompress"))
                }
                result.dictionary = body
                result.dictionaryPosition = UInt32(position)
            } else {
                guard header.dictionaryPosition == 0 || header.dictionaryPosition == result.dictionaryPosition else {
                    return .failure(
                        .invalid("a replicated frame at byte \(position) names a dictionary the segment does not hold")
                    )
                }
                result.recordFrames.append((header, position))
            }
            result.hash = ChainHash.of(bytes)
            result.offset = header.nextOffset
            start += header.frameBytes
        }
        return .success(result)
    }

    private func syncIfNeeded(force: Bool) {
        guard self.unsyncedBytes > 0 else { return }
        switch self.configuration.durability {
        case .none:
            return
        case .everyBatch:
            break
        case .interval(let milliseconds):
            let due = monotonicNanos() - self.lastSyncNanos >= UInt64(milliseconds) * 1_000_000
            guard force || due else { return }
        }
        do {
            let started = monotonicNanos()
            try self.active.handle.syncData()
            self.unsyncedBytes = 0
            self.lastSyncNanos = monotonicNanos()
            self.statistics.recordSync(nanos: self.lastSyncNanos - started)
        } catch {
            // After a failed fsync the page cache cannot be trusted (PostgreSQL's "fsyncgate"): stop writing.
            self.poison(
                LedgerError(
                    code: .io,
                    message: "fdatasync failed, the writer stopped: \(error.message)",
                    path: self.active.path,
                    errno: error.errno
                )
            )
        }
    }

    func currentFailure() -> LedgerError? {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.failure
    }

    private func poison(_ error: LedgerError) {
        self.condition.lock()
        if self.failure == nil { self.failure = error }
        self.condition.unlock()
    }

    /// Fails a group. Disk full is an operating condition: the writer keeps going and appends succeed again
    /// when space returns. Any other failure stops the writer: later appends fail until the log is reopened.
    private func fail(_ requests: [Request], error: LedgerError) {
        if error.code != .diskFull && error.code != .unavailable { self.poison(error) }
        for request in requests { request.resume(returning: .failure(error)) }
    }

    private func finish(_ mode: StopMode) {
        if mode == .clean && self.currentFailure() == nil {
            do {
                try self.active.handle.syncData()
                try self.active.writeIndexFiles(directory: self.directory)
                try FileSystem.writeAtomically(
                    [],
                    to: self.directory + "/" + Recovery.cleanMarker,
                    directory: self.directory
                )
            } catch {
                // Not fatal: the next open scans the open segment instead of trusting its index.
            }
        }
        self.condition.lock()
        let pending = self.queue[self.queueHead...]
        self.queue.removeAll()
        self.queueHead = 0
        let waiters = self.spaceWaiters
        self.spaceWaiters.removeAll()
        self.finished = true
        self.condition.broadcast()
        self.condition.unlock()
        let closed = LedgerError(code: .closed, message: "the log is closed", path: self.directory)
        for request in pending { request.resume(returning: .failure(closed)) }
        for waiter in waiters { waiter.resume() }
    }
}
