internal import Crypto
import Foundation

/// One file of a backup, as the manifest records it.
public struct BackupFile: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable {
        /// A sealed segment, stored once in the repository's `segments/` and shared by later backups.
        case sealedSegment = "sealed-segment"
        /// The open segment, copied up to the committed size at the time of the backup.
        case openSegment = "open-segment"
        case snapshot
    }

    /// Path relative to the repository root.
    public var path: String
    public var role: Role
    public var bytes: UInt64
    /// SHA-256 of the file's bytes, hex.
    public var sha256: String
    /// For segments: the first offset and the offset after the last record; for a snapshot, both are its offset.
    public var baseOffset: UInt64
    public var nextOffset: UInt64
    /// False when an earlier backup had already stored the file (incremental backups copy only what is new).
    public var copied: Bool
}

/// What a backup holds: enough to rebuild the log up to `nextOffset` and to check every byte of it.
public struct BackupManifest: Codable, Sendable, Equatable {
    public var format = 1
    /// The backup's name inside the repository (`yyyyMMdd'T'HHmmss'Z'`, sorting in time order).
    public var id: String
    public var createdAtMicros: Int64
    /// The log directory the backup was taken from.
    public var source: String
    /// The backup holds records `[0, nextOffset)`.
    public var nextOffset: UInt64
    /// The hash of the log's last frame at the backup (the chain head): a restore must arrive at it.
    public var headHash: String
    public var maxTimestamp: Int64?
    public var files: [BackupFile]

    public var totalBytes: UInt64 { self.files.reduce(0) { $0 + $1.bytes } }
    public var copiedBytes: UInt64 { self.files.filter(\.copied).reduce(0) { $0 + $1.bytes } }
}

/// A problem found in a backup: the file (repository-relative when it is one of the backup's) and why.
public struct BackupDamage: Sendable, Equatable, CustomStringConvertible {
    public let backup: String
    public let path: String
    public let reason: String
    public var description: String { "\(self.backup): \(self.path): \(self.reason)" }
}

/// What a restore did.
public struct RestoreReport: Sendable {
    public var backup: String
    /// The restored log holds records `[0, nextOffset)`.
    public var nextOffset: UInt64
    /// Records of the backup left out (point-in-time restore).
    public var droppedRecords: UInt64
    /// Records of a frame cut by the chosen point, appended again as a frame of their own.
    public var reappendedRecords: Int
    public var segments: Int
    public var snapshots: Int
    public var headHash: String
}

/// Online, incremental backups of a log directory, and point-in-time restores from them.
///
/// A repository is a directory:
/// ```
/// REPO/segments/<base>.log          sealed segments, stored once, shared by every backup that needs them
/// REPO/<id>/<base>.log              the open segment, up to the committed size at backup time
/// REPO/<id>/snapshots/<offset>.snap the newest valid snapshot at or below the backup's offset
/// REPO/<id>/manifest.json           sizes and SHA-256 of every file; written last, so a backup without it
///                                   is incomplete and ignored
/// ```
/// A backup reads the log through a read-only open: it takes no lock and runs beside the writer. Sealed
/// segments never change and the open segment is copied only up to its committed size, so the backup is a
/// consistent prefix of the log (its chain head is recorded and checked again on restore).
public enum LogBackup {
    static let segmentsDirectory = "segments"
    static let manifestName = "manifest.json"

