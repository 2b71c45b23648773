import Foundation
import Synchronization
import Testing

@testable import Ledger

/// A sink that keeps every commit (or refuses the ones `refuse` picks).
final class CapturingSink: ReplicationSink {
    let writes = Mutex<[ReplicatedWrite]>([])
    let refuse: @Sendable (ReplicatedWrite) -> Bool
    init(refuse: @escaping @Sendable (ReplicatedWrite) -> Bool = { _ in false }) { self.refuse = refuse }
    let writesInFlightMax = 1
    func replicate(_ write: ReplicatedWrite, done: @escaping @Sendable (LedgerError?) -> Void) {
        if self.refuse(write) { return done(LedgerError(code: .unavailable, message: "refused by the test")) }
        self.writes.withLock { $0.append(write) }
        done(nil)
    }
}

/// A sink that answers nothing until the test says so: commits pile up in flight, as with a stream's round trip.
final class HoldingSink: ReplicationSink {
    let held = Mutex<[(write: ReplicatedWrite, done: @Sendable (LedgerError?) -> Void)]>([])
    let writesInFlightMax: Int
    init(inFlight: Int) { self.writesInFlightMax = inFlight }
    func replicate(_ write: ReplicatedWrite, done: @escaping @Sendable (LedgerError?) -> Void) {
        self.held.withLock { $0.append((write, done)) }
    }
    var count: Int { self.held.withLock { $0.count } }
    /// Answers the oldest held commits (nil: replicated), in order.
    func answer(_ count: Int, _ refusal: LedgerError? = nil) {
        let taken = self.held.withLock { held in
            defer { held.removeFirst(min(count, held.count)) }
            return Array(held.prefix(count))
        }
        for entry in taken { entry.done(refusal) }
    }
}

/// The primary's commits copied into a follower's log: byte-identical segments, forged or misplaced writes
/// refused whole, a refused commit cut back, and a log cut back to a commit boundary.
@Suite struct ReplicatedWriteTests {
    private func fill(_ log: EventLog, commits: Int, seed: UInt64) async throws {
        var random = SeededRandom(seed: seed)
        for commit in 0..<commits {
            var batch = AppendBatch()
            for index in 0..<Int.random(in: 1...40, using: &random) {
                batch.append(
                    samplePayload(commit * 100 + index, random: &random),
                    timestamp: Int64(commit * 1_000 + index)
                )
            }
            _ = try await log.append(batch)
        }
    }

    private func segmentBytes(_ directory: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where name.hasSuffix(".log") {
            files[name] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        }
        return files
    }

    @Test func aFollowerCopyIsByteIdenticalAcrossSegmentsAndDictionaries() async throws {
        let primaryDirectory = TemporaryDirectory("primary")
        let followerDirectory = TemporaryDirectory("follower")
        var configuration = smallSegments(dictionary: true)
        configuration.segmentBytesMax = 96 << 10
        let primary = try EventLog(directory: primaryDirectory.path, configuration: configuration)
        let sink = CapturingSink()
        primary.replicate(to: sink)
        try await self.fill(primary, commits: 300, seed: 7)
        let writes = sink.writes.withLock { $0 }
        #expect(writes.count == 300)
        #expect(writes.contains { !$0.segmentHeader.isEmpty && $0.segmentBase > 0 }, "segments rolled")
        // A follower created later (its first segment's header has another time) takes the primary's header.
        try await Task.sleep(for: .milliseconds(5))
        let follower = try EventLog(directory: followerDirectory.path, configuration: configuration)
        for write in writes {
            let decoded = try ReplicatedWrite.decode(write.encoded())
            #expect(decoded == write)
            try await follower.applyReplicated(decoded)
        }
        #expect(follower.head == primary.head)
        primary.close()
        follower.close()
        #expect(try self.segmentBytes(primaryDirectory.path) == self.segmentBytes(followerDirectory.path))
        let verified = try LogVerifier.verify(directory: followerDirectory.path)
        #expect(verified.isValid, "\(verified.problems)")
        #expect(verified.headHash == (try LogVerifier.verify(directory: primaryDirectory.path)).headHash)
    }

