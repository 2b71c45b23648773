import Foundation
import Testing

@testable import Ledger

/// `eventlog/golden/v1`: a small log written once by format version 1 and committed. Every later version of
/// StockBoom must read it exactly. Regenerate only for a new format version, into a new folder:
/// `STOCKBOOM_WRITE_GOLDEN=1 swift test --filter GoldenLogTests`.
enum GoldenLog {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let path = root.appendingPathComponent("eventlog/golden/v1").path
    static let records = 3_000
    static let baseMicros: Int64 = 1_735_776_000_000_000  // 2025-01-02 09:00 KST

    static func payload(_ index: Int) -> [UInt8] {
        let codes = ["005930", "000660", "035420", "051910", "068270"]
        let price = 50_000 + (index * 7_919) % 20_000 / 100 * 100
        let json =
            index % 5 == 4
            ? "{\"type\":\"OrderRequested\",\"v\":1,\"orderId\":\"ord-\(String(format: "%010d", index))\",\"stock\":\"\(codes[index % 5])\",\"side\":\"BUY\",\"qty\":\(index % 97 + 1),\"price\":\(price)}"
            : "{\"type\":\"CandleClosed\",\"v\":1,\"stock\":\"\(codes[index % 5])\",\"tf\":\"1m\",\"ts\":\(baseMicros / 1_000_000 + Int64(index / 5) * 60),\"o\":\(price),\"h\":\(price + 100),\"l\":\(price - 100),\"c\":\(price),\"vol\":\(index * 31 % 250_000)}"
        return Array(json.utf8)
    }

    static func timestamp(_ index: Int) -> Int64 { Self.baseMicros + Int64(index) * 12_000_000 }

    static func configuration() -> LogConfiguration {
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = 32 << 10
        configuration.indexIntervalBytes = 1024
        configuration.clock = { GoldenLog.baseMicros }
        return configuration
    }

    static func expected() throws -> [String: String] {
        let text = try String(contentsOfFile: Self.path + "/EXPECTED", encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        return values
    }
}

@Suite struct GoldenLogTests {
    @Test func writeGoldenLogWhenAsked() async throws {
        guard ProcessInfo.processInfo.environment["STOCKBOOM_WRITE_GOLDEN"] == "1" else { return }
        precondition(
            !FileManager.default.fileExists(atPath: GoldenLog.path),
            "golden logs are never rewritten; add a new version folder"
        )
        let log = try EventLog(directory: GoldenLog.path, configuration: GoldenLog.configuration())
        var index = 0
        var size = 1
        while index < GoldenLog.records {
            var batch = AppendBatch()
            for _ in 0..<min(size, GoldenLog.records - index) {
                batch.append(GoldenLog.payload(index), timestamp: GoldenLog.timestamp(index))
                index += 1
            }
            _ = try await log.append(batch)
            size = size % 37 + 1
        }
        log.close()
        try SnapshotStore(logDirectory: GoldenLog.path).write(
            offset: 1_000,
            state: Array("golden state at 1000".utf8),
            stateVersion: 7,
            createdAtMicros: GoldenLog.baseMicros
        )
        try FileManager.default.removeItem(atPath: GoldenLog.path + "/LOCK")
        let report = try LogVerifier.verify(directory: GoldenLog.path, indexIntervalBytes: 1024)
        try
            "format 1\nrecords \(report.records)\nsegments \(report.segments)\ndictionaries \(report.dictionaryFrames)\nhead \(report.headHash)\n"
            .write(toFile: GoldenLog.path + "/EXPECTED", atomically: true, encoding: .utf8)
    }

    @Test func everyGoldenRecordReadsBackExactly() throws {
        let expected = try GoldenLog.expected()
        let log = try EventLog(directory: GoldenLog.path, configuration: GoldenLog.configuration(), readOnly: true)
        #expect(log.nextOffset == UInt64(GoldenLog.records))
        var index = 0
        try log.scan(from: 0) { view in
            #expect(view.offset == UInt64(index))
            #expect(view.timestamp == GoldenLog.timestamp(index))
            #expect(Array(view.payload) == GoldenLog.payload(index), "golden record \(index)")
            index += 1
            return .continue
        }
        #expect(index == GoldenLog.records)
        #expect(try log.offset(atOrAfterTimestamp: GoldenLog.timestamp(1234)) == 1234)
        let report = try LogVerifier.verify(directory: GoldenLog.path, indexIntervalBytes: 1024)
        #expect(report.isValid)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.headHash == expected["head"])
        #expect(String(report.segments) == expected["segments"])
        #expect(report.segments > 3, "the golden log must span several segments")
        #expect(report.dictionaryFrames > 0, "the golden log must contain dictionary batches")
        let snapshot = try #require(try SnapshotStore(logDirectory: GoldenLog.path).latest().snapshot)
        #expect(snapshot.offset == 1_000)
        #expect(snapshot.stateVersion == 7)
        #expect(snapshot.state == Array("golden state at 1000".utf8))
    }

    @Test func aCopyOfTheGoldenLogAcceptsNewAppends() async throws {
        let directory = TemporaryDirectory("golden")
        for name in try FileManager.default.contentsOfDirectory(atPath: GoldenLog.path) {
            try FileManager.default.copyItem(atPath: GoldenLog.path + "/" + name, toPath: directory.path + "/" + name)
        }
        let log = try EventLog(directory: directory.path, configuration: GoldenLog.configuration())
        #expect(log.openReport.cleanShutdown)
        let offset = try await log.append(Array("{\"type\":\"Next\"}".utf8))
        #expect(offset == UInt64(GoldenLog.records))
        log.close()
        #expect(
            try LogVerifier.verify(directory: directory.path, indexIntervalBytes: 1024).records
                == UInt64(GoldenLog.records + 1)
        )
    }
}
