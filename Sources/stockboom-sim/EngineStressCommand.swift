import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Runtime
import Simulation
import Storage

/// Runs generated commands through the live runtime from several tasks until killed, printing one line per
/// acknowledged command: `ack <last offset> <event count> <last event type>` (used by the crash tests).
struct EngineStressCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Crash-test workload for the engine runtime: generated commands from several tasks until killed."
    )

    @OptionGroup var log: LogDirectoryOptions
    @Option var seed: UInt64 = 1
    @Option var tasks = 4
    @Option var snapshotEvery: UInt64 = 150
    @Option var commands = Int.max

    func run() async throws {
        var configuration = LogConfiguration()
        configuration.segmentBytesMax = 256 << 10
        let eventLog = try EventLog(directory: self.log.path, configuration: configuration)
        let runtime = try EngineRuntime(log: eventLog, engine: Engine(), snapshotEveryEvents: self.snapshotEvery)
        writeLine(
            "open next=\(eventLog.nextOffset) snapshot=\(runtime.recovery.snapshotOffset.map(String.init) ?? "none") replayed=\(runtime.recovery.replayedEvents)"
        )
        let each = self.commands == Int.max ? Int.max : max(1, self.commands / self.tasks)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<self.tasks {
                let seed = self.seed &* 131 &+ UInt64(task)
                group.addTask {
                    var generator = CommandGenerator(
                        seed: seed,
                        start: KST.instant(day: KST.day(year: 2025, month: 3, day: 3), hour: 9, minute: 1) + Int64(task)
                            * 1_000
                    )
                    for _ in 0..<each {
                        let (command, context) = generator.next(state: runtime.state)
                        guard let execution = try? await runtime.execute(command, context: context),
                            let last = execution.offsets.last
                        else { continue }
                        // offsets non-empty: events exist
                        writeLine("ack \(last) \(execution.offsets.count) \(execution.decision.events.last!.typeName)")
                    }
                }
            }
        }
        await runtime.close()
        eventLog.close()
    }
}