    /// Takes a backup of the log in `logDirectory` into the repository `repository`.
    ///
    /// - Parameter keep: afterwards, keep only the newest `keep` backups (and the segments they use).
    public static func create(
        logDirectory: String,
        repository: String,
        keep: Int? = nil,
        now: Int64 = wallClockMicros()
    ) throws(LedgerError) -> BackupManifest {
        if let keep, keep < 1 { throw LedgerError(code: .invalidArgument, message: "--keep must be at least 1") }
        let log = try EventLog(directory: logDirectory, readOnly: true)
        defer { log.close() }
        let segments = log.segments
        guard let head = segments.last, head.nextOffset > 0 else {
            throw LedgerError(
                code: .notFound,
                message: "the log holds no records: nothing to back up",
                path: logDirectory
            )
        }
        try FileSystem.createDirectory(repository + "/" + Self.segmentsDirectory)
        var id = Self.backupID(now)
        var suffix = 1
        while FileSystem.exists(repository + "/" + id) {
            suffix += 1
            id = Self.backupID(now) + String(format: "-%03d", suffix)  // zero-padded: names keep sorting in time order
        }
        let backupDirectory = repository + "/" + id
        try FileSystem.createDirectory(backupDirectory)
        // Checksums of the sealed segments the repository already holds (their manifests vouch for them).
        var known: [String: BackupFile] = [:]
        for manifest in (try? Self.list(repository: repository)) ?? [] {
            for file in manifest.files where file.role == .sealedSegment { known[file.path] = file }
        }
        var files: [BackupFile] = []
        for segment in segments {
            let name = SegmentName.stem(segment.baseOffset) + ".log"
            if segment.sealed {
                let relative = Self.segmentsDirectory + "/" + name
                if let stored = known[relative], stored.bytes == segment.bytes,
                    FileSystem.size(repository + "/" + relative) == segment.bytes
                {
                    files.append(
                        BackupFile(
                            path: relative,
                            role: .sealedSegment,
                            bytes: segment.bytes,
                            sha256: stored.sha256,
                            baseOffset: segment.baseOffset,
                            nextOffset: segment.nextOffset,
                            copied: false
                        )
                    )
                    continue
                }
                let digest = try Self.copy(segment.path, bytes: segment.bytes, to: repository + "/" + relative)
                files.append(
                    BackupFile(
                        path: relative,
                        role: .sealedSegment,
                        bytes: segment.bytes,
                        sha256: digest,
                        baseOffset: segment.baseOffset,
                        nextOffset: segment.nextOffset,
                        copied: true
                    )
                )
            } else {
                let relative = id + "/" + name
                let digest = try Self.copy(segment.path, bytes: segment.bytes, to: repository + "/" + relative)
                files.append(
                    BackupFile(
                        path: relative,
                        role: .openSegment,
                        bytes: segment.bytes,
                        sha256: digest,
                        baseOffset: segment.baseOffset,
                        nextOffset: segment.nextOffset,
                        copied: true
                    )
                )
            }
        }
        let snapshots = SnapshotStore(logDirectory: logDirectory)
        if let snapshot = try snapshots.latest(atOrBefore: head.nextOffset).snapshot {
            let name = SegmentName.stem(snapshot.offset) + ".snap"
            let source = snapshots.directory + "/" + name
            if let bytes = FileSystem.size(source) {
                try FileSystem.createDirectory(backupDirectory + "/snapshots")
                let relative = id + "/snapshots/" + name
                let digest = try Self.copy(source, bytes: bytes, to: repository + "/" + relative)
                files.append(
                    BackupFile(
                        path: relative,
                        role: .snapshot,
                        bytes: bytes,
                        sha256: digest,
                        baseOffset: snapshot.offset,
                        nextOffset: snapshot.offset,
                        copied: true
                    )
                )
            }
        }
        let manifest = BackupManifest(
            id: id,
            createdAtMicros: now,
            source: logDirectory,
            nextOffset: head.nextOffset,
            headHash: try log.headHash(),
            maxTimestamp: segments.compactMap(\.maxTimestamp).max(),
            files: files
        )
        try Self.writeManifest(manifest, directory: backupDirectory)
        if let keep { try Self.prune(repository: repository, keep: keep) }
        return manifest
    }

    /// The complete backups of a repository (those with a manifest), oldest first.
    public static func list(repository: String) throws(LedgerError) -> [BackupManifest] {
        guard FileSystem.isDirectory(repository) else {
            throw LedgerError(code: .notFound, message: "no backup repository", path: repository)
        }
        var manifests: [BackupManifest] = []
        for name in try FileSystem.list(repository) where name != Self.segmentsDirectory {
            let path = repository + "/" + name + "/" + Self.manifestName
            guard FileSystem.exists(path) else { continue }
            manifests.append(try Self.readManifest(path))
        }
        return manifests.sorted { $0.id < $1.id }
    }

