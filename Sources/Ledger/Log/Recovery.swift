/// The writer's view of the open segment, handed from recovery to the writer thread.
struct ActiveSegment {
    var baseOffset: UInt64
    var path: String
    var handle: FileHandle
    var size: UInt64
    var nextOffset: UInt64
    var lastHash: [UInt8]
    var maxTimestamp: Int64
    var index: SegmentIndex
    var lastIndexedPosition: UInt64?
    var dictionaryPosition: UInt32
    var createdAtMicros: Int64

    /// Writes the segment's `.index` and `.timeindex` files for its current size (at seal and at clean shutdown).
    func writeIndexFiles(directory: String) throws(LedgerError) {
        let summary = SegmentSummary(
            baseOffset: self.baseOffset,
            segmentBytes: self.size,
            nextOffset: self.nextOffset,
            maxTimestamp: self.maxTimestamp,
            lastHash: self.lastHash,
            dictionaryPosition: self.dictionaryPosition
        )
        try IndexFile.write(summary: summary, index: self.index, segmentPath: self.path, directory: directory)
    }
}

/// Segment file names: the base offset as 20 decimal digits, so names sort in offset order.
enum SegmentName {
    static func stem(_ baseOffset: UInt64) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    static func path(directory: String, baseOffset: UInt64) -> String {
        directory + "/" + Self.stem(baseOffset) + ".log"
    }

    /// The base offset named by `name` (`<20 digits>.log`), or nil.
    static func baseOffset(of name: String) -> UInt64? {
        guard name.hasSuffix(".log"), name.count == 24 else { return nil }
        let stem = name.dropLast(4)
        guard stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }
}

/// Opening a log: finds segments, loads or rebuilds indexes, and validates (and, if writable, repairs) the tail.
enum Recovery {
    static let cleanMarker = "CLEAN"

    static func open(
        directory: String,
        configuration: LogConfiguration,
        readOnly: Bool,
        report: inout OpenReport
    ) throws(LedgerError) -> (segments: [SegmentEntry], active: ActiveSegment) {
        let names = try FileSystem.list(directory)
        if !readOnly {
            for name in names where name.hasSuffix(".tmp") { try FileSystem.remove(directory + "/" + name) }
        }
        var bases = names.compactMap(SegmentName.baseOffset(of:))
        if bases.isEmpty {
            guard !readOnly else {
                throw LedgerError(code: .notFound, message: "no segments in the log", path: directory)
            }
            try Self.createSegment(
                directory: directory,
                baseOffset: 0,
                previousHash: Layout.zeroHash,
                clock: configuration.clock
            )
            bases = [0]
        }
        let cleanPath = directory + "/" + Self.cleanMarker
        let wasClean = FileSystem.exists(cleanPath)
        var segments: [SegmentEntry] = []
        var previous: SegmentSummary?
        for base in bases.dropLast() {
            let (entry, summary) = try Self.openSealed(
                directory: directory,
                base: base,
                previous: previous,
                configuration: configuration,
                readOnly: readOnly,
                report: &report
            )
            segments.append(entry)
            previous = summary
        }
        let active = try Self.openActive(
            directory: directory,
            base: bases[bases.count - 1],
            previous: previous,
            trustIndex: wasClean,
            configuration: configuration,
            readOnly: readOnly,
            report: &report
        )
        segments.append(
            SegmentEntry(
                baseOffset: active.baseOffset,
                path: active.path,
                handle: active.handle,
                committedBytes: active.size,
                nextOffset: active.nextOffset,
                maxTimestamp: active.maxTimestamp,
                index: active.index,
                sealed: false
            )
        )
        if wasClean && !readOnly {
            // From here on a crash must trigger a full recovery scan again.
            try FileSystem.remove(cleanPath)
            try FileSystem.syncDirectory(directory)
        }
        return (segments, active)
    }

    static func createSegment(
        directory: String,
        baseOffset: UInt64,
        previousHash: [UInt8],
        clock: @Sendable () -> Int64
    ) throws(LedgerError) {
        try Self.createSegment(
            directory: directory,
            header: SegmentHeader(baseOffset: baseOffset, createdAtMicros: clock(), previousHash: previousHash)
        )
    }

    static func createSegment(directory: String, header: SegmentHeader) throws(LedgerError) {
        let path = SegmentName.path(directory: directory, baseOffset: header.baseOffset)
        let handle = try FileHandle.create(path)
        do {
            try handle.write(header.encoded(), at: 0)
            try handle.sync()
            try FileSystem.syncDirectory(directory)
        } catch {
            try? FileSystem.remove(path)
            throw error
        }
    }

    private static func readHeader(_ handle: FileHandle, path: String, base: UInt64) throws(LedgerError)
        -> SegmentHeader
    {
        let header = try SegmentHeader.decode(try handle.read(count: Layout.segmentHeaderBytes, at: 0), path: path)
        guard header.baseOffset == base else {
            throw .corrupt(
                "segment header says base offset \(header.baseOffset) but the file is named \(base)",
                path: path,
                position: 8
            )
        }
        return header
    }

