import Foundation
import Testing

@testable import Ledger

/// Builds a log with several sealed segments, a dictionary and a snapshot; returns the records written.
func buildDamageFixture(_ directory: TemporaryDirectory, records: Int = 3_000) async throws -> [LogRecord] {
    let log = try EventLog(directory: directory.path, configuration: smallSegments())
    var random = SeededRandom(seed: 77)
    var written: [LogRecord] = []
    var index = 0
    while index < records {
        var batch = AppendBatch()
        var payloads: [[UInt8]] = []
        for _ in 0..<Int.random(in: 1...20, using: &random) {
            let payload = samplePayload(index, random: &random, maxBytes: 120)
            batch.append(payload, timestamp: Int64(index) * 1_000)
            payloads.append(payload)
            index += 1
        }
        let result = try await log.append(batch)
        for (offset, payload) in payloads.enumerated() {
            written.append(
                LogRecord(
                    offset: result.firstOffset + UInt64(offset),
                    timestamp: Int64(Int(result.firstOffset) + offset) * 1_000,
                    payload: payload
                )
            )
        }
    }
    log.close()
    try SnapshotStore(logDirectory: directory.path).write(
        offset: 100,
        state: Array(repeating: 1, count: 5_000),
        stateVersion: 1
    )
    try SnapshotStore(logDirectory: directory.path).write(
        offset: 2_000,
        state: Array(repeating: 2, count: 5_000),
        stateVersion: 1
    )
    return written
}

/// Start positions of every frame of a segment file.
func framePositions(_ path: String) throws -> [(position: UInt64, header: BatchHeader)] {
    let handle = try Ledger.FileHandle.open(path, writable: false)
    var reader = FrameReader(handle: handle, from: UInt64(Layout.segmentHeaderBytes), limit: try handle.size())
    var positions: [(UInt64, BatchHeader)] = []
    while case (.frame(let header, let position), _) = try reader.next({ _, _, _ in () }) {
        positions.append((position, header))
    }
    return positions
}

enum Damage: String, CaseIterable, Sendable { case flip, truncate, zero }

@Suite struct DamageTests {
    @Test(arguments: Damage.allCases)
    func damageInASealedSegmentIsAHardErrorNamingFileAndPosition(damage: Damage) async throws {
        let directory = TemporaryDirectory("damage")
        _ = try await buildDamageFixture(directory)
        let segments = directory.files(withSuffix: ".log")
        #expect(segments.count >= 4)
        let target = segments[1]
        let frames = try framePositions(target)
        let victim = frames[frames.count / 2]
        switch damage {
        case .flip: try flipByte(at: victim.position + 120, in: target)
        case .truncate: try truncateFile(target, to: victim.position + 50)
        case .zero: try zeroBytes((victim.position + 10)..<(victim.position + 60), in: target)
        }
        // Verify names the file and the damaged frame's start.
        let report = try LogVerifier.verify(directory: directory.path, indexIntervalBytes: 1024)
        let error = try #require(report.firstError)
        #expect(error.path == target)
        #expect(error.position == victim.position)
        // Opening or reading never skips it silently: a truncated sealed segment fails at open (its index no
        // longer matches, the rebuild scan finds the damage); flipped or zeroed bytes fail the read that reaches them.
        do {
            let log = try EventLog(directory: directory.path, configuration: smallSegments())
            defer { log.close() }
            _ = try log.read(from: 0, maxRecords: Int.max)
            Issue.record("reading through a damaged sealed segment succeeded")
        } catch {
            #expect(error.code == .corrupt)
            #expect(error.path == target)
            #expect(error.position == victim.position)
        }
    }

