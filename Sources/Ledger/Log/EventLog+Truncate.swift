#if canImport(Glibc)
    import Glibc
#endif

extension EventLog {
    /// Cuts a closed log back so that `offset` is its next offset: what a deposed primary does before it rejoins
    /// as a follower, when its log holds a suffix the replicated stream does not.
    ///
    /// `offset` must be a frame boundary (the records of one commit are kept or cut together). Later segments are
    /// removed, the segment holding `offset` is cut at that frame, and the next writable open recovers the rest
    /// (indexes, dictionary). Takes the writer lock for the duration, so a running writer makes it fail.
    ///
    /// Snapshots taken past `offset` are removed with the records.
    ///
    /// - Returns: the records that were cut, in order, for the caller to report (nothing is dropped silently).
    public static func truncate(directory: String, toOffset offset: UInt64) throws(LedgerError) -> [LogRecord] {
        let (removed, segmentPath, position, later): ([LogRecord], String, UInt64, [String])
        do {
            let log = try EventLog(directory: directory, readOnly: true)
            defer { log.close() }
            let end = log.nextOffset
            guard offset < end else { return [] }
            var cut: [LogRecord] = []
            try log.scan(from: offset, to: end) { view in
                cut.append(view.copy())
                return .continue
            }
            let segments = log.catalog.withLock { $0.segments }
            guard let number = Catalog(segments: segments, lastHash: []).segmentIndex(containing: offset) else {
                throw .invalid("offset \(offset) is before the log's first segment")
            }
            let segment = segments[number]
            var reader = FrameReader(
                handle: segment.handle,
                from: UInt64(Layout.segmentHeaderBytes),
                limit: segment.committedBytes
            )
            var found: UInt64?
            scanning: while true {
                let (step, _) = try reader.next { _, _, _ in () }
                switch step {
                case .frame(let header, let at):
                    if header.isDictionary { continue }
                    if header.baseOffset == offset {
                        found = at
                        break scanning
                    }
                    if header.baseOffset > offset { break scanning }
                case .end, .defect:
                    break scanning
                }
            }
            guard var found else {
                throw .invalid(
                    "offset \(offset) is not where a commit starts in \(segment.path); a log is cut at whole commits"
                )
            }
            // A dictionary frame written by the cut commit goes with it: it directly precedes the record frame.
            found = try Self.dictionaryStart(before: found, in: segment)
            (removed, segmentPath, position, later) = (
                cut, segment.path, found, segments[(number + 1)...].map(\.path)
            )
        }
        let lock = try Self.acquireLock(directory: directory, waitMillis: 0)
        defer { _ = lock }
        for path in later {
            try FileSystem.remove(path)
            try? FileSystem.remove(String(path.dropLast(4)) + ".index")
            try? FileSystem.remove(String(path.dropLast(4)) + ".timeindex")
        }
        let handle = try FileHandle.open(segmentPath, writable: true)
        try handle.truncate(to: position)
        try handle.sync()
        try? FileSystem.remove(String(segmentPath.dropLast(4)) + ".index")
        try? FileSystem.remove(String(segmentPath.dropLast(4)) + ".timeindex")
        try? FileSystem.remove(directory + "/" + Recovery.cleanMarker)
        try FileSystem.syncDirectory(directory)
        // A snapshot past the cut holds the cut records' effects: it must never be loaded again.
        let snapshots = SnapshotStore(logDirectory: directory)
        for path in try snapshots.list() {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            if let named = UInt64(name.dropLast(5)), named > offset { try FileSystem.remove(path) }
        }
        return removed
    }

    /// The start of the dictionary frame that ends right at `position`, if there is one, else `position`.
    private static func dictionaryStart(before position: UInt64, in segment: SegmentEntry) throws(LedgerError) -> UInt64
    {
        var reader = FrameReader(handle: segment.handle, from: UInt64(Layout.segmentHeaderBytes), limit: position)
        var last: (start: UInt64, dictionary: Bool)?
        while true {
            let (step, _) = try reader.next { _, _, _ in () }
            guard case .frame(let header, let at) = step else { break }
            last = (at, header.isDictionary)
        }
        if let last, last.dictionary { return last.start }
        return position
    }
}

extension EventLog {
    /// The chain hash at `offset`: of the last frame before it (all zeros at offset 0), or nil when no commit ends
    /// at `offset` or it is past the log's end. Two logs whose hashes agree at an offset hold the same records
    /// before it.
    public func hash(at offset: UInt64) throws(LedgerError) -> String? {
        if offset == 0 { return ChainHash.hex(Layout.zeroHash) }
        let (segments, next, head) = self.catalog.withLock { ($0.segments, $0.nextOffset, $0.lastHash) }
        if offset == next { return ChainHash.hex(head) }
        guard offset < next, let number = Catalog(segments: segments, lastHash: []).segmentIndex(containing: offset - 1)
        else { return nil }
        let segment = segments[number]
        var reader = FrameReader(
            handle: segment.handle,
            from: UInt64(Layout.segmentHeaderBytes),
            limit: segment.committedBytes
        )
        while true {
            let (step, hash) = try reader.next { header, _, frame -> [UInt8]? in
                header.isDictionary || header.nextOffset != offset ? nil : ChainHash.of(frame)
            }
            guard case .frame(let header, _) = step else { return nil }
            if let hash = hash ?? nil { return ChainHash.hex(hash) }
            if !header.isDictionary && header.nextOffset > offset { return nil }
        }
    }
}
