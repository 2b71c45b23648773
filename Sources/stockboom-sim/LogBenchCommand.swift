import ArgumentParser
import Assembly
import Foundation
import Gateway
import Jobs
import Ledger
import Projections
import Runtime
import Simulation
import Storage
import Synchronization
import Telemetry

/// `stockboom-sim bench log`: the log's figures and its peers', measured in one run on one corpus.
struct LogBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Benchmark the log against PostgreSQL, Redis Streams, lz4 and raw fdatasync on the shared corpus."
    )

    @Option(help: "Corpus file: one JSON event per line (`stockboom-sim bench corpus`).") var corpus: String
    @Option(help: "Scratch directory for the benchmark logs (emptied first).") var dir = "var/bench"
    @Option(help: "Use at most this many corpus events.") var events: Int?
    @Option(help: "Events in the log whose open time is measured.") var openEvents = 10_000_000
    @Option(help: "Events appended by 16 single-event appenders.") var singleEvents = 200_000
    @Option(help: "Samples of single-event append latency.") var latencySamples = 5_000
    @Option(help: "PostgreSQL peer (default $DATABASE_URL; skipped when neither is set).") var databaseURL: String?
    @Option(help: "Redis peer (default $REDIS_URL; skipped when neither is set).") var redisURL: String?
    @Option(help: "Events sent to PostgreSQL one INSERT+COMMIT at a time.") var postgresSingleEvents = 5_000
    @Option(help: "Events sent to Redis with XADD.") var redisEvents = 300_000
    @Flag(help: "Print results as one JSON object.") var json = false

    func run() async throws {
        let corpus = try Corpus(path: self.corpus, limit: self.events)
        var results = BenchResults()
        results.note(
            "corpus",
            "\(corpus.count) events, \(Format.bytes(UInt64(corpus.totalBytes))), \(String(format: "%.1f", corpus.averageBytes)) bytes/event"
        )
        try? FileManager.default.removeItem(atPath: self.dir)
        try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)

        // 1. Durable appends, batches of 100, 1 and 16 appenders.
        for appenders in [1, 16] {
            let path = "\(self.dir)/append-\(appenders)x100"
            let log = try EventLog(directory: path)
            let seconds = try await Self.appendCorpus(corpus, to: log, appenders: appenders, batchSize: 100)
            Self.noteGroupCommit(log, "\(appenders) x 100", results: &results)
            log.close()
            let onDisk = Self.segmentBytes(path)
            results.add(
                "log append, \(appenders) appender(s) x batches of 100, every-batch fsync",
                events: corpus.count,
                seconds: seconds,
                bytes: corpus.totalBytes
            )
            results.note(
                "bytes on disk per event (\(appenders) x 100)",
                String(
                    format: "%.1f (%@ for %@ of JSON)",
                    Double(onDisk) / Double(corpus.count),
                    Format.bytes(onDisk),
                    Format.bytes(UInt64(corpus.totalBytes))
                )
            )
        }
        // 2. Sixteen appenders, each awaiting single events.
        do {
            let path = "\(self.dir)/append-16x1"
            let log = try EventLog(directory: path)
            let count = min(self.singleEvents, corpus.count)
            let seconds = try await Self.appendCorpus(corpus.prefix(count), to: log, appenders: 16, batchSize: 1)
            Self.noteGroupCommit(log, "16 x 1", results: &results)
            log.close()
            results.add(
                "log append, 16 appenders x single events, every-batch fsync",
                events: count,
                seconds: seconds,
                bytes: corpus.prefix(count).totalBytes
            )
            results.note(
                "bytes on disk per event (16 x 1)",
                String(format: "%.1f", Double(Self.segmentBytes(path)) / Double(count))
            )
        }
        // 3. Single-event latency against the disk's own fdatasync latency.
        do {
            let log = try EventLog(directory: "\(self.dir)/latency")
            var samples: [Double] = []
            for index in 0..<self.latencySamples {
                let started = monotonicNanos()
                _ = try await log.append(corpus.payload(index % corpus.count))
                samples.append(Double(monotonicNanos() - started) / 1000)
            }
            log.close()
            results.latency("log single-event durable append latency (µs)", samples)
            let disk = try await blocking {
                try Self.fdatasyncLatency(directory: self.dir, samples: self.latencySamples)
            }
            results.latency("disk: 4 KiB pwrite + fdatasync latency (µs)", disk)
        }
        // 4. Replay: decompress + checksum + decode, one core.
        do {
            let log = try EventLog(directory: "\(self.dir)/append-16x100", readOnly: true)
            var best = Double.infinity
            var bytes = 0
            for _ in 0..<3 {
                let started = monotonicNanos()
                var count = 0
                bytes = 0
                try log.scan(from: 0) { view in
                    count += 1
                    bytes += view.payload.count
                    return .continue
                }
                precondition(count == corpus.count, "replay returned \(count) of \(corpus.count) events")
                best = min(best, Double(monotonicNanos() - started) / 1e9)
            }
            results.add(
                "log replay (decompress + CRC-32C + decode), 1 thread, best of 3",
                events: corpus.count,
                seconds: best,
                bytes: bytes
            )
        }
        // 5. Opening a large log: clean and after a crash; replay memory.
        try await self.measureOpen(corpus: corpus, results: &results)
        // 6. Peers.
        try await self.measurePeers(corpus: corpus, results: &results)
        results.note(
            "peak RSS of this process",
            Format.bytes(UInt64(Self.peakRSSKiB()) * 1024) + " (includes the corpus held in memory)"
        )
        print(self.json ? results.json() : results.table())
    }

    // MARK: Workloads

    static func noteGroupCommit(_ log: EventLog, _ name: String, results: inout BenchResults) {
        let values = log.statistics
        results.note(
            "group commit (\(name))",
            String(
                format: "%llu commits, %.1f appends and %.1f records per commit, fdatasync mean %.0f µs, max %.0f µs",
                values.commits,
                values.appendsPerCommit,
                values.recordsPerCommit,
                values.syncMicrosMean,
                Double(values.syncNanosMax) / 1000
            )
        )
    }

    static func appendCorpus(_ corpus: Corpus, to log: EventLog, appenders: Int, batchSize: Int) async throws -> Double
    {
        let cursor = SharedCounter()
        let started = monotonicNanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<appenders {
                group.addTask {
                    var batch = AppendBatch(capacityBytes: batchSize * 256)
                    while true {
                        let start = cursor.value.add(batchSize, ordering: .relaxed).oldValue
                        if start >= corpus.count { return }
                        batch.removeAll()
                        for index in start..<min(start + batchSize, corpus.count) {
                            corpus.withPayload(index) { batch.append(bytes: $0) }
                        }
                        _ = try await log.append(batch)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(monotonicNanos() - started) / 1e9
    }

    private func measureOpen(corpus: Corpus, results: inout BenchResults) async throws {
        let path = "\(self.dir)/open-\(self.openEvents)"
        var configuration = LogConfiguration()
        configuration.durability = .none  // building the big log fast; the format is the same
        let log = try EventLog(directory: path, configuration: configuration)
        var written = 0
        let buildStarted = monotonicNanos()
        while written < self.openEvents {
            let take = min(corpus.count, self.openEvents - written)
            _ = try await Self.appendCorpus(corpus.prefix(take), to: log, appenders: 4, batchSize: 1000)
            written += take
        }
        let buildSeconds = Double(monotonicNanos() - buildStarted) / 1e9
        log.close()
        results.add(
            "log append, 4 appenders x batches of 1000, durability none (building the open-test log)",
            events: written,
            seconds: buildSeconds,
            bytes: nil
        )
        let segments = Self.segmentBytes(path)
        results.note(
            "open-test log",
            "\(written) events, \(Format.bytes(segments)), \(Self.segmentCount(path)) segments"
        )
        var best = Double.infinity
        for _ in 0..<5 {
            let started = monotonicNanos()
            let reopened = try EventLog(directory: path, configuration: configuration)
            best = min(best, Double(monotonicNanos() - started) / 1e6)
            precondition(reopened.nextOffset == UInt64(written))
            reopened.close()
        }
        results.note("open a \(written)-event log after a clean shutdown (best of 5)", String(format: "%.1f ms", best))
        let crashed = try EventLog(directory: path, configuration: configuration)
        crashed.abandonForTesting()
        let started = monotonicNanos()
        let recovered = try EventLog(directory: path, configuration: configuration)
        let recoverMs = Double(monotonicNanos() - started) / 1e6
        results.note(
            "open the same log after a crash (scans and re-hashes the open segment)",
            String(format: "%.1f ms, %@ scanned", recoverMs, Format.bytes(recovered.openReport.scannedBytes))
        )
        // Memory is flat in the log's size: replaying 10x the events must not raise the resident set.
        let rssBefore = Self.currentRSSKiB()
        var replayed = 0
        let replayStarted = monotonicNanos()
        try recovered.scan(from: 0) { _ in
            replayed += 1
            return .continue
        }
        let replaySeconds = Double(monotonicNanos() - replayStarted) / 1e9
        let rssAfter = Self.currentRSSKiB()
        recovered.close()
        results.add(
            "log replay of the \(written)-event log, 1 thread",
            events: replayed,
            seconds: replaySeconds,
            bytes: nil
        )
        results.note(
            "resident memory during that replay",
            "\(Format.bytes(UInt64(rssBefore) * 1024)) before, \(Format.bytes(UInt64(rssAfter) * 1024)) after (+\(Format.bytes(UInt64(max(0, rssAfter - rssBefore)) * 1024)))"
        )
        try? FileManager.default.removeItem(atPath: path)
    }

    private func measurePeers(corpus: Corpus, results: inout BenchResults) async throws {
        // lz4 -b1: the compression speed limit of the codec on this corpus.
        if let line = try? Self.run("/usr/bin/lz4", ["-b1", "-i1", self.corpus]) {
            let speeds = line.split(separator: ",").compactMap { part -> Double? in
                let fields = part.split(separator: " ")
                guard let unit = fields.firstIndex(of: "MB/s"), unit > 0 else { return nil }
                return Double(fields[unit - 1])
            }
            if speeds.count >= 2 {
                let eventsPerMB = 1e6 / corpus.averageBytes
                results.addRate(
                    "limit: lz4 -b1 compression (this corpus)",
                    eventsPerSecond: speeds[0] * eventsPerMB,
                    megabytesPerSecond: speeds[0]
                )
                results.addRate(
                    "limit: lz4 -b1 decompression (this corpus)",
                    eventsPerSecond: speeds[1] * eventsPerMB,
                    megabytesPerSecond: speeds[1]
                )
            }
        } else {
            results.note("lz4 -b1", "skipped: /usr/bin/lz4 not installed (apt-get install lz4)")
        }
        // Sequential write with fdatasync: the disk's streaming limit for durable appends.
        let sequential = try await blocking {
            try Self.sequentialWrite(directory: self.dir, blockBytes: 256 << 10, blocks: 400)
        }
        results.addRate(
            "limit: sequential 256 KiB pwrite + fdatasync",
            eventsPerSecond: nil,
            megabytesPerSecond: sequential
        )

        let environment = ProcessInfo.processInfo.environment
        if let url = self.databaseURL ?? environment["DATABASE_URL"] {
            let single = min(self.postgresSingleEvents, corpus.count)
            let (insertSeconds, copySeconds) = try await blocking {
                try Self.postgresPeer(url: url, corpus: corpus, singleEvents: single)
            }
            results.add(
                "peer: PostgreSQL INSERT + COMMIT per event (jsonb)",
                events: single,
                seconds: insertSeconds,
                bytes: corpus.prefix(single).totalBytes
            )
            results.add(
                "peer: PostgreSQL COPY in bulk, one transaction (jsonb)",
                events: corpus.count,
                seconds: copySeconds,
                bytes: corpus.totalBytes
            )
        } else {
            results.note("PostgreSQL peer", "skipped: no --database-url or DATABASE_URL")
        }
        if let url = self.redisURL ?? environment["REDIS_URL"], let endpoint = RedisEndpoint(url: url) {
            let count = min(self.redisEvents, corpus.count)
            let seconds = try await blocking { try Self.redisPeer(endpoint: endpoint, corpus: corpus.prefix(count)) }
            results.add(
                "peer: Redis Streams XADD, appendfsync always, pipelined x100",
                events: count,
                seconds: seconds,
                bytes: corpus.prefix(count).totalBytes
            )
        } else {
            results.note("Redis peer", "skipped: no --redis-url or REDIS_URL")
        }
    }

    static func postgresPeer(url: String, corpus: Corpus, singleEvents: Int) throws -> (Double, Double) {
        let connection = try PostgresConnection(url: url)
        try connection.execute("SET client_min_messages TO warning")
        try connection.execute(
            "DROP TABLE IF EXISTS bench_events; CREATE TABLE bench_events (id bigserial PRIMARY KEY, recorded_at timestamptz NOT NULL DEFAULT now(), payload jsonb NOT NULL)"
        )
        let insertStarted = monotonicNanos()
        for index in 0..<singleEvents {
            // Autocommit: each INSERT is its own transaction, committed (and fsynced) before the next.
            try connection.query(
                "INSERT INTO bench_events (payload) VALUES ($1::jsonb)",
                [String(decoding: corpus.payload(index), as: UTF8.self)]
            )
        }
        let insertSeconds = Double(monotonicNanos() - insertStarted) / 1e9
        try connection.execute("TRUNCATE bench_events")
        var text: [UInt8] = []
        text.reserveCapacity(corpus.totalBytes + corpus.count * 4)
        for index in 0..<corpus.count {
            corpus.withPayload(index) { payload in
                for byte in payload {
                    // COPY text format: escape backslash, tab and newline.
                    switch byte {
                    case UInt8(ascii: "\\"): text.append(contentsOf: [92, 92])
                    case 9: text.append(contentsOf: [92, 116])
                    case 10: text.append(contentsOf: [92, 110])
                    default: text.append(byte)
                    }
                }
            }
            text.append(10)
        }
        let copyStarted = monotonicNanos()
        let copied = try connection.copyIn("COPY bench_events (payload) FROM STDIN", data: text)
        let copySeconds = Double(monotonicNanos() - copyStarted) / 1e9
        precondition(copied == corpus.count, "COPY stored \(copied) of \(corpus.count) rows")
        try connection.execute("DROP TABLE bench_events")
        return (insertSeconds, copySeconds)
    }

    static func redisPeer(endpoint: RedisEndpoint, corpus: Corpus) throws -> Double {
        let connection = try RedisConnection(endpoint: endpoint)
        _ = try connection.command(["CONFIG", "SET", "appendonly", "yes"])
        _ = try connection.command(["CONFIG", "SET", "appendfsync", "always"])
        _ = try connection.command(["DEL", "bench:events"])
        let started = monotonicNanos()
        var index = 0
        while index < corpus.count {
            let end = min(index + 100, corpus.count)
            let commands = (index..<end).map {
                [Array("XADD".utf8), Array("bench:events".utf8), Array("*".utf8), Array("e".utf8), corpus.payload($0)]
            }
            for reply in try connection.pipeline(commands) {
                if case .error(let message) = reply { throw CommandFailure("XADD failed: \(message)") }
            }
            index = end
        }
        let seconds = Double(monotonicNanos() - started) / 1e9
        if case .integer(let length) = try connection.command(["XLEN", "bench:events"]), length != Int64(corpus.count) {
            throw CommandFailure("Redis holds \(length) of \(corpus.count) stream entries")
        }
        _ = try connection.command(["DEL", "bench:events"])
        return seconds
    }

    static func fdatasyncLatency(directory: String, samples: Int) throws -> [Double] {
        let path = directory + "/fdatasync.probe"
        let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CommandFailure("cannot create \(path)") }
        defer {
            close(descriptor)
            unlink(path)
        }
        let block = [UInt8](repeating: 7, count: 4096)
        var latencies: [Double] = []
        for index in 0..<samples {
            let started = monotonicNanos()
            _ = block.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 4096, off_t(index * 4096)) }
            fdatasync(descriptor)
            latencies.append(Double(monotonicNanos() - started) / 1000)
        }
        return latencies
    }

    static func sequentialWrite(directory: String, blockBytes: Int, blocks: Int) throws -> Double {
        let path = directory + "/sequential.probe"
        let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw CommandFailure("cannot create \(path)") }
        defer {
            close(descriptor)
            unlink(path)
        }
        let block = [UInt8](repeating: 7, count: blockBytes)
        let started = monotonicNanos()
        for index in 0..<blocks {
            _ = block.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, blockBytes, off_t(index * blockBytes)) }
            fdatasync(descriptor)
        }
        return Double(blockBytes * blocks) / 1e6 / (Double(monotonicNanos() - started) / 1e9)
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        // lz4 -b redraws its progress line with carriage returns; keep the final state.
        let text = String(decoding: data, as: UTF8.self)
        return text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last(where: { $0.contains("MB/s") }).map(
            String.init
        ) ?? text
    }

    static func segmentBytes(_ path: String) -> UInt64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasSuffix(".log") }.reduce(0) { total, name in
            total
                + (((try? FileManager.default.attributesOfItem(atPath: path + "/" + name)[.size]) as? NSNumber)?
                    .uint64Value ?? 0)
        }
    }

    static func segmentCount(_ path: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".log") }.count
    }

    static func peakRSSKiB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }

    static func currentRSSKiB() -> Int { Int(ProcessUsage().residentBytes() / 1024) }
}

