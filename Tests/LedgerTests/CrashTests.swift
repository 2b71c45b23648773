import Foundation
import Testing

@testable import Ledger

/// Must match `StressPayload.isWhole` in the executable: "SBX" + CRC-32C(body) + body.
func isWholeStressPayload(_ payload: [UInt8]) -> Bool {
    guard payload.count >= 7, payload[0..<3].elementsEqual("SBX".utf8) else { return false }
    let stored = payload[3..<7].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    return CRC32C.checksum(Array(payload[7...])) == stored
}

@Suite struct CrashTests {
    /// Kills a child that appends from 8 tasks with SIGKILL at random moments, then checks after each kill that
    /// every acknowledged append is present with identical bytes, that no record is half visible, and that
    /// appending goes on. `STOCKBOOM_CRASH_KILLS` raises the count for a long run (thousands).
    @Test func acknowledgedAppendsSurviveSIGKILL() async throws {
        let kills = Int(ProcessInfo.processInfo.environment["STOCKBOOM_CRASH_KILLS"] ?? "") ?? 50
        _ = try stockboomExecutable("stockboom-sim")  // fails early, with a clear message, when it is not built
        let directory = TemporaryDirectory("crash")
        var random = SeededRandom(
            seed: UInt64(ProcessInfo.processInfo.environment["STOCKBOOM_CRASH_SEED"] ?? "") ?? 2026
        )
        var acknowledged: [UInt64: (count: Int, checksum: UInt32)] = [:]
        var truncations = 0
        var totalAcks = 0
        for kill in 0..<kills {
            let lines = try await runAndKill(
                [
                    "stress", "log", "--dir", directory.path, "--seed", String(kill + 1), "--segment-bytes",
                    String(128 << 10),
                ],
                after: UInt32.random(in: 60_000...260_000, using: &random),
                startedWhen: "open",
                program: "stockboom-sim"
            )
            // Only complete lines count: an ack cut off by the kill is treated as not acknowledged.
            for line in lines {
                let fields = line.split(separator: " ")
                if fields.first == "ack", fields.count == 4, let first = UInt64(fields[1]), let count = Int(fields[2]),
                    let checksum = UInt32(fields[3])
                {
                    #expect(acknowledged[first] == nil, "offset \(first) acknowledged twice")
                    acknowledged[first] = (count, checksum)
                    totalAcks += 1
                } else if fields.first == "open", line.contains("truncated="), !line.contains("truncated=0 ") {
                    truncations += 1
                }
            }
            // Reopen in this process (recovery), check everything, close cleanly or not.
            let log = try EventLog(directory: directory.path)
            let records = try log.read(from: 0, maxRecords: Int.max)
            #expect(records.count == Int(log.nextOffset))
            for (index, record) in records.enumerated() {
                #expect(record.offset == UInt64(index))
                #expect(isWholeStressPayload(record.payload), "kill \(kill): record \(index) is not whole")
            }
            for (first, ack) in acknowledged {
                let end = Int(first) + ack.count
                #expect(
                    end <= records.count,
                    "kill \(kill): acknowledged offsets \(first)..<\(end) are missing (log has \(records.count))"
                )
                guard end <= records.count else { continue }
                let checksum = records[Int(first)..<end].reduce(UInt32(0)) {
                    CRC32C.checksum($1.payload, continuing: $0)
                }
                #expect(checksum == ack.checksum, "kill \(kill): acknowledged append at \(first) changed")
            }
            if kill % 3 == 0 { log.abandonForTesting() } else { log.close() }
        }
        #expect(totalAcks > kills, "the child must have acknowledged appends before being killed")
        let report = try LogVerifier.verify(directory: directory.path, indexIntervalBytes: 2048)
        #expect(report.isValid, "\(report.problems)")
        print(
            "crash test: \(kills) kills, \(totalAcks) acknowledged appends, \(report.records) records, \(report.segments) segments, \(truncations) torn tails cut"
        )
    }
}