    private static func openSealed(
        directory: String,
        base: UInt64,
        previous: SegmentSummary?,
        configuration: LogConfiguration,
        readOnly: Bool,
        report: inout OpenReport
    ) throws(LedgerError) -> (SegmentEntry, SegmentSummary) {
        let path = SegmentName.path(directory: directory, baseOffset: base)
        let handle = try FileHandle.open(path, writable: false)
        let size = try handle.size()
        let header = try Self.readHeader(handle, path: path, base: base)
        if let previous {
            guard previous.nextOffset == base else {
                throw .corrupt(
                    "segment starts at offset \(base) but the previous one ends at \(previous.nextOffset)",
                    path: path,
                    position: 8
                )
            }
        }
        let summary: SegmentSummary
        let index: SegmentIndex
        if let (loadedSummary, loadedIndex) = IndexFile.load(segmentPath: path, expectedBase: base, segmentBytes: size)
        {
            summary = loadedSummary
            index = loadedIndex
        } else {
            // Missing or damaged index: rebuild it from the segment, which must be entirely valid (it is sealed).
            let scan = try SegmentScan.run(
                handle: handle,
                header: header,
                limit: size,
                indexIntervalBytes: configuration.indexIntervalBytes,
                decode: false
            )
            report.scannedBytes += scan.validBytes
            if let (defect, position) = scan.defect {
                throw .corrupt("sealed segment damaged: \(defect)", path: path, position: position)
            }
            summary = SegmentSummary(
                baseOffset: base,
                segmentBytes: size,
                nextOffset: scan.nextOffset,
                maxTimestamp: scan.maxTimestamp,
                lastHash: scan.lastHash,
                dictionaryPosition: scan.dictionaryPosition
            )
            index = scan.index
            if !readOnly {
                try IndexFile.write(summary: summary, index: index, segmentPath: path, directory: directory)
            }
            report.rebuiltIndexes.append(String(path.dropLast(4)) + ".index")
        }
        let entry = SegmentEntry(
            baseOffset: base,
            path: path,
            handle: handle,
            committedBytes: size,
            nextOffset: summary.nextOffset,
            maxTimestamp: summary.maxTimestamp,
            index: index,
            sealed: true
        )
        return (entry, summary)
    }

    private static func openActive(
        directory: String,
        base: UInt64,
        previous: SegmentSummary?,
        trustIndex: Bool,
        configuration: LogConfiguration,
        readOnly: Bool,
        report: inout OpenReport
    ) throws(LedgerError) -> ActiveSegment {
        let path = SegmentName.path(directory: directory, baseOffset: base)
        var handle = try FileHandle.open(path, writable: !readOnly)
        var size = try handle.size()
        let anchor = previous?.lastHash ?? Layout.zeroHash
        if let previous, previous.nextOffset != base {
            throw .corrupt(
                "segment starts at offset \(base) but the previous one ends at \(previous.nextOffset)",
                path: path,
                position: 8
            )
        }
        let header: SegmentHeader
        do {
            header = try Self.readHeader(handle, path: path, base: base)
        } catch {
            // A segment whose header never became durable holds no frames: recreate it (the creation crashed).
            guard size <= UInt64(Layout.segmentHeaderBytes), !readOnly else { throw error }
            try FileSystem.remove(path)
            try Self.createSegment(
                directory: directory,
                baseOffset: base,
                previousHash: anchor,
                clock: configuration.clock
            )
            handle = try FileHandle.open(path, writable: true)
            size = try handle.size()
            header = try Self.readHeader(handle, path: path, base: base)
            report.truncatedAt = "\(path) at byte 0 (segment header recreated)"
        }
        guard header.previousHash == anchor else {
            throw .corrupt(
                "chain broken: the segment's anchor hash does not match the previous segment's last batch",
                path: path,
                position: 24
            )
        }
        if trustIndex, let (summary, index) = IndexFile.load(segmentPath: path, expectedBase: base, segmentBytes: size)
        {
            report.cleanShutdown = true
            return ActiveSegment(
                baseOffset: base,
                path: path,
                handle: handle,
                size: size,
                nextOffset: summary.nextOffset,
                lastHash: summary.lastHash,
                maxTimestamp: summary.maxTimestamp,
                index: index,
                lastIndexedPosition: index.positions.last.map(UInt64.init),
                dictionaryPosition: summary.dictionaryPosition,
                createdAtMicros: header.createdAtMicros
            )
        }
        let scan = try SegmentScan.run(
            handle: handle,
            header: header,
            limit: size,
            indexIntervalBytes: configuration.indexIntervalBytes,
            decode: false
        )
        report.scannedBytes += scan.validBytes
        if let (defect, position) = scan.defect {
            // Damage followed by a valid frame is not a torn write: committed data was damaged. Never skip it.
            if let later = try SegmentScan.validFrameExists(handle: handle, after: position, limit: size) {
                throw .corrupt(
                    "\(defect) inside committed data (a valid batch follows at byte \(later)); "
                        + "refusing to open: restore this segment from a backup or quarantine it explicitly",
                    path: path,
                    position: position
                )
            }
            report.truncatedBytes = size - scan.validBytes
            report.truncatedAt = "\(path) at byte \(scan.validBytes)"
            if !readOnly {
                try handle.truncate(to: scan.validBytes)
                try handle.sync()
            }
            size = scan.validBytes
        }
        return ActiveSegment(
            baseOffset: base,
            path: path,
            handle: handle,
            size: size,
            nextOffset: scan.nextOffset,
            lastHash: scan.lastHash,
            maxTimestamp: scan.maxTimestamp,
            index: scan.index,
            lastIndexedPosition: scan.index.positions.last.map(UInt64.init),
            dictionaryPosition: scan.dictionaryPosition,
            createdAtMicros: header.createdAtMicros
        )
    }
}
