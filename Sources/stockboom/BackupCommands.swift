import ArgumentParser
import Assembly
import Engine
import Foundation
import Jobs
import Ledger
import Projections
import Runtime
import Storage

/// `stockboom backup create|list|verify|restore`: backups built on the log (see `LogBackup`).
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract:
            "Online, incremental backups of the log and point-in-time restore (projections and queues rebuilt from it).",
        subcommands: [
            BackupCreateCommand.self, BackupListCommand.self, BackupVerifyCommand.self, BackupRestoreCommand.self,
        ]
    )
}

/// The repository (`--to`/`--from`) default: `$STOCKBOOM_BACKUP_DIR`, else ./var/backups.
func backupRepository(_ given: String?) -> String {
    if let given { return given }
    if let configured = ProcessInfo.processInfo.environment["STOCKBOOM_BACKUP_DIR"], !configured.isEmpty {
        return configured
    }
    return FileManager.default.currentDirectoryPath + "/var/backups"
}

struct BackupCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract:
            "Back up the log while it runs: new sealed segments, the open segment up to the committed offset, the newest snapshot, a manifest with SHA-256."
    )
    @OptionGroup var log: LogDirectoryOptions
    @Option(help: "The backup repository (default $STOCKBOOM_BACKUP_DIR, else ./var/backups).") var to: String?
    @Option(help: "Afterwards keep only the newest N backups (and the segments they use).") var keep: Int?
    @Flag(help: "Print the manifest as JSON.") var json = false

    func run() throws {
        if let keep = self.keep, keep < 1 { throw ValidationError("--keep must be at least 1") }
        let started = monotonicNanos()
        let manifest = try LogBackup.create(
            logDirectory: self.log.path,
            repository: backupRepository(self.to),
            keep: self.keep
        )
        let seconds = Double(monotonicNanos() - started) / 1e9
        if self.json {
            print(
                Format.json([
                    "id": manifest.id, "nextOffset": Int(manifest.nextOffset), "headHash": manifest.headHash,
                    "files": manifest.files.count,
                    "bytes": Int(manifest.totalBytes), "copiedBytes": Int(manifest.copiedBytes), "seconds": seconds,
                ])
            )
            return
        }
        let copied = manifest.files.filter(\.copied).count
        print("backup \(manifest.id): records [0, \(manifest.nextOffset)), head \(manifest.headHash.prefix(16))…")
        print(
            "  \(manifest.files.count) files, \(Format.bytes(manifest.totalBytes)); copied \(copied) (\(Format.bytes(manifest.copiedBytes))), \(manifest.files.count - copied) already in the repository; \(String(format: "%.2f", seconds)) s"
        )
        print("  \(backupRepository(self.to))/\(manifest.id)/manifest.json")
    }
}

struct BackupListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The complete backups of a repository, oldest first."
    )
    @Option(help: "The backup repository (default $STOCKBOOM_BACKUP_DIR, else ./var/backups).") var from: String?
    @Flag var json = false

    func run() throws {
        let manifests = try LogBackup.list(repository: backupRepository(self.from))
        if self.json {
            print(
                Format.json(
                    manifests.map {
                        [
                            "id": $0.id, "createdAt": Format.timestamp($0.createdAtMicros),
                            "nextOffset": Int($0.nextOffset), "headHash": $0.headHash,
                            "bytes": Int($0.totalBytes), "copiedBytes": Int($0.copiedBytes), "files": $0.files.count,
                        ] as [String: Any]
                    }
                )
            )
            return
        }
        if manifests.isEmpty { print("no backups in \(backupRepository(self.from))") }
        for manifest in manifests {
            let newest = manifest.maxTimestamp.map { Format.timestamp($0) } ?? "-"
            print(
                "\(manifest.id)  records \(String(manifest.nextOffset).leftPadded(10))  newest event \(newest)  \(Format.bytes(manifest.totalBytes).leftPadded(10)) (\(Format.bytes(manifest.copiedBytes)) new)"
            )
        }
    }
}

struct BackupVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Check backups without restoring: every file's size and SHA-256, then frames, CRCs and the hash chain up to the recorded head."
    )
    @Option(
        help: "The backup repository, or one backup's directory (default $STOCKBOOM_BACKUP_DIR, else ./var/backups)."
    ) var from: String?
    @Option(help: "Only this backup (default: every backup of the repository).") var backup: String?

    func run() throws {
        let path = backupRepository(self.from)
        var targets: [(String, BackupManifest)] = []
        if self.backup != nil || FileManager.default.fileExists(atPath: path + "/manifest.json") {
            targets = [try LogBackup.locate(path, id: self.backup)]
        } else {
            targets = try LogBackup.list(repository: path).map { (path, $0) }
            guard !targets.isEmpty else { throw CommandFailure("no backups in \(path)") }
        }
        var damaged = 0
        for (repository, manifest) in targets {
            let problems = try LogBackup.verify(repository: repository, manifest: manifest)
            if problems.isEmpty {
                print(
                    "\(manifest.id): ok (\(manifest.files.count) files, records [0, \(manifest.nextOffset)), head \(manifest.headHash.prefix(16))…)"
                )
            } else {
                damaged += 1
                for problem in problems {
                    print("\(manifest.id): DAMAGED \(repository)/\(problem.path): \(problem.reason)")
                }
            }
        }
        if damaged > 0 { throw CommandFailure("\(damaged) of \(targets.count) backup(s) damaged") }
    }
}