    @Test func forgedMisplacedAndReplayedWritesAreRefusedWholeAndChangeNothing() async throws {
        let primaryDirectory = TemporaryDirectory("primary")
        let followerDirectory = TemporaryDirectory("follower")
        let primary = try EventLog(directory: primaryDirectory.path, configuration: smallSegments(dictionary: false))
        let sink = CapturingSink()
        primary.replicate(to: sink)
        try await self.fill(primary, commits: 6, seed: 9)
        let writes = sink.writes.withLock { $0 }
        let follower = try EventLog(directory: followerDirectory.path, configuration: smallSegments(dictionary: false))
        try await follower.applyReplicated(writes[0])
        try await follower.applyReplicated(writes[1])
        let head = follower.head
        var forged = writes[2]
        forged.frames[forged.frames.count - 3] ^= 0x20  // a payload byte: the CRC no longer matches
        var misplaced = writes[3]  // skips commit 2
        misplaced.position = writes[2].position
        var lying = writes[2]
        lying.nextOffset += 5
        var stranger = writes[2]
        stranger.lastHash = Array(repeating: 7, count: 32)
        for bad in [forged, writes[3], misplaced, writes[1], lying, stranger] {
            await #expect(throws: LedgerError.self) { try await follower.applyReplicated(bad) }
            #expect(follower.head == head, "a refused write changes nothing")
        }
        #expect(follower.writerFailure == nil, "refusals do not stop the writer")
        // Garbage bodies are refused by the decoder, never trap.
        var random = SeededRandom(seed: 3)
        for length in [0, 10, 75, 76, 200] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(throws: LedgerError.self) { _ = try ReplicatedWrite.decode(bytes) }
        }
        var truncatedBody = writes[2].encoded()
        truncatedBody.removeLast(9)
        #expect(throws: LedgerError.self) { _ = try ReplicatedWrite.decode(truncatedBody) }
        for write in writes[2...] { try await follower.applyReplicated(write) }
        #expect(follower.head == primary.head)
    }

    @Test func aRefusedCommitIsCutBackAndTheLogGoesOn() async throws {
        let directory = TemporaryDirectory("refused")
        let log = try EventLog(directory: directory.path, configuration: smallSegments(dictionary: false))
        let refuseNext = Mutex(false)
        let sink = CapturingSink(refuse: { _ in refuseNext.withLock { $0 } })
        log.replicate(to: sink)
        _ = try await log.append(Array("one".utf8))
        refuseNext.withLock { $0 = true }
        await #expect(throws: LedgerError.self) { _ = try await log.append(Array("refused".utf8)) }
        #expect(log.nextOffset == 1)
        refuseNext.withLock { $0 = false }
        let offset = try await log.append(Array("two".utf8))
        #expect(offset == 1, "the refused commit left no trace")
        #expect(try log.read(from: 0).map { String(decoding: $0.payload, as: UTF8.self) } == ["one", "two"])
        log.close()
        #expect(try LogVerifier.verify(directory: directory.path).isValid)
    }

    /// Several commits in flight: none is visible or answered before the sink answers it; they become visible in
    /// order; a refusal cuts the refused commit and every later one back together, and the log goes on from the
    /// last replicated commit with a chain that verifies.
    @Test func commitsInFlightBecomeVisibleInOrderAndARefusalCutsTheRestBack() async throws {
        let directory = TemporaryDirectory("inflight")
        let log = try EventLog(directory: directory.path, configuration: smallSegments(dictionary: false))
        let sink = HoldingSink(inFlight: 4)
        log.replicate(to: sink)
        final class Results: Sendable { let map = Mutex<[Int: Result<UInt64, LedgerError>]>([:]) }
        let box = Results()
        let appenders = Task {
            await withTaskGroup(of: Void.self) { group in
                for appender in 0..<6 {
                    group.addTask {
                        let result: Result<UInt64, LedgerError>
                        do {
                            result = .success(try await log.append(Array("append \(appender)".utf8)))
                        } catch let error as LedgerError {
                            result = .failure(error)
                        } catch {
                            result = .failure(LedgerError(code: .io, message: "\(error)"))
                        }
                        box.map.withLock { $0[appender] = result }
                    }
                    // One commit each: the next appender comes once the writer holds this one in flight.
                    while sink.count < min(appender + 1, 4) { await Task.yield() }
                }
            }
        }
        while sink.count < 4 { try await Task.sleep(for: .milliseconds(1)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(sink.count == 4, "no fifth commit while four are in flight")
        #expect(log.nextOffset == 0 && box.map.withLock { $0.isEmpty }, "nothing visible or answered before the sink")
        let held = sink.held.withLock { $0.map(\.write) }
        #expect(held.map(\.firstOffset) == [0, 1, 2, 3])
        for (previous, next) in zip(held, held.dropFirst()) {
            #expect(next.previousHashHex == previous.lastHashHex, "each commit in flight chains on the one before")
        }
        sink.answer(2)
        while log.nextOffset < 2 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(try log.read(from: 0).count == 2)
        // The third is refused: it and the fourth (and the ones that came after) fail, and are cut back.
        sink.answer(1, LedgerError(code: .unavailable, message: "quorum lost"))
        while sink.count > 0 || box.map.withLock({ $0.count }) < 6 {
            sink.answer(sink.count, LedgerError(code: .unavailable, message: "quorum lost"))
            try await Task.sleep(for: .milliseconds(1))
        }
        await appenders.value
        let outcomes = box.map.withLock { $0 }
        #expect(outcomes.values.filter { (try? $0.get()) != nil }.count == 2)
        #expect(outcomes.values.compactMap { try? $0.get() }.sorted() == [0, 1])
        #expect(log.nextOffset == 2)
        // The log goes on from the last replicated commit.
        let next = Task { try await log.append(Array("after".utf8)) }
        while sink.count < 1 { try await Task.sleep(for: .milliseconds(1)) }
        #expect(sink.held.withLock { $0[0].write.firstOffset } == 2)
        sink.answer(1)
        #expect(try await next.value == 2)
        #expect(try log.read(from: 0).count == 3)
        log.close()
        #expect(try LogVerifier.verify(directory: directory.path).isValid)
    }

    @Test func truncationCutsWholeCommitsAndReportsThem() async throws {
        let directory = TemporaryDirectory("truncate")
        var configuration = smallSegments(dictionary: true)
        configuration.segmentBytesMax = 64 << 10
        let log = try EventLog(directory: directory.path, configuration: configuration)
        let sink = CapturingSink()
        log.replicate(to: sink)
        try await self.fill(log, commits: 120, seed: 11)
        let writes = sink.writes.withLock { $0 }
        let cut = writes[70]
        #expect(try log.hash(at: cut.firstOffset) == cut.previousHashHex)
        #expect(try log.hash(at: cut.firstOffset + 1) == nil || cut.nextOffset == cut.firstOffset + 1)
        let end = log.nextOffset
        let expected = try log.read(from: cut.firstOffset, maxRecords: .max)
        log.close()
        #expect(throws: LedgerError.self) {
            _ = try EventLog.truncate(directory: directory.path, toOffset: cut.firstOffset + 1)
        }
        let removed = try EventLog.truncate(directory: directory.path, toOffset: cut.firstOffset)
        #expect(removed == expected)
        #expect(UInt64(removed.count) == end - cut.firstOffset)
        let reopened = try EventLog(directory: directory.path, configuration: configuration)
        #expect(reopened.nextOffset == cut.firstOffset)
        #expect(reopened.head.hash == cut.previousHashHex)
        // The cut log continues with the same commits, byte for byte (what a rejoining node copies).
        reopened.close()
        let follower = try EventLog(directory: directory.path, configuration: configuration)
        for write in writes[70...] { try await follower.applyReplicated(write) }
        #expect(follower.nextOffset == end)
        follower.close()
        #expect(try LogVerifier.verify(directory: directory.path).isValid)
    }
}
