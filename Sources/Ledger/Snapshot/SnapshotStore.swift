internal import CLZ4

/// A snapshot of derived state taken at a log offset.
public struct Snapshot: Sendable, Equatable {
    /// The state reflects every record with an offset below this one.
    public let offset: UInt64
    /// The snapshot's owner-defined format version (the log does not interpret the state).
    public let stateVersion: UInt32
    /// When it was written (microseconds, UTC).
    public let createdAtMicros: Int64
    /// The opaque state bytes.
    public let state: [UInt8]
}

/// A snapshot file that failed its checks.
public struct SnapshotDamage: Sendable, Equatable {
    public let path: String
    public let reason: String
}

/// Stores opaque state blobs at log offsets: LZ4-compressed, CRC-32C-checked, versioned, written atomically.
///
/// Files are `snapshots/<20-digit offset>.snap`. A write goes to a temporary file that is synced and then
/// renamed, so a crash mid-write leaves either the old set of snapshots or the new one, and never a file
/// that looks complete but is not. `latest()` returns the newest snapshot that passes every check and
/// reports the damaged ones it passed over: a damaged snapshot costs only replay time, because the log is
/// the truth.
public struct SnapshotStore: Sendable {
    public let directory: String
    static let magic: UInt32 = 0x4E53_4253  // "SBSN"
    static let headerBytes = 56
    /// Compressed with LZ4's block API, whose inputs are limited to ~2 GB; 1 GiB keeps a wide margin.
    public static let stateBytesMax = 1 << 30

    /// - Parameter logDirectory: the log's directory; snapshots live in its `snapshots/` subdirectory.
    public init(logDirectory: String) {
        self.directory = logDirectory + "/snapshots"
    }

