import Synchronization

/// A segment's public description, for `inspect`.
public struct SegmentDescription: Sendable, Equatable {
    public let path: String
    public let baseOffset: UInt64
    /// The offset after the segment's last record.
    public let nextOffset: UInt64
    public let bytes: UInt64
    public let sealed: Bool
    public let maxTimestamp: Int64?
    public let indexEntries: Int
}

extension EventLog {
    /// The segments, oldest first.
    public var segments: [SegmentDescription] {
        self.catalog.withLock { catalog in
            catalog.segments.map {
                SegmentDescription(
                    path: $0.path,
                    baseOffset: $0.baseOffset,
                    nextOffset: $0.nextOffset,
                    bytes: $0.committedBytes,
                    sealed: $0.sealed,
                    maxTimestamp: $0.maxTimestamp == .min ? nil : $0.maxTimestamp,
                    indexEntries: $0.index.count
                )
            }
        }
    }

    /// Calls `body` for every committed record from offset `from` (inclusive) to `to` (exclusive), in order.
    ///
    /// The payload views are valid only during the call (no copy, no per-record allocation): this is the replay
    /// path. Reads use `pread` on the calling thread; call from a dedicated thread for large replays.
    /// - Returns: the offset after the last record delivered.
    /// - Throws: `.corrupt` naming the file and byte position if any frame fails its checks. Nothing is skipped.
    @discardableResult
    public func scan(
        from: UInt64,
        to: UInt64? = nil,
        _ body: (LogRecordView) -> ScanControl
    ) throws(LedgerError) -> UInt64 {
        let segments = self.catalog.withLock { $0.segments }
        guard let last = segments.last, from < last.nextOffset else { return from }
        let end = min(to ?? last.nextOffset, last.nextOffset)
        var offset = from
        var segmentNumber = Catalog(segments: segments, lastHash: []).segmentIndex(containing: from) ?? 0
        var scratch: [UInt8] = []
        while segmentNumber < segments.count, offset < end {
            let segment = segments[segmentNumber]
            segmentNumber += 1
            guard segment.nextOffset > offset else { continue }
            let start =
                segment.index.position(forRelativeOffset: UInt32(offset - segment.baseOffset))
                .map(UInt64.init) ?? UInt64(Layout.segmentHeaderBytes)
            var reader = FrameReader(handle: segment.handle, from: start, limit: segment.committedBytes)
            var dictionary: (position: UInt32, bytes: [UInt8])?
            while offset < end {
                var failure: LedgerError?
                let (step, control) = try reader.next { header, position, frame -> ScanControl in
                    if header.isDictionary || header.nextOffset <= offset { return .continue }
                    if header.dictionaryPosition != 0 && dictionary?.position != header.dictionaryPosition {
                        switch Result(catching: { () throws(LedgerError) in
                            try self.dictionaries.dictionary(segment: segment, position: header.dictionaryPosition)
                        }) {
                        case .success(let bytes): dictionary = (header.dictionaryPosition, bytes)
                        case .failure(let error):
                            failure = error
                            return .stop
                        }
                    }
                    let decoded = (header.dictionaryPosition == 0 ? nil : dictionary?.bytes).withBufferIfPresent {
                        dictionaryBytes in
                        BatchFrame.decodeRecords(
                            header: header,
                            frame: frame,
                            dictionary: dictionaryBytes,
                            scratch: &scratch,
                            from: offset
                        ) { view in
                            if view.offset >= end { return .stop }
                            offset = view.offset + 1
                            return body(view)
                        }
                    }
                    switch decoded {
                    case .success(let control): return control
                    case .failure(let defect):
                        failure = .corrupt("\(defect)", path: segment.path, position: position)
                        return .stop
                    }
                }
                if let failure { throw failure }
                switch step {
                case .end:
                    break
                case .defect(let defect, let position):
                    throw .corrupt("\(defect) in committed data", path: segment.path, position: position)
                case .frame:
                    if control == .stop { return offset }
                    continue
                }
                break
            }
        }
        return offset
    }

    /// Reads up to `maxRecords` committed records starting at `from` into owned values.
    public func read(from: UInt64, maxRecords: Int = 1000) throws(LedgerError) -> [LogRecord] {
        precondition(maxRecords > 0)
        var records: [LogRecord] = []
        try self.scan(from: from) { view in
            records.append(view.copy())
            return records.count >= maxRecords ? .stop : .continue
        }
        return records
    }

    /// The first offset whose record's timestamp is >= `timestamp` (microseconds, UTC), or `nextOffset` if none.
    ///
    /// Uses each segment's maximum timestamp and the sparse time index, then scans at most one index interval.
    public func offset(atOrAfterTimestamp timestamp: Int64) throws(LedgerError) -> UInt64 {
        let segments = self.catalog.withLock { $0.segments }
        guard let segment = segments.first(where: { $0.maxTimestamp >= timestamp }) else {
            return segments.last?.nextOffset ?? 0
        }
        let start =
            segment.index.position(forTimestamp: timestamp).map(UInt64.init) ?? UInt64(Layout.segmentHeaderBytes)
        let startOffset = try self.firstOffset(in: segment, atPosition: start)
        var found: UInt64?
        try self.scan(from: startOffset, to: segment.nextOffset) { view in
            if view.timestamp >= timestamp {
                found = view.offset
                return .stop
            }
            return .continue
        }
        return found ?? segment.nextOffset
    }

