/// One finding of `verify`.
public struct VerifyProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public let severity: Severity
    public let path: String
    public let position: UInt64?
    public let message: String

    public var description: String {
        "\(self.severity): \(self.path)" + (self.position.map { " at byte \($0)" } ?? "") + ": \(self.message)"
    }
}

/// Figures for one segment, as found by a scan.
public struct SegmentStatistics: Sendable {
    public let path: String
    public let baseOffset: UInt64
    public let nextOffset: UInt64
    public let bytes: UInt64
    public let recordFrames: Int
    public let dictionaryFrames: Int
    public let uncompressedBytes: UInt64
    public let firstTimestamp: Int64?
    public let maxTimestamp: Int64?
    public let sealed: Bool
}

/// What `verify` checked and found.
public struct VerifyReport: Sendable {
    public var segmentDetails: [SegmentStatistics] = []
    public var segments = 0
    public var recordFrames = 0
    public var dictionaryFrames = 0
    public var records: UInt64 = 0
    public var segmentBytes: UInt64 = 0
    public var uncompressedBytes: UInt64 = 0
    public var snapshots = 0
    /// Chain hash of the last valid frame (hex): anchoring it elsewhere makes later tampering detectable.
    public var headHash = ChainHash.hex(Layout.zeroHash)
    public var nextOffset: UInt64 = 0
    public var firstTimestamp: Int64?
    public var maxTimestamp: Int64?
    public var problems: [VerifyProblem] = []

    /// True when no error was found (warnings allowed).
    public var isValid: Bool { !self.problems.contains { $0.severity == .error } }
    /// The first error: the file and byte position an operator must look at.
    public var firstError: VerifyProblem? { self.problems.first { $0.severity == .error } }
}

/// Checks a log directory end to end without modifying it: every segment header, every frame's CRC-32C,
/// every record (decompressed and decoded), the hash chain across all frames and segments, offset
/// continuity, index files against the segments, and every snapshot's checksum.
///
/// Verification stops at the first error in the segments (nothing after a broken chain can be trusted);
/// derived files (indexes) produce warnings, since opening the log rebuilds them.
public enum LogVerifier {
    /// - Parameter decodeRecords: decompress and decode every record (false: check CRCs and the chain only,
    ///   which is what `inspect` needs).
    public static func verify(
        directory: String,
        indexIntervalBytes: UInt32 = LogConfiguration().indexIntervalBytes,
        decodeRecords: Bool = true
    ) throws(LedgerError) -> VerifyReport {
        var report = VerifyReport()
        let bases = try FileSystem.list(directory).compactMap(SegmentName.baseOffset(of:))
        guard !bases.isEmpty else {
            throw LedgerError(code: .notFound, message: "no segments in this directory", path: directory)
        }
        var previousHash = Layout.zeroHash
        var expectedBase = bases[0]
        let cleanMarker = FileSystem.exists(directory + "/" + Recovery.cleanMarker)
        for (number, base) in bases.enumerated() {
            let path = SegmentName.path(directory: directory, baseOffset: base)
            let isLast = number == bases.count - 1
            report.segments += 1
            guard base == expectedBase else {
                report.problems.append(
                    .init(
                        severity: .error,
                        path: path,
                        position: 0,
                        message: "segment starts at offset \(base), expected \(expectedBase)"
                    )
                )
                return report
            }
            let handle = try FileHandle.open(path, writable: false)
            let size = try handle.size()
            report.segmentBytes += size
            let header: SegmentHeader
            do {
                header = try SegmentHeader.decode(try handle.read(count: Layout.segmentHeaderBytes, at: 0), path: path)
            } catch {
                report.problems.append(
                    .init(severity: .error, path: path, position: error.position, message: error.message)
                )
                return report
            }
            guard header.previousHash == previousHash, header.baseOffset == base else {
                report.problems.append(
                    .init(
                        severity: .error,
                        path: path,
                        position: 24,
                        message: "chain broken: segment anchor does not match the previous segment's last batch"
                    )
                )
                return report
            }
            let scan = try SegmentScan.run(
                handle: handle,
                header: header,
                limit: size,
                indexIntervalBytes: indexIntervalBytes,
                decode: decodeRecords
            )
            report.segmentDetails.append(
                SegmentStatistics(
                    path: path,
                    baseOffset: base,
                    nextOffset: scan.nextOffset,
                    bytes: size,
                    recordFrames: scan.recordFrames,
                    dictionaryFrames: scan.dictionaryFrames,
                    uncompressedBytes: scan.uncompressedBytes,
                    firstTimestamp: scan.firstTimestamp,
                    maxTimestamp: scan.maxTimestamp == .min ? nil : scan.maxTimestamp,
                    sealed: !isLast
                )
            )
            report.recordFrames += scan.recordFrames
            report.dictionaryFrames += scan.dictionaryFrames
            report.records += scan.records
            report.uncompressedBytes += scan.uncompressedBytes
            if let first = scan.firstTimestamp, report.firstTimestamp == nil { report.firstTimestamp = first }
            if scan.maxTimestamp != .min { report.maxTimestamp = max(report.maxTimestamp ?? .min, scan.maxTimestamp) }
            report.headHash = ChainHash.hex(scan.lastHash)
            report.nextOffset = scan.nextOffset
            if let (defect, position) = scan.defect {
                let later = try SegmentScan.validFrameExists(handle: handle, after: position, limit: size)
                if isLast && later == nil {
                    report.problems.append(
                        .init(
                            severity: .warning,
                            path: path,
                            position: position,
                            message:
                                "torn tail of \(size - position) bytes (\(defect)); the next writable open truncates it"
                        )
                    )
                } else {
                    report.problems.append(
                        .init(severity: .error, path: path, position: position, message: "\(defect)")
                    )
                    return report
                }
            }
            if !isLast || cleanMarker {
                Self.checkIndex(
                    path: path,
                    base: base,
                    size: scan.defect == nil ? size : scan.validBytes,
                    scan: scan,
                    report: &report
                )
            }
            previousHash = scan.lastHash
            expectedBase = scan.nextOffset
        }
        Self.checkSnapshots(directory: directory, nextOffset: report.nextOffset, report: &report)
        return report
    }

