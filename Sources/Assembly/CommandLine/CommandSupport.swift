public import ArgumentParser
public import Engine
import Foundation
import Ledger
import Logging

/// Options shared by every command that touches the log.
public struct LogDirectoryOptions: ParsableArguments {
    public init() {}

    @Option(name: .long, help: "The log directory (default: $STOCKBOOM_LOG_DIR, else ./var/eventlog).")
    public var dir: String?

    public var path: String {
        if let dir { return dir }
        if let configured = ProcessInfo.processInfo.environment["STOCKBOOM_LOG_DIR"], !configured.isEmpty {
            return configured
        }
        return FileManager.default.currentDirectoryPath + "/var/eventlog"
    }
}

/// The clock of a simulated session, shared by `serve` and `worker` so both read the same instant:
/// `--clock-start` is the session time at the wall-clock moment `--clock-origin` (Unix seconds; default: when
/// the process started), and it runs `--clock-speed` times as fast as the wall clock. A process restarted
/// with the same three values continues the session where it was, not from its start.
public struct SessionClockOptions: ParsableArguments {
    public init() {}

    @Option(
        help:
            "Run the clock from this instant (ISO 8601, e.g. 2025-01-06T09:30:00+09:00) instead of now: a simulated session outside market hours."
    )
    public var clockStart: String?
    @Option(help: "Session seconds per wall-clock second (with --clock-start): 60 plays a minute each second.")
    public var clockSpeed = 1.0
    @Option(
        help:
            "Wall-clock time (Unix seconds) at which the session clock read --clock-start (default: start-up), so restarted processes agree."
    )
    public var clockOrigin: Double?

    /// µs since the epoch: the wall clock, or the simulated session's clock.
    public func clock() throws -> @Sendable () -> Int64 {
        guard let text = self.clockStart else {
            guard self.clockSpeed == 1, self.clockOrigin == nil else {
                throw ValidationError("--clock-speed and --clock-origin need --clock-start")
            }
            return { wallClockMicros() }
        }
        guard let start = Format.parseTime(text) else {
            throw ValidationError("--clock-start must be ISO 8601 like 2025-01-06T09:30:00+09:00")
        }
        guard self.clockSpeed > 0, self.clockSpeed <= 100_000 else {
            throw ValidationError("--clock-speed must be in (0, 100000]")
        }
        let origin = self.clockOrigin.map { Int64($0 * 1e6) } ?? wallClockMicros()
        let speed = self.clockSpeed
        return { start + Int64((Double(wallClockMicros() - origin) * speed).rounded()) }
    }
}

/// Writes to standard error without touching the non-Sendable C `stderr` global.
public func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Fails the command with a message and a non-zero exit, without a stack trace.
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Writes one line to standard output immediately (unbuffered), for followers and crash-test children.
public func writeLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// The KRX holiday calendar: `$STOCKBOOM_HOLIDAYS`, else `config/krx-holidays.txt` in the working directory.
public func loadCalendar() throws -> TradingCalendar {
    let path =
        ProcessInfo.processInfo.environment["STOCKBOOM_HOLIDAYS"] ?? FileManager.default.currentDirectoryPath
        + "/config/krx-holidays.txt"
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

/// Returns the first SIGTERM or SIGINT (both are taken from their default action while waiting).
@discardableResult
public func waitForTerminationSignal() async -> Int32 {
    let stop = AsyncStream<Int32>.makeStream()
    var sources: [any DispatchSourceSignal] = []
    for signal in [SIGTERM, SIGINT] {
        Foundation.signal(signal, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signal)
        source.setEventHandler { stop.continuation.yield(signal) }
        source.resume()
        sources.append(source)
    }
    var received = SIGTERM
    for await signal in stop.stream {
        received = signal
        break
    }
    for source in sources { source.cancel() }
    return received
}

/// The PostgreSQL server of a command.
public struct DatabaseOptions: ParsableArguments {
    public init() {}

    @Option(help: "libpq URL (default: $DATABASE_URL).") public var databaseURL: String?

    public func url() throws -> String {
        guard let url = self.databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw ValidationError(
                "no database: set DATABASE_URL or pass --database-url (scripts/services.sh env prints one)"
            )
        }
        return url
    }
}
