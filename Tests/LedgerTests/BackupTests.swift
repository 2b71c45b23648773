import Foundation
import Testing

@testable import Ledger

/// Backups taken beside a live writer, incremental copies, verification that names the damaged file, and
/// restores to any offset that hold exactly the records below it.
@Suite struct BackupTests {
    /// Appends `batches` random batches and returns every record written so far.
    static func write(_ log: EventLog, batches: Int, into expected: inout [LogRecord], random: inout SeededRandom)
        async throws
    {
        for _ in 0..<batches {
            var batch = AppendBatch()
            var pending: [(Int64, [UInt8])] = []
            for _ in 0..<Int.random(in: 1...30, using: &random) {
                let timestamp = 1_735_693_200_000_000 + Int64(expected.count + pending.count) * 1_000_000
                let payload = samplePayload(expected.count + pending.count, random: &random)
                batch.append(payload, timestamp: timestamp)
                pending.append((timestamp, payload))
            }
            let result = try await log.append(batch)
            for (index, item) in pending.enumerated() {
                expected.append(
                    LogRecord(offset: result.firstOffset + UInt64(index), timestamp: item.0, payload: item.1)
                )
            }
        }
    }

    @Test func backupsAreIncrementalVerifiableAndRestoreToAnyOffset() async throws {
        let directory = TemporaryDirectory()
        let repository = TemporaryDirectory()
        var random = SeededRandom(seed: 41)
        var expected: [LogRecord] = []
        let live = try EventLog(directory: directory.path, configuration: smallSegments())
        try await Self.write(live, batches: 60, into: &expected, random: &random)
        try SnapshotStore(logDirectory: directory.path).write(
            offset: UInt64(expected.count / 2),
            state: Array(repeating: 7, count: 1_000),
            stateVersion: 1
        )

        // The first backup runs while the writer holds the log open (a read-only open takes no lock).
        let first = try LogBackup.create(
            logDirectory: directory.path,
            repository: repository.path,
            now: 1_764_460_800_000_000
        )
        #expect(first.nextOffset == UInt64(expected.count))
        #expect(first.files.filter { $0.role == .sealedSegment }.count == live.segments.count - 1)
        #expect(first.files.contains { $0.role == .snapshot && $0.baseOffset == UInt64(expected.count / 2) })
        #expect(first.files.allSatisfy { $0.copied })
        #expect(try LogBackup.verify(repository: repository.path, manifest: first).isEmpty)
        let firstHead = first.headHash

        // More records, more sealed segments: the second backup copies only what the first lacks.
        try await Self.write(live, batches: 60, into: &expected, random: &random)
        let second = try LogBackup.create(
            logDirectory: directory.path,
            repository: repository.path,
            now: 1_764_460_900_000_000
        )
        let reused = second.files.filter { !$0.copied }
        #expect(
            reused.count == first.files.filter { $0.role == .sealedSegment }.count,
            "sealed segments already stored are not copied again"
        )
        #expect(second.copiedBytes < second.totalBytes)
        #expect(try LogBackup.list(repository: repository.path).map(\.id) == [first.id, second.id])
        #expect(try LogBackup.verify(repository: repository.path, manifest: second).isEmpty)
        live.close()

        // The chain head recorded by the first backup is the one a full restore of it arrives at.
        let full = TemporaryDirectory()
        let restoredFirst = try await LogBackup.restore(
            repository: repository.path,
            manifest: first,
            to: full.path + "/log"
        )
        #expect(restoredFirst.headHash == firstHead)
        let check = try EventLog(directory: full.path + "/log", readOnly: true)
        #expect(try check.read(from: 0, maxRecords: .max) == Array(expected.prefix(Int(first.nextOffset))))
        check.close()

