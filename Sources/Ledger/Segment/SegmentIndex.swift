/// The sparse offset and time index of one segment, in memory.
///
/// An entry is added for the first record batch of a segment and then whenever at least
/// `indexIntervalBytes` of the segment lie between the last entry and a new batch. Each entry names a batch
/// start: its first offset (relative to the segment base), its byte position, and the maximum timestamp of
/// all records *before* it in the segment, which is non-decreasing and so can be binary-searched even when
/// record timestamps are not monotonic.
///
/// Sketch: a 64 MiB segment with 16 KiB spacing holds 4,096 entries = 64 KiB of memory; a 10-million-event
/// log of ~450 MB holds ~28,000 entries (< 0.5 MB) in all.
struct SegmentIndex: Sendable, Equatable {
    var relativeOffsets: [UInt32] = []
    var positions: [UInt32] = []
    var maxTimestampsBefore: [Int64] = []

    var count: Int { self.positions.count }

    /// The first `count` entries (the index as it was when it had that many).
    func prefix(_ count: Int) -> SegmentIndex {
        guard count < self.count else { return self }
        return SegmentIndex(
            relativeOffsets: Array(self.relativeOffsets.prefix(count)),
            positions: Array(self.positions.prefix(count)),
            maxTimestampsBefore: Array(self.maxTimestampsBefore.prefix(count))
        )
    }

    mutating func add(relativeOffset: UInt32, position: UInt32, maxTimestampBefore: Int64) {
        precondition(self.positions.last.map { position > $0 } ?? true, "index positions must increase")
        precondition(self.relativeOffsets.last.map { relativeOffset >= $0 } ?? true, "index offsets must not decrease")
        self.relativeOffsets.append(relativeOffset)
        self.positions.append(position)
        self.maxTimestampsBefore.append(maxTimestampBefore)
    }