/// The benchmark corpus: every line of the file in one buffer, with line boundaries.
struct Corpus: Sendable {
    let bytes: [UInt8]
    let starts: [Int]
    let ends: [Int]

    init(path: String, limit: Int?) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure(
                "cannot read corpus \(path); generate it with: stockboom-sim bench corpus --events 1000000 --seed 7 > \(path)"
            )
        }
        var starts: [Int] = []
        var ends: [Int] = []
        let bytes = [UInt8](data)
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 10 {
            if index > start {
                starts.append(start)
                ends.append(index)
                if let limit, starts.count >= limit { break }
            }
            start = index + 1
        }
        self.init(bytes: bytes, starts: starts, ends: ends)
    }

    init(bytes: [UInt8], starts: [Int], ends: [Int]) {
        self.bytes = bytes
        self.starts = starts
        self.ends = ends
    }

    var count: Int { self.starts.count }
    var totalBytes: Int { zip(self.starts, self.ends).reduce(0) { $0 + $1.1 - $1.0 } }
    var averageBytes: Double { Double(self.totalBytes) / Double(max(self.count, 1)) }

    func prefix(_ count: Int) -> Corpus {
        Corpus(bytes: self.bytes, starts: Array(self.starts.prefix(count)), ends: Array(self.ends.prefix(count)))
    }

    func payload(_ index: Int) -> [UInt8] { Array(self.bytes[self.starts[index]..<self.ends[index]]) }

    func withPayload<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        self.bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[self.starts[index]..<self.ends[index]])) }
    }
}

