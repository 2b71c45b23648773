public import Engine
public import Ledger
import Runtime
public import Storage
import Synchronization

/// A read model in PostgreSQL, fed by the log.
///
/// A model folds events into pending row changes (`absorb`) and writes them (`flush`) inside the runner's
/// transaction, which also moves the model's checkpoint: a crash or a dropped connection at any instant
/// neither loses nor doubles an effect. After a failed transaction the runner calls `prepare` again, so
/// in-memory state never runs ahead of the committed checkpoint.
public protocol ReadModel: Sendable {
    /// The checkpoint name (`projection_checkpoints.name`).
    var name: String { get }
    /// The tables the model owns (emptied by a rebuild), children first.
    var tables: [String] { get }
    /// Rebuilds in-memory state as of `offset` (exclusive) and drops pending changes.
    mutating func prepare(log: EventLog, upTo offset: UInt64) throws
    /// Takes one event into the pending changes.
    mutating func absorb(_ event: EventEnvelope)
    /// Writes the pending changes with `connection` (inside a transaction) and clears them.
    mutating func flush(into connection: PostgresConnection) throws
}

/// Timestamps as PostgreSQL reads them (ISO 8601 UTC). The date part is cached per day: a rebuild formats
/// millions of timestamps that share a handful of days, and the general formatter was a measured cost.
func sqlTime(_ micros: Int64) -> String {
    let day = micros >= 0 ? micros / KST.dayMicros : (micros - KST.dayMicros + 1) / KST.dayMicros
    let rest = micros - day * KST.dayMicros
    let prefix = DayPrefix.cache.withLock { cache -> String in
        if cache.day == day { return cache.prefix }
        cache.day = day
        cache.prefix = String(ISOTime.utc(day * KST.dayMicros).prefix(11))  // "2025-01-03T"
        return cache.prefix
    }
    var digits = [UInt8](repeating: 48, count: 15)  // HH:MM:SS.ffffff
    var seconds = rest / 1_000_000
    var fraction = rest % 1_000_000
    for position in stride(from: 14, through: 9, by: -1) {
        digits[position] = UInt8(48 + fraction % 10)
        fraction /= 10
    }
    digits[8] = UInt8(ascii: ".")
    let hours = seconds / 3600
    seconds -= hours * 3600
    let minutes = seconds / 60
    seconds -= minutes * 60
    digits[0] = UInt8(48 + hours / 10)
    digits[1] = UInt8(48 + hours % 10)
    digits[2] = UInt8(ascii: ":")
    digits[3] = UInt8(48 + minutes / 10)
    digits[4] = UInt8(48 + minutes % 10)
    digits[5] = UInt8(ascii: ":")
    digits[6] = UInt8(48 + seconds / 10)
    digits[7] = UInt8(48 + seconds % 10)
    return prefix + String(decoding: digits, as: UTF8.self) + "Z"
}

private enum DayPrefix {
    static let cache = Mutex<(day: Int64, prefix: String)>((.min, ""))
}

/// The primary key of a candle row.
struct CandleKey: Hashable {
    let stock: UInt32
    let timeframe: UInt8
    let start: Int64
}

/// The engine state as of `offset`, from the engine's own snapshots plus the log (fast restarts).
func engineState(log: EventLog, upTo offset: UInt64) throws -> EngineState {
    try EngineRuntime.recover(log: log, snapshots: SnapshotStore(logDirectory: log.directory), toOffset: offset).0
}
