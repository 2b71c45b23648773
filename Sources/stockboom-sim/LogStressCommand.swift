import ArgumentParser
import Assembly
import Foundation
import Jobs
import Ledger
import Runtime
import Simulation
import Storage

struct LogStressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract:
            "Append self-checking records from many tasks until killed, printing one 'ack' line per committed append (crash tests)."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option var appenders = 8
    @Option var seed: UInt64 = 1
    @Option var segmentBytes: UInt64 = 256 << 10
    @Option var maxAppends = Int.max

    func run() async throws {
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = self.segmentBytes
        configuration.indexIntervalBytes = 2048
        let eventLog = try EventLog(directory: self.log.path, configuration: configuration)
        let report = eventLog.openReport
        writeLine("open next=\(eventLog.nextOffset) truncated=\(report.truncatedBytes) clean=\(report.cleanShutdown)")
        let appendsEach = self.maxAppends == Int.max ? Int.max : max(1, self.maxAppends / self.appenders)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for appender in 0..<self.appenders {
                let seed = self.seed &* 1_000_003 &+ UInt64(appender)
                group.addTask {
                    var state = seed
                    for _ in 0..<appendsEach {
                        var batch = AppendBatch()
                        var checksum: UInt32 = 0
                        let records = Int(splitMix(&state) % 30) + 1
                        for _ in 0..<records {
                            let payload = StressPayload.make(state: &state)
                            checksum = CRC32C.checksum(payload, continuing: checksum)
                            batch.append(payload)
                        }
                        let result = try await eventLog.append(batch)
                        // One write per line so that a kill can cut only the final, incomplete line.
                        let line = "ack \(result.firstOffset) \(result.count) \(checksum)\n"
                        _ = line.withCString { write(1, $0, strlen($0)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        eventLog.close()
    }
}
