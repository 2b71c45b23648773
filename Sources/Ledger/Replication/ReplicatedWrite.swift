import Foundation

/// What one group commit wrote to the open segment, exactly as it lies on disk, so that a follower can write the
/// same bytes at the same position and keep a byte-identical log (FORMAT.md §8).
///
/// A commit writes an optional dictionary frame and one record frame, right after the previous commit's bytes;
/// the first commit of a segment also carries the segment's 64-byte header, so that the follower's segment file
/// starts with the primary's header (its creation time included).
public struct ReplicatedWrite: Sendable, Equatable {
    /// The base offset of the segment the frames belong to.
    public var segmentBase: UInt64
    /// The byte position in that segment where `frames` start.
    public var position: UInt64
    /// The segment's header when `position` is right after it (the segment's first write), otherwise empty.
    public var segmentHeader: [UInt8]
    /// The frames, byte for byte (compressed payloads, CRCs, chain links).
    public var frames: [UInt8]
    /// The offset of the first record in `frames`.
    public var firstOffset: UInt64
    /// The offset after the last record in `frames`.
    public var nextOffset: UInt64
    /// The chain hash of the last frame: the log's head after this write.
    public var lastHash: [UInt8]

    public init(
        segmentBase: UInt64,
        position: UInt64,
        segmentHeader: [UInt8],
        frames: [UInt8],
        firstOffset: UInt64,
        nextOffset: UInt64,
        lastHash: [UInt8]
    ) {
        self.segmentBase = segmentBase
        self.position = position
        self.segmentHeader = segmentHeader
        self.frames = frames
        self.firstOffset = firstOffset
        self.nextOffset = nextOffset
        self.lastHash = lastHash
    }

    static let magic: UInt32 = 0x5752_4253  // "SBRW" in little-endian byte order
    static let version: UInt16 = 1
    /// magic 4, version 2, header length 2, segment base 8, position 8, first 8, next 8, hash 32, frames length 4.
    static let preambleBytes = 76

    /// The chain head after this write, as lowercase hex.
    public var lastHashHex: String { ChainHash.hex(self.lastHash) }

    /// The message body: a fixed preamble, the segment header (if any), the frames.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.preambleBytes + self.segmentHeader.count + self.frames.count)
        bytes.appendLittleEndian(Self.magic)
        bytes.appendLittleEndian(Self.version)
        bytes.appendLittleEndian(UInt16(self.segmentHeader.count))
        bytes.appendLittleEndian(self.segmentBase)
        bytes.appendLittleEndian(self.position)
        bytes.appendLittleEndian(self.firstOffset)
        bytes.appendLittleEndian(self.nextOffset)
        bytes.append(contentsOf: self.lastHash)
        bytes.appendLittleEndian(UInt32(self.frames.count))
        bytes.append(contentsOf: self.segmentHeader)
        bytes.append(contentsOf: self.frames)
        return bytes
    }

    /// Decodes a message body. Checks the structure only: the frames' CRCs, chain links and offsets are checked
    /// against the follower's log when it applies the write (`EventLog.applyReplicated`). Never traps.
    public static func decode(_ bytes: [UInt8]) throws(LedgerError) -> ReplicatedWrite {
        guard bytes.count >= Self.preambleBytes else {
            throw .invalid(
                "a replicated write of \(bytes.count) bytes is shorter than its \(Self.preambleBytes)-byte preamble"
            )
        }
        return try typed {
            try bytes.withUnsafeBytes { raw throws(LedgerError) -> ReplicatedWrite in
                guard raw.loadLittleEndian(at: 0, as: UInt32.self) == Self.magic else {
                    throw .invalid("not a replicated write (bad magic)")
                }
                let version = raw.loadLittleEndian(at: 4, as: UInt16.self)
                guard version == Self.version else {
                    throw LedgerError(
                        code: .unsupportedVersion,
                        message: "replicated write version \(version) is not supported (this build reads 1)"
                    )
                }
                let headerLength = Int(raw.loadLittleEndian(at: 6, as: UInt16.self))
                let framesLength = Int(raw.loadLittleEndian(at: 72, as: UInt32.self))
                guard headerLength == 0 || headerLength == Layout.segmentHeaderBytes else {
                    throw .invalid("a replicated write names a segment header of \(headerLength) bytes")
                }
                guard Self.preambleBytes + headerLength + framesLength == bytes.count else {
                    throw .invalid(
                        "a replicated write declares \(headerLength + framesLength) bytes after its preamble but carries \(bytes.count - Self.preambleBytes)"
                    )
                }
                let write = ReplicatedWrite(
                    segmentBase: raw.loadLittleEndian(at: 8, as: UInt64.self),
                    position: raw.loadLittleEndian(at: 16, as: UInt64.self),
                    segmentHeader: Array(raw[Self.preambleBytes..<(Self.preambleBytes + headerLength)]),
                    frames: Array(raw[(Self.preambleBytes + headerLength)...]),
                    firstOffset: raw.loadLittleEndian(at: 24, as: UInt64.self),
                    nextOffset: raw.loadLittleEndian(at: 32, as: UInt64.self),
                    lastHash: Array(raw[40..<72])
                )
                guard write.nextOffset > write.firstOffset, !write.frames.isEmpty else {
                    throw .invalid(
                        "a replicated write without records (offsets \(write.firstOffset)..<\(write.nextOffset))"
                    )
                }
                guard (headerLength == 0) == (write.position != UInt64(Layout.segmentHeaderBytes)) else {
                    throw .invalid("a replicated write carries a segment header only at its segment's first position")
                }
                return write
            }
        }
    }
}

/// Where a primary's log hands each group commit before it is visible or acknowledged (the replicator).
public protocol ReplicationSink: AnyObject, Sendable {
    /// Called on the log's writer thread right after a group's frames are written, before their local
    /// `fdatasync` (which runs while the write travels); returns at once.
    ///
    /// `done` must be called exactly once per write, on any thread: with nil when the write is replicated (or, in
    /// `async` mode, queued for replication), otherwise with the reason it cannot be (code `.unavailable`). Until
    /// then the write is neither visible nor acknowledged. A refused write and every write handed over after it
    /// are cut back from the segment, their appends fail with the reason, and the log stays writable.
    func replicate(_ write: ReplicatedWrite, done: @escaping @Sendable (LedgerError?) -> Void)

    /// How many writes may wait for `done` at once; the writer takes no new group while that many do.
    var writesInFlightMax: Int { get }
}

private final class SinkAnswer: @unchecked Sendable {
    // @unchecked: written once before `signal`, read after `wait`.
    var refusal: LedgerError?
    let signal = DispatchSemaphore(value: 0)
}

extension ReplicationSink {
    /// Hands `write` over and blocks until it is answered (tools and tests; the log's writer never waits so).
    public func replicateAndWait(_ write: ReplicatedWrite) -> LedgerError? {
        let answer = SinkAnswer()
        self.replicate(write) { refusal in
            answer.refusal = refusal
            answer.signal.signal()
        }
        answer.signal.wait()
        return answer.refusal
    }
}

extension ReplicatedWrite {
    /// The chain hash this write continues from (its first frame's previous-hash field), as lowercase hex; nil
    /// when the frames are too short to hold a header.
    public var previousHashHex: String? {
        guard self.frames.count >= Layout.batchHeaderBytes else { return nil }
        return self.frames.withUnsafeBytes { raw in
            guard case .success(let header) = BatchHeader.decode(raw) else { return nil }
            return ChainHash.hex(header.previousHash)
        }
    }
}