    /// Resolves `--from`: a repository (its newest backup, or `id`) or one backup's own directory.
    public static func locate(_ path: String, id: String? = nil) throws(LedgerError) -> (
        repository: String, manifest: BackupManifest
    ) {
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        if id == nil, FileSystem.exists(trimmed + "/" + Self.manifestName) {
            let manifest = try Self.readManifest(trimmed + "/" + Self.manifestName)
            let parent = trimmed.contains("/") ? String(trimmed[..<trimmed.lastIndex(of: "/")!]) : "."
            return (parent.isEmpty ? "/" : parent, manifest)
        }
        let all = try Self.list(repository: trimmed)
        if let id {
            guard let manifest = all.first(where: { $0.id == id }) else {
                throw LedgerError(
                    code: .notFound,
                    message: "no backup \(id) (have: \(all.map(\.id).joined(separator: ", ")))",
                    path: trimmed
                )
            }
            return (trimmed, manifest)
        }
        guard let newest = all.last else {
            throw LedgerError(code: .notFound, message: "the repository holds no complete backup", path: trimmed)
        }
        return (trimmed, newest)
    }

    /// Checks a backup without restoring it: every file's presence, size and SHA-256, offset continuity, then the
    /// log itself (frames, CRCs, records, hash chain) up to the manifest's head hash.
    public static func verify(repository: String, manifest: BackupManifest) throws(LedgerError) -> [BackupDamage] {
        var damage: [BackupDamage] = []
        func damaged(_ path: String, _ reason: String) {
            damage.append(BackupDamage(backup: manifest.id, path: path, reason: reason))
        }
        for file in manifest.files {
            let path = repository + "/" + file.path
            guard let size = FileSystem.size(path) else {
                damaged(file.path, "missing")
                continue
            }
            guard size == file.bytes else {
                damaged(file.path, "holds \(size) bytes, the manifest says \(file.bytes)")
                continue
            }
            let digest = try Self.sha256(path)
            if digest != file.sha256 {
                damaged(
                    file.path,
                    "SHA-256 \(digest.prefix(16))… differs from the manifest's \(file.sha256.prefix(16))… (damaged)"
                )
            }
        }
        let segments = manifest.files.filter { $0.role != .snapshot }.sorted { $0.baseOffset < $1.baseOffset }
        var expected: UInt64 = 0
        for segment in segments {
            if segment.baseOffset != expected {
                damaged(
                    segment.path,
                    "starts at offset \(segment.baseOffset), expected \(expected): a segment is missing"
                )
            }
            expected = segment.nextOffset
        }
        if expected != manifest.nextOffset {
            damaged(Self.manifestName, "segments end at offset \(expected), the manifest says \(manifest.nextOffset)")
        }
        guard damage.isEmpty else { return damage }
        // The bytes are the ones backed up; now check they are a valid log ending at the recorded head.
        let staging = try Self.stage(repository: repository, manifest: manifest)
        defer { try? FileManager.default.removeItem(atPath: staging.directory) }
        let report = try LogVerifier.verify(directory: staging.directory)
        for problem in report.problems where problem.severity == .error {
            let name = problem.path.split(separator: "/").last.map(String.init) ?? problem.path
            damaged(
                staging.origin[name] ?? problem.path,
                "\(problem.message)\(problem.position.map { " at byte \($0)" } ?? "")"
            )
        }
        if damage.isEmpty {
            if report.nextOffset != manifest.nextOffset {
                damaged(
                    Self.manifestName,
                    "the log ends at offset \(report.nextOffset), the manifest says \(manifest.nextOffset)"
                )
            }
            if report.headHash != manifest.headHash {
                damaged(
                    Self.manifestName,
                    "the chain head is \(report.headHash.prefix(16))…, the manifest says \(manifest.headHash.prefix(16))…"
                )
            }
        }
        return damage
    }