/// Collected figures, printed as a table or JSON.
struct BenchResults {
    private var rows: [(String, [String: Any])] = []

    mutating func add(_ name: String, events: Int, seconds: Double, bytes: Int?, unit: String = "events") {
        var row: [String: Any] = [
            "events": events, "seconds": seconds, "eventsPerSecond": Double(events) / seconds, "unit": unit,
        ]
        if let bytes { row["megabytesPerSecond"] = Double(bytes) / 1e6 / seconds }
        self.rows.append((name, row))
    }

    mutating func addRate(_ name: String, eventsPerSecond: Double?, megabytesPerSecond: Double) {
        var row: [String: Any] = ["megabytesPerSecond": megabytesPerSecond]
        if let eventsPerSecond { row["eventsPerSecond"] = eventsPerSecond }
        self.rows.append((name, row))
    }

    mutating func latency(_ name: String, _ samples: [Double]) {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        self.rows.append(
            (
                name,
                ["p50": percentile(0.5), "p99": percentile(0.99), "max": sorted.last ?? 0, "samples": samples.count]
            )
        )
    }

    mutating func note(_ name: String, _ text: String) { self.rows.append((name, ["note": text])) }

    func table() -> String {
        var lines: [String] = []
        for (name, row) in self.rows {
            if let note = row["note"] as? String {
                lines.append("\(name): \(note)")
            } else if let p50 = row["p50"] as? Double, let p99 = row["p99"] as? Double {
                lines.append(
                    "\(name): p50 \(String(format: "%.0f", p50)), p99 \(String(format: "%.0f", p99)), max \(String(format: "%.0f", row["max"] as? Double ?? 0)) (\(row["samples"] ?? 0) samples)"
                )
            } else {
                var parts: [String] = []
                let unit = row["unit"] as? String ?? "events"
                if let rate = row["eventsPerSecond"] as? Double { parts.append("\(Format.number(rate)) \(unit)/s") }
                if let rate = row["megabytesPerSecond"] as? Double { parts.append(String(format: "%.1f MB/s", rate)) }
                if let events = row["events"] as? Int, let seconds = row["seconds"] as? Double {
                    parts.append("(\(events) \(unit) in \(String(format: "%.3f", seconds)) s)")
                }
                lines.append("\(name): \(parts.joined(separator: ", "))")
            }
        }
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        Format.json(Dictionary(self.rows.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first }))
    }
}

/// An atomic counter that tasks can share (an `Atomic` itself cannot be captured).
final class SharedCounter: Sendable {
    let value = Atomic<Int>(0)
}
