import ArgumentParser
import Assembly
import Foundation
import Ledger
import Replication
import Storage
import Synchronization

/// `stockboom-sim bench replication`: durable appends with the log alone, with `sync` replication to a 3-replica
/// JetStream stream and with `async`, on one corpus in one run; and a follower's lag at a steady rate.
struct ReplicationBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replication",
        abstract:
            "Durable appends local only vs sync vs async replication (16 appenders, batches of 100 and single events; latency), and follower lag."
    )

    @Option(help: "Corpus file: one JSON event per line (`stockboom-sim bench corpus`).") var corpus: String
    @Option(help: "NATS servers of a 3-node cluster, comma-separated (scripts/nats-cluster.sh).") var nats: String
    @Option(help: "Scratch directory for the benchmark logs (emptied first).") var dir = "var/bench-replication"
    @Option(help: "Use at most this many corpus events for the batched runs.") var events: Int?
    @Option(help: "Events appended by 16 single-event appenders.") var singleEvents = 50_000
    @Option(help: "Samples of single-event append latency (one appender).") var latencySamples = 2_000
    @Option(help: "The follower-lag run's rate (events per second) and length (seconds).") var lagRate = 10_000
    @Option var lagSeconds = 10
    @Option(help: "Stream replicas.") var replicas = 3
    @Option(help: "Which runs, comma-separated: local, sync, async.") var modes = "local,sync,async"
    @Option(help: "sync: commits in flight to the stream at once.") var inFlight = ReplicationSettings(
        servers: [],
        mode: .sync,
        node: "",
        advertiseURL: ""
    ).commitsInFlight

    func run() async throws {
        let corpus = try Corpus(path: self.corpus, limit: self.events)
        let servers = self.nats.split(separator: ",").map(String.init)
        var results = BenchResults()
        results.note("corpus", "\(corpus.count) events, \(Format.bytes(UInt64(corpus.totalBytes)))")
        try? FileManager.default.removeItem(atPath: self.dir)
        try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
        let client = try NATSClient(servers: servers, name: "bench-replication")
        let run = UInt64(wallClockMicros())
        var publishTimes: [Double] = []

        for mode in self.modes.split(separator: ",").map(String.init) {
            var settings = ReplicationSettings(
                servers: servers,
                mode: mode == "async" ? .async : .sync,
                node: "bench",
                advertiseURL: ""
            )
            settings.replicas = self.replicas
            settings.commitsInFlight = self.inFlight
            settings.recordPublishTimes = true
            settings.maxBytes = 512 << 20  // seven streams within the servers' file store
            var which = 0
            /// A log (and for sync/async a fresh stream and its replicator) for one workload.
            func open(_ name: String) throws -> (EventLog, StreamReplicator?) {
                which += 1
                let log = try EventLog(directory: "\(self.dir)/\(mode)-\(name)")
                guard mode != "local" else { return (log, nil) }
                settings.stream = "BENCH_\(run)_\(mode.uppercased())_\(which)"
                settings.subject = "bench.\(run).\(mode).\(which)"
                try client.ensureStream(settings.streamSettings)
                let replicator = StreamReplicator(client: client, settings: settings, lastSequence: 0, offset: 0) {
                    reason in FileHandle.standardError.write(Data("replication refused: \(reason)\n".utf8))
                }
                log.replicate(to: replicator)
                return (log, replicator)
            }
            func finish(_ log: EventLog, _ replicator: StreamReplicator?) async throws {
                if let replicator, mode == "async" {
                    let started = monotonicNanos()
                    guard await replicator.drain(timeout: .seconds(120)) else {
                        throw CommandFailure("the async replicator did not drain within 120 s")
                    }
                    results.note(
                        "async: stream caught up after the last append",
                        String(format: "%.0f ms", Double(monotonicNanos() - started) / 1e6)
                    )
                }
                if let replicator {
                    publishTimes += replicator.takePublishTimes().map { Double($0) / 1000 }
                    replicator.stop()
                }
                log.replicate(to: nil)
                log.close()
            }

            do {
                let (log, replicator) = try open("16x100")
                let seconds = try await LogBenchCommand.appendCorpus(corpus, to: log, appenders: 16, batchSize: 100)
                LogBenchCommand.noteGroupCommit(log, "\(mode) 16 x 100", results: &results)
                try await finish(log, replicator)
                results.add(
                    "\(mode): 16 appenders x batches of 100",
                    events: corpus.count,
                    seconds: seconds,
                    bytes: nil
                )
            }
            do {
                let count = min(self.singleEvents, corpus.count)
                let (log, replicator) = try open("16x1")
                let seconds = try await LogBenchCommand.appendCorpus(
                    corpus.prefix(count),
                    to: log,
                    appenders: 16,
                    batchSize: 1
                )
                try await finish(log, replicator)
                results.add("\(mode): 16 appenders x single events", events: count, seconds: seconds, bytes: nil)
            }
            do {
                let (log, replicator) = try open("latency")
                var samples: [Double] = []
                for index in 0..<self.latencySamples {
                    let started = monotonicNanos()
                    _ = try await log.append(corpus.payload(index % corpus.count))
                    samples.append(Double(monotonicNanos() - started) / 1000)
                }
                try await finish(log, replicator)
                results.latency("\(mode): single-event durable append latency, one appender (µs)", samples)
            }
        }
        if !publishTimes.isEmpty { results.latency("JetStream publish round trip, sync and async (µs)", publishTimes) }
        try await self.measureLag(client: client, servers: servers, run: run, corpus: corpus, results: &results)
        print(results.table())
    }

    /// A primary appends `lagRate` events a second (sync, commits of 50 events every 5 ms at 10,000/s); a follower
    /// copies the stream into its own log.
    /// Lag: from the append's acknowledgement on the primary to the same commit being durable in the follower's log.
    private func measureLag(
        client: NATSClient,
        servers: [String],
        run: UInt64,
        corpus: Corpus,
        results: inout BenchResults
    ) async throws {
        var settings = ReplicationSettings(servers: servers, mode: .sync, node: "bench", advertiseURL: "")
        settings.replicas = self.replicas
        settings.maxBytes = 512 << 20
        settings.stream = "BENCH_\(run)_LAG"
        settings.subject = "bench.\(run).lag"
        try client.ensureStream(settings.streamSettings)
        let primary = try EventLog(directory: "\(self.dir)/lag-primary")
        let copy = try EventLog(directory: "\(self.dir)/lag-follower")
        primary.replicate(to: StreamReplicator(client: client, settings: settings, lastSequence: 0, offset: 0) { _ in })
        let acknowledged = Mutex<[UInt64: UInt64]>([:])  // first offset -> monotonic ns
        let total = self.lagRate * self.lagSeconds
        let followerClient = try NATSClient(servers: servers, name: "bench-follower")
        let follower = StreamFollower(client: followerClient, settings: settings)
        let wake = try followerClient.subscribe(subject: settings.subject)
        let lags = Mutex<[Double]>([])
        let copying = Task {
            var sequence: UInt64 = 1
            while copy.nextOffset < UInt64(total) {
                let at = sequence
                if let write = try await blocking({ try follower.write(at: at) }) {
                    try await copy.applyReplicated(write)
                    let now = monotonicNanos()
                    if let sent = acknowledged.withLock({ $0[write.firstOffset] }), now > sent {
                        lags.withLock { $0.append(Double(now - sent) / 1000) }
                    }
                    sequence += 1
                } else {
                    _ = try await blocking { wake.wait(timeoutMillis: 50) }
                }
            }
        }
        // The rate as the engine produces it: commits of 50 events every 5 ms (group commits), one at a time.
        let batchEvents = 50
        let interval = 1_000_000_000 * UInt64(batchEvents) / UInt64(self.lagRate)
        let started = monotonicNanos()
        var index = 0
        while index < total {
            let due = started + UInt64(index / batchEvents) * interval
            let now = monotonicNanos()
            if due > now + 200_000 { try await Task.sleep(nanoseconds: due - now) }
            var batch = AppendBatch()
            for event in index..<min(index + batchEvents, total) { batch.append(corpus.payload(event % corpus.count)) }
            let offset = try await primary.append(batch).firstOffset
            acknowledged.withLock { $0[offset] = monotonicNanos() }
            index += batchEvents
        }
        let rate = Double(total) / (Double(monotonicNanos() - started) / 1e9)
        try await copying.value
        results.note(
            "follower lag run",
            String(format: "%d events at %.0f events/s (target %d)", total, rate, self.lagRate)
        )
        results.latency(
            "follower lag: primary acknowledged -> durable in the follower's log (µs)",
            lags.withLock { $0 }
        )
        let same = primary.head == copy.head
        results.note("follower log head equals the primary's", same ? "yes" : "NO")
        primary.close()
        copy.close()
        guard same else { throw CommandFailure("the follower's log differs from the primary's") }
    }
}
