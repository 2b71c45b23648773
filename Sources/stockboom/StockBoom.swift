import ArgumentParser
import Engine
import Foundation
import Logging

@main
struct StockBoom: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stockboom",
        abstract: "StockBoom: an event-sourced trading system for Korean stocks on an append-only log.",
        subcommands: [LogCommand.self, DemoCommand.self, BacktestCommand.self, IndicatorsCommand.self, ReplayCommand.self, ServeCommand.self, WorkerCommand.self, QueuesCommand.self, DatabaseCommand.self, ProjectionsCommand.self, BackupCommand.self, BenchCommand.self, EngineStressCommand.self]
    )

    /// Parses and runs the command with JSON-line logging; a failure of the command itself (not of its
    /// arguments) is logged as one `ERROR` line on standard error and exits 1.
    static func main() async {
        LoggingSystem.bootstrap { JSONLineLogHandler(label: $0) }
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            var command = command
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exit(withError: error)  // help, validation and usage errors: ArgumentParser's own text and exit code
        } catch {
            Log.command.error("\(error)", metadata: ["command": .string(type(of: command).configuration.commandName ?? "stockboom")])
            Foundation.exit(1)
        }
    }
}

/// Options shared by every command that touches the log.
struct LogDirectoryOptions: ParsableArguments {
    @Option(name: .long, help: "The log directory (default: $STOCKBOOM_LOG_DIR, else ./var/eventlog).")
    var dir: String?

    var path: String {
        if let dir { return dir }
        if let configured = ProcessInfo.processInfo.environment["STOCKBOOM_LOG_DIR"], !configured.isEmpty { return configured }
        return FileManager.default.currentDirectoryPath + "/var/eventlog"
    }
}

/// Writes to standard error without touching the non-Sendable C `stderr` global.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Fails the command with a message and a non-zero exit, without a stack trace.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes one line to standard output immediately (unbuffered), for followers and crash-test children.
func writeLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// The KRX holiday calendar: `$STOCKBOOM_HOLIDAYS`, else `config/krx-holidays.txt` in the working directory.
func loadCalendar() throws -> TradingCalendar {
    let path = ProcessInfo.processInfo.environment["STOCKBOOM_HOLIDAYS"] ?? FileManager.default.currentDirectoryPath + "/config/krx-holidays.txt"
    guard let data = FileManager.default.contents(atPath: path) else {
        Log.command.warning("no holiday calendar: only weekends are closed", metadata: ["path": .string(path)])
        return TradingCalendar()
    }
    do {
        return try TradingCalendar(parsing: String(decoding: data, as: UTF8.self))
    } catch {
        throw CommandFailure("\(path): \(error.message)")
    }
}

/// Returns at the first SIGTERM or SIGINT (both are taken from their default action while waiting).
func waitForTerminationSignal() async {
    let stop = AsyncStream<Int32>.makeStream()
    var sources: [any DispatchSourceSignal] = []
    for signal in [SIGTERM, SIGINT] {
        Foundation.signal(signal, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signal)
        source.setEventHandler { stop.continuation.yield(signal) }
        source.resume()
        sources.append(source)
    }
    for await _ in stop.stream { break }
    for source in sources { source.cancel() }
}