    /// The position of the last indexed batch whose first offset is <= `relativeOffset`, or nil.
    func position(forRelativeOffset relativeOffset: UInt32) -> UInt32? {
        var low = 0
        var high = self.count
        while low < high {
            let middle = (low + high) / 2
            if self.relativeOffsets[middle] <= relativeOffset { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : self.positions[low - 1]
    }

    /// The position of the last indexed batch before which every record is older than `timestamp`.
    func position(forTimestamp timestamp: Int64) -> UInt32? {
        var low = 0
        var high = self.count
        while low < high {
            let middle = (low + high) / 2
            if self.maxTimestampsBefore[middle] < timestamp { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : self.positions[low - 1]
    }
}

/// Summary fields stored in both index files' headers, so that a sealed segment opens without a scan.
struct SegmentSummary: Sendable, Equatable {
    var baseOffset: UInt64
    /// Bytes of the segment file the index covers (the whole file for a sealed segment).
    var segmentBytes: UInt64
    /// The offset after the segment's last record.
    var nextOffset: UInt64
    /// The maximum record timestamp in the segment (Int64.min when it has no records).
    var maxTimestamp: Int64
    /// Chain hash of the segment's last frame (the segment header's anchor if it has none).
    var lastHash: [UInt8]
    /// Position of the dictionary batch in force at the segment's end (0 = none).
    var dictionaryPosition: UInt32
}

/// Encoding of `.index` (kind 1) and `.timeindex` (kind 2) files. See FORMAT.md §5.
enum IndexFile {
    static let kindOffset: UInt8 = 1
    static let kindTime: UInt8 = 2
    // Header: magic 4, version 2, kind 1, reserved 1, base 8, entries 4, dictionaryPosition 4,
    // segmentBytes 8, nextOffset 8, maxTimestamp 8, lastHash 32, reserved 12, crc 4 = 96 bytes.
    static let headerBytes = 96

    static func encode(kind: UInt8, summary: SegmentSummary, index: SegmentIndex) -> [UInt8] {
        precondition(summary.lastHash.count == 32)
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(Layout.indexMagic)
        bytes.appendLittleEndian(Layout.formatVersion)
        bytes.append(kind)
        bytes.append(0)
        bytes.appendLittleEndian(summary.baseOffset)
        bytes.appendLittleEndian(UInt32(index.count))
        bytes.appendLittleEndian(summary.dictionaryPosition)
        bytes.appendLittleEndian(summary.segmentBytes)
        bytes.appendLittleEndian(summary.nextOffset)
        bytes.appendLittleEndian(summary.maxTimestamp)
        bytes.append(contentsOf: summary.lastHash)
        bytes.append(contentsOf: repeatElement(0, count: 12))
        precondition(bytes.count == Self.headerBytes - 4)
        bytes.appendLittleEndian(UInt32(0))  // CRC placeholder, covers header and entries
        for entry in 0..<index.count {
            if kind == Self.kindOffset {
                bytes.appendLittleEndian(index.relativeOffsets[entry])
                bytes.appendLittleEndian(index.positions[entry])
            } else {
                bytes.appendLittleEndian(index.maxTimestampsBefore[entry])
                bytes.appendLittleEndian(index.relativeOffsets[entry])
            }
        }
        var crc = bytes.withUnsafeBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(Self.headerBytes - 4)]))
        }
        crc = bytes.withUnsafeBytes {
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[Self.headerBytes...]), continuing: crc)
        }
        bytes.storeLittleEndian(crc, at: Self.headerBytes - 4)
        return bytes
    }

    /// Decodes an index file; nil when it is damaged in any way (the caller rebuilds it from the segment).
    static func decode(_ bytes: [UInt8], kind: UInt8) -> (SegmentSummary, entries: [(UInt32, UInt32, Int64)])? {
        guard bytes.count >= Self.headerBytes else { return nil }
        return bytes.withUnsafeBytes { raw -> (SegmentSummary, entries: [(UInt32, UInt32, Int64)])? in
            guard raw.loadLittleEndian(at: 0, as: UInt32.self) == Layout.indexMagic,
                raw.loadLittleEndian(at: 4, as: UInt16.self) == Layout.formatVersion,
                raw[6] == kind
            else { return nil }
            let count = Int(raw.loadLittleEndian(at: 16, as: UInt32.self))
            let entryBytes = kind == Self.kindOffset ? Layout.offsetIndexEntryBytes : Layout.timeIndexEntryBytes
            guard raw.count == Self.headerBytes + count * entryBytes else { return nil }
            var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(Self.headerBytes - 4)]))
            crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[Self.headerBytes...]), continuing: crc)
            guard crc == raw.loadLittleEndian(at: Self.headerBytes - 4, as: UInt32.self) else { return nil }
            let summary = SegmentSummary(
                baseOffset: raw.loadLittleEndian(at: 8, as: UInt64.self),
                segmentBytes: raw.loadLittleEndian(at: 24, as: UInt64.self),
                nextOffset: raw.loadLittleEndian(at: 32, as: UInt64.self),
                maxTimestamp: raw.loadLittleEndian(at: 40, as: Int64.self),
                lastHash: Array(raw[48..<80]),
                dictionaryPosition: raw.loadLittleEndian(at: 20, as: UInt32.self)
            )
            var entries: [(UInt32, UInt32, Int64)] = []
            entries.reserveCapacity(count)
            for entry in 0..<count {
                let at = Self.headerBytes + entry * entryBytes
                if kind == Self.kindOffset {
                    entries.append(
                        (
                            raw.loadLittleEndian(at: at, as: UInt32.self),
                            raw.loadLittleEndian(at: at + 4, as: UInt32.self), 0
                        )
                    )
                } else {
                    entries.append(
                        (
                            raw.loadLittleEndian(at: at + 8, as: UInt32.self), 0,
                            raw.loadLittleEndian(at: at, as: Int64.self)
                        )
                    )
                }
            }
            return (summary, entries)
        }
    }

    /// Writes both index files of a segment atomically.
    static func write(summary: SegmentSummary, index: SegmentIndex, segmentPath: String, directory: String)
        throws(LedgerError)
    {
        let stem = String(segmentPath.dropLast(4))
        try FileSystem.writeAtomically(
            Self.encode(kind: Self.kindOffset, summary: summary, index: index),
            to: stem + ".index",
            directory: directory
        )
        try FileSystem.writeAtomically(
            Self.encode(kind: Self.kindTime, summary: summary, index: index),
            to: stem + ".timeindex",
            directory: directory
        )
    }

    /// Loads both index files; nil if either is missing, damaged, or disagrees with the other or the segment size.
    static func load(segmentPath: String, expectedBase: UInt64, segmentBytes: UInt64) -> (SegmentSummary, SegmentIndex)?
    {
        let stem = String(segmentPath.dropLast(4))
        guard let offsetFile = try? Self.readWhole(stem + ".index"),
            let timeFile = try? Self.readWhole(stem + ".timeindex"),
            let (summary, offsets) = Self.decode(offsetFile, kind: Self.kindOffset),
            let (timeSummary, times) = Self.decode(timeFile, kind: Self.kindTime),
            summary == timeSummary,
            summary.baseOffset == expectedBase,
            summary.segmentBytes == segmentBytes,
            offsets.count == times.count
        else { return nil }
        var index = SegmentIndex()
        for entry in 0..<offsets.count {
            guard offsets[entry].0 == times[entry].0,
                index.positions.last.map({ offsets[entry].1 > $0 }) ?? true,
                UInt64(offsets[entry].1) < segmentBytes
            else { return nil }
            index.add(relativeOffset: offsets[entry].0, position: offsets[entry].1, maxTimestampBefore: times[entry].2)
        }
        return (summary, index)
    }

    static func readWhole(_ path: String) throws(LedgerError) -> [UInt8] {
        let handle = try FileHandle.open(path, writable: false)
        return try handle.read(count: Int(try handle.size()), at: 0)
    }
}
