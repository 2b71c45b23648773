import Foundation
import Ledger
import Replication
import Synchronization
import TestSupport
import Testing

/// The replication suites share one machine's two cores with everything else: one NATS cluster at a time.
@Suite(.serialized) enum ReplicationSuites {}

extension ReplicationSuites {
    /// Replication against three real nats-servers clustered on loopback: a primary's log copied byte for byte,
    /// the fence against a deposed primary, appends through the loss of one node and refused without quorum, and
    /// the leadership lease.
    @Suite(
        .serialized,
        .enabled(if: NATSCluster.serverPath != nil, "nats-server is not installed (scripts/setup.sh --test)")
    )
    struct ReplicationTests {
        private func settings(_ cluster: NATSCluster, node: String, mode: ReplicationMode = .sync)
            -> ReplicationSettings
        {
            var settings = ReplicationSettings(
                servers: cluster.urls,
                mode: mode,
                node: node,
                advertiseURL: "http://\(node)"
            )
            settings.leaseMillis = 1_500
            settings.quorumWaitMillis = 3_000
            settings.maxBytes = 256 << 20  // within the test servers' file store
            return settings
        }

        /// Connects and creates the stream, waiting for the cluster to elect its meta leader.
        private func connect(_ cluster: NATSCluster, _ settings: ReplicationSettings) async throws -> NATSClient {
            let client = try NATSClient(servers: settings.servers, name: settings.node)
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                do {
                    try client.ensureStream(settings.streamSettings)
                    return client
                } catch {
                    if ContinuousClock.now > deadline { throw error }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }

        /// Retries `body` for up to 30 s while the cluster settles after nodes came back.
        private func retrying<T>(_ body: () async throws -> T) async throws -> T {
            let deadline = ContinuousClock.now + .seconds(30)
            while true {
                do {
                    return try await body()
                } catch {
                    if ContinuousClock.now > deadline { throw error }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
        }

        /// Appends one record; the refusal, or nil when it was appended.
        private static func refusal(appending payload: [UInt8], to log: EventLog) async -> LedgerError? {
            do {
                _ = try await log.append(payload)
                return nil
            } catch {
                return error
            }
        }

        private func payload(_ index: Int) -> [UInt8] {
            Array("{\"order\":\(index),\"text\":\"replicated order \(index)\"}".utf8)
        }

        /// Copies every stored commit from `sequence` on into `log`; returns the next sequence.
        private func copy(_ follower: StreamFollower, into log: EventLog, from sequence: UInt64) async throws -> UInt64
        {
            var next = sequence
            while let write = try follower.write(at: next) {
                try await log.applyReplicated(write)
                next += 1
            }
            return next
        }

        @Test func syncAppendsReachTheStreamAndAFollowerKeepsAByteIdenticalLog() async throws {
            let cluster = try NATSCluster()
            let settings = self.settings(cluster, node: "a")
            let client = try await self.connect(cluster, settings)
            let primaryDirectory = TemporaryDirectory("primary")
            let followerDirectory = TemporaryDirectory("follower")
            let primary = try EventLog(directory: primaryDirectory.path)
            let replicator = StreamReplicator(client: client, settings: settings, lastSequence: 0, offset: 0) { _ in }
            primary.replicate(to: replicator)
            // 16 appenders at once: group commits, each published before it is acknowledged.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for appender in 0..<16 {
                    group.addTask {
                        for index in 0..<50 {
                            var batch = AppendBatch()
                            for record in 0..<10 { batch.append(self.payload(appender * 10_000 + index * 10 + record)) }
                            _ = try await primary.append(batch)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(primary.nextOffset == 8_000)
            let status = replicator.status
            #expect(status.replicatedOffset == 8_000 && status.refusal == nil)
            let state = try client.streamState(settings.stream)
            #expect(state.lastSequence == status.lastSequence && state.messages == status.published)

            let follower = StreamFollower(client: client, settings: settings)
            let copy = try EventLog(directory: followerDirectory.path)
            #expect(try follower.locate(copy) == .follow(nextSequence: 1))
            let next = try await self.copy(follower, into: copy, from: 1)
            #expect(next == state.lastSequence + 1)
            #expect(copy.head == primary.head)
            #expect(try follower.locate(copy) == .follow(nextSequence: next))
            primary.close()
            copy.close()
            let primaryReport = try LogVerifier.verify(directory: primaryDirectory.path)
            let followerReport = try LogVerifier.verify(directory: followerDirectory.path)
            #expect(followerReport.isValid && followerReport.headHash == primaryReport.headHash)
            for name in try FileManager.default.contentsOfDirectory(atPath: primaryDirectory.path)
            where name.hasSuffix(".log") {
                #expect(
                    FileManager.default.contentsEqual(
                        atPath: primaryDirectory.file(name),
                        andPath: followerDirectory.file(name)
                    )
                )
            }
        }

        @Test func aDeposedPrimaryIsFencedAndItsAsyncSuffixIsCutWhenItRejoins() async throws {
            let cluster = try NATSCluster()
            let oldSettings = self.settings(cluster, node: "old", mode: .async)
            let client = try await self.connect(cluster, oldSettings)
            let oldDirectory = TemporaryDirectory("old")
            let newDirectory = TemporaryDirectory("new")
            let old = try EventLog(directory: oldDirectory.path)
            let lost = Mutex<[String]>([])
            let oldReplicator = StreamReplicator(client: client, settings: oldSettings, lastSequence: 0, offset: 0) {
                reason in
                lost.withLock { $0.append(reason) }
            }
            old.replicate(to: oldReplicator)
            for index in 0..<20 { _ = try await old.append(self.payload(index)) }
            #expect(await oldReplicator.drain(timeout: .seconds(10)))

            // A new primary copies the stream, then extends it (as after a failover).
            let follower = StreamFollower(client: client, settings: oldSettings)
            let new = try EventLog(directory: newDirectory.path)
            let next = try await self.copy(follower, into: new, from: 1)
            // The old primary, unaware, acknowledges more commits locally before its publisher runs (async).
            oldReplicator.stop()
            for index in 20..<25 { _ = try await old.append(self.payload(index)) }
            let newSettings = self.settings(cluster, node: "new")
            let newReplicator = StreamReplicator(
                client: client,
                settings: newSettings,
                lastSequence: next - 1,
                offset: new.nextOffset
            ) { _ in }
            new.replicate(to: newReplicator)
            for index in 100..<110 { _ = try await new.append(self.payload(index)) }

            // The old primary's next publish carries a stale expected sequence: refused, and every later commit too.
            let stale = StreamReplicator(
                client: client,
                settings: self.settings(cluster, node: "old"),
                lastSequence: next - 1,
                offset: 20
            ) { reason in
                lost.withLock { $0.append(reason) }
            }
            let oldNext = old.nextOffset
            old.replicate(to: nil)
            old.close()
            // The old node's next publish (as its writer would hand it over): the stream refuses it.
            let refused = stale.replicateAndWait(
                ReplicatedWrite(
                    segmentBase: 0,
                    position: 64,
                    segmentHeader: [],
                    frames: [1],
                    firstOffset: 20,
                    nextOffset: 21,
                    lastHash: []
                )
            )
            #expect(refused != nil)
            #expect(lost.withLock { $0 }.contains { $0.contains("fenced") }, "\(lost.withLock { $0 })")
            #expect(oldNext == 25)

            // It rejoins as a follower: the five commits the stream never got are cut and reported, then it copies.
            let rejoining = try EventLog(directory: oldDirectory.path)
            let position = try follower.locate(rejoining)
            #expect(position == .truncate(offset: 20, nextSequence: next))
            rejoining.close()
            let cut = try EventLog.truncate(directory: oldDirectory.path, toOffset: 20)
            #expect(cut.map(\.offset) == Array(20..<25))
            #expect(cut.map(\.payload) == (20..<25).map(self.payload))
            let rejoined = try EventLog(directory: oldDirectory.path)
            _ = try await self.copy(follower, into: rejoined, from: next)
            #expect(rejoined.head == new.head)
            new.close()
            rejoined.close()
        }

        @Test func syncAppendsGoOnWhenOneNodeDiesAndAreRefusedWithoutQuorum() async throws {
            let cluster = try NATSCluster()
            var settings = self.settings(cluster, node: "a")
            settings.quorumWaitMillis = 15_000  // through the election of a new stream (and meta) leader
            let client = try await self.connect(cluster, settings)
            let directory = TemporaryDirectory("quorum")
            let log = try EventLog(directory: directory.path)
            let lost = Mutex<[String]>([])
            let replicator = StreamReplicator(client: client, settings: settings, lastSequence: 0, offset: 0) {
                reason in
                lost.withLock { $0.append(reason) }
            }
            log.replicate(to: replicator)
            for index in 0..<50 { _ = try await log.append(self.payload(index)) }

            // One node dies (maybe the stream's leader): appends go on, perhaps after an election.
            let leader = try client.streamState(settings.stream).leader
            let victim = (0..<3).first { cluster.name($0) == leader } ?? 0
            cluster.kill(victim)
            var longest = Duration.zero
            for index in 50..<100 {
                let started = ContinuousClock.now
                _ = try await log.append(self.payload(index))
                longest = max(longest, ContinuousClock.now - started)
            }
            print(
                "replication: longest sync append across the loss of node \(cluster.name(victim)) (leader \(leader ?? "?")): \(longest)"
            )
            #expect(log.nextOffset == 100 && lost.withLock { $0 }.isEmpty)

            // A second node dies: no quorum. The append is refused (nothing acknowledged), naming the reason.
            cluster.kill((victim + 1) % 3)
            await #expect {
                _ = try await log.append(self.payload(100))
            } throws: { error in
                (error as? LedgerError)?.code == .unavailable && "\(error)".contains("quorum")
            }
            #expect(log.nextOffset == 100, "nothing of the refused append is visible")
            #expect(lost.withLock { $0 }.count == 1)

            // Quorum returns: a replicator resuming from the stream's end appends again; nothing was lost.
            try cluster.start(victim)
            try cluster.start((victim + 1) % 3)
            let deadline = ContinuousClock.now + .seconds(30)
            var state: StreamState?
            while state == nil || state!.healthyPeers < 2 {
                state = try? client.streamState(settings.stream)
                if ContinuousClock.now > deadline { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            // Resume as a node does: copy what the stream holds past the log, then publish from the stream's end. The
            // refused commit may still reach the stream (its acknowledgement failed, not its storage — even after the
            // refusal, when a proposal made during the outage is applied once quorum returns): then it is history, is
            // copied, and the caller that was told 503 finds it with its idempotency key. A publish that meets it is
            // refused as fenced, and the node locates and copies again — at most once here.
            let follower = StreamFollower(client: client, settings: settings)
            var resumedAt: UInt64?
            for _ in 0..<3 where resumedAt == nil {
                guard case .follow(let next) = try await self.retrying({ try follower.locate(log) }) else {
                    Issue.record("the log should be a prefix of the stream")
                    return
                }
                log.replicate(to: nil)
                let sequence = try await self.copy(follower, into: log, from: next)
                let resumed = StreamReplicator(
                    client: client,
                    settings: settings,
                    lastSequence: sequence - 1,
                    offset: log.nextOffset
                ) { _ in }
                log.replicate(to: resumed)
                if let refused = await Self.refusal(appending: self.payload(100), to: log) {
                    #expect(refused.code == .unavailable && refused.message.contains("fenced"), "\(refused)")
                } else {
                    resumedAt = log.nextOffset
                }
            }
            let uncertain = try #require(resumedAt) - 101
            #expect(uncertain <= 1, "at most the one refused commit can be in the stream")
            let copyDirectory = TemporaryDirectory("copy")
            let copy = try EventLog(directory: copyDirectory.path)
            _ = try await self.retrying {
                guard case .follow(let from) = try follower.locate(copy) else {
                    throw LedgerError(code: .corrupt, message: "diverged")
                }
                return try await self.copy(follower, into: copy, from: from)
            }
            #expect(copy.head == log.head, "every acknowledged append is in the stream")
            copy.close()
            log.close()
        }

        @Test func theLeaseHasOneHolderAndExpiresWhenItsHolderStopsRenewing() async throws {
            let cluster = try NATSCluster()
            let first = self.settings(cluster, node: "a")
            let second = self.settings(cluster, node: "b")
            let client = try await self.connect(cluster, first)
            let deadline = ContinuousClock.now + .seconds(20)
            var a: LeaderLease
            while true {
                do {
                    a = try LeaderLease(client: client, settings: first)
                    break
                } catch {
                    if ContinuousClock.now > deadline { throw error }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            let b = try LeaderLease(client: client, settings: second)
            let revision = try #require(try a.acquire())
            #expect(try b.acquire() == nil, "a held lease cannot be taken")
            #expect(try a.current()?.holder?.node == "a")
            let renewed = try #require(try a.renew(revision))
            #expect(try b.renew(revision) == nil, "a stale revision cannot renew")
            #expect(try a.renew(revision) == nil)
            // a stops renewing: after the lease's time b takes it, and a's next renewal fails.
            try await Task.sleep(for: .milliseconds(2_500))
            let taken = try #require(try b.acquire())
            #expect(try a.renew(renewed) == nil)
            #expect(try a.current()?.holder?.url == "http://b")
            b.release(taken)
            // Reads of the key-value store may come from a replica a moment behind (direct gets): looked at until
            // the release (or, on a slow machine, the expiry) shows, for at most the lease's time again.
            let shown = ContinuousClock.now + .milliseconds(2_500)
            var holder = try a.current()?.holder?.node
            while holder == "b", ContinuousClock.now < shown {
                try await Task.sleep(for: .milliseconds(50))
                holder = try a.current()?.holder?.node
            }
            #expect(holder != "b", "released (or expired)")
        }
    }
}