    private static func checkIndex(
        path: String,
        base: UInt64,
        size: UInt64,
        scan: SegmentScan,
        report: inout VerifyReport
    ) {
        let stem = String(path.dropLast(4))
        guard FileSystem.exists(stem + ".index"), FileSystem.exists(stem + ".timeindex") else {
            report.problems.append(
                .init(
                    severity: .warning,
                    path: stem + ".index",
                    position: nil,
                    message: "index missing; the next open rebuilds it"
                )
            )
            return
        }
        guard let (summary, index) = IndexFile.load(segmentPath: path, expectedBase: base, segmentBytes: size) else {
            report.problems.append(
                .init(
                    severity: .warning,
                    path: stem + ".index",
                    position: nil,
                    message: "index damaged or stale; the next open rebuilds it"
                )
            )
            return
        }
        let expected = SegmentSummary(
            baseOffset: base,
            segmentBytes: size,
            nextOffset: scan.nextOffset,
            maxTimestamp: scan.maxTimestamp,
            lastHash: scan.lastHash,
            dictionaryPosition: scan.dictionaryPosition
        )
        if summary != expected || index != scan.index {
            report.problems.append(
                .init(
                    severity: .warning,
                    path: stem + ".index",
                    position: nil,
                    message: "index disagrees with its segment; the next open rebuilds it"
                )
            )
        }
    }

    private static func checkSnapshots(directory: String, nextOffset: UInt64, report: inout VerifyReport) {
        let store = SnapshotStore(logDirectory: directory)
        guard let paths = try? store.list() else { return }
        for path in paths {
            report.snapshots += 1
            do {
                let snapshot = try store.read(path: path)
                if snapshot.offset > nextOffset {
                    report.problems.append(
                        .init(
                            severity: .error,
                            path: path,
                            position: 8,
                            message: "snapshot at offset \(snapshot.offset) is beyond the log's end \(nextOffset)"
                        )
                    )
                }
            } catch {
                report.problems.append(
                    .init(severity: .error, path: path, position: error.position, message: error.message)
                )
            }
        }
    }
}