    /// Restores a backup into `logDirectory` (which must not exist or be empty), keeping records below `toOffset`.
    ///
    /// The backup is verified first (a damaged backup restores nothing). When `toOffset` falls inside a frame,
    /// the frame's records below it are appended again with their original payloads and timestamps: the
    /// restored log holds exactly records `[0, toOffset)`, with a valid hash chain.
    public static func restore(
        repository: String,
        manifest: BackupManifest,
        to logDirectory: String,
        toOffset: UInt64? = nil
    ) async throws(LedgerError) -> RestoreReport {
        if FileSystem.isDirectory(logDirectory), !(try FileSystem.list(logDirectory)).isEmpty {
            throw LedgerError(
                code: .invalidArgument,
                message: "the target directory is not empty; restore refuses to mix logs",
                path: logDirectory
            )
        }
        let damage = try Self.verify(repository: repository, manifest: manifest)
        if let first = damage.first {
            throw LedgerError(
                code: .corrupt,
                message:
                    "the backup is damaged: \(first.reason)\(damage.count > 1 ? " (and \(damage.count - 1) more)" : "")",
                path: repository + "/" + first.path
            )
        }
        let end = min(toOffset ?? manifest.nextOffset, manifest.nextOffset)
        try FileSystem.createDirectory(logDirectory)
        var segments = 0
        for file in manifest.files where file.role != .snapshot && file.baseOffset < max(end, 1) {
            _ = try Self.copy(
                repository + "/" + file.path,
                bytes: file.bytes,
                to: logDirectory + "/" + SegmentName.stem(file.baseOffset) + ".log"
            )
            segments += 1
        }
        var snapshots = 0
        for file in manifest.files where file.role == .snapshot && file.baseOffset <= end {
            try FileSystem.createDirectory(logDirectory + "/snapshots")
            _ = try Self.copy(
                repository + "/" + file.path,
                bytes: file.bytes,
                to: logDirectory + "/snapshots/" + SegmentName.stem(file.baseOffset) + ".snap"
            )
            snapshots += 1
        }
        var reappended = 0
        if end < manifest.nextOffset { reappended = try await Self.cut(logDirectory: logDirectory, at: end) }
        // A writable open rebuilds the indexes and leaves a clean, closed log; the verifier reports the head.
        let log = try EventLog(directory: logDirectory)
        log.close()
        let report = try LogVerifier.verify(directory: logDirectory)
        guard report.isValid, report.nextOffset == end else {
            throw LedgerError(
                code: .corrupt,
                message:
                    "the restored log does not verify: \(report.firstError?.description ?? "ends at \(report.nextOffset), expected \(end)")",
                path: logDirectory
            )
        }
        if end == manifest.nextOffset, report.headHash != manifest.headHash {
            throw LedgerError(
                code: .corrupt,
                message: "the restored chain head differs from the backup's",
                path: logDirectory
            )
        }
        return RestoreReport(
            backup: manifest.id,
            nextOffset: end,
            droppedRecords: manifest.nextOffset - end,
            reappendedRecords: reappended,
            segments: segments,
            snapshots: snapshots,
            headHash: report.headHash
        )
    }

    /// The first offset of the backup whose record timestamp is at or after `timestamp` (for `--to-time`).
    public static func offset(repository: String, manifest: BackupManifest, atOrAfterTimestamp timestamp: Int64)
        throws(LedgerError) -> UInt64
    {
        let staging = try Self.stage(repository: repository, manifest: manifest)
        defer { try? FileManager.default.removeItem(atPath: staging.directory) }
        let log = try EventLog(directory: staging.directory, readOnly: true)
        defer { log.close() }
        return try log.offset(atOrAfterTimestamp: timestamp)
    }