struct BackupRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract:
            "Restore a backup into an empty log directory, optionally up to an offset or a time, then rebuild the PostgreSQL read models and the Redis queues from it."
    )
    @Option(
        help:
            "The backup repository (its newest backup) or one backup's directory (default $STOCKBOOM_BACKUP_DIR, else ./var/backups)."
    ) var from: String?
    @Option(help: "The backup to restore (default: the newest).") var backup: String?
    @Option(help: "The log directory to create (must not exist or be empty).") var to: String
    @Option(help: "Keep records below this offset.") var toOffset: UInt64?
    @Option(help: "Keep records before this time (ISO 8601 or epoch µs).") var toTime: String?
    @OptionGroup var database: DatabaseOptions
    @Option(help: "Redis for the job queues (default $REDIS_URL).") var redisURL: String?
    @Flag(help: "Restore the log only: leave PostgreSQL and Redis alone.") var logOnly = false
    @Flag(help: "Keep every read-model row the log has (no retention, as projections rebuild --keep-everything).")
    var keepEverything = false

    func run() async throws {
        var toOffset = self.toOffset
        var cutoff: Int64?
        if let text = self.toTime {
            guard let micros = Format.parseTime(text) else { throw ValidationError("cannot read --to-time \(text)") }
            cutoff = micros
        }
        let (repository, manifest) = try LogBackup.locate(backupRepository(self.from), id: self.backup)
        if let cutoff {
            // The first record at or after the time, found in the backup itself (read-only, through the verifier's staging).
            let byTime = try LogBackup.offset(repository: repository, manifest: manifest, atOrAfterTimestamp: cutoff)
            toOffset = min(toOffset ?? byTime, byTime)
        }
        let started = monotonicNanos()
        let report = try await LogBackup.restore(
            repository: repository,
            manifest: manifest,
            to: self.to,
            toOffset: toOffset
        )
        print(
            "restored backup \(report.backup) into \(self.to): records [0, \(report.nextOffset)), \(report.segments) segment(s), \(report.snapshots) snapshot(s); head \(report.headHash.prefix(16))…"
        )
        if report.droppedRecords > 0 {
            print(
                "  point in time: left out the backup's \(report.droppedRecords) later record(s)\(report.reappendedRecords > 0 ? "; \(report.reappendedRecords) record(s) of the cut frame appended again" : "")"
            )
        }
        let eventLog = try EventLog(directory: self.to, readOnly: true)
        defer { eventLog.close() }
        let (state, recovery) = try EngineRuntime.recover(
            log: eventLog,
            snapshots: SnapshotStore(logDirectory: self.to),
            toOffset: nil
        )
        print(
            "  engine state: \(state.eventCount) events (snapshot \(recovery.snapshotOffset.map(String.init) ?? "none") + \(recovery.replayedEvents) replayed), \(state.orders.count) orders, digest \(state.digest)"
        )
        guard !self.logOnly else {
            print(
                "  --log-only: PostgreSQL and Redis left alone; rebuild later with `stockboom projections rebuild` and `stockboom queues rebuild`"
            )
            return
        }
        let environment = ProcessInfo.processInfo.environment
        if let url = self.database.databaseURL ?? environment["DATABASE_URL"], !url.isEmpty {
            let runner = try ProjectionRunner(log: eventLog, connect: { try PostgresConnection(url: url) })
            let retention = self.keepEverything ? nil : ProjectionRunner.Retention()
            for name in runner.names {
                let applied = try await blocking { try runner.rebuild(name, retention: retention) }
                print("  PostgreSQL read model \(name) rebuilt: \(applied) events")
            }
        } else {
            print("  PostgreSQL: skipped (no DATABASE_URL)")
        }
        if let text = self.redisURL ?? environment["REDIS_URL"], !text.isEmpty {
            guard let endpoint = RedisEndpoint(url: text) else {
                throw ValidationError("REDIS_URL must look like redis://host:port[/db]")
            }
            let store = JobQueueStore(redis: RedisClient(endpoint: endpoint))
            let head = eventLog.nextOffset
            let added = try await blocking { () throws -> Int in
                try JobDispatcher.reset(store)
                let dispatcher = JobDispatcher(
                    log: eventLog,
                    store: store,
                    clock: { wallClockMicros() },
                    committed: { (state, head) }
                )
                return try dispatcher.rebuild()
            }
            print("  Redis queues rebuilt: \(added) pending job(s) derived from the restored log")
        } else {
            print("  Redis: skipped (no REDIS_URL)")
        }
        print(
            "  \(String(format: "%.2f", Double(monotonicNanos() - started) / 1e9)) s; start the server on it: stockboom serve --dir \(self.to)"
        )
    }
}