    @Test func damagedSegmentHeaderIsAHardError() async throws {
        let directory = TemporaryDirectory("damage")
        _ = try await buildDamageFixture(directory)
        let target = directory.files(withSuffix: ".log")[1]
        try flipByte(at: 30, in: target)
        #expect {
            _ = try EventLog(directory: directory.path, configuration: smallSegments())
        } throws: { error in
            let error = error as! LedgerError
            return error.code == .corrupt && error.path == target && error.position == 0
        }
    }

    @Test(arguments: Damage.allCases)
    func damageInsideTheOpenSegmentsCommittedDataRefusesToOpen(damage: Damage) async throws {
        let directory = TemporaryDirectory("damage")
        _ = try await buildDamageFixture(directory)
        let target = directory.files(withSuffix: ".log").last!
        try? FileManager.default.removeItem(atPath: directory.file("CLEAN"))  // as after a crash: recovery scans
        let frames = try framePositions(target)
        #expect(frames.count >= 3)
        let victim = frames[1]
        switch damage {
        case .flip: try flipByte(at: victim.position + 100, in: target)
        case .zero: try zeroBytes((victim.position + 4)..<(victim.position + 40), in: target)
        case .truncate:
            // Cutting the open segment short is what a torn write looks like: the tail is truncated, and what
            // precedes the cut stays.
            try truncateFile(target, to: victim.position + 50)
            let log = try EventLog(directory: directory.path, configuration: smallSegments())
            defer { log.close() }
            #expect(log.openReport.truncatedBytes == 50)
            #expect(log.openReport.truncatedAt == "\(target) at byte \(victim.position)")
            #expect(log.nextOffset == victim.header.baseOffset)
            #expect(fileSize(target) == victim.position)
            return
        }
        #expect {
            _ = try EventLog(directory: directory.path, configuration: smallSegments())
        } throws: { error in
            let error = error as! LedgerError
            return error.code == .corrupt && error.path == target && error.position == victim.position
        }
    }

    @Test(arguments: [0, 1, 17, 95, 96, 200] as [UInt64])
    func aTornLastFrameIsCutAndAppendingContinues(bytesOfLastFrame: UInt64) async throws {
        let directory = TemporaryDirectory("torn")
        let written = try await buildDamageFixture(directory)
        let target = directory.files(withSuffix: ".log").last!
        try? FileManager.default.removeItem(atPath: directory.file("CLEAN"))
        let last = try #require(try framePositions(target).last)
        let cut = min(last.position + bytesOfLastFrame, fileSize(target) - 1)
        try truncateFile(target, to: cut)
        let log = try EventLog(directory: directory.path, configuration: smallSegments())
        defer { log.close() }
        #expect(log.openReport.truncatedBytes == cut - last.position)
        #expect(log.nextOffset == last.header.baseOffset)
        #expect(try log.read(from: 0, maxRecords: Int.max) == Array(written.prefix(Int(last.header.baseOffset))))
        let next = try await log.append(Array("after the tear".utf8))
        #expect(next == last.header.baseOffset)
        #expect(logVerifierValid(directory))
    }

    @Test func zeroFilledTailIsTreatedAsTorn() async throws {
        let directory = TemporaryDirectory("torn")
        let written = try await buildDamageFixture(directory)
        let target = directory.files(withSuffix: ".log").last!
        try? FileManager.default.removeItem(atPath: directory.file("CLEAN"))
        let size = fileSize(target)
        // File systems may leave zero-filled blocks after a crash (allocated but unwritten).
        let handle = try Foundation.FileHandle(forUpdating: URL(fileURLWithPath: target))
        try handle.seek(toOffset: size)
        try handle.write(contentsOf: Data(count: 4096))
        try handle.close()
        let log = try EventLog(directory: directory.path, configuration: smallSegments())
        defer { log.close() }
        #expect(log.openReport.truncatedBytes == 4096)
        #expect(try log.read(from: 0, maxRecords: Int.max) == written)
    }

    @Test(arguments: Damage.allCases, [".index", ".timeindex"])
    func aDamagedIndexIsRebuiltAndReadsStayCorrect(damage: Damage, suffix: String) async throws {
        let directory = TemporaryDirectory("index")
        let written = try await buildDamageFixture(directory)
        let target = directory.files(withSuffix: suffix)[1]
        switch damage {
        case .flip: try flipByte(at: UInt64(IndexFile.headerBytes + 3), in: target)
        case .truncate: try truncateFile(target, to: fileSize(target) - 5)
        case .zero: try zeroBytes(0..<16, in: target)
        }
        let before = try LogVerifier.verify(directory: directory.path, indexIntervalBytes: 1024)
        #expect(before.isValid, "index damage is a warning, not an error")
        #expect(before.problems.contains { $0.severity == .warning && $0.path.hasSuffix(".index") })
        let log = try EventLog(directory: directory.path, configuration: smallSegments())
        #expect(log.openReport.rebuiltIndexes.count == 1)
        #expect(try log.read(from: 0, maxRecords: Int.max) == written)
        for probe in stride(from: 0, to: written.count, by: 97) {
            #expect(try log.read(from: UInt64(probe), maxRecords: 1).first == written[probe])
            #expect(try log.offset(atOrAfterTimestamp: written[probe].timestamp) == UInt64(probe))
        }
        log.close()
        let after = try LogVerifier.verify(directory: directory.path, indexIntervalBytes: 1024)
        #expect(after.problems.isEmpty, "\(after.problems)")
    }

    @Test func aMissingIndexIsRebuilt() async throws {
        let directory = TemporaryDirectory("index")
        let written = try await buildDamageFixture(directory)
        try FileManager.default.removeItem(atPath: directory.files(withSuffix: ".index")[0])
        let log = try EventLog(directory: directory.path, configuration: smallSegments())
        defer { log.close() }
        #expect(log.openReport.rebuiltIndexes.count == 1)
        #expect(try log.read(from: 0, maxRecords: Int.max) == written)
    }

    @Test(arguments: Damage.allCases)
    func aDamagedSnapshotIsReportedAndTheOlderOneUsed(damage: Damage) async throws {
        let directory = TemporaryDirectory("snapshot")
        _ = try await buildDamageFixture(directory)
        let store = SnapshotStore(logDirectory: directory.path)
        let newest = try #require(try store.list().last)
        switch damage {
        case .flip: try flipByte(at: 70, in: newest)
        case .truncate: try truncateFile(newest, to: fileSize(newest) - 3)
        case .zero: try zeroBytes(0..<8, in: newest)
        }
        let (snapshot, damaged) = try store.latest()
        #expect(snapshot?.offset == 100)
        #expect(snapshot?.state == Array(repeating: 1, count: 5_000))
        #expect(damaged.map(\.path) == [newest])
        let report = try LogVerifier.verify(directory: directory.path, indexIntervalBytes: 1024)
        #expect(report.firstError?.path == newest)
    }

    @Test func anInterruptedSnapshotWriteLeavesTheNewestValidOne() async throws {
        let directory = TemporaryDirectory("snapshot")
        _ = try await buildDamageFixture(directory)
        let store = SnapshotStore(logDirectory: directory.path)
        // A crash between write and rename leaves a temporary file, which is never taken for a snapshot.
        try Data(repeating: 9, count: 100).write(
            to: URL(fileURLWithPath: store.directory + "/" + SegmentName.stem(2_500) + ".snap.tmp")
        )
        let (snapshot, damaged) = try store.latest()
        #expect(snapshot?.offset == 2_000)
        #expect(damaged.isEmpty)
        #expect(try store.latest(atOrBefore: 1_999).snapshot?.offset == 100)
        try store.prune(keep: 1)
        #expect(try store.list().count == 1)
    }
}