    /// Deletes all but the newest `keep` backups, then the shared segments no remaining backup uses.
    public static func prune(repository: String, keep: Int) throws(LedgerError) {
        let all = try Self.list(repository: repository)
        guard all.count > keep else { return }
        for manifest in all.dropLast(keep) {
            do { try FileManager.default.removeItem(atPath: repository + "/" + manifest.id) } catch {
                throw LedgerError(
                    code: .io,
                    message: "cannot delete old backup: \(error)",
                    path: repository + "/" + manifest.id
                )
            }
        }
        let used = Set(all.suffix(keep).flatMap { $0.files.map(\.path) })
        for name in try FileSystem.list(repository + "/" + Self.segmentsDirectory)
        where !used.contains(Self.segmentsDirectory + "/" + name) {
            try FileSystem.remove(repository + "/" + Self.segmentsDirectory + "/" + name)
        }
        try FileSystem.syncDirectory(repository)
    }

    // MARK: - Pieces

    /// Cuts a closed log directory back to records `[0, offset)`: later segments go, the segment holding the
    /// record before `offset` is truncated at a frame boundary, and the records of a frame that `offset` cuts
    /// through are appended again (same payloads and timestamps; a new frame, so a valid chain).
    static func cut(logDirectory: String, at offset: UInt64) async throws(LedgerError) -> Int {
        let log = try EventLog(directory: logDirectory, readOnly: true)
        let segments = log.segments
        // The segment keeping the last record below the cut (the first segment when nothing is kept).
        guard let holder = segments.last(where: { $0.baseOffset < offset }) ?? segments.first else {
            log.close()
            return 0
        }
        var position = holder.bytes
        var frameBase: UInt64?
        let handle = try FileHandle.open(holder.path, writable: false)
        var reader = FrameReader(handle: handle, from: UInt64(Layout.segmentHeaderBytes), limit: holder.bytes)
        scanning: while true {
            let (step, _) = try reader.next { _, _, _ in () }
            switch step {
            case .frame(let header, let at):
                if header.baseOffset >= offset {
                    position = at
                    break scanning
                }
                if !header.isDictionary, header.nextOffset > offset {
                    position = at
                    frameBase = header.baseOffset
                    break scanning
                }
            case .defect(let defect, let at):
                log.close()
                throw LedgerError.corrupt(
                    "frame defect while cutting the log: \(defect)",
                    path: holder.path,
                    position: at
                )
            case .end:
                break scanning
            }
        }
        var kept: [(payload: [UInt8], timestamp: Int64)] = []
        if let frameBase {
            try log.scan(from: frameBase, to: offset) { view in
                kept.append((Array(view.payload), view.timestamp))
                return .continue
            }
        }
        log.close()
        // Later segments go, and every index file and the clean marker (derived; the next open rebuilds them).
        for name in try FileSystem.list(logDirectory) {
            if let base = SegmentName.baseOffset(of: name), base > holder.baseOffset {
                try FileSystem.remove(logDirectory + "/" + name)
            } else if name.hasSuffix(".index") || name.hasSuffix(".timeindex") || name == Recovery.cleanMarker {
                try FileSystem.remove(logDirectory + "/" + name)
            }
        }
        let writable = try FileHandle.open(holder.path, writable: true)
        try writable.truncate(to: position)
        try writable.sync()
        for snapshot in (try? FileSystem.list(logDirectory + "/snapshots")) ?? [] {
            if let named = UInt64(snapshot.prefix(20)), named > offset {
                try FileSystem.remove(logDirectory + "/snapshots/" + snapshot)
            }
        }
        try FileSystem.syncDirectory(logDirectory)
        guard !kept.isEmpty else { return 0 }
        let reopened = try EventLog(directory: logDirectory)
        defer { reopened.close() }
        var batch = AppendBatch()
        for record in kept { batch.append(record.payload, timestamp: record.timestamp) }
        _ = try await reopened.append(batch)
        return kept.count
    }

    /// The backup's log assembled in a temporary directory of symbolic links, and each link's repository path.
    static func stage(repository: String, manifest: BackupManifest) throws(LedgerError) -> (
        directory: String, origin: [String: String]
    ) {
        let directory = NSTemporaryDirectory() + "stockboom-backup-verify-\(UUID().uuidString)"
        try FileSystem.createDirectory(directory)
        var origin: [String: String] = [:]
        let root = repository.hasPrefix("/") ? repository : FileManager.default.currentDirectoryPath + "/" + repository
        for file in manifest.files where file.role != .snapshot {
            let name = SegmentName.stem(file.baseOffset) + ".log"
            guard symlink(root + "/" + file.path, directory + "/" + name) == 0 else {
                throw LedgerError(
                    code: .io,
                    message: "cannot link \(file.path) for verification",
                    path: directory,
                    errno: errno
                )
            }
            origin[name] = file.path
        }
        return (directory, origin)
    }

