import Foundation
import Synchronization

/// The single writer of a log: a dedicated thread that group-commits queued appends.
///
/// Blocking `pwrite`/`fdatasync` never run on the cooperative pool (2 threads on this machine). Appenders
/// enqueue and suspend; the thread takes everything queued (up to `batchBytesMax`), encodes one frame,
/// writes it, syncs per the durability policy, publishes the new committed end to readers, and resumes
/// the appenders with their offsets.
///
/// `@unchecked Sendable`: the queue fields are only touched with `condition` locked; the segment, encoder,
/// compressor and history fields are only touched by the writer thread (and by `stop` after the thread ended).
final class LogWriter: @unchecked Sendable {
    private struct Request {
        let batch: AppendBatch
        let continuation: CheckedContinuation<Result<AppendResult, LedgerError>, Never>
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

    func submit(_ batch: AppendBatch) async throws(LedgerError) -> AppendResult {
        let bytes = batch.encodedBytesMax
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
            self.queue.append(Request(batch: batch, continuation: continuation))
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
            let (requests, mode, syncDue) = self.takeWork()
            if !requests.isEmpty {
                if mode == .crash {
                    let closed = LedgerError(code: .closed, message: "the log was abandoned", path: self.directory)
                    for request in requests { request.continuation.resume(returning: .failure(closed)) }
                } else {
                    self.commit(requests)
                }
                continue
            }
            if syncDue { self.syncIfNeeded(force: true) }
            if let mode {
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
        while self.queueHead == self.queue.count && self.stopping == nil {
            if case .interval(let milliseconds) = self.configuration.durability, self.unsyncedBytes > 0 {
                let deadline = Date(timeIntervalSinceNow: Double(milliseconds) / 1000)
                if !self.condition.wait(until: deadline) { return ([], nil, true) }
            } else {
                self.condition.wait()
            }
        }
        self.linger()
        var taken: [Request] = []
        var bytes = 0
        while self.queueHead < self.queue.count {
            let next = self.queue[self.queueHead]
            let size = next.batch.encodedBytesMax
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
        do {
            let incoming = requests.reduce(0) { $0 + $1.batch.encodedBytesMax }
            try self.rollIfNeeded(now: now, incomingBytes: incoming)
        } catch {
            self.fail(requests, error: error)
            return
        }
        let saved = (size: self.active.size, hash: self.active.lastHash, dictionary: self.active.dictionaryPosition)
        do {
            try self.writeDictionaryIfDue(now: now)
            var offset = try self.writeRecords(requests, now: now)
            self.condition.lock()
            self.lastCommitAppends = requests.count
            self.condition.unlock()
            for request in requests {
                request.continuation.resume(
                    returning: .success(AppendResult(firstOffset: offset, count: request.batch.count))
                )
                offset += UInt64(request.batch.count)
            }
        } catch {
            // Cut the file back to its committed size and forget a dictionary frame written in this group.
            do {
                try self.active.handle.truncate(to: saved.size)
            } catch {
                self.poison(
                    LedgerError(
                        code: .io,
                        message: "could not cut back a failed write: \(error.message)",
                        path: self.active.path
                    )
                )
            }
            self.active.size = saved.size
            self.active.lastHash = saved.hash
            if self.active.dictionaryPosition != saved.dictionary {
                self.active.dictionaryPosition = saved.dictionary
                self.compressor.setDictionary([])
            }
            self.unsyncedBytes = 0
            self.fail(requests, error: error)
        }
    }

    /// Encodes, writes and syncs one frame; updates the catalog. Returns the first offset.
    private func writeRecords(_ requests: [Request], now: Int64) throws(LedgerError) -> UInt64 {
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
        self.syncIfNeeded(force: false)
        self.statistics.recordCommit(
            appends: requests.count,
            records: Int(self.encoder.recordCount),
            bytes: frame.count
        )
        if let failure = self.currentFailure() { throw failure }

        // Durable (per policy): make it visible.
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
        self.publishActive()
        if self.configuration.dictionaryEnabled {
            self.history.append(contentsOf: self.encoder.records)
            if self.history.count > 2 * LZ4Codec.dictionaryBytesMax {
                self.history.removeFirst(self.history.count - LZ4Codec.dictionaryBytesMax)
            }
        }
        return baseOffset
    }

    private func publishActive() {
        let active = self.active
        self.catalog.withLock { catalog in
            let last = catalog.segments.count - 1
            precondition(catalog.segments[last].baseOffset == active.baseOffset)
            catalog.segments[last].committedBytes = active.size
            catalog.segments[last].nextOffset = active.nextOffset
            catalog.segments[last].maxTimestamp = active.maxTimestamp
            catalog.segments[last].index = active.index
        }
        self.commits.publish(nextOffset: active.nextOffset)
    }

    /// Writes a dictionary frame (the most recent records, `dictionaryBytes` of them) when the open segment has none.
    private func writeDictionaryIfDue(now: Int64) throws(LedgerError) {
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
        // The dictionary frame becomes durable with the record frame that follows it (same sync).
        self.active.size += UInt64(frame.count)
        self.active.lastHash = hash
        self.active.dictionaryPosition = UInt32(position)
        self.compressor.setDictionary(dictionary)
    }

    private func rollIfNeeded(now: Int64, incomingBytes: Int) throws(LedgerError) {
        guard self.active.nextOffset > self.active.baseOffset else { return }
        let tooBig =
            self.active.size + UInt64(incomingBytes + Layout.batchHeaderBytes) > self.configuration.segmentBytesMax
        let tooOld = now - self.active.createdAtMicros >= self.configuration.segmentAgeMaxMicros
        guard tooBig || tooOld else { return }
        if self.configuration.durability != .everyBatch { try self.active.handle.syncData() }
        try self.active.writeIndexFiles(directory: self.directory)
        let base = self.active.nextOffset
        try Recovery.createSegment(
            directory: self.directory,
            baseOffset: base,
            previousHash: self.active.lastHash,
            clock: self.configuration.clock
        )
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
        if error.code != .diskFull { self.poison(error) }
        for request in requests { request.continuation.resume(returning: .failure(error)) }
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
        for request in pending { request.continuation.resume(returning: .failure(closed)) }
        for waiter in waiters { waiter.resume() }
    }
}