func logVerifierValid(_ directory: TemporaryDirectory) -> Bool {
    (try? LogVerifier.verify(directory: directory.path, indexIntervalBytes: 1024).isValid) ?? false
}

@Suite struct DecoderFuzzTests {
    /// Random bytes, and valid frames with random mutations (with the CRC recomputed so the record parser
    /// itself is exercised), never crash the decoder or make it read outside its input.
    @Test func randomAndMutatedFramesNeverCrashTheDecoder() throws {
        var random = SeededRandom(seed: 4242)
        let compressor = LZ4Compressor()
        var encoder = BatchEncoder()
        var scratch: [UInt8] = []
        var outcomes = [String: Int]()
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 4 == 0 {
                bytes = (0..<Int.random(in: 0...400, using: &random)).map { _ in
                    UInt8.random(in: 0...255, using: &random)
                }
            } else {
                encoder.reset()
                for index in 0..<Int.random(in: 1...12, using: &random) {
                    samplePayload(index, random: &random, maxBytes: 60).withUnsafeBytes {
                        encoder.add(timestamp: Int64.random(in: 0...1_000_000, using: &random), payload: $0)
                    }
                }
                bytes =
                    encoder.encodeRecords(
                        baseOffset: UInt64(round),
                        previousHash: Layout.zeroHash,
                        compressor: compressor,
                        dictionaryPosition: 0
                    ).frame
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    let at = Int.random(in: 0..<bytes.count, using: &random)
                    bytes[at] = UInt8.random(in: 0...255, using: &random)
                }
                if round % 4 != 1, bytes.count > Layout.batchHeaderBytes {
                    let crc = bytes.withUnsafeBytes { raw in
                        CRC32C.checksum(
                            UnsafeRawBufferPointer(rebasing: raw[Layout.batchHeaderBytes...]),
                            continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<Layout.batchCRCIndex]))
                        )
                    }
                    bytes.storeLittleEndian(crc, at: Layout.batchCRCIndex)
                }
                if round % 7 == 0 { bytes.removeLast(Int.random(in: 0..<bytes.count, using: &random)) }
            }
            // An exact-size copy: any read past the end would hit unowned memory (run under ASan to see it).
            let outcome: String = bytes.withUnsafeBytes { raw in
                switch BatchFrame.validate(raw) {
                case .failure(let defect): return "invalid: \(defect)".prefix(24).description
                case .success(let header):
                    if header.isDictionary { return "dictionary" }
                    let decoded = BatchFrame.decodeRecords(
                        header: header,
                        frame: raw,
                        dictionary: nil,
                        scratch: &scratch,
                        from: 0
                    ) { view in
                        precondition(view.payload.count <= raw.count * 255)
                        return .continue
                    }
                    switch decoded {
                    case .success: return "decoded"
                    case .failure: return "records rejected"
                    }
                }
            }
            outcomes[outcome, default: 0] += 1
        }
        // The mix must exercise every path: rejected headers, rejected records, and survivors.
        #expect(outcomes["records rejected", default: 0] > 100)
        #expect(outcomes["decoded", default: 0] > 100)
        #expect(outcomes.keys.contains { $0.hasPrefix("invalid: batch checksum") })
    }
}
