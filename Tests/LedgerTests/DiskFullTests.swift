import Foundation
import Testing

@testable import Ledger

/// A log on a file system that fills up (a 2 MiB tmpfs of the test's own): appends are refused with
/// `.diskFull` naming the file, nothing acknowledged is lost, and appends work again once space returns.
@Suite(.serialized) struct DiskFullTests {
    @Test(.enabled(if: SmallFileSystem.available, "mounting a tmpfs needs root"))
    func aFullDiskRefusesAppendsCleanlyAndServiceResumesWhenSpaceReturns() async throws {
        let disk = try SmallFileSystem(megabytes: 2, "diskfull")
        let ballast = disk.fill("ballast", bytes: 1 << 20)
        var configuration = smallSegments(dictionary: true)
        configuration.segmentBytesMax = 128 << 10
        let log = try EventLog(directory: disk.path + "/log", configuration: configuration)
        var random = SeededRandom(seed: 5)
        var acknowledged: [LogRecord] = []
        var refusals: [LedgerError] = []
        // Write until the disk refuses, and keep trying a while: every refusal must be clean.
        for index in 0..<20_000 where refusals.count < 20 {
            let payload = samplePayload(index, random: &random, maxBytes: 2_000)
            let timestamp = 1_735_693_200_000_000 + Int64(index)
            do {
                let offset = try await log.append(payload, timestamp: timestamp)
                #expect(offset == UInt64(acknowledged.count), "offsets stay dense across refusals")
                acknowledged.append(LogRecord(offset: offset, timestamp: timestamp, payload: payload))
            } catch {
                refusals.append(error)
            }
        }
        #expect(refusals.count == 20, "the disk filled up")
        #expect(refusals.allSatisfy { $0.code == .diskFull }, "\(refusals.first.map(String.init(describing:)) ?? "")")
        #expect(refusals.allSatisfy { $0.path?.hasPrefix(disk.path) == true }, "the refusal names the file")
        #expect(log.writerFailure == nil, "a full disk does not stop the writer")
        #expect(try log.read(from: 0, maxRecords: .max) == acknowledged, "everything acknowledged is readable")

        // Space returns: appends go on where they stopped.
        try FileManager.default.removeItem(atPath: ballast)
        for index in 0..<50 {
            let payload = Array("after \(index)".utf8)
            let offset = try await log.append(payload, timestamp: 1_800_000_000_000_000)
            acknowledged.append(LogRecord(offset: offset, timestamp: 1_800_000_000_000_000, payload: payload))
        }
        #expect(log.nextOffset == UInt64(acknowledged.count))
        log.abandonForTesting()  // as if the process died now
        let reopened = try EventLog(directory: disk.path + "/log", configuration: configuration)
        #expect(
            try reopened.read(from: 0, maxRecords: .max) == acknowledged,
            "a crash after the episode loses nothing acknowledged"
        )
        reopened.close()
        let verified = try LogVerifier.verify(directory: disk.path + "/log")
        #expect(verified.isValid, "\(verified.firstError?.description ?? "")")
    }
}