        // Point in time: offsets inside frames, on frame and segment boundaries, and the first record.
        let segments = second.files.filter { $0.role != .snapshot }
        var cuts: [UInt64] = [
            1, UInt64(expected.count) - 1, segments[1].baseOffset, segments[1].baseOffset + 1,
            segments[2].baseOffset - 1,
        ]
        for _ in 0..<4 { cuts.append(UInt64.random(in: 1..<UInt64(expected.count), using: &random)) }
        var reappended = 0
        for cut in cuts {
            let target = TemporaryDirectory()
            let report = try await LogBackup.restore(
                repository: repository.path,
                manifest: second,
                to: target.path,
                toOffset: cut
            )
            #expect(report.nextOffset == cut)
            #expect(report.droppedRecords == UInt64(expected.count) - cut)
            reappended += report.reappendedRecords
            let restored = try EventLog(directory: target.path, configuration: smallSegments())
            #expect(
                try restored.read(from: 0, maxRecords: .max) == Array(expected.prefix(Int(cut))),
                "restore to \(cut)"
            )
            // The restored log is a working log: it takes appends and verifies end to end.
            _ = try await restored.append([1, 2, 3])
            restored.close()
            let verified = try LogVerifier.verify(directory: target.path)
            #expect(verified.isValid, "restore to \(cut): \(verified.firstError?.description ?? "")")
            #expect(verified.nextOffset == cut + 1)
            let snapshots = try SnapshotStore(logDirectory: target.path).list()
            #expect(
                snapshots.allSatisfy { UInt64($0.split(separator: "/").last!.prefix(20))! <= cut },
                "no snapshot from after the cut"
            )
        }

        #expect(reappended > 0, "some cuts fall inside a frame: its records below the cut are appended again")

        // A non-empty target is refused.
        let occupied = TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: occupied.path + "/something", contents: Data([1]))
        await #expect(throws: LedgerError.self) {
            try await LogBackup.restore(repository: repository.path, manifest: second, to: occupied.path)
        }

        // Retention keeps the newest backup and the segments it uses; it still verifies.
        try LogBackup.prune(repository: repository.path, keep: 1)
        #expect(try LogBackup.list(repository: repository.path).map(\.id) == [second.id])
        #expect(try LogBackup.verify(repository: repository.path, manifest: second).isEmpty)
    }

    @Test func verifyNamesTheDamagedFileAndRestoreRefusesIt() async throws {
        let directory = TemporaryDirectory()
        let repository = TemporaryDirectory()
        var random = SeededRandom(seed: 42)
        var expected: [LogRecord] = []
        let live = try EventLog(directory: directory.path, configuration: smallSegments())
        try await Self.write(live, batches: 40, into: &expected, random: &random)
        live.close()
        let manifest = try LogBackup.create(logDirectory: directory.path, repository: repository.path)
        let victim = manifest.files.first { $0.role == .sealedSegment }!
        try flipByte(at: 500, in: repository.path + "/" + victim.path)
        let damage = try LogBackup.verify(repository: repository.path, manifest: manifest)
        #expect(damage.map(\.path) == [victim.path])
        #expect(damage.first?.reason.contains("SHA-256") == true)
        let target = TemporaryDirectory()
        await #expect(throws: LedgerError.self) {
            try await LogBackup.restore(repository: repository.path, manifest: manifest, to: target.path + "/log")
        }
        #expect(!FileManager.default.fileExists(atPath: target.path + "/log"), "a damaged backup restores nothing")

        // A missing file is named too.
        try FileManager.default.removeItem(
            atPath: repository.path + "/" + manifest.files.last { $0.role == .openSegment }!.path
        )
        let missing = try LogBackup.verify(repository: repository.path, manifest: manifest)
        #expect(missing.contains { $0.reason == "missing" && $0.path.hasSuffix(".log") })
    }

    @Test func headHashIsTheVerifiersHead() async throws {
        let directory = TemporaryDirectory()
        var random = SeededRandom(seed: 43)
        var expected: [LogRecord] = []
        let live = try EventLog(directory: directory.path, configuration: smallSegments())
        try await Self.write(live, batches: 30, into: &expected, random: &random)
        let head = try live.headHash()
        live.close()
        #expect(head == (try LogVerifier.verify(directory: directory.path)).headHash)
    }
}
