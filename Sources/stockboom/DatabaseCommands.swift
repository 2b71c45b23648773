import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Logging
import Projections
import Runtime
import Storage

/// Where PostgreSQL is: `--database-url`, else `$DATABASE_URL`.
struct DatabaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "PostgreSQL schema and retention.",
        subcommands: [MigrateCommand.self, CleanupCommand.self, ResealSecretsCommand.self]
    )
}

/// Key rotation: every sealed broker credential and token moved under `STOCKBOOM_SECRETS_KEY`.
struct ResealSecretsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reseal-secrets",
        abstract:
            "Seal every stored KIS credential and token under STOCKBOOM_SECRETS_KEY, opening those sealed under STOCKBOOM_SECRETS_KEY_PREVIOUS (one transaction; docs/runbook.md 16)."
    )
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let key = environment["STOCKBOOM_SECRETS_KEY"].flatMap(SecretBox.parseKey) else {
            throw ValidationError("STOCKBOOM_SECRETS_KEY must be set to the new key (32 bytes, hex or base64)")
        }
        var previous: [UInt8]?
        if let text = environment["STOCKBOOM_SECRETS_KEY_PREVIOUS"], !text.isEmpty {
            guard let parsed = SecretBox.parseKey(text) else {
                throw ValidationError("STOCKBOOM_SECRETS_KEY_PREVIOUS must be the old key (32 bytes, hex or base64)")
            }
            previous = parsed
        }
        let connection = try PostgresConnection(url: try self.database.url())
        let report = try connection.reseal(SecretBox(key: key, previous: previous))
        print("re-sealed \(report.resealed) secret(s) under the current key; \(report.current) already were")
    }
}

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations that are missing."
    )
    @OptionGroup var database: DatabaseOptions

    func run() throws {
        let connection = try PostgresConnection(url: try self.database.url())
        let applied = try Migrator.migrate(connection)
        print(
            applied.isEmpty
                ? "schema up to date (\(Migrator.migrations.count) migrations)"
                : "applied migrations \(applied.map(String.init).joined(separator: ", "))"
        )
    }
}

struct CleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete old read-model rows as the guide describes (the log keeps everything)."
    )
    @OptionGroup var log: LogDirectoryOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Keep 1m candles this many days.") var candleDays = 365
    @Option(help: "Keep read notifications this many days.") var notificationDays = 90
    @Option(help: "Keep cancelled trades this many days.") var cancelledTradeDays = 180

    func run() throws {
        guard self.candleDays > 0, self.notificationDays > 0, self.cancelledTradeDays > 0 else {
            throw ValidationError("retention periods must be positive")
        }
        let url = try self.database.url()
        let runner = try ProjectionRunner(
            log: try EventLog(directory: self.log.path, readOnly: true),
            connect: { try PostgresConnection(url: url) }
        )
        let deleted = try runner.cleanup(
            candleDays: self.candleDays,
            notificationDays: self.notificationDays,
            cancelledTradeDays: self.cancelledTradeDays
        )
        print("deleted " + deleted.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}

struct ProjectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projections",
        abstract: "The PostgreSQL read models built from the log.",
        subcommands: [ProjectionStatusCommand.self, ProjectionRebuildCommand.self, ProjectionRunCommand.self]
    )
}

/// The read models in `$DATABASE_URL`, or a follower's own in `$STOCKBOOM_READ_DATABASE_URL` when it is set (the
/// person keys are still read from `$DATABASE_URL`).
func openRunner(_ log: LogDirectoryOptions, _ database: DatabaseOptions) throws -> ProjectionRunner {
    let url = try database.url()
    let readModels = ProcessInfo.processInfo.environment["STOCKBOOM_READ_DATABASE_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }
    return try ProjectionRunner(
        log: try EventLog(directory: log.path, readOnly: true),
        databaseURL: url,
        readModelsURL: readModels
    )
}

struct ProjectionStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Each projection's offset, the log head and the lag."
    )
    @OptionGroup var log: LogDirectoryOptions
    @OptionGroup var database: DatabaseOptions
    @Flag var json = false

    func run() throws {
        let statuses = try openRunner(self.log, self.database).status()
        if self.json {
            print(
                Format.json(
                    statuses.map { status -> [String: Any] in
                        var entry: [String: Any] = [
                            "name": status.name, "offset": Int(status.offset), "head": Int(status.head),
                            "lag": Int(status.lag),
                        ]
                        if let failure = status.failure {
                            entry["failing"] = [
                                "offset": Int(failure.offset), "error": failure.error,
                                "since": ISOTime.utc(failure.since), "attempts": failure.attempts,
                            ]
                        }
                        return entry
                    }
                )
            )
            return
        }
        print("projection       offset         head          lag")
        for status in statuses {
            print(
                status.name.padding(toLength: 14, withPad: " ", startingAt: 0),
                String(status.offset).leftPadded(10),
                String(status.head).leftPadded(12),
                String(status.lag).leftPadded(12)
            )
            if let failure = status.failure {
                print(
                    "  FAILING at offset \(failure.offset) since \(ISOTime.utc(failure.since)), \(failure.attempts) attempt(s): \(failure.error)"
                )
            }
        }
    }
}

struct ProjectionRebuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Rebuild one projection (or all) from offset 0; the others keep running."
    )
    @OptionGroup var log: LogDirectoryOptions
    @OptionGroup var database: DatabaseOptions
    @Argument(help: "market, trading or notifications (default: all).") var name: String?
    @Option(help: "Events per transaction.") var batch = 50_000
    @Option(help: "Keep 1m candles this many days (as db cleanup).") var candleDays = 365
    @Option(help: "Keep read notifications this many days.") var notificationDays = 90
    @Option(help: "Keep cancelled trades this many days.") var cancelledTradeDays = 180
    @Flag(help: "Keep every row the log has (no retention).") var keepEverything = false

    func run() throws {
        let runner = try openRunner(self.log, self.database)
        let retention =
            self.keepEverything
            ? nil
            : ProjectionRunner.Retention(
                candleDays: self.candleDays,
                notificationDays: self.notificationDays,
                cancelledTradeDays: self.cancelledTradeDays
            )
        for name in self.name.map({ [$0] }) ?? runner.names {
            let started = monotonicNanos()
            let applied = try runner.rebuild(name, batchEvents: self.batch, retention: retention)
            let seconds = Double(monotonicNanos() - started) / 1e9
            print(
                "rebuilt \(name): \(applied) events in \(String(format: "%.2f", seconds)) s (\(Format.number(Double(applied) / max(seconds, 1e-9))) events/s)"
            )
        }
    }
}

struct ProjectionRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Catch up, then follow the log and keep the read models current until interrupted."
    )
    @OptionGroup var log: LogDirectoryOptions
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Events per transaction while catching up.") var batch = 50_000

    func run() throws {
        guard self.batch > 0 else { throw ValidationError("--batch must be positive") }
        let runner = try openRunner(self.log, self.database)
        let caughtUp = try runner.catchUp(batchEvents: self.batch)
        writeLine("caught up \(caughtUp) events; following \(self.log.path)")
        var lastReport = monotonicNanos()
        runner.runLive(
            shouldStop: { false },
            onError: { Log.command.error("projection error, retrying", metadata: ["error": "\($0)"]) },
            onLag: { statuses in
                if monotonicNanos() - lastReport > 10_000_000_000 {
                    lastReport = monotonicNanos()
                    writeLine(statuses.map { "\($0.name) lag \($0.lag)" }.joined(separator: ", "))
                }
            }
        )
    }
}