    private func firstOffset(in segment: SegmentEntry, atPosition position: UInt64) throws(LedgerError) -> UInt64 {
        var reader = FrameReader(
            handle: segment.handle,
            from: position,
            limit: segment.committedBytes,
            chunkBytes: 64 << 10
        )
        while true {
            let (step, base) = try reader.next { header, _, _ in header.isDictionary ? nil : header.baseOffset }
            switch step {
            case .end: return segment.nextOffset
            case .defect(let defect, let at): throw .corrupt("\(defect)", path: segment.path, position: at)
            case .frame: if let base = base ?? nil { return base }
            }
        }
    }

    /// Records from `from` on, as an async sequence that waits for new commits and ends when the log closes.
    public func tail(from: UInt64) -> LogTail {
        LogTail(log: self, nextOffset: from)
    }

    /// For a read-only log: picks up frames and segments another process has committed since the last look.
    ///
    /// - Returns: true if new records became visible.
    @discardableResult
    public func refresh() throws(LedgerError) -> Bool {
        precondition(self.isReadOnly, "refresh is for read-only logs; a writable log publishes its own commits")
        let before = self.nextOffset
        while true {
            let segment = self.catalog.withLock { $0.segments[$0.segments.count - 1] }
            let size = try segment.handle.size()
            if size > segment.committedBytes {
                try self.refreshActive(segment, size: size)
            }
            let current = self.catalog.withLock { $0.segments[$0.segments.count - 1] }
            let nextPath = SegmentName.path(directory: self.directory, baseOffset: current.nextOffset)
            guard current.nextOffset > current.baseOffset, FileSystem.exists(nextPath),
                (FileSystem.size(nextPath) ?? 0) >= UInt64(Layout.segmentHeaderBytes)
            else { break }
            let handle = try FileHandle.open(nextPath, writable: false)
            // The writer may roll while we look; reread the old segment to its sealed end first.
            let sealedSize = try current.handle.size()
            if sealedSize > current.committedBytes { try self.refreshActive(current, size: sealedSize) }
            self.catalog.withLock { catalog in
                catalog.segments[catalog.segments.count - 1].sealed = true
                let base = catalog.segments[catalog.segments.count - 1].nextOffset
                catalog.segments.append(
                    SegmentEntry(
                        baseOffset: base,
                        path: nextPath,
                        handle: handle,
                        committedBytes: UInt64(Layout.segmentHeaderBytes),
                        nextOffset: base,
                        maxTimestamp: .min,
                        index: SegmentIndex(),
                        sealed: false
                    )
                )
            }
        }
        let after = self.nextOffset
        if after > before { self.commits.publish(nextOffset: after) }
        return after > before
    }

    private func refreshActive(_ segment: SegmentEntry, size: UInt64) throws(LedgerError) {
        var reader = FrameReader(handle: segment.handle, from: segment.committedBytes, limit: size)
        var updated = segment
        var lastIndexed = segment.index.positions.last.map(UInt64.init)
        while true {
            // A defect here is a frame still being written by the other process: stop and look again later.
            let (step, _) = try reader.next { _, _, _ in () }
            guard case .frame(let header, let position) = step else { break }
            updated.committedBytes = position + UInt64(header.frameBytes)
            guard !header.isDictionary else { continue }
            if lastIndexed.map({ position - $0 >= UInt64(self.configuration.indexIntervalBytes) }) ?? true {
                updated.index.add(
                    relativeOffset: UInt32(header.baseOffset - segment.baseOffset),
                    position: UInt32(position),
                    maxTimestampBefore: updated.maxTimestamp
                )
                lastIndexed = position
            }
            updated.nextOffset = header.nextOffset
            updated.maxTimestamp = max(updated.maxTimestamp, header.maxTimestamp)
        }
        self.catalog.withLock { catalog in
            let last = catalog.segments.count - 1
            if catalog.segments[last].baseOffset == updated.baseOffset { catalog.segments[last] = updated }
        }
    }
}

/// An async sequence of committed records that follows the log as it grows.
///
/// Every committed record is delivered exactly once and in offset order. The sequence ends when the log is
/// closed or the task is cancelled; it throws if the log reports corruption.
public struct LogTail: AsyncSequence, Sendable {
    public typealias Element = LogRecord
    let log: EventLog
    let nextOffset: UInt64

    public func makeAsyncIterator() -> Iterator {
        Iterator(log: self.log, nextOffset: self.nextOffset)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let log: EventLog
        var nextOffset: UInt64
        var buffer: [LogRecord] = []
        var bufferIndex = 0
        /// How long a read-only tail sleeps between looks at the files of another process's writer.
        static let pollNanos: UInt64 = 50_000_000

        public mutating func next() async throws -> LogRecord? {
            while true {
                if self.bufferIndex < self.buffer.count {
                    defer { self.bufferIndex += 1 }
                    return self.buffer[self.bufferIndex]
                }
                if Task.isCancelled { return nil }
                self.buffer = try self.log.read(from: self.nextOffset, maxRecords: 4096)
                self.bufferIndex = 0
                if let last = self.buffer.last {
                    self.nextOffset = last.offset + 1
                    continue
                }
                if self.log.isReadOnly {
                    if try self.log.refresh() { continue }
                    try? await Task.sleep(nanoseconds: Self.pollNanos)
                    continue
                }
                if self.log.commits.isClosed { return nil }
                await self.log.commits.wait(forOffset: self.nextOffset)
            }
        }
    }
}
