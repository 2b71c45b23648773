public import Ledger

/// Copies the stream into a follower's log, commit by commit, byte for byte.
///
/// Every message is checked by the log before a byte is written (`EventLog.applyReplicated`: segment, position,
/// offsets, CRCs, chain): a forged or misplaced message is refused and reported, and the copier stops there
/// rather than skip it.
public final class StreamFollower: Sendable {
    public let client: NATSClient
    public let settings: ReplicationSettings

    public init(client: NATSClient, settings: ReplicationSettings) {
        self.client = client
        self.settings = settings
    }

    /// Where a log stands against the stream.
    public enum Position: Sendable, Equatable {
        /// The log is a prefix of the stream: copy from this sequence on.
        case follow(nextSequence: UInt64)
        /// The log holds commits the stream does not (a deposed `async` primary): cut it back to `offset`, then
        /// copy from `nextSequence`.
        case truncate(offset: UInt64, nextSequence: UInt64)
        /// The log and the stream share no commit the stream still holds: restore a backup first.
        case cannotJoin(String)
    }

    /// The write stored at `sequence`, or nil if there is none.
    public func write(at sequence: UInt64) throws -> ReplicatedWrite? {
        guard let body = try self.client.message(stream: self.settings.stream, sequence: sequence) else { return nil }
        return try ReplicatedWrite.decode(body)
    }

    /// Compares the log's head with the stream (the log must not be written meanwhile).
    public func locate(_ log: EventLog) throws -> Position {
        let head = log.head
        let state = try self.client.streamState(self.settings.stream)
        guard state.lastSequence > 0, state.messages > 0 else {
            // An empty stream: whatever the log holds is the history; the next primary continues it.
            return .follow(nextSequence: 1)
        }
        guard let last = try self.write(at: state.lastSequence) else {
            throw NATSError(status: 0, code: 0, message: "the stream's last message \(state.lastSequence) is missing")
        }
        if last.nextOffset <= head.nextOffset {
            let local = last.nextOffset == head.nextOffset ? head.hash : try log.hash(at: last.nextOffset)
            if local == last.lastHashHex {
                return last.nextOffset == head.nextOffset
                    ? .follow(nextSequence: state.lastSequence + 1)
                    : .truncate(offset: last.nextOffset, nextSequence: state.lastSequence + 1)
            }
        }
        // Find the newest stored commit that starts at or before the log's end and continues a hash the log has.
        var low = state.firstSequence
        var high = state.lastSequence
        while low < high {  // the last sequence whose first offset is <= the log's end
            let middle = low + (high - low + 1) / 2
            guard let write = try self.write(at: middle) else { break }
            if write.firstOffset <= head.nextOffset { low = middle } else { high = middle - 1 }
        }
        var sequence = low
        var steps = 0
        while sequence >= state.firstSequence, steps < 100_000 {
            guard let write = try self.write(at: sequence) else { break }
            if write.firstOffset <= head.nextOffset, let local = try log.hash(at: write.firstOffset),
                local == write.previousHashHex
            {
                return write.firstOffset == head.nextOffset
                    ? .follow(nextSequence: sequence)
                    : .truncate(offset: write.firstOffset, nextSequence: sequence)
            }
            if sequence == 0 { break }
            sequence -= 1
            steps += 1
        }
        return .cannotJoin(
            "the log (next offset \(head.nextOffset)) shares no commit with the stream's sequences \(state.firstSequence)...\(state.lastSequence); restore a backup taken since, then start the follower again"
        )
    }
}

/// The leadership lease: one key in a JetStream key-value bucket whose values expire `leaseMillis` after their
/// last write. The primary holds it by renewing it (compare-and-swap on the revision); a follower takes it only
/// when it has no value (create).
public final class LeaderLease: Sendable {
    public let settings: ReplicationSettings
    private let store: NATSClient.KeyValue

    public init(client: NATSClient, settings: ReplicationSettings) throws {
        self.settings = settings
        self.store = try client.keyValue(
            bucket: settings.bucket,
            ttlMillis: settings.leaseMillis,
            replicas: settings.replicas
        )
    }

    /// Who holds the lease: a node's name and its API's URL.
    public struct Holder: Sendable, Equatable {
        public var node: String
        public var url: String

        var encoded: [UInt8] { Array("\(self.node)\n\(self.url)".utf8) }

        init(node: String, url: String) {
            self.node = node
            self.url = url
        }

        init?(_ bytes: [UInt8]) {
            let parts = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty else { return nil }
            self.node = String(parts[0])
            self.url = String(parts[1])
        }
    }

    private var me: Holder { Holder(node: self.settings.node, url: self.settings.advertiseURL) }

    /// The current holder and the revision of its last renewal, or nil when nobody holds the lease.
    public func current() throws -> (holder: Holder?, revision: UInt64)? {
        guard let (value, revision) = try self.store.get(self.settings.leaseKey) else { return nil }
        return (Holder(value), revision)
    }

    /// Takes the lease if nobody holds it; the revision to renew, or nil.
    public func acquire() throws -> UInt64? {
        try self.store.create(self.settings.leaseKey, value: self.me.encoded)
    }

    /// Renews the lease held at `revision`; the new revision, or nil when it is not ours any more.
    public func renew(_ revision: UInt64) throws -> UInt64? {
        try self.store.update(self.settings.leaseKey, value: self.me.encoded, last: revision)
    }

    /// Lets the lease go (a clean stop), if it is still ours.
    public func release(_ revision: UInt64) {
        guard let current = try? self.current(), current.revision == revision, current.holder == self.me else { return }
        try? self.store.delete(self.settings.leaseKey)
    }
}
