import Synchronization

/// Counters kept by the writer thread, readable from any thread (for `/metrics` and benchmarks).
public final class LogStatistics: Sendable {
    /// A consistent-enough copy of the counters (each is read atomically; they are not read as one).
    public struct Values: Sendable, Equatable {
        /// Append calls committed.
        public var appends: UInt64 = 0
        /// Records committed.
        public var records: UInt64 = 0
        /// Group commits (record frames written).
        public var commits: UInt64 = 0
        /// Frame bytes written (after compression).
        public var bytesWritten: UInt64 = 0
        /// `fdatasync` calls and their total and maximum duration.
        public var syncs: UInt64 = 0
        public var syncNanosTotal: UInt64 = 0
        public var syncNanosMax: UInt64 = 0

        public init() {}

        public init(
            appends: UInt64,
            records: UInt64,
            commits: UInt64,
            bytesWritten: UInt64,
            syncs: UInt64,
            syncNanosTotal: UInt64,
            syncNanosMax: UInt64
        ) {
            self.appends = appends
            self.records = records
            self.commits = commits
            self.bytesWritten = bytesWritten
            self.syncs = syncs
            self.syncNanosTotal = syncNanosTotal
            self.syncNanosMax = syncNanosMax
        }

        /// Average records per group commit: how much group commit gathered.
        public var recordsPerCommit: Double { self.commits == 0 ? 0 : Double(self.records) / Double(self.commits) }
        /// Average append calls per group commit.
        public var appendsPerCommit: Double { self.commits == 0 ? 0 : Double(self.appends) / Double(self.commits) }
        /// Mean `fdatasync` time in microseconds.
        public var syncMicrosMean: Double {
            self.syncs == 0 ? 0 : Double(self.syncNanosTotal) / Double(self.syncs) / 1000
        }
    }

    private let appends = Atomic<UInt64>(0)
    private let records = Atomic<UInt64>(0)
    private let commits = Atomic<UInt64>(0)
    private let bytesWritten = Atomic<UInt64>(0)
    private let syncs = Atomic<UInt64>(0)
    private let syncNanosTotal = Atomic<UInt64>(0)
    private let syncNanosMax = Atomic<UInt64>(0)

    func recordCommit(appends: Int, records: Int, bytes: Int) {
        self.appends.add(UInt64(appends), ordering: .relaxed)
        self.records.add(UInt64(records), ordering: .relaxed)
        self.commits.add(1, ordering: .relaxed)
        self.bytesWritten.add(UInt64(bytes), ordering: .relaxed)
    }

    func recordSync(nanos: UInt64) {
        self.syncs.add(1, ordering: .relaxed)
        self.syncNanosTotal.add(nanos, ordering: .relaxed)
        // Only the writer thread stores, so a plain load-compare-store cannot lose an update.
        if nanos > self.syncNanosMax.load(ordering: .relaxed) { self.syncNanosMax.store(nanos, ordering: .relaxed) }
    }

    public var values: Values {
        Values(
            appends: self.appends.load(ordering: .relaxed),
            records: self.records.load(ordering: .relaxed),
            commits: self.commits.load(ordering: .relaxed),
            bytesWritten: self.bytesWritten.load(ordering: .relaxed),
            syncs: self.syncs.load(ordering: .relaxed),
            syncNanosTotal: self.syncNanosTotal.load(ordering: .relaxed),
            syncNanosMax: self.syncNanosMax.load(ordering: .relaxed)
        )
    }
}