    /// Copies the first `bytes` bytes of `source` to `target` atomically (temporary file, fsync, rename), returning
    /// their SHA-256.
    static func copy(_ source: String, bytes: UInt64, to target: String) throws(LedgerError) -> String {
        let input = try FileHandle.open(source, writable: false)
        let temporary = target + ".tmp"
        if FileSystem.exists(temporary) { try FileSystem.remove(temporary) }
        let output = try FileHandle.create(temporary)
        var hasher = SHA256()
        var position: UInt64 = 0
        while position < bytes {
            let chunk = try input.read(count: Int(min(UInt64(4 << 20), bytes - position)), at: position)
            guard !chunk.isEmpty else {
                throw LedgerError(
                    code: .io,
                    message: "file ended at byte \(position) while copying \(bytes)",
                    path: source
                )
            }
            hasher.update(data: chunk)
            try output.write(chunk, at: position)
            position += UInt64(chunk.count)
        }
        try output.sync()
        try FileSystem.rename(temporary, target)
        let parent = String(target[..<(target.lastIndex(of: "/") ?? target.startIndex)])
        try FileSystem.syncDirectory(parent.isEmpty ? "." : parent)
        return Self.hex(hasher.finalize())
    }

    static func sha256(_ path: String) throws(LedgerError) -> String {
        let input = try FileHandle.open(path, writable: false)
        let size = try input.size()
        var hasher = SHA256()
        var position: UInt64 = 0
        while position < size {
            let chunk = try input.read(count: Int(min(UInt64(4 << 20), size - position)), at: position)
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
            position += UInt64(chunk.count)
        }
        return Self.hex(hasher.finalize())
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    static func backupID(_ micros: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(micros) / 1e6))
    }

    static func writeManifest(_ manifest: BackupManifest, directory: String) throws(LedgerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do { data = try encoder.encode(manifest) } catch {
            throw LedgerError(code: .io, message: "cannot encode the manifest: \(error)")
        }
        try FileSystem.writeAtomically(Array(data), to: directory + "/" + Self.manifestName, directory: directory)
    }

    static func readManifest(_ path: String) throws(LedgerError) -> BackupManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LedgerError(code: .notFound, message: "cannot read the manifest", path: path)
        }
        do { return try JSONDecoder().decode(BackupManifest.self, from: data) } catch {
            throw LedgerError.corrupt("the manifest is not valid: \(error)", path: path, position: 0)
        }
    }
}

extension EventLog {
    /// The chain hash (hex) of the last committed frame: what `log verify` prints as the head, found by reading
    /// only the open segment's tail (from its last index entry), not the whole log.
    public func headHash() throws(LedgerError) -> String {
        let segments = self.catalog.withLock { $0.segments }
        guard let last = segments.last else { return ChainHash.hex(Layout.zeroHash) }
        let start = last.index.positions.last.map(UInt64.init) ?? UInt64(Layout.segmentHeaderBytes)
        var reader = FrameReader(handle: last.handle, from: start, limit: last.committedBytes)
        var hash: [UInt8]?
        while true {
            let (step, frameHash) = try reader.next { _, _, frame in ChainHash.of(frame) }
            switch step {
            case .frame: hash = frameHash
            case .defect(let defect, let position):
                throw LedgerError.corrupt("frame defect: \(defect)", path: last.path, position: position)
            case .end:
                if let hash { return ChainHash.hex(hash) }
                // No frame in the open segment: its header's anchor is the previous segment's last frame.
                return ChainHash.hex(try last.handle.read(count: 32, at: 24))
            }
        }
    }
}
