import Foundation
import Synchronization
import Testing

@testable import Ledger

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now = Mutex<Int64>(1_735_776_000_000_000)
    func advance(byMicros micros: Int64) { self.now.withLock { $0 += micros } }
    var micros: Int64 { self.now.withLock { $0 } }
}

@Suite struct PolicyTests {
    @Test func segmentsRollByAge() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var configuration = LogConfiguration()
        configuration.segmentAgeMaxMicros = 3_600_000_000
        configuration.clock = { clock.micros }
        let log = try EventLog(directory: directory.path, configuration: configuration)
        defer { log.close() }
        _ = try await log.append(Array("first".utf8))
        clock.advance(byMicros: 3_599_000_000)
        _ = try await log.append(Array("still young".utf8))
        #expect(log.segments.count == 1)
        clock.advance(byMicros: 2_000_000)
        _ = try await log.append(Array("rolled".utf8))
        #expect(log.segments.count == 2)
        #expect(log.segments.map(\.baseOffset) == [0, 2])
        #expect(log.segments[0].sealed)
        #expect(
            try log.read(from: 0).map { String(decoding: $0.payload, as: UTF8.self) } == [
                "first", "still young", "rolled",
            ]
        )
    }

    @Test(arguments: [LogConfiguration.Durability.interval(milliseconds: 5), .none])
    func relaxedDurabilityRoundTrips(durability: LogConfiguration.Durability) async throws {
        let directory = TemporaryDirectory()
        let log = try EventLog(directory: directory.path, configuration: smallSegments(durability: durability))
        for index in 0..<500 { _ = try await log.append(Array("record \(index)".utf8)) }
        try await Task.sleep(nanoseconds: 20_000_000)
        #expect(log.statistics.records == 500)
        if case .interval = durability { #expect(log.statistics.syncs > 0, "the interval timer must sync") }
        if durability == .none { #expect(log.statistics.syncs == 0) }
        log.close()
        let reopened = try EventLog(
            directory: directory.path,
            configuration: smallSegments(durability: durability),
            readOnly: true
        )
        #expect(try reopened.read(from: 0, maxRecords: 1_000).count == 500)
    }

    @Test func durabilityPoliciesParse() {
        #expect(LogConfiguration.Durability(parsing: "every-batch") == .everyBatch)
        #expect(LogConfiguration.Durability(parsing: "none") == LogConfiguration.Durability.none)
        #expect(LogConfiguration.Durability(parsing: "interval-20ms") == .interval(milliseconds: 20))
        #expect(LogConfiguration.Durability(parsing: "20ms") == .interval(milliseconds: 20))
        #expect(LogConfiguration.Durability(parsing: "sometimes") == nil)
        #expect(LogConfiguration.Durability(parsing: "interval-0") == nil)
    }

    @Test func invalidConfigurationsAreRefused() {
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = 10
        #expect(throws: LedgerError.self) {
            _ = try EventLog(directory: TemporaryDirectory().path, configuration: configuration)
        }
    }
}

@Suite struct FileModeTests {
    /// The log holds what people did: its files are created 0640 and its directories 0750, never readable by
    /// every account on the host (they were 0644/0755; issue 17, finding 7).
    @Test func logFilesAreNotWorldReadable() async throws {
        let directory = TemporaryDirectory()
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = 4_096
        let path = directory.path + "/nested/eventlog"
        let log = try EventLog(directory: path, configuration: configuration)
        for index in 0..<200 {
            _ = try await log.append(Array("record \(index) ".utf8) + Array(repeating: UInt8(ascii: "x"), count: 64))
        }
        log.close()
        var checked = 0
        for name in [""] + (try FileManager.default.subpathsOfDirectory(atPath: path)) {
            let full = name.isEmpty ? path : path + "/" + name
            var info = stat()
            #expect(stat(full, &info) == 0)
            let mode = info.st_mode & 0o777
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            #expect(
                mode & 0o007 == 0,
                "\(name.isEmpty ? "the log directory" : name) is \(String(mode, radix: 8)): readable by others"
            )
            #expect(isDirectory ? mode == 0o750 : mode == 0o640, "\(name): \(String(mode, radix: 8))")
            checked += 1
        }
        #expect(checked > 6, "segments, indexes, the lock file and the directory were checked (\(checked))")
    }
}
