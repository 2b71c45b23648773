/// How a log is written. Every limit is named and checked when the log opens.
public struct LogConfiguration: Sendable {
    /// When an acknowledged append is on stable storage.
    public enum Durability: Sendable, Equatable, CustomStringConvertible {
        /// `fdatasync` after every group-committed write, before any append in it is acknowledged (default).
        case everyBatch
        /// Acknowledge after `write`; `fdatasync` at most every `milliseconds` (a crash may lose that window).
        case interval(milliseconds: Int)
        /// Never sync (benchmarks and backtests whose log can be regenerated).
        case none

        public var description: String {
            switch self {
            case .everyBatch: "every-batch"
            case .interval(let milliseconds): "interval-\(milliseconds)ms"
            case .none: "none"
            }
        }

        /// Parses `every-batch`, `none` or `interval-<ms>` / `<ms>ms`.
        public init?(parsing text: String) {
            switch text {
            case "every-batch", "batch", "always": self = .everyBatch
            case "none", "never": self = .none
            default:
                var digits = Substring(text)
                if digits.hasPrefix("interval-") { digits = digits.dropFirst("interval-".count) }
                if digits.hasSuffix("ms") { digits = digits.dropLast(2) }
                guard let milliseconds = Int(digits), milliseconds > 0 else { return nil }
                self = .interval(milliseconds: milliseconds)
            }
        }
    }

    public var durability: Durability = .everyBatch
    /// A segment is sealed and a new one started when the next write would pass this size.
    public var segmentBytesMax: UInt64 = 64 << 20
    /// A segment older than this is sealed at the next append (default one day).
    public var segmentAgeMaxMicros: Int64 = 86_400_000_000
    /// Spacing of sparse index entries.
    public var indexIntervalBytes: UInt32 = 16 << 10
    /// Compress with a per-segment dictionary (the previous 64 KiB of records); ~10–25% smaller logs.
    public var dictionaryEnabled: Bool = true
    /// Appends wait when this many bytes are queued for the writer (back-pressure).
    public var queueBytesMax: Int = 64 << 20
    /// Size of the per-segment dictionary: LZ4's full 64 KiB window for segments of 1 MiB and more, and
    /// 1/16 of the segment below that, so that a dictionary frame never dominates a small segment.
    var dictionaryBytes: Int { min(LZ4Codec.dictionaryBytesMax, Int(self.segmentBytesMax / 16)) }
    /// Maximum uncompressed bytes of one frame; larger group commits are split into several frames.
    public var batchBytesMax: Int = 4 << 20
    /// How long the writer may wait for the appenders of its last commit to append again before syncing
    /// (0 disables). Bounded and adaptive: see `LogWriter.linger`.
    public var groupCommitLingerMicros: Int = 100
    /// How long opening for writing waits for the `LOCK` file's `flock` before reporting `.locked`.
    /// A `flock` belongs to the open file description, so a child process spawned between `fork` and
    /// `exec` (by this process or any other that had the file open) briefly holds a copy of a lock that
    /// its owner has already dropped: 2,335 of 2,458,500 attempts refused, the longest for 1.3 ms, on an idle
    /// machine (`swiftc -O benchmarks/lockrace/main.swift -o /tmp/lockrace && /tmp/lockrace`), longer under load. A real
    /// second writer is still refused, this much later.
    public var lockWaitMillis: Int = 2_000
    /// The clock that stamps records appended without a timestamp (microseconds, UTC).
    public var clock: @Sendable () -> Int64 = { wallClockMicros() }

    public init() {}

    func validate() throws(LedgerError) {
        guard self.segmentBytesMax >= 4096, self.segmentBytesMax <= Layout.segmentBytesLimit else {
            throw .invalid("segmentBytesMax must be between 4 KiB and 2 GiB")
        }
        guard self.indexIntervalBytes >= 256 else { throw .invalid("indexIntervalBytes must be at least 256") }
        guard self.batchBytesMax >= 4096, self.batchBytesMax <= Layout.batchUncompressedBytesMax else {
            throw .invalid("batchBytesMax must be between 4 KiB and 16 MiB")
        }
        guard (0...10_000).contains(self.groupCommitLingerMicros) else {
            throw .invalid("groupCommitLingerMicros must be between 0 and 10,000")
        }
        guard self.queueBytesMax >= self.batchBytesMax else { throw .invalid("queueBytesMax must be >= batchBytesMax") }
        if case .interval(let milliseconds) = self.durability, milliseconds <= 0 {
            throw .invalid("the sync interval must be positive")
        }
    }
}

/// Records to append, packed into one buffer (one allocation per batch, not per record).
public struct AppendBatch: Sendable {
    /// Timestamp value meaning "stamp with the log's clock at commit".
    public static let stampAtCommit = Int64.min

    var bytes: [UInt8] = []
    var lengths: [UInt32] = []
    var timestamps: [Int64] = []

    public init(capacityBytes: Int = 0) {
        self.bytes.reserveCapacity(capacityBytes)
    }

    /// Creates a batch of payloads stamped at commit.
    public init(_ payloads: [[UInt8]]) {
        for payload in payloads { self.append(payload) }
    }

    public var count: Int { self.lengths.count }
    public var isEmpty: Bool { self.lengths.isEmpty }
    /// Total payload bytes.
    public var byteCount: Int { self.bytes.count }

    /// Adds one record. `timestamp` is microseconds since the epoch (UTC); omit it to let the log stamp it.
    public mutating func append(_ payload: some Collection<UInt8>, timestamp: Int64 = AppendBatch.stampAtCommit) {
        self.bytes.append(contentsOf: payload)
        self.lengths.append(UInt32(payload.count))
        self.timestamps.append(timestamp)
    }

    /// Adds one record from raw bytes.
    public mutating func append(bytes payload: UnsafeRawBufferPointer, timestamp: Int64 = AppendBatch.stampAtCommit) {
        self.bytes.append(contentsOf: payload)
        self.lengths.append(UInt32(payload.count))
        self.timestamps.append(timestamp)
    }

    public mutating func removeAll() {
        self.bytes.removeAll(keepingCapacity: true)
        self.lengths.removeAll(keepingCapacity: true)
        self.timestamps.removeAll(keepingCapacity: true)
    }

    /// Bytes this batch occupies in a frame's records section at most.
    var encodedBytesMax: Int { self.bytes.count + self.count * 15 }
}

/// The offsets an append was given. Returned only once the records are committed.
public struct AppendResult: Sendable, Equatable {
    /// Offset of the first record of the append.
    public let firstOffset: UInt64
    /// Number of records appended.
    public let count: Int
    /// Offset of the last record.
    public var lastOffset: UInt64 { self.firstOffset + UInt64(self.count) - 1 }
    /// The offset after the last record.
    public var nextOffset: UInt64 { self.firstOffset + UInt64(self.count) }
}

/// What opening a log found and did.
public struct OpenReport: Sendable, Equatable {
    /// True when the previous writer closed the log cleanly (no scan was needed).
    public var cleanShutdown = false
    /// Bytes of a torn tail that recovery cut off (0 when none).
    public var truncatedBytes: UInt64 = 0
    /// Where the torn tail started, as "file at byte N".
    public var truncatedAt: String?
    /// Index files that were missing or damaged and have been rebuilt from their segment.
    public var rebuiltIndexes: [String] = []
    /// Bytes read and checked during recovery.
    public var scannedBytes: UInt64 = 0
}