    /// Writes a snapshot durably and returns its path.
    @discardableResult
    public func write(
        offset: UInt64,
        state: [UInt8],
        stateVersion: UInt32,
        createdAtMicros: Int64 = wallClockMicros()
    ) throws(LedgerError) -> String {
        guard state.count <= Self.stateBytesMax else {
            throw LedgerError(code: .tooLarge, message: "snapshot state of \(state.count) bytes exceeds 1 GiB")
        }
        try FileSystem.createDirectory(self.directory)
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(Self.magic)
        bytes.appendLittleEndian(Layout.formatVersion)
        bytes.appendLittleEndian(UInt16(0))
        bytes.appendLittleEndian(offset)
        bytes.appendLittleEndian(createdAtMicros)
        bytes.appendLittleEndian(stateVersion)
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(UInt64(state.count))
        let sizeIndex = bytes.count
        bytes.appendLittleEndian(UInt64(0))
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(UInt32(0))  // CRC
        precondition(bytes.count == Self.headerBytes)
        let compressor = LZ4Compressor()
        let compressed = state.withUnsafeBytes { compressor.compress($0, appendingTo: &bytes, useDictionary: false) }
        bytes.storeLittleEndian(UInt64(compressed), at: sizeIndex)
        let crc = bytes.withUnsafeBytes { raw in
            CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: raw[Self.headerBytes...]),
                continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(Self.headerBytes - 4)]))
            )
        }
        bytes.storeLittleEndian(crc, at: Self.headerBytes - 4)
        let path = self.directory + "/" + SegmentName.stem(offset) + ".snap"
        try FileSystem.writeAtomically(bytes, to: path, directory: self.directory)
        // Paired assertion: the snapshot we just wrote must read back.
        assert(
            (try? self.read(path: path))
                == Snapshot(offset: offset, stateVersion: stateVersion, createdAtMicros: createdAtMicros, state: state)
        )
        return path
    }

    /// Paths of all snapshot files, oldest offset first.
    public func list() throws(LedgerError) -> [String] {
        guard FileSystem.isDirectory(self.directory) else { return [] }
        return try FileSystem.list(self.directory).filter { $0.hasSuffix(".snap") }.map { self.directory + "/" + $0 }
    }

    /// Reads and checks one snapshot file.
    public func read(path: String) throws(LedgerError) -> Snapshot {
        let bytes = try IndexFile.readWhole(path)
        return try typed {
            try bytes.withUnsafeBytes { raw throws(LedgerError) -> Snapshot in
                guard raw.count >= Self.headerBytes, raw.loadLittleEndian(at: 0, as: UInt32.self) == Self.magic else {
                    throw .corrupt("not a snapshot file (bad magic or truncated header)", path: path, position: 0)
                }
                let version = raw.loadLittleEndian(at: 4, as: UInt16.self)
                guard version == Layout.formatVersion else {
                    throw LedgerError(
                        code: .unsupportedVersion,
                        message: "snapshot format version \(version)",
                        path: path,
                        position: 4
                    )
                }
                let stateBytes = raw.loadLittleEndian(at: 32, as: UInt64.self)
                let compressedBytes = raw.loadLittleEndian(at: 40, as: UInt64.self)
                guard compressedBytes == UInt64(raw.count - Self.headerBytes) else {
                    throw .corrupt(
                        "snapshot size field says \(compressedBytes) bytes, file holds \(raw.count - Self.headerBytes)",
                        path: path,
                        position: 40
                    )
                }
                guard stateBytes <= UInt64(Self.stateBytesMax) else {
                    throw .corrupt(
                        "snapshot declares \(stateBytes) bytes of state, over the limit",
                        path: path,
                        position: 32
                    )
                }
                let crc = CRC32C.checksum(
                    UnsafeRawBufferPointer(rebasing: raw[Self.headerBytes...]),
                    continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(Self.headerBytes - 4)]))
                )
                guard crc == raw.loadLittleEndian(at: Self.headerBytes - 4, as: UInt32.self) else {
                    throw .corrupt("snapshot checksum mismatch", path: path, position: 0)
                }
                var state = [UInt8](repeating: 0, count: Int(stateBytes))
                let ok = state.withUnsafeMutableBytes { target in
                    LZ4Codec.decompress(
                        UnsafeRawBufferPointer(rebasing: raw[Self.headerBytes...]),
                        into: target,
                        dictionary: nil
                    )
                }
                guard ok else {
                    throw .corrupt(
                        "snapshot body does not decompress to its declared size",
                        path: path,
                        position: UInt64(Self.headerBytes)
                    )
                }
                return Snapshot(
                    offset: raw.loadLittleEndian(at: 8, as: UInt64.self),
                    stateVersion: raw.loadLittleEndian(at: 24, as: UInt32.self),
                    createdAtMicros: raw.loadLittleEndian(at: 16, as: Int64.self),
                    state: state
                )
            }
        }
    }

    /// The newest snapshot that passes every check (optionally at or below `offset`), and the damaged ones skipped.
    public func latest(atOrBefore offset: UInt64 = .max) throws(LedgerError) -> (
        snapshot: Snapshot?, damaged: [SnapshotDamage]
    ) {
        var damaged: [SnapshotDamage] = []
        for path in try self.list().reversed() {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            guard let named = UInt64(name.dropLast(5)), named <= offset else { continue }
            do {
                let snapshot = try self.read(path: path)
                guard snapshot.offset == named else {
                    damaged.append(SnapshotDamage(path: path, reason: "file name and header disagree on the offset"))
                    continue
                }
                return (snapshot, damaged)
            } catch {
                damaged.append(SnapshotDamage(path: path, reason: error.description))
            }
        }
        return (nil, damaged)
    }

    /// Deletes all but the newest `keep` snapshots.
    public func prune(keep: Int) throws(LedgerError) {
        precondition(keep >= 1)
        let paths = try self.list()
        for path in paths.dropLast(keep) { try FileSystem.remove(path) }
        if paths.count > keep { try FileSystem.syncDirectory(self.directory) }
    }
}
